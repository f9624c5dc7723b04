"""The controller as a program: an Arbiter driven by signals and by the control API.

SIGTERM/SIGINT: graceful stop of everything, then exit 0; a second SIGINT/SIGTERM kills
what is still stopping. SIGHUP (or `reloadconfig`): reload the config file (a bad file
changes nothing).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

from ringleader.api.app import ControlApp
from ringleader.api.audit import AuditLog
from ringleader.api.commands import Commands
from ringleader.api.listeners import ApiServer, build_server
from ringleader.config.diff import ReloadPlan
from ringleader.config.load import load_config
from ringleader.config.model import Config
from ringleader.core.arbiter import Arbiter
from ringleader.core.signals import SignalQueue
from ringleader.errors import ConfigError, RingleaderError

log = logging.getLogger("ringleader.daemon")

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
SOCKET_NAME = "ringleader.sock"
AUDIT_NAME = "ringleader-audit.log"


def socket_path(config: Config) -> str:
    """The control socket: the configured endpoint, else next to the config file (or in
    the current directory when there is none)."""
    endpoint = config.controller.endpoint
    if endpoint:
        return endpoint.removeprefix("unix:")
    base = os.path.dirname(config.source) if config.source else os.getcwd()
    return os.path.join(base, SOCKET_NAME)


class Daemon:
    def __init__(self, config: Config, *, console_fd: int = 1,
                 reload: Callable[[], Config] | None = None) -> None:
        self.config = config
        self.arbiter = Arbiter(config.watchers, config.controller, console_fd=console_fd,
                               source=config.source, sockets=config.sockets)
        self.signals = SignalQueue()
        self._reload = reload
        if reload is None and config.source:
            source = config.source
            self._reload = lambda: load_config(source)
        self._done = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None
        self.socket_path = socket_path(config)
        audit_path = config.controller.audit_log or os.path.join(
            os.path.dirname(self.socket_path), AUDIT_NAME)
        self.audit = AuditLog(audit_path)
        self.app = ControlApp(Commands(self.arbiter, self), self.audit)
        self.server: ApiServer = build_server(self.app, config.controller,
                                              default_unix_path=self.socket_path)

    async def run(self) -> int:
        """Run until told to stop; returns the exit code."""
        self.signals.install(HANDLED)
        try:
            try:
                await self.server.start()
            except (OSError, RingleaderError) as exc:
                log.error("cannot open the control API: %s", exc)
                return 1
            log.info("control API listening on %s", ", ".join(self.server.addresses))
            await self.arbiter.start()
            while not self._done.is_set():
                get = asyncio.ensure_future(self.signals.get())
                done = asyncio.ensure_future(self._done.wait())
                await asyncio.wait({get, done}, return_when=asyncio.FIRST_COMPLETED)
                done.cancel()
                if get.done():
                    sig = get.result()
                    await getattr(self, f"handle_{sig.name[3:].lower()}")()
                else:
                    get.cancel()
        finally:
            if self._stop_task is not None:
                await self._stop_task
            await self.arbiter.stop()
            await self.server.stop()
            self.audit.close()
            self.signals.restore()
        return 0

    # -- what the API's commands ask of the daemon ----------------------------------

    def quit(self) -> None:
        if self._stop_task is None:
            log.info("quit requested: stopping all watchers")
            self._stop_task = asyncio.create_task(self._stop())

    async def reload_config(self) -> ReloadPlan:
        """Re-read the config file and apply it; ConfigError leaves everything as it is."""
        if self._reload is None:
            raise ConfigError(["the controller was started without a config file"])
        config = self._reload()
        for warning in config.warnings:
            log.warning("%s", warning)
        plan = await self.arbiter.reload_config(config)
        self.config = config
        return plan

    async def handle_term(self) -> None:
        if self._stop_task is None:
            log.info("stopping all watchers (send the signal again to kill them at once)")
            self._stop_task = asyncio.create_task(self._stop())
        else:
            log.warning("second stop signal: killing every process now")
            for watcher in self.arbiter.watchers:
                watcher.send_signal(signal.SIGKILL, children=True)

    handle_int = handle_term
    handle_quit = handle_term

    async def _stop(self) -> None:
        await self.arbiter.stop()
        self._done.set()

    async def handle_hup(self) -> None:
        if self._stop_task is not None:
            return
        if self._reload is None:
            log.warning("SIGHUP: no config file to reload")
            return
        try:
            await self.reload_config()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)


def run(config: Config, *, console_fd: int = 1) -> int:
    return asyncio.run(Daemon(config, console_fd=console_fd).run())

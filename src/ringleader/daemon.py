"""The controller as a program: an Arbiter driven by signals and by the control API.

SIGTERM/SIGINT/SIGQUIT: graceful stop of everything, then exit 0; a second one kills what
is still stopping. SIGHUP (or `reloadconfig`): reload the config file (a bad file changes
nothing) and reopen the controller's log and audit log. SIGUSR1/SIGUSR2: reopen the
controller's log and every watcher's log file (logrotate's convention, as nginx and
supervisord). SIGWINCH and SIGPIPE: ignored. Under systemd, sd_notify tells it READY,
STATUS, RELOADING, STOPPING and pings its watchdog (proc.sdnotify).

Start-up order: the control socket is bound first (``api.listen``: another controller on
it, or a directory that cannot hold it, stops us before any worker is spawned); then the
workers start; the HTTP server, whose imports the workers do not need, is loaded when the
first client connects or once the start is done, whichever comes first, and serves that
socket (clients that came earlier wait in its backlog). With a TLS TCP listener the whole
API opens before any spawn, so that a port in use or a bad certificate spawns nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gc
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from ringleader.api.listen import bind_control_socket
from ringleader.config.load import load_config
from ringleader.config.model import Config
from ringleader.config.plan import ReloadPlan
from ringleader.config.runnable import check_runnable
from ringleader.controller_files import open_audit, restore_state, socket_path
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import ConfigError, RingleaderError
from ringleader.logs import reopen_logs
from ringleader.proc.sdnotify import SdNotifier, summary
from ringleader.proc.signals import SignalQueue

if TYPE_CHECKING:
    from ringleader.api.dashboard import Dashboard
    from ringleader.api.runner import ApiServer
    from ringleader.api.supervisor_socket import ListenerRpcServer
    from ringleader.cluster_node import ClusterNode

log = logging.getLogger("ringleader.daemon")

# Every signal an operator or a tool commonly sends: none of them may kill the controller
# (SIGPIPE is ignored by Python already; a child gets it back at exec).
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
           signal.SIGUSR2, signal.SIGWINCH)
class Daemon:
    def __init__(self, config: Config, *, console_fd: int = 1,
                 reload: Callable[[], Config] | None = None, init: bool = False,
                 console_color: bool | None = None) -> None:
        self.config = config
        self.socket_path = socket_path(config)
        # Runtime changes of a previous run, laid over the file (rules: state/merge.py).
        kept = restore_state(config, self.socket_path)
        self.state_path, named, restored = kept.path, kept.named, kept.restored
        self.recorder, self.writer = kept.recorder, kept.writer
        self.arbiter = Arbiter(restored.config.watchers, config.controller,
                               console_fd=console_fd, console_color=console_color,
                               source=config.source,
                               sockets=config.sockets, start=restored.start,
                               groups=config.groups)
        self._init = init or os.getpid() == 1
        self._stop_signal: int | None = None
        self._forced = False
        self.signals = SignalQueue()
        self.notifier: SdNotifier | None = None  # under a service manager: set by run()
        self._reload = reload
        if reload is None and config.source:
            source = config.source
            self._reload = lambda: load_config(source)
        self._done = asyncio.Event()
        self._stop_task: asyncio.Task[None] | None = None
        self.audit = open_audit(config, self.socket_path)
        if not named:  # a default may be in the runtime folder: say where
            log.info("state file (default): %s", self.state_path)
        # A cluster node only with [cluster]: a lone controller never imports the cluster.
        self.cluster: ClusterNode | None = None
        if config.cluster is not None:
            from ringleader.cluster_node import ClusterNode

            self.cluster = ClusterNode(self.arbiter, config.cluster)
        self.server: ApiServer | None = None  # opened by _open_api
        self.dashboard: Dashboard | None = None  # made with the server
        self._api_task: asyncio.Task[None] | None = None
        self._unix_sock: socket.socket | None = None  # bound, not yet served
        self._unix_inode: tuple[int, int] | None = None
        # supervisord's XML-RPC for event listeners, opened only when there are listeners
        self._listener_rpc: ListenerRpcServer | None = None
        self._listener_serving: asyncio.Task[None] | None = None
        self._has_listeners = any(w.events for w in restored.config.watchers)
        self.arbiter.supervisor_url = self._listener_url

    async def _open_api(self) -> None:
        """Load the HTTP server and serve the control socket (bound already, unless there
        is a TCP listener)."""
        from ringleader.api.app import ControlApp
        from ringleader.api.commands import Commands
        from ringleader.api.dashboard import Dashboard
        from ringleader.api.runner import build_server

        sock, self._unix_sock = self._unix_sock, None
        commands = Commands(self.arbiter, self, self.cluster)
        # the web dashboard's sessions, pages and live stream, made at their first use
        self.dashboard = Dashboard(commands, self.config.controller.dashboard,
                                   audit=self.audit, cluster=self.cluster)
        app = ControlApp(commands, self.audit, dashboard=self.dashboard)
        self.server = build_server(app, self.config.controller,
                                   default_unix_path=self.socket_path, unix_sock=sock,
                                   dashboard=self.dashboard)
        await self.server.start()
        log.info("control API listening on %s", ", ".join(self.server.addresses))
        if not gc.isenabled():  # `run` turned it off for the start-up (cli.run)
            gc.freeze()  # what start-up made stays: no later pass walks it
            gc.enable()

    async def _open_listener_rpc(self) -> None:
        """Open the listeners' XML-RPC socket before the listeners start (at start, at a
        reload that brings some)."""
        self._listener_url()
        if self._listener_serving is not None:
            await self._listener_serving

    def _listener_url(self) -> str:
        """The event listeners' SUPERVISOR_SERVER_URL (api.supervisor_socket), asked at each
        listener's spawn: opened at the first need, also for one added at run time (bound
        at once: the URL works at once, served from the loop); empty if it cannot be bound."""
        if self._listener_rpc is None:
            from ringleader.api.commands import Commands
            from ringleader.api.supervisor_socket import ListenerRpcServer, listener_socket_path

            server = ListenerRpcServer(listener_socket_path(self.socket_path), self.arbiter,
                                       Commands(self.arbiter, self, self.cluster), self.audit)
            try:
                server.bind()
            except (OSError, RingleaderError) as exc:
                log.error("event listeners get no XML-RPC interface: %s", exc)
                return ""
            self._listener_rpc = server
            self._listener_serving = asyncio.get_running_loop().create_task(server.serve())
        self._listener_rpc.give_to_listeners()  # this one may run as another user
        return self._listener_rpc.url

    def _serve_api_soon(self) -> asyncio.Task[None]:
        """Open the API now (in a task) unless it is opening or open."""
        if self._unix_sock is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._unix_sock)
        if self._api_task is None:
            self._api_task = asyncio.create_task(self._open_api())
        return self._api_task

    async def _close_api(self) -> None:
        if self._api_task is not None:
            with contextlib.suppress(Exception):
                await self._api_task
        if self.server is not None:
            await self.server.stop()
        if self._unix_sock is not None:  # bound, never served
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self._unix_sock)
            self._unix_sock.close()
            self._unix_sock = None
            with contextlib.suppress(OSError):
                st = os.lstat(self.socket_path)
                if (st.st_dev, st.st_ino) == self._unix_inode:  # still ours
                    os.unlink(self.socket_path)

    async def run(self) -> int:
        """Run until told to stop; returns the exit code (proc/pid1.exit_code_for)."""
        from ringleader.proc.pid1 import exit_code_for

        self.signals.install(HANDLED)
        orphans = None
        unsubscribe = None
        try:
            self.notifier = SdNotifier.from_environ()
            if self.notifier is not None:
                self.notifier.start_watchdog()
            if self._init:
                from ringleader.proc.pid1 import enable_init

                # As PID 1 (or --init): adopted orphans are reaped, never our children.
                orphans = enable_init(asyncio.get_running_loop(), self.arbiter.own_pids)
            try:
                if self.config.controller.tcp is None:
                    self._unix_sock = bind_control_socket(self.socket_path,
                                                          self.config.controller)
                    st = os.stat(self.socket_path)
                    self._unix_inode = (st.st_dev, st.st_ino)
                else:
                    await self._serve_api_soon()
            except (OSError, RingleaderError) as exc:
                log.error("cannot open the control API: %s", exc)
                return exit_code_for(start_failed=True)
            if self._unix_sock is not None:  # the first client opens the API
                asyncio.get_running_loop().add_reader(self._unix_sock, self._serve_api_soon)
            if self.notifier is not None:
                self.notifier.send("STATUS=starting the watchers")
            if self._has_listeners:
                await self._open_listener_rpc()
            try:
                # A watcher whose before_start hook refuses is skipped (circus does).
                await self.arbiter.start(skip_refused=True)
            except RingleaderError as exc:  # e.g. a socket's port already in use
                log.error("cannot start: %s", exc)
                return exit_code_for(start_failed=True)
            try:
                await self._serve_api_soon()
            except (OSError, RingleaderError) as exc:
                log.error("cannot open the control API: %s", exc)
                return exit_code_for(start_failed=True)
            if self.cluster is not None:
                await self.cluster.start()  # at once, etcd or not: local work runs anyway
            if self.notifier is not None:
                notifier = self.notifier
                notifier.ready(self.status_line())
                unsubscribe = self.arbiter.bus.subscribe(
                    lambda _event: notifier.status(self.status_line))
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
            if unsubscribe is not None:
                unsubscribe()
            if self.notifier is not None:
                self.notifier.stopping()
            if self._stop_task is not None:
                await self._stop_task
            if self.cluster is not None:
                await self.cluster.halt()
            await self.arbiter.stop()
            if self.cluster is not None:  # ours are gone: the work may move now
                await self.cluster.stop()
            await self._close_api()
            if self._listener_rpc is not None:
                await self._listener_rpc.stop()
            await self.writer.flush()
            self.audit.close()
            if orphans is not None:
                await orphans.terminate_orphans()
                orphans.close()
            if self.notifier is not None:
                self.notifier.close()
            self.signals.restore()
        return exit_code_for(stop_signal=self._stop_signal, forced=self._forced)

    def status_line(self) -> str:
        """The one-line summary sd_notify's STATUS= carries."""
        return summary(w.status() for w in self.arbiter.watchers)

    def record(self, op: str, name: str | None, value: object = None) -> None:
        """An operator changed something at runtime: keep it in the state file."""
        rec = self.recorder
        owned = self.cluster.is_owned if self.cluster is not None else lambda _: False
        names = [name] if name else [w.name for w in self.arbiter.watchers
                                     if not owned(w.name)]  # the cluster's come from etcd
        if op == "add" and name:
            rec.added(self.arbiter.watcher(name).config, start=bool(value))
        elif op == "rm" and name:
            rec.removed(name)
        elif op in ("set", "scale") and name:
            rec.changed(name, self.arbiter.options(name).options)
        elif op in ("start", "restart"):
            for n in names:
                rec.started(n)
        elif op == "stop":
            for n in names:
                rec.stopped(n)
        self.writer.schedule()

    async def saved(self) -> None:
        await self.writer.saved()

    # -- what the API's commands ask of the daemon ----------------------------------

    def quit(self) -> None:
        if self._stop_task is None:
            log.info("quit requested: stopping all watchers")
            if self.notifier is not None:
                self.notifier.stopping()
            self._stop_task = asyncio.create_task(self._stop())

    async def reload_config(self) -> ReloadPlan:
        """Re-read the config file and apply it; ConfigError leaves everything as it is."""
        if self._reload is None:
            raise ConfigError(["the controller was started without a config file"])
        if self.notifier is None:
            return await self._reload_config(self._reload)
        self.notifier.reloading()
        try:
            return await self._reload_config(self._reload)
        finally:  # READY=1 ends the reload, whether it was applied or refused
            self.notifier.ready(self.status_line())

    async def _reload_config(self, reload: Callable[[], Config]) -> ReloadPlan:
        config = reload()
        problems = check_runnable(config)  # as `check` and `run`: max_processes, TLS files
        if problems:
            raise ConfigError(problems)
        for warning in config.warnings:
            log.warning("%s", warning)
        # The file wins for watchers it changed; other runtime changes are kept.
        effective, notes = copy.deepcopy(self.recorder).reconcile(config)
        if self.cluster is not None:  # the file does not define them: keep them as they run
            effective = self.cluster.keep_in_reload(effective)
        for note in notes:
            log.info("reload: %s", note)
        if any(w.events for w in effective.watchers):
            await self._open_listener_rpc()  # before the new listeners start
        plan = await self.arbiter.reload_config(effective)
        if self._listener_rpc is not None:
            self._listener_rpc.give_to_listeners()  # their users may have changed
        self.recorder.reset_config(config)
        self.writer.schedule()
        self.config = config
        return plan

    async def handle_term(self, signum: int = signal.SIGTERM) -> None:
        if self._stop_task is None:
            self._stop_signal = signum
            if self.notifier is not None:
                self.notifier.stopping()
            log.info("stopping all watchers (send the signal again to kill them at once)")
            self._stop_task = asyncio.create_task(self._stop())
        else:
            log.warning("second stop signal: killing every process now")
            self._forced = True
            for watcher in self.arbiter.watchers:
                watcher.send_signal(signal.SIGKILL, children=True)

    async def handle_int(self) -> None:
        await self.handle_term(signal.SIGINT)

    async def handle_quit(self) -> None:
        await self.handle_term(signal.SIGQUIT)

    async def _stop(self) -> None:
        if self.cluster is not None:
            await self.cluster.halt()
        await self.arbiter.stop()
        self._done.set()

    async def handle_usr1(self) -> None:
        """Reopen the logs (logrotate's postrotate sends it, as to nginx or supervisord)."""
        await self._reopen_own_logs()
        self.arbiter.reopen_logs()
        log.info("log files reopened")

    async def handle_usr2(self) -> None:
        await self.handle_usr1()

    async def handle_winch(self) -> None:
        """A terminal resized (or a tool that sends it): nothing to do."""

    async def _reopen_own_logs(self) -> None:
        """The controller's log and the audit log; the open is done off the loop (an open
        may block, on NFS)."""
        self.audit.reopen()  # logrotate renamed it: the next record goes to a new file
        problems = await asyncio.get_running_loop().run_in_executor(None, reopen_logs)
        for problem in problems:
            log.error("%s", problem)

    async def handle_hup(self) -> None:
        if self._stop_task is not None:
            return
        await self._reopen_own_logs()
        if self._reload is None:
            log.warning("SIGHUP: no config file to reload")
            return
        try:
            await self.reload_config()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused: %s", problem)
        except RingleaderError as exc:  # a reload that did not become ready, ...
            log.error("reload failed: %s", exc)


def run(config: Config, *, console_fd: int = 1, init: bool = False,
        console_color: bool | None = None, reload: Callable[[], Config] | None = None) -> int:
    """`console_color`: `run --color always|never` (None: auto, see output.StreamHub);
    `reload`: how SIGHUP and reloadconfig read the config again (default: the file)."""
    return asyncio.run(Daemon(config, console_fd=console_fd, init=init, reload=reload,
                              console_color=console_color).run())

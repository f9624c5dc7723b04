"""supervisord's XML-RPC interface, the small part its event listeners call back into
(superlance's memmon and httpok): the controller's state and pid, process information, and
start or stop of one configured process. Nothing else: no add, remove, set, signal,
shutdown or reload; what the ``operate`` role may do, and less.

Names are supervisord's: ``group:name`` (the watcher's group, else the watcher's name, and
the process's name as the status shows it), or ``name`` for ``name:name``. Errors are
``xmlrpc.client.Fault`` with supervisord's codes and its ``CODE: detail`` strings.
startProcess and stopProcess always wait for the outcome (their ``wait`` is accepted and
not needed: each connection is served on its own).

Payloads are parsed with the stdlib's ``xmlrpc.client.loads`` (expat: no external entities,
its amplification limits) from a body the transport already bounded; anything it cannot
parse is a Fault, never a crash. Served by ``api.supervisor_socket`` to listeners only.
"""

from __future__ import annotations

import logging
import os
import time
import xmlrpc.client
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ringleader.api.messages import Request, Response
from ringleader.errors import Conflict, NotFound, NotReady, RingleaderError
from ringleader.features.supervisor_events import state_name

if TYPE_CHECKING:
    from ringleader.api.audit import AuditLog
    from ringleader.api.commands import Commands
    from ringleader.engine.process import Process
    from ringleader.engine.watcher import Watcher

__all__ = ["FAULTS", "SupervisorRpc"]

log = logging.getLogger("ringleader.supervisor_rpc")

# supervisord's fault codes (supervisor.xmlrpc.Faults), the ones we answer with
FAULTS = {"UNKNOWN_METHOD": 1, "INCORRECT_PARAMETERS": 2, "BAD_ARGUMENTS": 3,
          "SHUTDOWN_STATE": 6, "BAD_NAME": 10, "FAILED": 30, "SPAWN_ERROR": 50,
          "ALREADY_STARTED": 60, "NOT_RUNNING": 70}
# supervisord's process state codes (supervisor.states.ProcessStates)
_STATE_CODES = {"STOPPED": 0, "STARTING": 10, "RUNNING": 20, "BACKOFF": 30, "STOPPING": 40,
                "EXITED": 100, "FATAL": 200, "UNKNOWN": 1000}
_API_VERSION = "3.0"
_MUTATING = frozenset({"supervisor.startProcess", "supervisor.stopProcess"})


def fault(code: str, detail: str = "") -> xmlrpc.client.Fault:
    return xmlrpc.client.Fault(FAULTS[code], f"{code}: {detail}" if detail else code)


def _group(watcher: Watcher) -> str:
    return watcher.group or watcher.name


def _uptime(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    clock = f"{hours}:{minutes:02}:{secs:02}"
    return f"{days} days, {clock}" if days else clock


def process_info(watcher: Watcher, proc: Process) -> dict[str, Any]:
    """supervisord's getProcessInfo for one process."""
    now = int(time.time())
    alive = proc.is_alive and proc.pid is not None
    statename = state_name(proc.state.value)
    uptime = proc.uptime() if alive else 0.0
    description = f"pid {proc.pid}, uptime {_uptime(uptime)}" if alive else proc.reason or ""
    description = "".join(c for c in description if c.isprintable())  # XML 1.0 has no \x01
    exitstatus = proc.exit_code if proc.exit_code is not None else 0
    return {
        "name": proc.name, "group": _group(watcher), "description": description,
        "start": int(now - uptime) if alive else 0, "stop": 0, "now": now,
        "state": _STATE_CODES.get(statename, 1000), "statename": statename,
        "spawnerr": "", "exitstatus": exitstatus & 0x7FFFFFFF,
        "logfile": "", "stdout_logfile": "", "stderr_logfile": "",
        "pid": proc.pid if alive and proc.pid is not None else 0,
    }


class SupervisorRpc:
    """The XML-RPC application: one POST of a methodCall, one methodResponse."""

    def __init__(self, commands: Commands, audit: AuditLog | None) -> None:
        self._commands = commands
        self._audit = audit
        self._methods: dict[str, Callable[..., Awaitable[Any]]] = {
            "supervisor.getAPIVersion": self._api_version,
            "supervisor.getVersion": self._api_version,
            "supervisor.getIdentification": self._identification,
            "supervisor.getState": self._state,
            "supervisor.getPID": self._pid,
            "supervisor.getAllProcessInfo": self._all_info,
            "supervisor.getProcessInfo": self._info,
            "supervisor.startProcess": self._start,
            "supervisor.stopProcess": self._stop,
            "system.listMethods": self._list_methods,
        }

    # -- the transport's side ---------------------------------------------------------

    def error(self, status: int, code: str, detail: str) -> Response:
        """What the transport answers itself (malformed HTTP, a body too large, a peer
        refused): plain text, as supervisord answers those."""
        return Response(status, f"{code}: {detail}\n".encode(), content_type="text/plain")

    async def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return Response(405, b"only POST of an XML-RPC call\n", content_type="text/plain",
                            headers=[("allow", "POST")])
        method = "?"
        try:
            params, parsed = xmlrpc.client.loads(request.body)
            if not isinstance(parsed, str):
                raise fault("UNKNOWN_METHOD", "no methodName")
            method = parsed[:100]
            result = await self._call(request, method, params)
            body = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False)
        except xmlrpc.client.Fault as exc:
            body = xmlrpc.client.dumps(exc, methodresponse=True)
        except Exception as exc:  # expat, int() of 5000 digits, a type we do not take...
            log.debug("supervisor RPC from %s: unreadable call: %s", request.identity.name,
                      exc)
            body = xmlrpc.client.dumps(fault("INCORRECT_PARAMETERS", "unreadable XML-RPC "
                                             "call"), methodresponse=True)
        return Response(200, body.encode(), content_type="text/xml")

    async def _call(self, request: Request, method: str, params: tuple[Any, ...]) -> Any:
        handler = self._methods.get(method)
        if handler is None:
            raise fault("UNKNOWN_METHOD", method)
        if method not in _MUTATING:
            return await handler(*self._arguments(method, params, handler))
        why = self._audit.problem(request) if self._audit is not None else None
        if why is not None:
            raise fault("FAILED", f"the change cannot be recorded in the audit log: {why}")
        name = params[0] if params and isinstance(params[0], str) else None
        status, result = 200, "ok"
        try:
            return await handler(*self._arguments(method, params, handler))
        except xmlrpc.client.Fault as exc:
            status, result = 409, exc.faultString.partition(":")[0]
            raise
        finally:
            if self._audit is not None:
                body = b'{"error":"%s"}' % result.encode() if status != 200 else b""
                self._audit.record(request, f"supervisor:{method.partition('.')[2]}", name,
                                   Response(status, body), {"params": [str(p)[:200]
                                                                       for p in params]})

    @staticmethod
    def _arguments(method: str, params: tuple[Any, ...],
                   handler: Callable[..., Awaitable[Any]]) -> tuple[Any, ...]:
        """supervisord's signatures: the name (a str), then an optional `wait` (a bool)."""
        takes_name = method in _MUTATING or method == "supervisor.getProcessInfo"
        most = 2 if method in _MUTATING else 1 if takes_name else 0
        least = 1 if takes_name else 0
        if not least <= len(params) <= most:
            raise fault("INCORRECT_PARAMETERS")
        if takes_name and not isinstance(params[0], str):
            raise fault("INCORRECT_PARAMETERS", "the name must be a string")
        if len(params) == 2 and not isinstance(params[1], bool):
            raise fault("INCORRECT_PARAMETERS", "wait must be a boolean")
        return params[:1]

    # -- names ------------------------------------------------------------------------

    def _find(self, name: str) -> tuple[Watcher, Process]:
        group, colon, proc_name = name.partition(":")
        if not colon:
            proc_name = group
        for watcher in self._commands.arbiter.watchers:
            if _group(watcher) != group:
                continue
            for proc in watcher.processes.values():
                if proc.name == proc_name:
                    return watcher, proc
        raise fault("BAD_NAME", name)

    # -- methods ----------------------------------------------------------------------

    async def _api_version(self) -> str:
        return _API_VERSION

    async def _identification(self) -> str:
        return "supervisor"

    async def _pid(self) -> int:
        return os.getpid()

    async def _state(self) -> dict[str, Any]:
        if self._commands.arbiter.is_stopping:
            return {"statecode": -1, "statename": "SHUTDOWN"}
        return {"statecode": 1, "statename": "RUNNING"}

    async def _list_methods(self) -> list[str]:
        return sorted(self._methods)

    async def _all_info(self) -> list[dict[str, Any]]:
        return [process_info(w, p) for w in self._commands.arbiter.watchers
                for _, p in sorted(w.processes.items())]

    async def _info(self, name: str) -> dict[str, Any]:
        return process_info(*self._find(name))

    async def _start(self, name: str) -> bool:
        watcher, proc = self._find(name)
        if proc.is_alive:
            raise fault("ALREADY_STARTED", name)
        await self._operate(name, self._commands.op_start(watcher.name,
                                                          query={"wid": [str(proc.wid)]}))
        return True

    async def _stop(self, name: str) -> bool:
        watcher, proc = self._find(name)
        if not proc.is_alive:
            raise fault("NOT_RUNNING", name)
        await self._operate(name, self._commands.op_stop(watcher.name,
                                                         query={"wid": [str(proc.wid)]}))
        return True

    async def _operate(self, name: str, action: Awaitable[Any]) -> None:
        """The API's own handler (its guards: shutting down, a reload or another change in
        progress), its errors as supervisord's faults."""
        try:
            await action
        except NotFound as exc:
            raise fault("BAD_NAME", f"{name} ({exc})") from None
        except NotReady as exc:
            raise fault("SPAWN_ERROR", f"{name} ({exc})") from None
        except Conflict as exc:
            code = "SHUTDOWN_STATE" if self._commands.arbiter.is_stopping else "FAILED"
            raise fault(code, f"{name} ({exc})") from None
        except RingleaderError as exc:
            raise fault("FAILED", f"{name} ({exc})") from None

"""The audit log: one JSON line per mutating call (when, who, what, result).

Written with a single O_APPEND write per record, so lines from a crashing controller
are whole, and never buffered in the process.
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from ringleader.api.http import Request, Response

log = logging.getLogger("ringleader.audit")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _summary(body: bytes) -> Any:
    """The request's arguments, with environment values left out (they may be secrets)."""
    if not body.strip():
        return None
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return {"unparsed_bytes": len(body)}
    if isinstance(data, dict):
        options = data.get("options")
        if isinstance(options, dict) and "env" in options:
            options["env"] = sorted(options["env"]) if isinstance(options["env"], dict) else "?"
    return data


class AuditLog:
    __slots__ = ("_fd", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def record(self, request: Request, op: str, name: str | None, response: Response) -> None:
        entry = {
            "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "who": request.identity.name,
            "role": request.identity.role,
            "peer": request.peer.address,
            "op": op,
            "watcher": name,
            "args": _summary(request.body),
            "status": response.status,
            "result": "ok" if response.status < 400 else _error_code(response.body),
        }
        try:
            os.write(self._fd, _encode(entry) + b"\n")
        except OSError as exc:
            log.error("cannot write the audit log %s: %s", self.path, exc.strerror)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _error_code(body: bytes) -> str:
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        return "error"
    return str(data.get("error", "error")) if isinstance(data, dict) else "error"

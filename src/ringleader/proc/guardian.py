"""The guardian: a tiny `sh` process that outlives a killed controller just long enough
to stop its workers.

PR_SET_PDEATHSIG would need code between fork and exec (no vfork, a full copy of the
controller per spawn) and reaches only direct children. Instead the controller keeps
a pipe to one `sh` (about 1 MB) and tells it each worker's process group as it is
spawned and reaped. When the pipe reaches EOF (the controller exited, even by SIGKILL),
the guardian sends SIGTERM to every group still listed, then SIGKILL to survivors.
A clean stop leaves the list empty, so the guardian just exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess

log = logging.getLogger("ringleader.guardian")

# The pid list is kept as " 1 2 3 " so that removal is two parameter expansions.
_SCRIPT = r"""
trap '' INT TERM HUP QUIT
pids=" "
while read -r op p; do
  case $op in
    +) pids="$pids$p " ;;
    -) case "$pids" in *" $p "*) pids="${pids%% $p *} ${pids#* $p }" ;; esac ;;
  esac
done
[ "$pids" = " " ] && exit 0
for p in $pids; do kill -TERM -"$p" 2>/dev/null; done
i=0
while [ $i -lt "$1" ]; do
  alive=""
  for p in $pids; do kill -0 -"$p" 2>/dev/null && alive="$alive $p"; done
  [ -z "$alive" ] && exit 0
  sleep 0.1; i=$((i + 1))
done
for p in $pids; do kill -KILL -"$p" 2>/dev/null; done
"""


class Guardian:
    """Keeps the guardian process informed. Writes never block the loop: lines that do
    not fit in the pipe wait in a buffer flushed when the pipe is writable."""

    __slots__ = ("_buffer", "_fd", "_loop", "_proc", "_writing")

    def __init__(self, grace_seconds: float = 5.0) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._buffer = bytearray()
        self._writing = False
        ticks = max(1, int(grace_seconds * 10))
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", _SCRIPT, "ringleader-guardian", str(ticks)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        assert self._proc.stdin is not None
        self._fd = self._proc.stdin.fileno()
        os.set_blocking(self._fd, False)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def add(self, pgid: int) -> None:
        self._send(b"+ %d\n" % pgid)

    def remove(self, pgid: int) -> None:
        self._send(b"- %d\n" % pgid)

    def _send(self, line: bytes) -> None:
        if self._fd < 0:
            return
        self._buffer += line
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        try:
            while self._buffer:
                n = os.write(self._fd, self._buffer)
                del self._buffer[:n]
        except BlockingIOError:
            pass
        except OSError as exc:
            log.warning("guardian gone (%s): workers may outlive a killed controller", exc)
            self._buffer.clear()
        if self._loop is None:
            return
        if self._buffer and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._buffer and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    def close(self) -> None:
        """Close the pipe (the guardian then exits) and reap it."""
        if self._fd < 0:
            return
        if self._writing and self._loop is not None:
            self._loop.remove_writer(self._fd)
        if self._buffer:
            os.set_blocking(self._fd, True)
            try:
                os.write(self._fd, self._buffer)
            except OSError:
                pass
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._fd = -1
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

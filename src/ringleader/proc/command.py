"""Short-lived helper commands run by the controller (health checks, shell hooks): started
with ``subprocess.Popen`` (vfork + exec) in a session of their own and awaited through a
pidfd, so no thread per child and no blocking of the event loop. A command that overruns
its timeout is killed with its whole process group; it is always reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ringleader.proc.signals import signal_name

OUTPUT_LIMIT = 64 * 1024  # bytes of a command's output kept (the last ones)
_EXIT_GRACE = 1.0  # after a command exits, how long its output may still trickle in
DETAIL_MAX = 200
# Keeps reaper tasks alive (the loop holds tasks weakly) when their caller was cancelled.
_BACKGROUND: set[asyncio.Task[int]] = set()


@dataclass(frozen=True, slots=True)
class CommandResult:
    returncode: int | None  # None: did not run (see error) or killed by us on timeout
    output: bytes  # stdout and stderr interleaved; at most the last OUTPUT_LIMIT bytes
    truncated: bool = False
    timed_out: bool = False
    error: str = ""  # why it could not be started

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        """One line: how it ended, and the first line of what it said."""
        if self.error:
            return self.error
        if self.timed_out:
            how = "timed out (killed)"
        elif self.returncode is not None and self.returncode < 0:
            how = f"killed by {signal_name(-self.returncode)}"
        else:
            how = f"exit code {self.returncode}"
        first = next((ln for ln in self.output.decode(errors="replace").splitlines()
                      if ln.strip()), "")
        return one_line(f"{how}: {first.strip()}" if first else how)


def one_line(text: str) -> str:
    """`text` on one line, at most DETAIL_MAX characters."""
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 3] + "..."


def _killpg(pid: int) -> None:
    # The command runs in its own session: its pgid is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _wait_pid(pid: int) -> int:
    """Reap `pid` (our child) once it exits; returns its wait status. Sleeps on a pidfd
    in the loop (a thread blocking in waitpid where pidfds are missing)."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        return (await asyncio.to_thread(os.waitpid, pid, 0))[1]
    loop = asyncio.get_running_loop()
    reaped = False
    try:
        while True:
            waited, status = os.waitpid(pid, os.WNOHANG)
            if waited:
                reaped = True
                return status
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _resolve, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)
    finally:
        os.close(fd)
        if not reaped:  # cancelled: a last chance, so that nothing is left as a zombie
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


async def run_command(argv: Sequence[str], *, env: Mapping[str, str], timeout: float,
                      cwd: str | None = None, limit: int = OUTPUT_LIMIT) -> CommandResult:
    """Run `argv` (no shell) in a session of its own, stdin from /dev/null, capturing
    the last `limit` bytes of its output. After `timeout` seconds its process group is
    SIGKILLed. The child is always reaped, also when the caller is cancelled."""
    loop = asyncio.get_running_loop()
    argv = list(argv)
    program = None
    if argv and os.sep not in argv[0]:
        # As for the watcher's own processes: the child's PATH, else the controller's.
        path = env.get("PATH") or os.environ.get("PATH", os.defpath)
        import shutil  # only for commands: shutil brings bz2 and lzma into the controller

        program = shutil.which(argv[0], path=path)
    rfd, wfd = os.pipe()
    try:
        popen = subprocess.Popen(
            argv, executable=program, stdin=subprocess.DEVNULL, stdout=wfd, stderr=wfd,
            env=dict(env), cwd=cwd, start_new_session=True, close_fds=True,
        )
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        os.close(rfd)
        os.close(wfd)
        what = argv[0] if argv else "(empty command)"
        if isinstance(exc, FileNotFoundError):
            return CommandResult(None, b"", error=f"cannot run {what!r}: not found")
        if isinstance(exc, PermissionError):
            return CommandResult(None, b"", error=f"cannot run {what!r}: permission denied")
        return CommandResult(None, b"", error=one_line(f"cannot run {what!r}: {exc}"))
    os.close(wfd)
    os.set_blocking(rfd, False)
    pid = popen.pid
    buf = bytearray()
    truncated = False
    eof: asyncio.Future[None] = loop.create_future()

    def on_readable() -> None:
        nonlocal truncated
        try:
            chunk = os.read(rfd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(rfd)
            _resolve(eof)
            return
        buf.extend(chunk)
        if len(buf) > limit:
            del buf[: len(buf) - limit]
            truncated = True

    loop.add_reader(rfd, on_readable)
    reap = loop.create_task(_wait_pid(pid))
    _BACKGROUND.add(reap)
    reap.add_done_callback(_BACKGROUND.discard)
    timed_out = False
    status: int | None = None
    deadline = loop.time() + timeout
    try:
        try:
            async with asyncio.timeout_at(deadline):
                status = await asyncio.shield(reap)
        except TimeoutError:
            timed_out = True
            _killpg(pid)
            status = await asyncio.shield(reap)
        # What it wrote just before exiting may still be in the pipe; a grandchild
        # that keeps the pipe open is not waited for beyond a short grace.
        with contextlib.suppress(TimeoutError):
            grace = max(0.0, min(_EXIT_GRACE, deadline - loop.time()))
            async with asyncio.timeout(grace):
                await asyncio.shield(eof)
    finally:
        if status is None:  # cancelled: kill; the reaper task still reaps it
            _killpg(pid)
            popen.returncode = -signal.SIGKILL  # Popen must not think it still runs
        loop.remove_reader(rfd)
        os.close(rfd)
        if not eof.done():
            eof.cancel()
    code = os.waitstatus_to_exitcode(status)
    popen.returncode = code  # reaped by us: keep Popen from warning or waiting again
    return CommandResult(None if timed_out else code, bytes(buf), truncated=truncated,
                         timed_out=timed_out)

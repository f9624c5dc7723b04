"""The OS side of starting one child: its pipes, the spawn, the guardian and the reaper
told (``launch``). The pipes: its stdout and stderr (to pumps), and an event listener's
stdin (supervisord events written to it) and stdout (its answers).

Options decide which exist: a null stream or ``close_child_stdout``/``close_child_stderr``
give /dev/null; ``redirect_stderr`` puts stderr on the stdout pipe (one pipe, the order
kept); an event listener's stdout is always a pipe, whatever its stream says.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from subprocess import STDOUT
from typing import TYPE_CHECKING

import msgspec

from ringleader.config.model import StreamConfig, WatcherConfig
from ringleader.config.substitute import expand
from ringleader.engine.services import Services
from ringleader.errors import SpawnError
from ringleader.output.streams import Pump, StreamHub, make_pipe
from ringleader.proc.spawn import SpawnSpec, spawn

if TYPE_CHECKING:
    from ringleader.features.listeners import ListenerPool

Pipe = tuple[int, int]  # (read end, write end)


def _pipe_for(scfg: StreamConfig) -> Pipe | None:
    return None if scfg.kind == "null" else make_pipe()


class ChildPipes:
    """A child's pipes (a plain class: a dataclass costs ~0.5 ms to define, at every
    controller start)."""

    __slots__ = ("stderr", "stdin", "stdout")

    def __init__(self, stdout: Pipe | None, stderr: Pipe | None, stdin: Pipe | None) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin  # an event listener's

    @classmethod
    def make(cls, cfg: WatcherConfig, *, listener: bool) -> ChildPipes:
        """OSError (EMFILE: no fd left) leaves none open."""
        pipes = cls(None, None, None)
        try:
            pipes.stdout = make_pipe() if listener else (
                None if cfg.close_child_stdout else _pipe_for(cfg.stdout_stream))
            pipes.stderr = None if cfg.close_child_stderr or cfg.redirect_stderr \
                else _pipe_for(cfg.stderr_stream)
            pipes.stdin = os.pipe() if listener else None
        except OSError:
            pipes.close_all()
            raise
        return pipes

    def child_ends(self, cfg: WatcherConfig) -> tuple[int | None, int | None, int | None]:
        """(stdin, stdout, stderr) for the spawn: None is /dev/null (stdin: as
        close_child_stdin says), STDOUT the stdout pipe."""
        stderr = STDOUT if cfg.redirect_stderr else self.stderr[1] if self.stderr else None
        return (self.stdin[0] if self.stdin else None,
                self.stdout[1] if self.stdout else None, stderr)

    def hand_to(self, listener: ListenerPool, wid: int, pid: int) -> None:
        """An event listener's stdout speaks the protocol: to its pool, not to a log."""
        if self.stdout is not None and self.stdin is not None:
            listener.attach(wid, pid, self.stdin[1], self.stdout[0])
            self.stdout = None

    def open_pumps(self, hub: StreamHub, cfg: WatcherConfig, *, watcher: str, wid: int,
                   number: int, pid: int) -> list[Pump]:
        """Pumps from the read ends of stdout and stderr to their sinks (started)."""
        pumps = []
        for pair, stream, scfg in ((self.stdout, "stdout", cfg.stdout_stream),
                                   (self.stderr, "stderr", cfg.stderr_stream)):
            if pair:
                pump = hub.open_pump(pair[0], per_process(scfg, number), watcher=watcher,
                                     wid=wid, pid=pid,
                                     stream="stdout" if stream == "stdout" else "stderr")
                pump.start()
                pumps.append(pump)
        return pumps

    def close_child_ends(self) -> None:
        """After the spawn: the child has its own copies."""
        for pipe, child in ((self.stdout, 1), (self.stderr, 1), (self.stdin, 0)):
            if pipe is not None:
                os.close(pipe[child])

    def close_all(self) -> None:
        """The spawn failed."""
        for pipe in (self.stdout, self.stderr, self.stdin):
            if pipe is not None:
                for fd in pipe:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def close_parent_ends(self) -> None:
        """The child was spawned (its ends closed) but cannot be watched."""
        for pipe, ours in ((self.stdout, 0), (self.stderr, 0), (self.stdin, 1)):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    os.close(pipe[ours])


def per_process(scfg: StreamConfig, number: int) -> StreamConfig:
    """A log file per process when its name holds $(ringleader.wid) (supervisord's
    %(process_num)d)."""
    if scfg.filename is None or ("$(" not in scfg.filename and "((" not in scfg.filename):
        return scfg
    return msgspec.structs.replace(scfg, filename=expand(scfg.filename, wid=number))


def launch(spec: SpawnSpec, cfg: WatcherConfig, services: Services,
           on_exit: Callable[[int], None], *, listener: bool) -> tuple[int, ChildPipes]:
    """Spawn the child with its pipes: the guardian hears of it first, then its pidfd is
    watched (`on_exit`). SpawnError (the log's message) leaves no fd open and no child:
    one that cannot be watched (no fd left for its pidfd) is killed."""
    try:
        pipes = ChildPipes.make(cfg, listener=listener)
    except OSError as exc:  # no fd left for the pipes (EMFILE)
        raise SpawnError(f"cannot make its output pipes: {exc.strerror or exc}") from None
    stdin, stdout, stderr = pipes.child_ends(cfg)
    if stdin is not None:
        spec = msgspec.structs.replace(spec, stdin_fd=stdin)
    try:
        popen = spawn(spec, stdout, stderr)
    except SpawnError:
        pipes.close_all()
        raise
    pipes.close_child_ends()
    pid = popen.pid
    if services.guardian is not None:
        # First: from now on a controller killed even by SIGKILL takes it down.
        services.guardian.add(pid)
    # The pidfd reaps this child, never Popen: mark it done so that dropping it
    # neither warns nor queues it for subprocess's own reaping.
    popen.returncode = 0
    try:
        services.reaper.watch(pid, on_exit)
    except OSError as exc:  # no fd for its pidfd (EMFILE): an unwatched child is lost
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        if services.guardian is not None:
            services.guardian.remove(pid)
        pipes.close_parent_ends()
        raise SpawnError(f"cannot watch pid {pid} (killed): {exc.strerror or exc}") from None
    return pid, pipes

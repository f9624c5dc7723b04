"""The guardian: a tiny `sh` process that outlives a killed controller just long enough
to stop its workers.

PR_SET_PDEATHSIG would need code between fork and exec (no vfork, a full copy of the
controller per spawn) and reaches only direct children. Instead the controller keeps
a pipe to one `sh` (about 1 MB) and tells it each worker's process group as it is
spawned and reaped, and each watcher's cgroup folders as they are made and removed.
When the pipe reaches EOF (the controller exited, even by SIGKILL), the guardian sends
SIGTERM to every group still listed and to every process in the listed cgroups, then
SIGKILL to survivors after the grace period (a whole cgroup at once: `cgroup.kill`,
else frozen and killed), and removes the cgroup folders. A clean stop leaves both lists
empty and says so, so the guardian just exits.

A worker is told to the guardian right after its spawn returns; the controller could die
in between (a fork and an exec take a millisecond). So every worker also carries this
controller's random token in its environment (GUARD_ENV), and a guardian woken by a
death (no clean close) also stops every process whose environment carries it (one grep
over /proc/*/environ): the unlisted worker, and descendants that left its process group
without clearing their environment.

The guardian is itself a child like the workers: the Reaper watches its pidfd, so its
death (someone killed it) is noticed at once; a new one is started and told every live
process group and cgroup, so the protection never lapses for more than that moment.

Each write wakes the guardian, and on a busy machine a wake-up per spawn costs the
controller a context switch. So a burst of spawns is told in one write (``hold``, then
``flush`` before the spawning task lets anything else run), and a reaped pid is told with
the next spawn or at the end of the loop's turn (a respawn: one write). A spawned pid is
never left untold while the controller serves anything else (and a controller killed
mid-burst leaves workers that carry its token).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
from collections.abc import Iterable

from ringleader.proc.reaper import Reaper, decode_status
from ringleader.proc.signals import signal_name

log = logging.getLogger("ringleader.guardian")

# Protocol, one line each: "+ PGID" / "- PGID" (a worker's process group), "c DIR" /
# "u DIR" (a cgroup folder to kill and remove / to forget), "q" (a clean close).
# Each listed group is a shell variable (g<pgid>=1): adding and removing one costs the
# same with 10,000 workers as with 1 (a list in one string made each removal a pattern
# match over the whole list: the guardian then took seconds per thousand workers at a
# stop). At EOF the list is read back from `set`; the guardian runs with an environment
# of its own (PATH only), so that no other variable can look like one of ours. The few
# cgroup folders are newline-framed lines, removed by two parameter expansions (quoted:
# folders are matched literally).
# Without "q" (the controller died), the processes whose environment carries its token
# ($2) are stopped too: a worker whose pid the guardian had not heard of yet (the
# controller killed mid-spawn), and descendants that left their worker's group.
_SCRIPT = r"""
trap '' INT TERM HUP QUIT
nl='
'
cgs="$nl"
clean=""
while IFS= read -r line; do
  op=${line%% *}; p=${line#* }
  case $op in
    +|-) case $p in ''|*[!0-9]*) continue ;; esac
      if [ "$op" = + ]; then eval "g$p=1"; else unset "g$p"; fi ;;
    c) cgs="$cgs$p$nl" ;;
    u) case "$cgs" in *"$nl$p$nl"*) cgs="${cgs%%"$nl$p$nl"*}$nl${cgs#*"$nl$p$nl"}" ;; esac ;;
    q) clean=1 ;;
  esac
done
pids=$(set | while IFS= read -r line; do
  case $line in g[0-9]*=*) v=${line%%=*}; echo "${v#g}" ;; esac
done)
[ -n "$clean" ] && [ -z "$pids" ] && [ "$cgs" = "$nl" ] && exit 0
scan() {
  [ -n "$clean" ] && return
  grep -lzx "RINGLEADER_GUARD=$2" /proc/[0-9]*/environ 2>/dev/null |
    while IFS=/ read -r _ _ p _; do printf '%s ' "$p"; done
}
marked=$(scan "$@")
in_cgroups() {
  printf '%s' "$cgs" | while IFS= read -r d; do
    [ -n "$d" ] && cat "$d/cgroup.procs" 2>/dev/null
  done
}
# A marked process's group too (the group of a worker: what it forks meanwhile is in it).
for p in $pids $marked; do kill -TERM -"$p" 2>/dev/null; done
for p in $marked $(in_cgroups); do kill -TERM "$p" 2>/dev/null; done
i=0
while [ $i -lt "$1" ]; do
  # Scan again for 1 s: a worker spawned as the controller died shows the token only
  # once its exec is done, which a loaded host may delay.
  case " 1 3 6 10 " in *" $i "*) for p in $(scan "$@"); do
    case " $marked " in *" $p "*) ;; *)
      marked="$marked $p"; kill -TERM -"$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null ;;
    esac
  done ;; esac
  alive=""
  for p in $pids $marked; do kill -0 -"$p" 2>/dev/null && alive="$alive $p"; done
  for p in $marked; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
  [ -z "$alive" ] && [ -z "$(in_cgroups)" ] && { [ -n "$clean" ] || [ $i -gt 10 ]; } && break
  sleep 0.1; i=$((i + 1))
done
# Only what was alive a tick ago: a group gone since may have left its number to others.
for p in $alive; do kill -KILL -"$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
printf '%s' "$cgs" | while IFS= read -r d; do
  [ -n "$d" ] || continue
  if [ -e "$d/cgroup.kill" ]; then echo 1 > "$d/cgroup.kill"
  elif [ -e "$d/freezer.state" ]; then
    echo FROZEN > "$d/freezer.state"
    j=0
    while [ $j -lt 100 ] && [ "$(cat "$d/freezer.state")" != FROZEN ]; do
      sleep 0.01; j=$((j + 1))
    done
    for p in $(cat "$d/cgroup.procs"); do kill -KILL "$p" 2>/dev/null; done
    echo THAWED > "$d/freezer.state"
  fi
done 2>/dev/null
i=0
while [ -n "$(in_cgroups)" ] && [ $i -lt 100 ]; do
  for p in $(in_cgroups); do kill -KILL "$p" 2>/dev/null; done
  sleep 0.05; i=$((i + 1))
done
printf '%s' "$cgs" | while IFS= read -r d; do
  [ -n "$d" ] && rmdir "$d" 2>/dev/null
done
printf '%s' "$cgs" | while IFS= read -r d; do
  [ -n "$d" ] && rmdir "${d%/*}" 2>/dev/null
done
exit 0
"""

ARGV0 = "ringleader-guardian"  # the script's $0: how the guardian shows in `ps`
# Every worker's environment carries GUARD_ENV=<the controller's token>.
GUARD_ENV = "RINGLEADER_GUARD"
_RESTART_SPACING = 1.0  # seconds: a guardian that keeps dying is restarted at this pace


class Guardian:
    """Keeps the guardian process informed, and replaces it when it dies. Writes never
    block the loop: lines that do not fit in the pipe wait in a buffer flushed when the
    pipe is writable."""

    __slots__ = ("_buffer", "_cgroups", "_closed", "_fd", "_flush_soon", "_groups", "_held",
                 "_loop", "_proc", "_reaper", "_retry", "_started_at", "_ticks", "_writing",
                 "token")

    def __init__(self, loop: asyncio.AbstractEventLoop, reaper: Reaper,
                 grace_seconds: float = 5.0) -> None:
        self._loop = loop
        self._reaper = reaper
        self._ticks = max(1, int(grace_seconds * 10))
        # Marks this controller's workers (GUARD_ENV), so that a worker whose pid the
        # guardian has not heard of yet is found all the same.
        # os.urandom, not `secrets`: that imports hashlib, which maps libcrypto (~5 MB).
        self.token = os.urandom(8).hex()
        # What the guardian must stop if we die; kept here to brief a replacement.
        self._groups: dict[int, None] = {}
        self._cgroups: dict[str, None] = {}
        self._buffer = bytearray()
        self._writing = False
        self._held = False  # a burst of spawns in progress: write at its flush()
        self._flush_soon: asyncio.Handle | None = None
        self._fd = -1
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed: asyncio.Future[None] | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._started_at = 0.0
        self._start()  # at construction, an OSError (no fork, no fd) is the caller's

    @property
    def pid(self) -> int | None:
        """The current guardian process (None while none runs)."""
        return self._proc.pid if self._proc is not None else None

    # -- what it must know ----------------------------------------------------------

    def add(self, pgid: int) -> None:
        """A worker's process group, told at once (or at the flush of a held burst)."""
        self._groups[pgid] = None
        if self._fd < 0:
            return  # none running: the next one is briefed from the lists
        self._buffer += b"+ %d\n" % pgid
        if not self._held and not self._writing:
            self._flush()

    def remove(self, pgid: int) -> None:
        """A reaped worker: told with the next write, at the latest at the end of the turn."""
        if pgid not in self._groups:
            return
        del self._groups[pgid]
        if self._fd < 0:
            return
        self._buffer += b"- %d\n" % pgid
        if self._flush_soon is None and not self._held and not self._writing:
            self._flush_soon = self._loop.call_soon(self._flush)

    def hold(self) -> None:
        """A burst of spawns begins: buffer until `flush`."""
        self._held = True

    def flush(self) -> None:
        """Write what is buffered (the end of a burst, or before the burst's task awaits)."""
        self._held = False
        if self._fd >= 0 and self._buffer and not self._writing:
            self._flush()

    def add_cgroup(self, folders: Iterable[str]) -> None:
        """A cgroup's folders (the one whose processes are frozen and killed first)."""
        for folder in folders:
            if _framable(folder):
                self._cgroups[folder] = None
                self._send(b"c %s\n" % os.fsencode(folder))

    def remove_cgroup(self, folders: Iterable[str]) -> None:
        for folder in folders:
            if folder in self._cgroups:
                del self._cgroups[folder]
                self._send(b"u %s\n" % os.fsencode(folder))

    # -- the process ----------------------------------------------------------------

    def _start(self) -> None:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", _SCRIPT, ARGV0, str(self._ticks), self.token],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, close_fds=True, env={"PATH": "/usr/bin:/bin"},
        )
        try:
            self._reaper.watch(proc.pid, self._on_exit)
        except OSError:  # no pidfd (EMFILE): an unwatched guardian is no guardian
            proc.kill()
            proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
            raise
        # The Reaper reaps it, never Popen (as for workers).
        proc.returncode = 0
        assert proc.stdin is not None
        self._proc = proc
        self._fd = proc.stdin.fileno()
        os.set_blocking(self._fd, False)
        self._started_at = self._loop.time()
        brief = b"".join([*(b"+ %d\n" % g for g in self._groups),
                          *(b"c %s\n" % os.fsencode(c) for c in self._cgroups)])
        if brief:
            self._buffer[:0] = brief
            self._flush()

    def _on_exit(self, status: int) -> None:
        proc, self._proc = self._proc, None
        self._drop_pipe(proc)
        if self._closed is not None:
            if not self._closed.done():
                self._closed.set_result(None)
            return
        code, sig = decode_status(status)
        how = f"was killed by {signal_name(sig)}" if sig is not None else \
            f"exited with code {code}"
        pid = proc.pid if proc is not None else "?"
        soon = self._loop.time() - self._started_at < _RESTART_SPACING
        log.error("guardian pid %s %s: starting a new one%s (it protects %d process "
                  "group(s) and %d cgroup folder(s) against a killed controller)", pid,
                  how, f" in {_RESTART_SPACING:g}s" if soon else "", len(self._groups),
                  len(self._cgroups))
        if soon:
            self._retry = self._loop.call_later(_RESTART_SPACING, self._restart)
        else:
            self._restart()

    def _restart(self) -> None:
        self._retry = None
        if self._closed is not None or self._proc is not None:
            return
        try:
            self._start()
        except OSError as exc:
            log.error("cannot start a new guardian (%s): retrying in %gs; meanwhile "
                      "workers would outlive a killed controller", exc, _RESTART_SPACING)
            self._retry = self._loop.call_later(_RESTART_SPACING, self._restart)
        else:
            log.info("new guardian pid %d started", self.pid)

    def _drop_pipe(self, proc: subprocess.Popen[bytes] | None) -> None:
        self._cancel_flush_soon()
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        self._buffer.clear()  # a replacement gets the whole picture anyway
        self._fd = -1
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()

    # -- the pipe -------------------------------------------------------------------

    def _send(self, line: bytes) -> None:
        if self._fd < 0:
            return  # none running: the next one is briefed from the lists
        self._buffer += line
        if not self._writing:
            self._flush()

    def _cancel_flush_soon(self) -> None:
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None

    def _flush(self) -> None:
        self._cancel_flush_soon()
        try:
            while self._buffer:
                n = os.write(self._fd, self._buffer)
                del self._buffer[:n]
        except BlockingIOError:
            pass
        except OSError as exc:
            # It died: its exit (through the Reaper) starts and briefs a new one.
            log.debug("guardian pipe: %s", exc)
            self._buffer.clear()
        if self._buffer and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._buffer and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    async def close(self, timeout: float = 10.0, *, clean: bool = True) -> None:
        """Close the pipe (the guardian then does its job, if anything is still listed,
        and exits) and wait until it is reaped. `clean=False` closes it as a dying
        controller would: the guardian also stops unlisted workers (by their token)."""
        if self._closed is not None:
            return
        self._closed = self._loop.create_future()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        proc = self._proc
        if proc is None:
            return
        self._cancel_flush_soon()
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        if clean:
            self._buffer += b"q\n"  # no search for unlisted workers
        if self._buffer:
            os.set_blocking(self._fd, True)
            with contextlib.suppress(OSError):
                os.write(self._fd, self._buffer)
            self._buffer.clear()
        self._fd = -1
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            async with asyncio.timeout(timeout):
                await self._closed
        except TimeoutError:
            log.warning("guardian pid %d did not exit: killing it", proc.pid)
            with contextlib.suppress(OSError):
                os.kill(proc.pid, 9)
            await self._closed


def _framable(folder: str) -> bool:
    """A folder the line protocol can carry (absolute, no newline)."""
    if folder.startswith("/") and "\n" not in folder and "\0" not in folder:
        return True
    log.warning("guardian: cannot protect cgroup folder %r (not a plain absolute path)",
                folder)
    return False

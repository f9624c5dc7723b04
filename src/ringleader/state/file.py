"""The state file on disk: what is persisted (``RuntimeState``), read once at start-up
and written after each runtime change, atomically and durably: a temporary file in the
same directory, fsync, rename, fsync of the directory, so that the file is always either
the previous state or the new one, also after SIGKILL or a power cut. ``StateWriter``
saves off the event loop, one save at a time.

What the state holds and how it is laid over the config file: ``state.merge``; how it is
built from the operations: ``state.recorder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from typing import Any, Protocol

import msgspec

from ringleader.trusted_files import (
    UntrustedFile,
    open_folder,
    read_trusted,
    temp_prefix,
    write_atomically,
)

log = logging.getLogger("ringleader.statefile")

STATE_VERSION = 1
MAX_STATE_BYTES = 16 << 20  # far more than any real state; a bigger file is not ours


class RuntimeState(msgspec.Struct, kw_only=True):
    """What is persisted. Option dicts use the config file's option names."""

    version: int = STATE_VERSION
    source: str | None = None          # the config file it was recorded against
    config_digest: str = ""            # BLAKE2b of the file's watchers as loaded
    watcher_digests: dict[str, str] = {}  # per watcher: what the precedence rules compare
    added: dict[str, dict[str, Any]] = {}  # name -> options (config.options.dump)
    removed: list[str] = []            # config watchers removed at runtime
    overrides: dict[str, dict[str, Any]] = {}  # config watcher -> options changed at runtime
    stopped: list[str] = []            # stopped by an operator: not started at restore
    started: list[str] = []            # started by an operator: started at restore


class _Header(msgspec.Struct):
    version: int


def encode(value: object) -> bytes:
    # Deterministic (sorted dict keys) so that the digest of an unchanged definition
    # does not depend on dict order.
    return msgspec.json.encode(value, order="deterministic")


def load_state(path: str, *, shared_dir_ok: bool = True) -> RuntimeState | None:
    """The state in `path`; None if there is none, or (with a warning naming the file) if
    it cannot be trusted (``trusted_files``: another user's, a symbolic link, writable by
    others, not a regular file, in a folder others can write to unless `shared_dir_ok`:
    the operator named it), is bigger than MAX_STATE_BYTES, or cannot be decoded. Never
    raises, never blocks on a FIFO. Called once at start-up, it also removes temporary
    files left by a save that was killed midway."""
    _remove_stale_temps(path)
    try:
        data = read_trusted(path, limit=MAX_STATE_BYTES, shared_dir_ok=shared_dir_ok)
    except UntrustedFile as exc:
        if exc.reason not in ("no such file", "no such folder"):
            log.warning("state file %s: cannot read it (%s): ignored", exc.path, exc)
        return None
    try:
        header = msgspec.json.decode(data, type=_Header)
        if header.version != STATE_VERSION:
            log.warning("state file %s: unknown version %r (this controller writes %d): "
                        "ignored", path, header.version, STATE_VERSION)
            return None
        return msgspec.json.decode(data, type=RuntimeState)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("state file %s: corrupt (%s): ignored", path, exc)
    except UnicodeDecodeError as exc:
        log.warning("state file %s: not UTF-8 (%s at byte %d): ignored", path, exc.reason,
                    exc.start)
    except RecursionError:
        log.warning("state file %s: nested too deeply: ignored", path)
    except Exception as exc:  # restoring state must never stop a start
        log.warning("state file %s: cannot decode it (%s): ignored", path, exc)
    return None


def _remove_stale_temps(path: str) -> None:
    """Our own temporary files only: in a folder others share, theirs are not ours to
    delete."""
    prefix, euid = temp_prefix(path), os.geteuid()
    with contextlib.suppress(OSError, UntrustedFile):
        dir_fd = open_folder(os.path.dirname(os.path.abspath(path)))
        try:
            for name in os.listdir(dir_fd):
                if not (name.startswith(prefix) and name.endswith(".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and st.st_uid == euid:
                        os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


def save_state(path: str, state: RuntimeState, *, shared_dir_ok: bool = True) -> None:
    """Write `state` to `path` atomically and durably (``trusted_files.write_atomically``:
    nothing planted in the folder is written through); OSError is raised (the previous
    file, if any, is then left as it was). Mode 0600: runtime-set env may hold secrets."""
    write_atomically(path, msgspec.json.format(encode(state), indent=1), perm=0o600,
                     shared_dir_ok=shared_dir_ok, durable=True)


class Recorded(Protocol):
    """What the writer saves (``state.recorder.StateRecorder``)."""

    dirty: bool  # set by every change, cleared by whoever saves it

    def snapshot(self) -> RuntimeState: ...


class StateWriter:
    """Saves a recorder's state after changes: off the event loop (fsync may take a
    while), one save at a time, a burst of changes coalesced into the next save."""

    def __init__(self, path: str, recorder: Recorded, *, shared_dir_ok: bool = True) -> None:
        self.path = path
        self.recorder = recorder
        self.shared_dir_ok = shared_dir_ok
        self._task: asyncio.Task[None] | None = None

    def schedule(self) -> None:
        """Call after each recorded change (cheap when nothing changed)."""
        if self.recorder.dirty and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while self.recorder.dirty:
            state = self.recorder.snapshot()
            self.recorder.dirty = False
            try:
                await asyncio.to_thread(save_state, self.path, state,
                                        shared_dir_ok=self.shared_dir_ok)
            except OSError as exc:
                # Kept dirty: the next change (or flush) tries again.
                self.recorder.dirty = True
                log.error("cannot save the state file %s: %s", self.path, exc)
                return

    async def saved(self) -> None:
        """Until the changes recorded so far are saved (the save in progress covers every
        change made before it ends; a failed save is logged, the change kept dirty)."""
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)

    async def flush(self) -> None:
        """Wait for the save in progress, then save what is still unsaved (at shutdown)."""
        if self._task is not None:
            await self._task
        if self.recorder.dirty:
            self._task = asyncio.get_running_loop().create_task(self._run())
            await self._task

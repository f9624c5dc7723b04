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
from typing import Any, Protocol

import msgspec

log = logging.getLogger("ringleader.statefile")

STATE_VERSION = 1


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


def load_state(path: str) -> RuntimeState | None:
    """The state in `path`; None if there is none, or (with a warning naming the file) if
    it cannot be read or used. Never raises. Called once at start-up, it also removes
    temporary files left by a save that was killed midway."""
    _remove_stale_temps(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("state file %s: cannot read it (%s): ignored", path, exc.strerror or exc)
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
        return None


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _remove_stale_temps(path: str) -> None:
    directory, prefix = os.path.dirname(os.path.abspath(path)), _temp_prefix(path)
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def save_state(path: str, state: RuntimeState) -> None:
    """Write `state` to `path` atomically and durably; OSError is raised (the previous
    file, if any, is then left as it was)."""
    directory = os.path.dirname(os.path.abspath(path))
    data = msgspec.json.format(encode(state), indent=1)
    # A fresh name (O_EXCL: two writers never share a temp file), mode 0600 (runtime-set
    # env may hold secrets). Not tempfile: it would import shutil and random.
    prefix = os.path.join(directory, _temp_prefix(path))
    while True:
        tmp = f"{prefix}{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory entry is.
    dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class Recorded(Protocol):
    """What the writer saves (``state.recorder.StateRecorder``)."""

    dirty: bool  # set by every change, cleared by whoever saves it

    def snapshot(self) -> RuntimeState: ...


class StateWriter:
    """Saves a recorder's state after changes: off the event loop (fsync may take a
    while), one save at a time, a burst of changes coalesced into the next save."""

    def __init__(self, path: str, recorder: Recorded) -> None:
        self.path = path
        self.recorder = recorder
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
                await asyncio.to_thread(save_state, self.path, state)
            except OSError as exc:
                # Kept dirty: the next change (or flush) tries again.
                self.recorder.dirty = True
                log.error("cannot save the state file %s: %s", self.path, exc)
                return

    async def flush(self) -> None:
        """Wait for the save in progress, then save what is still unsaved (at shutdown)."""
        if self._task is not None:
            await self._task
        if self.recorder.dirty:
            self._task = asyncio.get_running_loop().create_task(self._run())
            await self._task

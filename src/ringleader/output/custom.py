"""circus's custom stream classes: ``stdout_stream.class = mypkg.MyStream``.

The class is built once per watcher and stream with the stream's options as keyword
arguments, then called with ``{"data": bytes, "pid": int, "name": "stdout"}`` per chunk of
whole lines, as circus calls its streams; ``close()`` is called, if it has one, when the
controller closes its outputs. It runs on the event loop: a slow class slows the
controller, as it would slow circus.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, final

from ringleader.config.model import StreamConfig
from ringleader.output.sinks import Sink

log = logging.getLogger("ringleader.streams")

StreamObject = Callable[[dict[str, Any]], object]


def build_stream(class_path: str, options: Mapping[str, str]) -> StreamObject:
    """The instance of `class_path` ("pkg.module.Class", or "pkg.module:Class"); raises
    ValueError with one line saying why not."""
    module_name, sep, attr = class_path.partition(":")
    if not sep:
        module_name, _, attr = class_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
        instance = cls(**options)
    except Exception as exc:  # user code: whatever it raises is one line
        raise ValueError(f"stream class {class_path}: {type(exc).__name__}: {exc}") from None
    if not callable(instance):
        raise ValueError(f"stream class {class_path}: its instances are not callable "
                         "(circus streams are called with each chunk)")
    return instance  # type: ignore[no-any-return]


@final
class CustomSink(Sink):
    """One process's stream into a shared custom stream object."""

    __slots__ = ("_failed", "_name", "_pid", "_stream")

    def __init__(self, stream: StreamObject, pid: int, name: str) -> None:
        super().__init__()
        self._stream, self._pid, self._name = stream, pid, name
        self._failed = False

    def write(self, buf: bytes, start: int, end: int) -> int:
        try:
            self._stream({"data": buf[start:end], "pid": self._pid, "name": self._name})
        except Exception as exc:  # user code: logged once per process, output dropped
            if not self._failed:
                log.error("custom stream of pid %d (%s) failed: %s: %s; its output is "
                          "dropped", self._pid, self._name, type(exc).__name__, exc)
                self._failed = True
        return end - start


class CustomStreams:
    """A hub's custom stream objects: one per watcher, stream and class, shared by the
    watcher's processes (as circus shares its stream objects)."""

    __slots__ = ("_objects",)

    def __init__(self) -> None:
        self._objects: dict[tuple[str, str, str], StreamObject] = {}

    def get(self, cfg: StreamConfig, watcher: str, stream: str) -> StreamObject | None:
        """None (the console is used, with an error in the log) when the class cannot be
        built."""
        assert cfg.class_path is not None
        key = (watcher, stream, cfg.class_path)
        found = self._objects.get(key)
        if found is None:
            try:
                found = self._objects[key] = build_stream(cfg.class_path, cfg.options)
            except ValueError as exc:
                log.error("%s %s: %s; its output goes to the console", watcher, stream, exc)
                return None
        return found

    def close(self) -> None:
        for custom in self._objects.values():
            close = getattr(custom, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # user code
                    log.error("closing a custom stream failed: %s: %s",
                              type(exc).__name__, exc)
        self._objects.clear()

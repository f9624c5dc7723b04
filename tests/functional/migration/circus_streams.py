"""A custom stream class with circus's stream interface, named by dotted path
(``circus_streams.Recorder``) in the tests' configs."""

from __future__ import annotations

import json
from typing import Any


class Recorder:
    """Appends each call's data (and pid, stream name) to `filename` as a JSON line."""

    def __init__(self, filename: str, prefix: str = "") -> None:
        self.filename = filename
        self.prefix = prefix

    def __call__(self, data: dict[str, Any]) -> None:
        with open(self.filename, "a") as f:
            f.write(json.dumps({"data": self.prefix + data["data"].decode(),
                                "pid": data["pid"], "name": data["name"]}) + "\n")

    def close(self) -> None:
        with open(self.filename, "a") as f:
            f.write('"closed"\n')


def record_options(watcher: Any, arbiter: Any, hook_name: str, **kwargs: Any) -> bool:
    """A hook: writes the watcher's free-form options where its `out` option says."""
    with open(watcher.options["out"], "w") as f:
        json.dump(dict(watcher.options), f)
    return True

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest


def _children() -> set[int]:
    me = str(os.getpid())
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[1].decode() == me:
                found.add(int(entry))
    return found


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    """Every test must reap what it started: fail (and clean up) if it did not."""
    before = _children()
    yield
    left = _children() - before
    for pid in left:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except OSError:
            pass
    assert not left, f"test left child processes behind: {sorted(left)}"

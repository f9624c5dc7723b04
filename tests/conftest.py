from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from ringleader.testing import children_of


def _children() -> set[int]:
    return set(children_of(os.getpid(), zombies=True))


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

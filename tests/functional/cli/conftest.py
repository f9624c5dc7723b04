"""Fixtures of the console's functional tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_controller import Controller


@pytest.fixture
def controllers(tmp_path: Path) -> Iterator[Callable[..., Controller]]:
    started: list[Controller] = []

    def start(config: str, **kwargs: Any) -> Controller:
        started.append(Controller(tmp_path, config, **kwargs))
        return started[-1]

    yield start
    for controller in started:
        controller.stop()

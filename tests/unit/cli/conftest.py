"""Fixtures of the console tests: a scripted HTTP server on a real unix socket."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_fakehttp import FakeServer, Handler


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[Handler], FakeServer]]:
    servers: list[FakeServer] = []

    def start(handler: Handler) -> FakeServer:
        server = FakeServer(os.path.join(tmp_path, f"s{len(servers)}.sock"), handler)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

"""api.listen.bind_unix with real sockets: the name appears listening, and only once."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.api.listen import ListenerError, bind_unix, prepare_unix_path


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _connects(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as client, contextlib.suppress(OSError):
        client.connect(path)
        return True
    return False


def test_a_deep_path_is_bound_through_its_folder(
        tmp_path: Path, sockets: list[socket.socket]) -> None:
    """Longer than sun_path's 107 bytes (the temporary name is longer still)."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "ringleader.sock")
    sockets.append(bind_unix(path, 0o600))
    st = os.lstat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert os.listdir(deep) == ["ringleader.sock"]  # no temporary name left


def test_the_mode_is_the_one_asked(tmp_path: Path, sockets: list[socket.socket]) -> None:
    path = str(tmp_path / "shared.sock")
    sockets.append(bind_unix(path, 0o666))
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o666


def test_a_socket_put_there_meanwhile_is_never_replaced(
        tmp_path: Path, sockets: list[socket.socket]) -> None:
    """Two controllers starting at once: the second finds the first's socket when it
    names its own, and gives up instead of taking the name."""
    path = str(tmp_path / "ringleader.sock")
    prepare_unix_path(path, shared=False)  # nothing there yet
    sockets.append(bind_unix(path, 0o600))  # the other controller, faster
    first = os.lstat(path).st_ino
    with pytest.raises(ListenerError, match="another controller is running"):
        bind_unix(path, 0o600)
    assert os.lstat(path).st_ino == first and _connects(path)
    assert os.listdir(tmp_path) == ["ringleader.sock"]


def test_a_stale_socket_is_replaced(tmp_path: Path, sockets: list[socket.socket]) -> None:
    path = str(tmp_path / "ringleader.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)
    sockets.append(bind_unix(path, 0o600))
    assert _connects(path)


def test_a_deep_path_is_checked_through_its_folder(
        tmp_path: Path, sockets: list[socket.socket]) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "ringleader.sock")
    dfd = os.open(deep, os.O_PATH)
    try:
        with socket.socket(socket.AF_UNIX) as dead:
            dead.bind(f"/proc/self/fd/{dfd}/ringleader.sock")
    finally:
        os.close(dfd)
    prepare_unix_path(path, shared=False)  # stale: cleared, not taken for a live one
    sockets.append(bind_unix(path, 0o600))
    with pytest.raises(ListenerError, match="another controller is running"):
        prepare_unix_path(path, shared=False)

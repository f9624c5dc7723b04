"""Issue 13: the controller speaks sd_notify for itself, checked with a real AF_UNIX
datagram receiver standing in for systemd (path and abstract addresses)."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ops_controller import Controller

from ringleader.testing import wait_until_sync

SLEEPERS = """
[watchers.sleeper]
cmd = "sleep 600"
numprocesses = 2
"""


class Receiver:
    """What systemd would read on NOTIFY_SOCKET: every datagram, in order."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def read(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def wait_for(self, predicate: Callable[[list[str]], bool], what: str) -> list[str]:
        wait_until_sync(lambda: predicate(self.read()), timeout=20, what=what)
        return self.messages

    def index(self, key: str, start: int = 0) -> int:
        """The first message from `start` on that has the line `key`."""
        for i, message in enumerate(self.messages[start:], start):
            if key in message.split("\n"):
                return i
        return -1


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(str(tmp_path / "notify.sock"))
    yield r
    r.sock.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    return {**env, **extra}


def test_ready_status_watchdog_reloading_and_stopping(
        controllers: Callable[..., Controller], receiver: Receiver, tmp_path: Path) -> None:
    ctl = controllers(SLEEPERS, env=_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"),
                                         WATCHDOG_USEC="200000"))
    messages = receiver.wait_for(lambda m: receiver.index("READY=1") >= 0, "READY=1")
    ready = messages[receiver.index("READY=1")]
    assert "STATUS=1 watcher, 1 active; 2/2 processes running" in ready.split("\n")
    # pings every WATCHDOG_USEC/2 (0.1 s) from the loop
    receiver.wait_for(lambda m: sum(x == "WATCHDOG=1" for x in m) >= 3, "watchdog pings")
    # a change: STATUS= follows (rate-limited)
    assert ctl("incr", "sleeper").returncode == 0
    receiver.wait_for(lambda m: any("STATUS=1 watcher, 1 active; 3/3 processes running"
                                    in x.split("\n") for x in m), "the new STATUS=")
    # a reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 again
    mark = len(receiver.messages)
    os.kill(ctl.proc.pid, signal.SIGHUP)
    receiver.wait_for(lambda m: receiver.index("READY=1", receiver.index("RELOADING=1", mark))
                      > receiver.index("RELOADING=1", mark) >= mark, "RELOADING=1, READY=1")
    reloading = receiver.messages[receiver.index("RELOADING=1", mark)].split("\n")
    usec = next(x for x in reloading if x.startswith("MONOTONIC_USEC="))
    assert int(usec.partition("=")[2]) > 0
    ctl.stop()
    assert ctl.proc.returncode == 0
    receiver.read()
    assert receiver.index("STOPPING=1", mark) > 0


def test_abstract_socket_and_a_watchdog_meant_for_another_pid(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    name = f"ringleader-test-{os.getpid()}-{tmp_path.name}"
    receiver = Receiver("\0" + name)
    try:
        controllers(SLEEPERS, env=_env(NOTIFY_SOCKET="@" + name, WATCHDOG_USEC="100000",
                                       WATCHDOG_PID="1"))
        receiver.wait_for(lambda m: receiver.index("READY=1") >= 0, "READY=1 (abstract)")
        assert "WATCHDOG=1" not in receiver.messages  # WATCHDOG_PID is not ours
    finally:
        receiver.sock.close()


def test_no_receiver_is_harmless(controllers: Callable[..., Controller],
                                 tmp_path: Path) -> None:
    ctl = controllers(SLEEPERS, env=_env(NOTIFY_SOCKET=str(tmp_path / "nobody.sock"),
                                         WATCHDOG_USEC="100000"))
    assert ctl("incr", "sleeper").returncode == 0
    os.kill(ctl.proc.pid, signal.SIGHUP)
    wait_until_sync(lambda: "config reloaded" in ctl.log.read_text(), timeout=20,
                    what="the reload")
    ctl.stop()
    assert ctl.proc.returncode == 0
    assert "Traceback" not in ctl.log.read_text()


def test_the_workers_never_see_the_controllers_notify_socket(
        controllers: Callable[..., Controller], receiver: Receiver, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    controllers(f"""
[watchers.env]
cmd = "sh -c 'echo \\"[$NOTIFY_SOCKET][$WATCHDOG_USEC]\\" > {seen}; exec sleep 600'"
""", env=_env(NOTIFY_SOCKET=str(tmp_path / "notify.sock"), WATCHDOG_USEC="5000000"))
    receiver.wait_for(lambda m: receiver.index("READY=1") >= 0, "READY=1")
    wait_until_sync(seen.exists, timeout=20, what="the worker's environment")
    wait_until_sync(lambda: seen.read_text().endswith("\n"), timeout=20, what="its line")
    assert seen.read_text() == "[][]\n"

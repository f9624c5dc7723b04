"""Helpers for testing code that uses Ringleader (and for Ringleader's own tests):
child-command builders and event/condition waiters with deadlines (never bare sleeps)."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ringleader.lifecycle.events import Event, EventBus

E = TypeVar("E", bound=Event)
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run a coroutine in a fresh event loop, with a safety-net timeout."""

    async def guarded() -> T:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(guarded())


def python_cmd(code: str) -> str:
    """A `cmd` that runs `code` with this interpreter."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


class EventRecorder:
    """Records every event of a bus and lets a test wait for one matching a predicate."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self._unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, kind: type[E], predicate: Callable[[E], bool] = lambda e: True,
                       *, timeout: float = 10.0, start: int = 0) -> E:
        """The first event of `kind` matching `predicate` at index >= start."""
        async with asyncio.timeout(timeout):
            index = start
            while True:
                while index < len(self.events):
                    event = self.events[index]
                    index += 1
                    if isinstance(event, kind) and predicate(event):
                        return event
                self._changed.clear()
                await self._changed.wait()

    def close(self) -> None:
        self._unsubscribe()


async def wait_until(predicate: Callable[[], bool], *, timeout: float = 10.0,
                     interval: float = 0.01, what: str = "condition") -> None:
    """Poll `predicate` until true; a last resort where no event tells."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def wait_until_sync(predicate: Callable[[], bool], *, timeout: float = 10.0,
                    interval: float = 0.01, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def pid_exists(pid: int) -> bool:
    """True while `pid` is alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    except IndexError:
        return os.path.exists(f"/proc/{pid}")
    return state not in (b"Z", b"X")


def make_test_pki(directory: str, clients: tuple[str, ...] = ()) -> dict[str, str]:
    """A throw-away CA, a server certificate for 127.0.0.1/localhost and client
    certificates (CN = each name of `clients`), made with the openssl command. Returns
    the file paths: ca, server_cert, server_key, and CLIENT_cert / CLIENT_key."""
    import subprocess

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    key = ("-newkey", "rsa:2048", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=ringleader test CA")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    paths = {"ca": os.path.join(directory, "ca.pem")}
    for name, extra in (("server", ("-extfile", ext)), *((c, ()) for c in clients)):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", *extra)
        paths[f"{name}_cert"] = os.path.join(directory, f"{name}.pem")
        paths[f"{name}_key"] = os.path.join(directory, f"{name}.key")
    return paths


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def children_of(pid: int, *, zombies: bool = False) -> list[int]:
    """The children of `pid`, read from /proc: the live ones, or all with `zombies`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and (zombies or fields[0] not in (b"Z", b"X")):
                found.append(int(entry))
    return found


def terminate(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Stop a controller started by a test: SIGTERM, then SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()

"""The sd_notify receiver with real children: READY/STATUS/WATCHDOG from `python -c` and
from systemd-notify, the sender pid from the kernel's credentials, abuse survived."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ringleader.features.notify import (
    MAX_DATAGRAM,
    NotifySocket,
    child_notify_env,
    owner_of,
    parse,
)
from ringleader.testing import run_async, wait_until_sync

DEADLINE = 10.0

# sd_notify(3) in a few lines, as programs without libsystemd do it.
SEND = r"""
import os, socket, sys
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for msg in sys.argv[1:]:
    s.sendto(msg.encode().replace(b"\\n", b"\n"), addr)
"""

Msg = tuple[int, dict[str, str]]


@asynccontextmanager
async def receiver(path: str | None = None) -> AsyncIterator[
        tuple[NotifySocket, asyncio.Queue[Msg]]]:
    notify = NotifySocket(path)
    got: asyncio.Queue[Msg] = asyncio.Queue()
    notify.start(asyncio.get_running_loop(), lambda pid, f: got.put_nowait((pid, f)))
    try:
        yield notify, got
    finally:
        notify.close()


async def run_child(argv: list[str], notify: NotifySocket) -> int:
    env = {"PATH": os.environ.get("PATH", os.defpath), "NOTIFY_SOCKET": notify.env_value}
    proc = await asyncio.create_subprocess_exec(*argv, env=env)
    try:
        async with asyncio.timeout(DEADLINE):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.pid


async def next_msg(got: asyncio.Queue[Msg]) -> Msg:
    async with asyncio.timeout(DEADLINE):
        return await got.get()


@pytest.mark.parametrize("kind", ["abstract", "path"])
def test_ready_status_watchdog_from_a_child_carry_its_pid(kind: str, tmp_path: Path) -> None:
    async def main() -> None:
        path = str(tmp_path / "notify.sock") if kind == "path" else None
        async with receiver(path) as (notify, got):
            assert notify.env_value.startswith("@" if path is None else "/")
            pid = await run_child([sys.executable, "-c", SEND, "READY=1\\nSTATUS=serving",
                                   "WATCHDOG=1"], notify)
            assert await next_msg(got) == (pid, {"READY": "1", "STATUS": "serving"})
            assert await next_msg(got) == (pid, {"WATCHDOG": "1"})
        if path is not None:
            assert not os.path.exists(path)

    run_async(main(), timeout=DEADLINE * 2)


def test_systemd_notify_tool() -> None:
    if shutil.which("systemd-notify") is None:
        pytest.skip("systemd-notify is not installed")

    async def main() -> None:
        async with receiver() as (notify, got):
            # systemd-notify reports its parent's pid (here the child's shell); it waits
            # for us to read its BARRIER=1, sent from its own pid.
            pid = await run_child(["sh", "-c", "systemd-notify --ready --status=up; true"],
                                  notify)
            msgs = [await next_msg(got), await next_msg(got)]
            ready = [m for m in msgs if "READY" in m[1]]
            assert ready == [(pid, {"READY": "1", "STATUS": "up"})]
            barrier = next(m for m in msgs if "BARRIER" in m[1])
            assert barrier[0] != pid

    run_async(main(), timeout=DEADLINE * 2)


def test_bad_messages_are_dropped_and_the_receiver_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        seen: list[Msg] = []
        done = asyncio.Event()

        def on_message(pid: int, fields: dict[str, str]) -> None:
            seen.append((pid, fields))
            if fields.get("RAISE"):
                raise RuntimeError("handler bug")
            if fields.get("LAST"):
                done.set()

        notify = NotifySocket()
        notify.start(asyncio.get_running_loop(), on_message)
        try:
            address = "\0" + notify.env_value[1:]
            sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            with sender:
                for data in (
                    b"X" * (MAX_DATAGRAM + 1),          # too long: dropped, logged
                    b"",                                 # empty
                    b"no equals\n=novalue\n\xff\xfe=1",  # nothing usable
                    b"RAISE=1",                          # the handler fails
                    b"junk\nREADY=1\nREADY=2\n\xffBAD=1\nEMPTY=",
                    b"LAST=1",
                ):
                    sender.sendto(data, address)
                # Descriptors passed by a sender (FDSTORE=1) are never kept.
                r, w = os.pipe()
                before = set(os.listdir("/proc/self/fd"))
                sender.sendmsg([b"FDSTORE=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                 w.to_bytes(4, sys.byteorder))], 0, address)
                os.close(w)
                sender.sendto(b"LAST=2", address)
                async with asyncio.timeout(DEADLINE):
                    await done.wait()
                    while not any(f.get("LAST") == "2" for _, f in seen):
                        done.clear()
                        await done.wait()
                # Every write end is gone: the pipe reports EOF (a leaked one: EAGAIN).
                os.set_blocking(r, False)
                assert os.read(r, 1) == b""
                os.close(r)
                assert set(os.listdir("/proc/self/fd")) <= before | {str(r)}
        finally:
            notify.close()
        me = os.getpid()
        assert seen == [(me, {"RAISE": "1"}), (me, {"READY": "2", "EMPTY": ""}),
                        (me, {"LAST": "1"}), (me, {"FDSTORE": "1"}), (me, {"LAST": "2"})]

    run_async(main(), timeout=DEADLINE * 2)
    assert any("longer than" in r.message for r in caplog.records)
    assert any("error handling a message" in r.message for r in caplog.records)


def test_parse() -> None:
    assert parse(b"READY=1\nSTATUS=a=b\n\nMAINPID=42") == {
        "READY": "1", "STATUS": "a=b", "MAINPID": "42"}
    assert parse(b" KEY=1\nK\tX=2\n=3\nnoeq") == {}


def test_child_notify_env_replaces_inherited_variables() -> None:
    inherited = {"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "5",
                 "WATCHDOG_PID": "1", "KEEP": "1"}
    env = dict(inherited)
    child_notify_env(env, None)
    assert env == {"KEEP": "1"}
    notify = NotifySocket()
    env = dict(inherited)
    child_notify_env(env, notify, watchdog_sec=2.5)
    assert env == {"KEEP": "1", "NOTIFY_SOCKET": notify.env_value, "WATCHDOG_USEC": "2500000"}


def test_owner_of_walks_to_a_known_ancestor() -> None:
    child = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    children = Path(f"/proc/{child.pid}/task/{child.pid}/children")
    try:
        wait_until_sync(lambda: bool(children.read_text().split()), timeout=DEADLINE,
                        what="sh to fork sleep")
        grandchild = int(children.read_text().split()[0])
        assert owner_of(grandchild, {child.pid}) == child.pid
        assert owner_of(child.pid, {child.pid}) == child.pid
        assert owner_of(grandchild, {123456789}) is None
        assert owner_of(999999999, {1}) is None
    finally:
        for pid in children.read_text().split():
            os.kill(int(pid), 9)
        child.kill()
        child.wait(timeout=DEADLINE)


@pytest.fixture(autouse=True)
def _no_fd_leak() -> Iterator[None]:
    before = len(os.listdir("/proc/self/fd"))
    yield
    assert len(os.listdir("/proc/self/fd")) <= before

"""The controller's sd_notify sender against a real datagram receiver: STATUS= is
rate-limited, a receiver that is gone or full never raises."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from ringleader.proc.sdnotify import SdNotifier
from ringleader.testing import wait_until


def _receive(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


def test_status_updates_are_rate_limited_and_the_latest_wins(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(path)
        receiver.setblocking(False)
        got: list[str] = []

        async def main() -> None:
            notifier = SdNotifier.from_environ({"NOTIFY_SOCKET": path})
            assert notifier is not None and notifier.watchdog_every is None
            notifier.ready("starting")
            # a burst within STATUS_INTERVAL of READY's STATUS=: one update, the latest
            for n in range(50):
                notifier.status(lambda n=n: f"change {n}")
            await wait_until(lambda: got.extend(_receive(receiver)) or
                             "STATUS=change 49" in got, timeout=10)
            notifier.status(lambda: "change 49")  # unchanged: not sent again
            notifier.stopping()
            notifier.close()

        asyncio.run(main())
        got.extend(_receive(receiver))
    assert got[0] == "READY=1\nSTATUS=starting"
    assert got[1:] == ["STATUS=change 49", "STOPPING=1\nSTATUS=stopping"]


def test_a_missing_or_full_receiver_never_raises(tmp_path: Path) -> None:
    async def main() -> None:
        gone = SdNotifier.from_environ({"NOTIFY_SOCKET": str(tmp_path / "nobody"),
                                        "WATCHDOG_USEC": "1000"})
        assert gone is not None
        gone.start_watchdog()
        assert not gone.send("READY=1")
        gone.close()
        path = str(tmp_path / "full.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as never_read:
            never_read.bind(path)
            full = SdNotifier(path)
            sent = [full.send("STATUS=" + "x" * 1000) for _ in range(2000)]
            assert sent[0] and not sent[-1]  # its queue filled: dropped, not blocked
            full.close()

    asyncio.run(main())


def test_not_an_address_is_ignored() -> None:
    assert SdNotifier.from_environ({}) is None
    assert SdNotifier.from_environ({"NOTIFY_SOCKET": "relative"}) is None

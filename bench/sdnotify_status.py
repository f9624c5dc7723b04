"""What the controller tells systemd while it scales: datagrams on NOTIFY_SOCKET.

    .venv/bin/python bench/sdnotify_status.py [--processes 300]

Starts `ringleader run` on a one-watcher config with NOTIFY_SOCKET (a datagram socket of
this script) and WATCHDOG_USEC=2 s, waits for READY=1, then `incr`s the watcher by
--processes and reads for 3 s more. Prints the time to READY=1, the time `incr` took, and
how many STATUS= and WATCHDOG=1 datagrams came: STATUS= is rate-limited to one a second
whatever the number of process events. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ringleader.toml").write_text('[watchers.s]\ncmd = "sleep 600"\n')
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(folder / "notify.sock"))
        receiver.settimeout(0.05)
        env = dict(os.environ, NOTIFY_SOCKET=str(folder / "notify.sock"),
                   WATCHDOG_USEC="2000000")
        ringleader = [sys.executable, "-m", "ringleader"]
        proc = subprocess.Popen([*ringleader, "run", str(folder / "ringleader.toml"),
                                 "--log-level", "warning"], env=env)
        messages: list[str] = []

        def read_until(deadline: float) -> None:
            while time.monotonic() < deadline:
                try:
                    messages.append(receiver.recv(4096).decode())
                except TimeoutError:
                    pass

        try:
            start = time.monotonic()
            while not any(m.startswith("READY=1") for m in messages):
                if time.monotonic() - start > 60:
                    raise SystemExit("no READY=1 in 60 s")
                read_until(time.monotonic() + 0.1)
            ready = time.monotonic() - start
            before = len(messages)
            t0 = time.monotonic()
            subprocess.run([*ringleader, "-e", f"unix:{folder}/ringleader.sock", "incr", "s",
                            str(args.processes)], check=True, capture_output=True)
            took = time.monotonic() - t0
            read_until(time.monotonic() + 3)
        finally:
            proc.terminate()
            proc.wait(60)
            receiver.close()
        after = messages[before:]
        status = [m for m in after if m.startswith("STATUS=")]
        print(f"READY=1 after {ready:.2f} s; incr {args.processes}: {took:.2f} s; then "
              f"{len(status)} STATUS= datagram(s) (last: {status[-1] if status else '-'}), "
              f"{after.count('WATCHDOG=1')} WATCHDOG=1 in {took + 3:.1f} s")


if __name__ == "__main__":
    main()

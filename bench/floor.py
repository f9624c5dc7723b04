"""The plain-Python floor: the least a controller of N workers can do.

``python floor.py N CMD [ARG ...]`` starts N copies of CMD with ``subprocess.Popen`` in a loop,
then blocks in ``os.wait()`` and starts a replacement as soon as one dies. SIGTERM (or SIGINT)
kills every worker, reaps it and exits. No output handling, no config, no control API: the
figures it gives are the machine's, not a product's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from types import FrameType

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class Stop(Exception):
    """Raised by the signal handler to leave the wait loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop


def main(argv: list[str]) -> int:
    count, cmd = int(argv[0]), argv[1:]
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    workers: dict[int, subprocess.Popen[bytes]] = {}
    # The stop signals are held while spawning: a Stop raised inside Popen (after the fork)
    # would leave a child that is not in `workers`, so never killed. They arrive in os.wait().
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        for _ in range(count):
            proc = subprocess.Popen(cmd)
            workers[proc.pid] = proc
        while True:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            pid, _status = os.wait()
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            if workers.pop(pid, None) is not None:
                proc = subprocess.Popen(cmd)
                workers[proc.pid] = proc
    except Stop:
        pass
    finally:
        for proc in workers.values():
            proc.kill()
        for proc in workers.values():
            proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

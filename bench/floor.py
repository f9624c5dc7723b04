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


class Stop(Exception):
    """Raised by the signal handler to leave the wait loop."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop


def main(argv: list[str]) -> int:
    count, cmd = int(argv[0]), argv[1:]
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    workers: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for _ in range(count):
            proc = subprocess.Popen(cmd)
            workers[proc.pid] = proc
        while True:
            pid, _status = os.wait()
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

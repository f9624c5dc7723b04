"""A demo worker: reports its progress every second until told to stop."""

import os
import signal
import sys
import time

running = True


def stop(signum: int, frame: object) -> None:
    global running
    running = False


signal.signal(signal.SIGTERM, stop)
wid = os.environ.get("RINGLEADER_WID", "?")
n = 0
while running:
    n += 1
    print(f"worker {wid} (pid {os.getpid()}): tick {n}", flush=True)
    time.sleep(1)
print(f"worker {wid}: stopping cleanly after {n} ticks", flush=True)
sys.exit(0)

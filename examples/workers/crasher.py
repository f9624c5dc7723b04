"""A demo worker that crashes after a few seconds, to show respawning."""

import os
import random
import sys
import time

lifetime = random.uniform(3, 6)
print(f"crasher (pid {os.getpid()}): will crash in {lifetime:.1f}s", flush=True)
time.sleep(lifetime)
print("crasher: something went wrong!", file=sys.stderr, flush=True)
sys.exit(3)

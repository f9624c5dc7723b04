"""The dashboard's Python side is a leaf: stdlib only, nothing else of Ringleader, and no
libcrypto (hashlib, hmac, secrets map about 4 MB into the controller)."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
before = set(sys.modules)
import ringleader.dashboard.assets, ringleader.dashboard.guard
import ringleader.dashboard.session, ringleader.dashboard.stream
new = set(sys.modules) - before
ours = sorted(m for m in new if m.startswith("ringleader") and
              not m.startswith("ringleader.dashboard"))
crypto = sorted(m for m in new if m in ("hashlib", "_hashlib", "hmac", "secrets", "ssl"))
print(ours, crypto)
"""


def test_importing_the_dashboard_pulls_in_nothing_else() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                            timeout=30, check=True)
    # `ringleader` itself is the package the dashboard lives in (lazy: no engine)
    assert result.stdout.strip() == "['ringleader'] []"

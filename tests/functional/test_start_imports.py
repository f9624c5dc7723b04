"""The controller starts its first worker before it loads what workers do not need: the
control API's server stack, the cluster agent, psutil, and modules that are only a cost at
start (dataclasses, ipaddress). Checked on the modules a real `ringleader run` has loaded
when it spawns its first worker."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from ringleader.testing import wait_until_sync

NOT_YET = ("h11", "psutil", "dataclasses", "ipaddress", "ringleader.api.app",
           "ringleader.api.http", "ringleader.api.runner", "ringleader.api.commands",
           "ringleader.cluster", "ringleader.dashboard")
# Prints the loaded modules when the first worker (not the guardian's shell) is spawned.
RUN = """
import subprocess, sys
from ringleader.cli.main import main
popen_init = subprocess.Popen.__init__
def init(self, args, *rest, **kw):
    if args and str(args[0]).endswith("sleep") and not getattr(init, "done", False):
        init.done = True
        print(" ".join(sorted(sys.modules)), flush=True)
    popen_init(self, args, *rest, **kw)
subprocess.Popen.__init__ = init
sys.exit(main(["run", sys.argv[1]]))
"""


def test_the_first_worker_starts_before_the_api_stack_is_loaded(tmp_path: Path) -> None:
    config = tmp_path / "ringleader.toml"
    config.write_text('[watchers.w]\ncmd = "sleep 600"\n')
    out = tmp_path / "modules.txt"
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-c", RUN, str(config)], stdout=sink,
                                stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        wait_until_sync(lambda: out.read_text().endswith("\n"), timeout=20,
                        what="the first worker's spawn")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    loaded = out.read_text().split()
    assert "ringleader.engine.arbiter" in loaded  # it did run the engine
    assert [n for n in loaded if n == "dataclasses" or n.startswith(NOT_YET)] == []

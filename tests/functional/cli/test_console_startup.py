"""A console command starts light: it imports neither the engine, the config machinery,
the server stack nor msgspec (checked on the modules a real run has loaded)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("ringleader.engine", "ringleader.features", "ringleader.lifecycle",
         "ringleader.proc", "ringleader.output", "ringleader.policy", "ringleader.state",
         "ringleader.config", "ringleader.daemon", "ringleader.library",
         "ringleader.api.app", "ringleader.api.commands", "ringleader.api.http",
         "ringleader.api.schema", "ringleader.api.runner", "ringleader.cluster", "msgspec",
         "h11", "psutil", "ssl")
RUN = ("import sys; from ringleader.cli.main import main; code = main(sys.argv[1:]); "
       "print(' '.join(sorted(sys.modules))); sys.exit(code)")


def test_status_loads_only_the_client() -> None:
    proc = subprocess.run([sys.executable, "-c", RUN, "status", "-e",
                           "unix:/nonexistent/ringleader.sock"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr  # unreachable: it did run the command
    loaded = proc.stdout.split()
    assert "ringleader.cli.console" in loaded and "ringleader.api.client" in loaded
    assert [n for n in loaded if n.startswith(HEAVY)] == []

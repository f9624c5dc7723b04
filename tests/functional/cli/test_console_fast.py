"""The console's fast path (cli.fast: `status` and `list` read without argparse, the config
without tomllib, the answer without json's re) prints byte for byte what the argparse path
prints, with the same exit code, against a real controller; and it stays light."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

from ops_controller import DEADLINE, Controller

from ringleader.cli.fast import read_fast

CONFIG = textwrap.dedent("""\
    [ringleader]
    endpoint = "unix:ringleader.sock"  # the fast TOML reader reads this

    [watchers.fine]
    cmd = "sleep 600"
    numprocesses = 2

    [watchers.crash]
    cmd = "false"
    [watchers.crash.backoff]
    free_retries = 0
    initial = 0.01
    max_retries = 1
    """)
FULL = ("import sys; from ringleader.cli.main import main; "
        "sys.exit(main(sys.argv[1:], fast=False))")
LOADED = ("import sys; from ringleader.cli.main import main; code = main(sys.argv[1:]); "
          "print(' '.join(sorted(sys.modules))); sys.exit(code)")


def _run(prefix: list[str], args: tuple[str, ...], cwd: Path,
         env: dict[str, str]) -> tuple[str, str, int]:
    """stdout, stderr, exit code; the JSON's uptimes (milliseconds: they differ from one run
    to the next) blanked."""
    done = subprocess.run([*prefix, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=DEADLINE)
    stdout = re.sub(r'"uptime": [-+.e0-9]+', '"uptime": U', done.stdout)
    return stdout, done.stderr, done.returncode


def test_the_fast_path_prints_what_the_full_path_prints(
        controllers: Callable[..., Controller], tmp_path: Path) -> None:
    ctl = controllers(CONFIG, ready=lambda s: {w["name"]: w["state"] for w in s["watchers"]}
                      == {"fine": "active", "crash": "failed"})
    config = str(ctl.config)
    (tmp_path / "bad.toml").write_text("[ringleader]\nendpoint = 5\n")
    (tmp_path / "inc.toml").write_text('[ringleader]\ninclude = ["ringleader.toml"]\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("RINGLEADER_CONFIG", "RINGLEADER_ENDPOINT", "NO_COLOR", "FORCE_COLOR")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-such-folder")
    cases: list[tuple[tuple[str, ...], int]] = [
        (("status",), 4),  # the config found in the current folder
        (("list",), 0),
        (("status", "-c", config), 4),
        (("status", "-c", config, "--json"), 4),
        (("--json", "-c", config, "status"), 4),
        (("status", "fine", "-c", config), 0),
        (("status", "-c", config, "crash"), 4),
        (("status", "fine", "--json", "-c", config), 0),
        (("status", "crash", "-c", config), 4),
        (("status", "f*", "-c", config), 0),
        (("status", "nope", "-c", config), 1),
        (("status", "nope", "-c", config, "--json"), 1),
        (("status", "-e", ctl.endpoint), 4),
        (("status", "--endpoint=" + ctl.endpoint, "--color", "always"), 4),
        (("status", "-c", str(tmp_path / "inc.toml"), "--timeout", "5"), 4),
        (("list", "-c", config), 0),
        (("list", "fine", "-c", config, "--json"), 0),
        (("status", "-e", "unix:/nonexistent/r.sock"), 3),
        (("status", "-e", "unix:/nonexistent/r.sock", "--json"), 3),
        (("status", "-c", str(tmp_path / "missing.toml")), 2),
        (("status", "-c", str(tmp_path / "bad.toml"), "--json"), 2),
        (("status", "-e", "http://x:1"), 2),
    ]
    fast = [sys.executable, "-m", "ringleader"]
    full = [sys.executable, "-c", FULL]
    for args, code in cases:
        assert read_fast(args) is not None, args  # the fast path does take it
        first = _run(fast, args, ctl.dir, env)
        reference = _run(full, args, ctl.dir, env)
        if first != reference:  # an uptime shown may have turned a second in between
            assert _run(fast, args, ctl.dir, env) == reference, args
        assert reference[2] == code, (args, reference)
        assert reference[0] or reference[1], args


def test_status_c_imports_neither_argparse_tomllib_re_json_nor_msgspec(
        controllers: Callable[..., Controller]) -> None:
    ctl = controllers(CONFIG, ready=lambda s: {w["name"]: w["state"] for w in s["watchers"]}
                      == {"fine": "active", "crash": "failed"})
    done = subprocess.run([sys.executable, "-c", LOADED, "status", "-c", str(ctl.config)],
                          capture_output=True, text=True, timeout=DEADLINE)
    assert done.returncode == 4, done.stderr
    loaded = done.stdout.splitlines()[-1].split()
    assert "ringleader.cli.fast" in loaded and "ringleader.config.endpoint_toml" in loaded
    heavy = ("argparse", "tomllib", "re", "json", "msgspec", "typing", "ringleader.cli.dispatch",
             "ringleader.cli.commands", "ringleader.config.load", "ringleader.engine")
    assert [m for m in loaded if m in heavy or m.startswith(tuple(h + "." for h in heavy))] == []

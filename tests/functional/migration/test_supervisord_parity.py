"""The same supervisord.conf under supervisord itself and under Ringleader gives the same
restarts: exit codes with autorestart (true, false, unexpected) and startsecs/startretries.

Each program counts its starts in a file and follows a script of exits; both controllers
run until every program has reached its last state (EXITED, FATAL, or RUNNING for good),
read from supervisorctl and from Ringleader's API; then the counts and states must match.
Real processes on both sides; waits are bound by deadlines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ringleader.testing import wait_until_sync

BIN = os.path.dirname(sys.executable)
SUPERVISORD = os.path.join(BIN, "supervisord")
SUPERVISORCTL = os.path.join(BIN, "supervisorctl")

# argv: COUNTER STAY STEPS - each start appends to COUNTER, sleeps STAY seconds, then
# takes the next step of STEPS ("3,3,2": exit 3, then 3, then 2; "run": stay up).
SCRIPT = textwrap.dedent("""
    import os, sys, time
    counter, stay, steps = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(",")
    n = len(open(counter).readlines()) if os.path.exists(counter) else 0
    open(counter, "a").write("start\\n")
    step = steps[min(n, len(steps) - 1)]
    if step == "run":
        time.sleep(3600)
    time.sleep(stay)
    sys.exit(int(step))
""")

# program -> (options, STAY, STEPS, final state)
PROGRAMS = {
    # unexpected codes respawn, an expected one ends it
    "unexpected": ("autorestart = unexpected\nexitcodes = 0,2\nstartsecs = 1", 1.3,
                   "3,3,2", "EXITED"),
    # always respawned, even after an expected code
    "always": ("autorestart = true\nstartsecs = 1", 1.3, "0,0,run", "RUNNING"),
    # never respawned
    "never": ("autorestart = false\nstartsecs = 1", 1.3, "1", "EXITED"),
    # exits before startsecs: failed starts, retried startretries times, then FATAL
    "quick": ("autorestart = unexpected\nstartsecs = 2\nstartretries = 2", 0.0, "0",
              "FATAL"),
}
_STATES = {"exited": "EXITED", "failed": "FATAL", "running": "RUNNING", "backoff": "BACKOFF",
           "starting": "STARTING", "stopped": "STOPPED", "stopping": "STOPPING"}


def write_config(folder: Path) -> Path:
    folder.mkdir()
    (folder / "prog.py").write_text(SCRIPT)
    sections = [textwrap.dedent("""
        [unix_http_server]
        file = %(here)s/control.sock

        [supervisord]
        logfile = %(here)s/supervisord.log
        pidfile = %(here)s/supervisord.pid

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [supervisorctl]
        serverurl = unix://%(here)s/control.sock
    """)]
    for name, (options, stay, steps, _) in PROGRAMS.items():
        sections.append(f"[program:{name}]\ncommand = {sys.executable} %(here)s/prog.py "
                        f"%(here)s/{name}.starts {stay} {steps}\n{options}\n"
                        "stdout_logfile = NONE\nstderr_logfile = NONE\n")
    conf = folder / "supervisord.conf"
    conf.write_text("\n".join(sections))
    return conf


def starts(folder: Path) -> dict[str, int]:
    return {name: len((folder / f"{name}.starts").read_text().splitlines())
            if (folder / f"{name}.starts").exists() else 0 for name in PROGRAMS}


def settled(states: dict[str, str]) -> bool:
    return all(states.get(name) == final for name, (*_, final) in PROGRAMS.items())


def supervisord_states(conf: Path) -> dict[str, str]:
    out = subprocess.run([SUPERVISORCTL, "-c", str(conf), "status"], capture_output=True,
                         text=True, check=False).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.split()}


def ringleader_states(conf: Path) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "ringleader", "-e",
                          f"unix:{conf.parent / 'control.sock'}", "--json", "status"],
                         capture_output=True, text=True, check=False).stdout
    if not out.startswith("{"):
        return {}
    return {w["name"]: _STATES[w["processes"][0]["state"]]
            for w in json.loads(out).get("watchers", []) if w["processes"]}


def run_until_settled(argv: list[str], conf: Path,
                      states: object) -> tuple[dict[str, int], dict[str, str]]:
    with open(conf.parent / "controller.out", "wb") as out:
        proc = subprocess.Popen(argv, cwd=conf.parent, stdout=out, stderr=out)
    try:
        seen: dict[str, str] = {}

        def done() -> bool:
            seen.update(states(conf))  # type: ignore[operator]
            return settled(seen)

        wait_until_sync(done, timeout=40, interval=0.2, what=f"{argv[0]}: final states")
        return starts(conf.parent), dict(seen)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(not os.path.exists(SUPERVISORD), reason="supervisor is not installed")
def test_restarts_match_supervisord(tmp_path: Path) -> None:
    sv_conf = write_config(tmp_path / "supervisord")
    rl_conf = write_config(tmp_path / "ringleader")
    sv_starts, sv_states = run_until_settled([SUPERVISORD, "-n", "-c", str(sv_conf)],
                                             sv_conf, supervisord_states)
    rl_starts, rl_states = run_until_settled(
        [sys.executable, "-m", "ringleader", "run", str(rl_conf)], rl_conf, ringleader_states)
    assert sv_starts == {"unexpected": 3, "always": 3, "never": 1, "quick": 3}
    assert rl_starts == sv_starts
    assert {n: rl_states[n] for n in PROGRAMS} == {n: sv_states[n] for n in PROGRAMS}
    shutil.rmtree(tmp_path, ignore_errors=True)

"""Issue 13: `ringleader startup systemd`, the example unit and the example Dockerfile."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ops_controller import cli

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
REQUIRED = {"Type": "notify", "KillMode": "mixed", "Delegate": "yes", "NotifyAccess": "main",
            "RuntimeDirectory": "ringleader", "StateDirectory": "ringleader",
            "LogsDirectory": "ringleader"}


def _unit(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def _verify(path: Path) -> None:
    """systemd's own parser, when this machine has it: no warning at all."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    done = subprocess.run([analyze, "verify", "--man=no", str(path)], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == "", done.stderr


def _check_service(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    for key, value in REQUIRED.items():
        assert service[key] == value, key
    assert int(service["WatchdogSec"]) > 0
    assert service["ExecReload"].endswith("kill -HUP $MAINPID")
    assert " -m ringleader run " in service["ExecStart"]
    assert unit["Install"]["WantedBy"]


def test_startup_systemd_prints_a_unit_for_the_config(tmp_path: Path) -> None:
    config = tmp_path / "my 100% app" / "ringleader.toml"  # quoting and specifiers
    config.parent.mkdir()
    config.write_text('[watchers.w]\ncmd = "sleep 600"\ngraceful_timeout = 45\n')
    done = cli("startup", "systemd", "-c", str(config))
    assert done.returncode == 0, done.stderr
    unit = _unit(done.stdout)
    _check_service(unit)
    service = unit["Service"]
    assert service["ExecStart"] == (f'{sys.executable} -m ringleader run '
                                    f'"{str(config).replace("%", "%%")}"')
    assert service["WorkingDirectory"] == str(config.parent).replace("%", "%%")
    assert int(service["TimeoutStopSec"]) > 45  # beyond the slowest graceful stop
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    path = tmp_path / "ringleader.service"
    path.write_text(done.stdout)
    _verify(path)


def test_startup_systemd_user_and_config_found_here(tmp_path: Path) -> None:
    (tmp_path / "ringleader.toml").write_text('[watchers.w]\ncmd = "sleep 600"\n')
    done = cli("startup", "systemd", "--user", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    unit = _unit(done.stdout)
    assert unit["Install"]["WantedBy"] == "default.target"
    assert unit["Service"]["ExecStart"].endswith(f"run {tmp_path}/ringleader.toml")


@pytest.mark.parametrize(("args", "message"), [
    (("startup", "systemd"), "no config file given (-c CONFIG) and none found"),
    (("startup", "upstart"), "invalid choice"),
    (("startup", "systemd", "-c", "bad.toml"), "numprocesses"),
])
def test_startup_errors_are_one_line(tmp_path: Path, args: tuple[str, ...],
                                     message: str) -> None:
    (tmp_path / "bad.toml").write_text('[watchers.w]\ncmd = "x"\nnumprocesses = "many"\n')
    done = cli(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_example_unit_and_its_config(tmp_path: Path) -> None:
    text = (EXAMPLES / "systemd" / "ringleader.service").read_text()
    _check_service(_unit(text))
    path = tmp_path / "ringleader.service"
    path.write_text(text)
    _verify(path)
    assert cli("check", str(EXAMPLES / "systemd" / "ringleader.toml")).returncode == 0


def test_example_dockerfile_runs_the_example_config_as_pid_1() -> None:
    dockerfile = (EXAMPLES / "docker" / "Dockerfile").read_text().splitlines()
    cmd = [line for line in dockerfile if line.startswith("CMD ")]
    assert len(cmd) == 1
    argv = json.loads(cmd[0].removeprefix("CMD "))  # exec form: ringleader is PID 1
    assert argv == ["ringleader", "run", "/etc/ringleader/ringleader.toml"]
    assert "COPY ringleader.toml /etc/ringleader/ringleader.toml" in dockerfile
    # the HEALTHCHECK asks the config's endpoint
    health = [line.strip().removeprefix("CMD ") for line in dockerfile
              if line.strip().startswith('CMD ["ringleader", "-e"')]
    config = tomllib.loads((EXAMPLES / "docker" / "ringleader.toml").read_text())
    assert [json.loads(h) for h in health] == [
        ["ringleader", "-e", config["ringleader"]["endpoint"], "status"]]
    assert cmd[0] in (ROOT / "README.md").read_text()  # what the docs say
    done = cli("check", str(EXAMPLES / "docker" / "ringleader.toml"))
    assert done.returncode == 0, done.stderr

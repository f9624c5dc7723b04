"""`ringleader run` of a supervisord.conf and of a Procfile as whole controllers, with real
processes: superlance's crashmail as an event listener, foreman's PORT and formation; and
`ringleader convert`, whose output loads and runs the same watchers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.config.load import load_config
from ringleader.engine.arbiter import Arbiter
from ringleader.testing import run_async, wait_until, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
CRASHMAIL = os.path.join(os.path.dirname(sys.executable), "crashmail")


@pytest.fixture
def controllers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def start(controllers: list[subprocess.Popen[bytes]], cwd: Path, *args: str,
          log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        proc = subprocess.Popen([*RINGLEADER, *args], cwd=cwd, stdout=out, stderr=out)
    controllers.append(proc)
    return proc


def status(endpoint: str) -> dict[str, object]:
    out = subprocess.run([*RINGLEADER, "-e", endpoint, "--json", "status"],
                         capture_output=True, text=True, check=False)
    result: dict[str, object] = json.loads(out.stdout) if out.stdout.startswith("{") else {}
    return result


@pytest.mark.skipif(not os.path.exists(CRASHMAIL), reason="superlance is not installed")
def test_supervisord_conf_runs_with_crashmail_as_its_listener(
        controllers: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    mail, counter = tmp_path / "mail", tmp_path / "starts"
    crasher = tmp_path / "crasher.py"
    # exits 1 (unexpected) after its start counted, then 0 (expected) the second time
    crasher.write_text(textwrap.dedent(f"""
        import os, sys, time
        n = len(open({str(counter)!r}).readlines()) if os.path.exists({str(counter)!r}) else 0
        open({str(counter)!r}, "a").write("start\\n")
        time.sleep(1.5)
        sys.exit(1 if n == 0 else 0)
    """))
    (tmp_path / "supervisord.conf").write_text(textwrap.dedent(f"""
        [unix_http_server]
        file = %(here)s/supervisor.sock

        [supervisord]
        logfile = %(here)s/supervisord.log

        [program:crasher]
        command = {sys.executable} {crasher}
        startsecs = 1
        autorestart = unexpected
        exitcodes = 0

        [eventlistener:crashmail]
        command = {CRASHMAIL} -a -m ops@example.com -s "sh -c 'cat >> {mail}'"
        events = PROCESS_STATE
    """))
    proc = start(controllers, tmp_path, "run", "supervisord.conf", log=tmp_path / "out")
    endpoint = f"unix:{tmp_path / 'supervisor.sock'}"
    wait_until_sync(lambda: mail.exists() and "exited unexpectedly" in mail.read_text(),
                    timeout=30, what="crashmail's mail")
    text = mail.read_text()
    assert "To: ops@example.com" in text
    assert "Process crasher in group crasher exited unexpectedly" in text
    assert "from state RUNNING" in text
    wait_until_sync(lambda: any(w["name"] == "crasher" and w["processes"][0]["state"]
                                == "exited" for w in status(endpoint).get("watchers", [])),
                    timeout=20, what="crasher exited with an expected code")
    assert counter.read_text().count("start") == 2
    assert text.count("exited unexpectedly") == 1  # the expected exit mailed nothing
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_procfile_runs_with_its_env_formation_and_ports(
        controllers: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "Procfile").write_text(textwrap.dedent(f"""
        web: echo "$RACK_ENV $PS $HONCHO_PROCESS_NAME" > {out}/web-$PORT; exec sleep 60
        worker: echo "$RACK_ENV" > {out}/worker-$PORT; exec sleep 60
        clock: echo never > {out}/clock
    """))
    (tmp_path / ".env").write_text("RACK_ENV=production\n")
    proc = start(controllers, tmp_path, "run", "Procfile", "-m", "web=2,worker=1", "-p",
                 "7000", log=tmp_path / "log")
    wait_until_sync(lambda: len(list(out.iterdir())) == 3, timeout=20,
                    what="three processes")
    assert sorted(p.name for p in out.iterdir()) == ["web-7000", "web-7001", "worker-7100"]
    assert (out / "web-7001").read_text() == "production web.2 web.2\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert not (out / "clock").exists()  # not in the formation: 0 of it


def _convert(path: Path, *args: str) -> Path:
    done = subprocess.run([*RINGLEADER, "convert", str(path), *args], capture_output=True,
                          text=True, check=True)
    converted = path.with_name(path.name + ".converted.toml")
    converted.write_text(done.stdout)
    return converted


@pytest.mark.parametrize("name", ["supervisord/django/supervisord.conf",
                                  "supervisord/numprocs.conf", "supervisord/groups.conf",
                                  "procfile/honcho/Procfile", "config/features.ini"])
def test_convert_output_loads_the_same_watchers(fixture_dir: Path, name: str) -> None:
    path = fixture_dir / name
    converted = _convert(path)
    original, native = load_config(path), load_config(converted)
    assert native.watchers == original.watchers
    assert native.groups == original.groups
    assert native.sockets == original.sockets


def test_convert_output_runs_the_same_processes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    conf = tmp_path / "supervisord.conf"
    conf.write_text(textwrap.dedent(f"""
        [supervisord]
        [program:w]
        command = sh -c 'echo %(process_num)d > {out}/%(program_name)s-%(process_num)02d'
        process_name = w_%(process_num)02d
        numprocs = 2
        numprocs_start = 1
        autorestart = false
        startsecs = 0
    """))
    converted = _convert(conf)
    assert "# " in converted.read_text() or converted.read_text()

    async def main() -> None:
        async with Arbiter(load_config(converted).watchers) as arbiter:
            await wait_until(lambda: len(list(out.iterdir())) == 2)
            names = [p["name"] for p in arbiter.statuses()["w"]["processes"]]
            assert names == ["w_01", "w_02"]

    run_async(main())
    assert sorted(p.name for p in out.iterdir()) == ["w-01", "w-02"]


@pytest.fixture
def fixture_dir(tmp_path: Path) -> Path:
    """The fixtures, copied: files of ours, mode 0644 (as the loader wants them)."""
    dest = tmp_path / "fixtures"
    shutil.copytree(Path(__file__).parents[2] / "fixtures", dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dest


def test_reloadconfig_reads_a_procfile_again_with_its_options(
        controllers: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    """The formation, env file and port base given to `run` hold for reloadconfig too."""
    out = tmp_path / "out"
    out.mkdir()
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"web: exec sleep 60\nworker: echo $GREETING > {out}/a-$PORT; "
                        "exec sleep 60\n")
    (tmp_path / "vars.env").write_text("GREETING=hello\n")
    proc = start(controllers, tmp_path, "run", "Procfile", "-m", "web=2,worker=1", "-p",
                 "7000", "--env-file", "vars.env", log=tmp_path / "log")
    endpoint = f"unix:{tmp_path / 'ringleader.sock'}"
    wait_until_sync(lambda: (out / "a-7100").exists(), timeout=20, what="the worker")
    procfile.write_text(f"web: exec sleep 61\nworker: echo $GREETING > {out}/b-$PORT; "
                        "exec sleep 60\n")
    done = subprocess.run([*RINGLEADER, "-e", endpoint, "reloadconfig"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    wait_until_sync(lambda: (out / "b-7100").exists(), timeout=20, what="the new worker")
    assert (out / "b-7100").read_text() == "hello\n"
    watchers = {w["name"]: w for w in status(endpoint)["watchers"]}  # type: ignore[attr-defined]
    assert watchers["web"]["numprocesses"] == 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_reloadconfig_reads_a_supervisord_conf_again(
        controllers: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    conf = tmp_path / "supervisord.conf"
    text = textwrap.dedent("""
        [unix_http_server]
        file = %(here)s/supervisor.sock

        [program:web]
        command = sleep 60
        process_name = %(program_name)s_%(process_num)02d
        numprocs = 2
    """)
    conf.write_text(text)
    proc = start(controllers, tmp_path, "run", "supervisord.conf", log=tmp_path / "log")
    endpoint = f"unix:{tmp_path / 'supervisor.sock'}"

    def names() -> list[str]:
        watchers = status(endpoint).get("watchers", [])
        return sorted(p["name"] for w in watchers for p in w["processes"]  # type: ignore
                      if p["state"] == "running")

    wait_until_sync(lambda: names() == ["web_00", "web_01"], timeout=20, what="two webs")
    conf.write_text(text.replace("numprocs = 2", "numprocs = 3"))
    done = subprocess.run([*RINGLEADER, "-e", endpoint, "reloadconfig"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    wait_until_sync(lambda: names() == ["web_00", "web_01", "web_02"], timeout=20,
                    what="three webs, named as supervisord names them")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0

"""Spawn options taking effect in real children: uid/gid, umask, rlimits, env, cwd."""

from __future__ import annotations

import hashlib
import json
import os
import resource
from pathlib import Path

import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessExited
from ringleader.testing import EventRecorder, python_cmd
from ringleader.testing import run_async as run

REPORT = python_cmd(
    "import json, os, resource\n"
    "mask = os.umask(0); os.umask(mask)\n"
    "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
    "  'umask': mask, 'nofile': resource.getrlimit(resource.RLIMIT_NOFILE),\n"
    "  'core': resource.getrlimit(resource.RLIMIT_CORE), 'cwd': os.getcwd(),\n"
    "  'env': dict(os.environ), 'argv': __import__('sys').argv[1:]}))\n"
)


async def report(tmp_path: Path, **options: object) -> dict[str, object]:
    out = tmp_path / "report.json"
    config = {"name": "r", "cmd": REPORT, "respawn": False,
              "stdout_stream": {"kind": "file", "filename": str(out)}, **options}
    arbiter = Arbiter([config])
    rec = EventRecorder(arbiter.bus)
    async with arbiter:
        exited = await rec.wait_for(ProcessExited)
        assert exited.exit_code == 0
    # Stopping the arbiter drained the output to the file.
    result: dict[str, object] = json.loads(out.read_text())
    return result


@pytest.mark.skipif(os.geteuid() != 0, reason="changing uid/gid needs root")
def test_uid_gid_and_supplementary_groups(tmp_path: Path) -> None:
    import grp
    import pwd

    # A shell, not this interpreter: nobody may not be allowed to read its directory.
    out = tmp_path / "ids.txt"
    cmd = "/bin/sh -c 'echo $(id -u) $(id -g) $USER; id -G'"

    async def main() -> None:
        arbiter = Arbiter([{"name": "ids", "cmd": cmd, "respawn": False, "uid": "nobody",
                            "gid": "nogroup",
                            "stdout_stream": {"kind": "file", "filename": str(out)}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            assert (await rec.wait_for(ProcessExited)).exit_code == 0

    run(main())
    first, groups = out.read_text().splitlines()
    uid, gid, user = first.split()
    assert int(uid) == pwd.getpwnam("nobody").pw_uid
    assert int(gid) == grp.getgrnam("nogroup").gr_gid
    assert user == "nobody"
    assert "0" not in groups.split()  # root's supplementary groups are dropped


def test_rlimits_and_umask(tmp_path: Path) -> None:
    got = run(report(tmp_path, rlimit_nofile=123, rlimit_core=0, umask="027"))
    assert got["nofile"] == [123, 123]
    assert got["core"] == [0, 0]
    assert got["umask"] == 0o027


def test_env_cwd_args_and_wid_substitution(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    got = run(report(tmp_path, working_dir=str(workdir), env={"COLOR": "blue-$(circus.wid)"},
                     args=["--id", "$(ringleader.wid)"]))
    env = got["env"]
    assert isinstance(env, dict)
    assert got["cwd"] == str(workdir)
    assert env["COLOR"] == "blue-1" and env["RINGLEADER_WID"] == "1"
    assert "HOME" not in env  # copy_env is off by default, as in circus
    assert got["argv"] == ["--id", "1"]


def test_copy_env(tmp_path: Path) -> None:
    os.environ["RINGLEADER_TEST_MARKER"] = "x"
    try:
        got = run(report(tmp_path, copy_env=True))
    finally:
        del os.environ["RINGLEADER_TEST_MARKER"]
    env = got["env"]
    assert isinstance(env, dict) and env["RINGLEADER_TEST_MARKER"] == "x"


def test_a_socket_activated_controller_keeps_its_activation_to_itself(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # LISTEN_*, NOTIFY_SOCKET and WATCHDOG_* describe the controller's own fds and
    # watchdog (systemd started it): a child copying the environment never gets them.
    inherited = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "x",
                 "NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "5",
                 "WATCHDOG_PID": "1"}
    for name, value in inherited.items():
        monkeypatch.setenv(name, value)
    env = run(report(tmp_path, copy_env=True))["env"]
    assert isinstance(env, dict) and "PATH" in env
    assert sorted(set(inherited) & set(env)) == []


def test_rlimit_parent_is_untouched() -> None:
    before = resource.getrlimit(resource.RLIMIT_CORE)
    run(_start_stop_with_rlimit())
    assert resource.getrlimit(resource.RLIMIT_CORE) == before


async def _start_stop_with_rlimit() -> None:
    async with Arbiter([{"name": "s", "cmd": "sleep 600", "rlimit_core": 0,
                         "stdout_stream": {"kind": "null"}}]):
        pass


def test_fifty_megabytes_of_output_arrive_byte_for_byte(tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    writer = python_cmd(
        "import hashlib, sys\n"
        "block = bytes(range(256)) * 4096 + b'\\n\\x00\\xff'\n"
        f"left = {size}\n"
        "h = hashlib.sha256()\n"
        "while left:\n"
        "    chunk = block[:left]; left -= len(chunk); h.update(chunk)\n"
        "    sys.stdout.buffer.write(chunk)\n"
        "sys.stdout.flush()\n"
        "sys.stderr.write(h.hexdigest())\n"
    )
    out, err = tmp_path / "out.bin", tmp_path / "err.txt"

    async def main() -> None:
        arbiter = Arbiter([{"name": "big", "cmd": writer, "respawn": False,
                            "stdout_stream": {"kind": "file", "filename": str(out)},
                            "stderr_stream": {"kind": "file", "filename": str(err)}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessExited, timeout=60)

    run(main(), timeout=90)
    data = out.read_bytes()
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == err.read_text()

"""The socket-activation trampoline and SocketSet bookkeeping (small real children where
the behaviour is the shell's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.features import SocketConfig
from ringleader.features import socket_activation
from ringleader.features.socket_activation import activation_argv
from ringleader.features.sockets import SocketError, SocketSet

DEADLINE = 10.0

# Run in a fresh interpreter so that fds 3 and 4 can be set up at will: two pipes whose
# write ends sit at `srcs` (in LISTEN order); the trampolined child writes "0" to fd 3 and
# "1" to fd 4; the parent reports which pipe got what, and the child's LISTEN_PID check.
HARNESS = r"""
import json, os, subprocess, sys
sys.path[:0] = json.loads(sys.argv[1])
from ringleader.features import socket_activation
if sys.argv[3] == "nobash":
    socket_activation._BASH = None
srcs = json.loads(sys.argv[2])
for fd in range(3, 20):
    try:
        os.close(fd)
    except OSError:
        pass
pipes = []
for src in srcs:
    r, w = os.pipe()
    r = os.dup2(r, 40 + len(pipes), inheritable=False)
    if w != src:
        os.dup2(w, src, inheritable=False)
        os.close(w)
    pipes.append(r)
child = ("import os; os.write(3, b'0'); os.write(4, b'1'); "
         "print(os.environ['LISTEN_PID'] == str(os.getpid()))")
argv = socket_activation.activation_argv(srcs, [sys.executable, "-c", child])
out = subprocess.run(argv, pass_fds=srcs, capture_output=True, timeout=10)
for src in srcs:
    os.close(src)
got = [os.read(r, 10).decode() for r in pipes]
print(json.dumps({"argv0": argv[0], "got": got, "pid_ok": out.stdout.strip().decode(),
                  "err": out.stderr.decode()}))
"""


def run_harness(srcs: list[int], mode: str = "") -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", HARNESS, json.dumps(sys.path), json.dumps(srcs),
                          mode], capture_output=True, timeout=DEADLINE, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.parametrize(("srcs", "small"), [([4, 3], True), ([3, 8], True),
                                             ([9, 3], False), ([12, 15], False)],
                         ids=["swapped", "one-in-place", "overlap-high-temps", "high"])
@pytest.mark.parametrize("mode", ["", "nobash"])
def test_fds_land_at_3_and_4_whatever_their_numbers(srcs: list[int], small: bool,
                                                    mode: str) -> None:
    if mode == "" and socket_activation._BASH is None:
        pytest.skip("no bash here")
    result = run_harness(srcs, mode)
    assert result["err"] == ""
    assert result["got"] == ["0", "1"]
    assert result["pid_ok"] == "True"
    if mode == "nobash":
        # dash copes with single-digit fds only (temporaries included); beyond, Python.
        assert result["argv0"] == ("/bin/sh" if small else sys.executable)


def test_script_shape() -> None:
    if socket_activation._BASH is None:
        pytest.skip("no bash here")
    argv = activation_argv([20, 21], ["/usr/bin/prog", "a b"], {"PATH": "/bin"})
    assert argv[:3] == [socket_activation._BASH, "-p", "-c"]
    assert argv[3] == ('exec 3<&20 4<&21; unset PWD OLDPWD; '
                       'LISTEN_PID=$$; export LISTEN_PID; exec "$@"')
    assert argv[4:] == ["ringleader-listen", "/usr/bin/prog", "a b"]
    # Already in place: nothing to move; env with PWD: nothing to unset.
    argv = activation_argv([3, 4], ["prog"], {"PWD": "/", "OLDPWD": "/"})
    assert argv[3] == 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'
    assert activation_argv([], ["prog", "x"]) == ["prog", "x"]


def test_python_fallback_when_no_shell_can(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket_activation, "_BASH", None)
    argv = activation_argv([30], ["prog"])
    assert argv[:4] == [sys.executable, "-I", "-S", "-c"]
    assert argv[5:] == ["1", "30", "prog"]
    assert activation_argv([5], ["prog"])[:2] == ["/bin/sh", "-c"]


def test_python_fallback_passes_the_environment_exactly(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(socket_activation, "_BASH", None)
    r, w = os.pipe()
    try:
        high = os.dup2(w, 60, inheritable=False)
        env = {"A": "1", "odd.name": "x", "LC_ALL": "C", "PATH": os.defpath}
        out = subprocess.run(activation_argv([high], ["env", "-0"]), pass_fds=(high,),
                             env=env, capture_output=True, timeout=DEADLINE, check=True)
    finally:
        os.close(r)
        os.close(w)
        os.close(60)
    seen = dict(e.split("=", 1) for e in out.stdout.decode().split("\0") if e)
    assert seen.pop("LISTEN_PID").isdigit()
    assert seen == env


def test_activation_env_and_bookkeeping(tmp_path: Path) -> None:
    assert SocketSet.activation_env([]) == ({}, ())
    sset = SocketSet([SocketConfig(name="a"), SocketConfig(name="b")])
    assert len(sset) == 2
    try:
        sset.bind_all()
        sset.bind_all()  # idempotent: nothing bound twice
        a, b = sset.sockets
        env, fds = sset.activation_env([b, a])
        assert env == {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "b:a"}
        assert fds == (b.fd, a.fd)
        assert [s.name for s in sset.for_watcher(True, ["b"])] == ["b"]
        assert sset.for_watcher(True, []) == [a, b]
        assert repr(a).startswith("<ListeningSocket a 127.0.0.1:")
    finally:
        sset.close_all()
    assert a.closed and sset.fds() == {}
    a.close()  # twice is fine
    with pytest.raises(SocketError, match="socket a: defined twice"):
        SocketSet([SocketConfig(name="a"), SocketConfig(name="a", port=1)])

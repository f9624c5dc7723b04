"""Shared listening sockets with real binds and real children: TCP, IPv6, unix, errors,
systemd socket activation through the trampoline, sharing, and restarts without refusal."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.config.features import SocketConfig
from ringleader.features.sockets import ListeningSocket, SocketError, SocketSet

DEADLINE = 10.0

# A socket-activated server as systemd would start it: its socket at fd 3, checked with
# LISTEN_PID/LISTEN_FDS like sd_listen_fds(3). Each connection gets "<pid> <circus-fd-ok>"
# and is held open until the client closes it, so a second client must go to another
# process. argv[1]: the fd given by $(circus.sockets.NAME), which must be the same socket.
SERVER = r"""
import os, socket, sys
assert os.environ["LISTEN_PID"] == str(os.getpid()), "LISTEN_PID"
assert os.environ["LISTEN_FDS"] == "1", "LISTEN_FDS"
assert os.environ["LISTEN_FDNAMES"] == sys.argv[2], "LISTEN_FDNAMES"
srv = socket.socket(fileno=3)
circus = socket.socket(fileno=int(sys.argv[1]))
same = circus.getsockname() == srv.getsockname()
circus.detach()
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    conn.sendall(f"{os.getpid()} {same}\n".encode())
    conn.recv(1)
    conn.close()
"""


def tcp(name: str = "web", **kw: object) -> SocketConfig:
    return SocketConfig(name=name, host="127.0.0.1", port=0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def socks() -> Iterator[list[SocketSet]]:
    made: list[SocketSet] = []
    yield made
    for s in made:
        s.close_all()


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=DEADLINE)
        if p.stdout:
            p.stdout.close()


def start_server(sset: SocketSet, name: str,
                 procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    chosen = sset.for_watcher(True, [name])
    env, pass_fds = sset.activation_env(chosen)
    argv = [sys.executable, "-c", SERVER, str(sset.fds()[name]), name]
    child_env = {"PATH": os.environ.get("PATH", os.defpath), **env}
    p = subprocess.Popen(sset.activation_argv(chosen, argv, child_env), pass_fds=pass_fds,
                         env=child_env, stdout=subprocess.PIPE, start_new_session=True)
    procs.append(p)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"  # a dead child gives b"" and fails here
    return p


def connect(address: str) -> socket.socket:
    if address.startswith("unix:"):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.settimeout(DEADLINE)
        c.connect(address[5:])
        return c
    host, _, port = address.rpartition(":")
    return socket.create_connection((host.strip("[]"), int(port)), timeout=DEADLINE)


def served_by(c: socket.socket) -> tuple[int, str]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(100)
        assert chunk, "connection closed before an answer"
        data += chunk
    pid, same = data.decode().split()
    return int(pid), same


def test_tcp_port_zero_listens_and_is_not_inheritable(socks: list[SocketSet]) -> None:
    sset = SocketSet([tcp("a"), tcp("b", backlog=5, so_reuseport=True)])
    socks.append(sset)
    sset.bind_all()
    a, b = sset.for_watcher(True, [])
    host, port = a.address.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert sset.fds() == {"a": a.fd, "b": b.fd}
    for s in (a, b):
        assert not os.get_inheritable(s.fd)
        assert s.fd >= 3 + 2  # clear of the LISTEN_FDS targets 3..4
    probe = socket.socket(fileno=os.dup(b.fd))
    with probe:
        assert probe.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        assert probe.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 1
    connect(a.address).close()  # accepted by the kernel into the backlog
    sset.close_all()
    with pytest.raises(ConnectionRefusedError):
        connect(a.address)


def test_ipv6(socks: list[SocketSet]) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as t:
            t.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this host")
    sset = SocketSet([SocketConfig(name="v6", family="inet6", host="::1", port=0)])
    socks.append(sset)
    sset.bind_all()
    s = sset["v6"]
    assert s.address.startswith("[::1]:")
    probe = socket.socket(fileno=os.dup(s.fd))
    with probe:
        assert probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 1
    connect(s.address).close()


def test_port_in_use_names_socket_and_address_and_binds_nothing(
        socks: list[SocketSet]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sset = SocketSet([tcp("first"), SocketConfig(name="web", port=port)])
        socks.append(sset)
        with pytest.raises(SocketError) as err:
            sset.bind_all()
        assert str(err.value) == f"socket web: 127.0.0.1:{port} is already in use"
        assert sset.fds() == {}  # "first" was closed again: all or nothing
        message = f"socket solo: 127.0.0.1:{port} is already in use"
        with pytest.raises(SocketError, match=re.escape(message)):
            ListeningSocket.bind(SocketConfig(name="solo", port=port))
    with pytest.raises(SocketError, match=r"socket x: no-such-host\.invalid:0: cannot resolve"):
        ListeningSocket.bind(SocketConfig(name="x", host="no-such-host.invalid"))


def test_unix_socket_mode_owner_and_stale_file(tmp_path: Path,
                                              socks: list[SocketSet]) -> None:
    path = tmp_path / "app.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody answers: stale
    owner = {"owner": 65534, "group": 65534} if os.geteuid() == 0 else {}
    sset = SocketSet([SocketConfig(name="u", family="unix", path=str(path), mode=0o660,
                                   backlog=8, **owner)])  # type: ignore[arg-type]
    socks.append(sset)
    sset.bind_all()
    s = sset["u"]
    assert s.address == f"unix:{path}"
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    if owner:
        assert (st.st_uid, st.st_gid) == (65534, 65534)
    connect(s.address).close()
    # Something answers on it now: a second bind must not steal it.
    with pytest.raises(SocketError, match=r"socket u2: unix:.*app.sock is already in use"):
        ListeningSocket.bind(SocketConfig(name="u2", family="unix", path=str(path)))
    sset.close_all()
    assert not path.exists()  # ours: removed on close


def test_unix_socket_refusals(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("data")
    with pytest.raises(SocketError, match="exists and is not a socket"):
        ListeningSocket.bind(SocketConfig(name="u", family="unix", path=str(regular)))
    assert regular.read_text() == "data"
    missing = tmp_path / "nodir" / "s.sock"
    with pytest.raises(SocketError, match=f"directory {tmp_path / 'nodir'} does not exist"):
        ListeningSocket.bind(SocketConfig(name="u", family="unix", path=str(missing)))
    with pytest.raises(SocketError, match="needs a path"):
        ListeningSocket.bind(SocketConfig(name="u", family="unix"))


def test_socket_activated_child_accepts_on_the_prebound_port(
        socks: list[SocketSet], children: list[subprocess.Popen[bytes]]) -> None:
    sset = SocketSet([tcp("other"), tcp("web")])
    socks.append(sset)
    sset.bind_all()
    child = start_server(sset, "web", children)
    with connect(sset["web"].address) as c:
        assert served_by(c) == (child.pid, "True")


def test_socket_activated_child_on_a_unix_socket(
        tmp_path: Path, socks: list[SocketSet],
        children: list[subprocess.Popen[bytes]]) -> None:
    sset = SocketSet([SocketConfig(name="u", family="unix", path=str(tmp_path / "u.sock"))])
    socks.append(sset)
    sset.bind_all()
    child = start_server(sset, "u", children)
    with connect(sset["u"].address) as c:
        assert served_by(c) == (child.pid, "True")


def test_two_children_share_one_socket(
        socks: list[SocketSet], children: list[subprocess.Popen[bytes]]) -> None:
    sset = SocketSet([tcp("web")])
    socks.append(sset)
    sset.bind_all()
    pids = {start_server(sset, "web", children).pid for _ in range(2)}
    address = sset["web"].address
    # The first connection stays open, so its server is busy: the second is served by
    # the other child.
    with connect(address) as c1, connect(address) as c2:
        served = {served_by(c1)[0], served_by(c2)[0]}
    assert served == pids


def test_backlog_holds_connections_while_no_child_runs(
        socks: list[SocketSet], children: list[subprocess.Popen[bytes]]) -> None:
    sset = SocketSet([tcp("web")])
    socks.append(sset)
    sset.bind_all()
    address = sset["web"].address
    first = start_server(sset, "web", children)
    with connect(address) as c:
        assert served_by(c)[0] == first.pid
    first.kill()
    first.wait(timeout=DEADLINE)
    # The restart gap: no child runs, the controller still holds the socket open.
    with connect(address) as waiting:  # queued in the backlog, not refused
        second = start_server(sset, "web", children)
        assert served_by(waiting) == (second.pid, "True")


def test_many_sockets_land_at_3_and_up_with_high_fds(
        socks: list[SocketSet], children: list[subprocess.Popen[bytes]]) -> None:
    # 12 sockets: targets 3..14 and controller fds >= 15, all multi-digit for the shell.
    sset = SocketSet([tcp(f"s{i}") for i in range(12)])
    socks.append(sset)
    sset.bind_all()
    chosen = sset.for_watcher(True, [])
    env, pass_fds = sset.activation_env(chosen)
    code = (
        "import os, socket, json\n"
        "n = int(os.environ['LISTEN_FDS'])\n"
        "print(json.dumps({'pid_ok': os.environ['LISTEN_PID'] == str(os.getpid()),\n"
        "  'names': os.environ['LISTEN_FDNAMES'],\n"
        "  'addrs': [socket.socket(fileno=os.dup(3 + i)).getsockname()[1]"
        " for i in range(n)]}))\n"
    )
    child_env = {"PATH": os.environ.get("PATH", os.defpath), **env}
    out = subprocess.run(sset.activation_argv(chosen, [sys.executable, "-c", code], child_env),
                         pass_fds=pass_fds, env=child_env, capture_output=True,
                         timeout=DEADLINE, check=True).stdout
    report = json.loads(out)
    assert report["pid_ok"] is True
    assert report["names"] == ":".join(f"s{i}" for i in range(12))
    assert report["addrs"] == [int(s.address.rsplit(":", 1)[1]) for s in chosen]


def test_child_environment_is_exactly_env_plus_listen_vars(
        socks: list[SocketSet]) -> None:
    sset = SocketSet([tcp("web")])
    socks.append(sset)
    sset.bind_all()
    chosen = sset.for_watcher(True, [])
    env, pass_fds = sset.activation_env(chosen)
    child_env = {"PATH": os.environ.get("PATH", os.defpath), "odd.name": "x", "A": "1",
                 "BASH_ENV": "/nonexistent-must-not-be-read", **env}
    out = subprocess.run(sset.activation_argv(chosen, ["env", "-0"], child_env),
                         pass_fds=pass_fds, env=child_env, capture_output=True,
                         timeout=DEADLINE, check=True)
    seen = dict(e.split("=", 1) for e in out.stdout.decode().split("\0") if e)
    pid = seen.pop("LISTEN_PID")
    assert pid.isdigit()
    expected = dict(child_env)
    if "bash" in sset.activation_argv(chosen, ["x"])[0]:
        expected["SHLVL"] = "0"  # bash's exec always exports it; the one addition
    else:
        expected.pop("odd.name")  # dash drops names that are not shell identifiers
    assert seen == expected
    assert out.stderr == b""


def test_watcher_without_sockets_gets_nothing(socks: list[SocketSet]) -> None:
    sset = SocketSet([tcp("web")])
    socks.append(sset)
    sset.bind_all()
    assert sset.for_watcher(False, ["web"]) == []
    assert sset.activation_env([]) == ({}, ())
    assert sset.activation_argv([], ["prog", "arg"]) == ["prog", "arg"]
    with pytest.raises(SocketError, match="no bound socket 'nope'"):
        sset.for_watcher(True, ["nope"])

"""The real controller over TLS with tokens of each role and a client certificate, driven
by the real console; plus many concurrent clients on the unix socket."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import Client
from ringleader.testing import free_port, make_test_pki, terminate, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]


class Remote:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pki = make_test_pki(str(tmp), clients=("alice", "mallory"))
        self.port = free_port()
        self.tokens = {role: new_token() for role in ("read", "operate", "admin")}
        self.url = f"https://127.0.0.1:{self.port}"
        self.sock = tmp / "rl.sock"
        entries = "".join(
            f'[[ringleader.tokens]]\nname = "{role}-token"\nrole = "{role}"\n'
            f'hash = "{hash_token(token)}"\n' for role, token in self.tokens.items())
        self.config = tmp / "ringleader.toml"
        self.config.write_text(f"""
[ringleader]
endpoint = "unix:{self.sock}"
audit_log = "audit.log"
[ringleader.tcp]
listen = "127.0.0.1:{self.port}"
tls_cert = "{self.pki['server_cert']}"
tls_key = "{self.pki['server_key']}"
client_ca = "{self.pki['ca']}"
{entries}
[[ringleader.client_certs]]
cn = "alice"
role = "admin"
[watchers.web]
cmd = "sleep 600"
numprocesses = 2
""")

    def cli(self, *args: str, token: str | None = None,
            cert: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = ["-e", self.url, "--cafile", self.pki["ca"]]
        if token:
            extra += ["--token", token]
        if cert:
            extra += ["--certfile", self.pki[f"{cert}_cert"], "--keyfile", self.pki[f"{cert}_key"]]
        return subprocess.run([*RINGLEADER, *args, *extra], capture_output=True, text=True,
                              timeout=60)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    r = Remote(tmp_path)
    log = open(tmp_path / "controller.log", "wb")  # noqa: SIM115
    daemon = subprocess.Popen([*RINGLEADER, "run", str(r.config)], stdout=log,
                              stderr=subprocess.STDOUT)
    try:
        wait_until_sync(lambda: r.sock.exists() and _accepts(r.port), timeout=20,
                        what="the control socket and the TLS port")
        yield r
        assert daemon.poll() is None, "the controller died"
    finally:
        terminate(daemon)
        log.close()


def test_roles_over_tls(remote: Remote) -> None:
    read, operate, admin = (remote.tokens[r] for r in ("read", "operate", "admin"))
    assert remote.cli("status", token=read).returncode == 0
    refused = remote.cli("incr", "web", token=read)
    assert refused.returncode == 1 and "forbidden" in refused.stderr.lower()
    assert remote.cli("incr", "web", token=operate).returncode == 0
    refused = remote.cli("rm", "web", token=operate)
    assert refused.returncode == 1 and "admin" in refused.stderr
    added = remote.cli("add", "extra", "sleep 601", "--start", token=admin)
    assert added.returncode == 0, added.stderr
    status = json.loads(remote.cli("status", "--json", token=read).stdout)
    assert [w["name"] for w in status["watchers"]] == ["web", "extra"]


def test_missing_or_wrong_credentials(remote: Remote) -> None:
    for result in (remote.cli("status"), remote.cli("status", token="not-the-token")):
        assert result.returncode == 1
        assert "unauthorized" in result.stderr.lower()
        assert "Traceback" not in result.stderr


def test_client_certificates(remote: Remote) -> None:
    assert remote.cli("incr", "web", cert="alice").returncode == 0
    refused = remote.cli("status", cert="mallory")  # verified, but not a listed CN
    assert refused.returncode == 1 and "forbidden" in refused.stderr.lower()


def test_plain_http_on_the_tls_port_gets_nothing(remote: Remote) -> None:
    with socket.create_connection(("127.0.0.1", remote.port), timeout=10) as s:
        s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
    assert b"200" not in data and b"watchers" not in data


def test_tls_client_must_verify_the_server(remote: Remote) -> None:
    context = ssl.create_default_context()  # the system CAs do not know our test CA
    with socket.create_connection(("127.0.0.1", remote.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_audit_log_names_the_token(remote: Remote) -> None:
    result = remote.cli("incr", "web", token=remote.tokens["operate"])
    assert result.returncode == 0, result.stderr
    assert remote.cli("decr", "web", token=remote.tokens["read"]).returncode == 1
    entries = [json.loads(line) for line in (remote.tmp / "audit.log").read_text().splitlines()]
    assert [(e["who"], e["op"], e["result"]) for e in entries] == [
        ("token:operate-token", "incr", "ok"), ("token:read-token", "decr", "forbidden")]


def test_many_concurrent_clients(remote: Remote) -> None:
    failures: list[str] = []

    def worker() -> None:
        try:
            with Client(f"unix:{remote.sock}") as client:
                for _ in range(20):
                    assert len(client.call("status")["watchers"]) == 1
        except Exception as exc:  # collected and asserted below
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]
    with Client(f"unix:{remote.sock}") as client:
        assert client.call("status")["watchers"][0]["running"] == 2


def test_tcp_without_a_token_or_client_ca_is_refused(tmp_path: Path) -> None:
    pki = make_test_pki(str(tmp_path))
    config = tmp_path / "bad.toml"
    config.write_text(f"""
[ringleader.tcp]
listen = "127.0.0.1:{free_port()}"
tls_cert = "{pki['server_cert']}"
tls_key = "{pki['server_key']}"
[watchers.w]
cmd = "sleep 1"
""")
    result = subprocess.run([*RINGLEADER, "run", str(config)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "token" in result.stderr and "Traceback" not in result.stderr

"""Helpers for the regression tests of issue 8 (trust: security holes and crash paths).

These tests drive Ringleader only from the outside, so that they survive any move of its
modules: the real CLI as subprocesses (`python -m ringleader ...`), raw HTTP over the unix
socket or TLS, the OS (files, signals, /proc, psutil, setpriv), `ringleader.testing` and
`ringleader.api.client`. Every process a test starts is reaped by the `cleanup` fixture
(its whole tree, also orphans the test registers), and every wait has its own deadline,
shorter than pytest-timeout, so that a hung controller fails the test instead of hanging it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.testing import free_port, make_test_pki, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
DEADLINE = 20.0  # seconds: the most any single step of a test may take

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the controller's "
                                "privileges are what is attacked)")


# -- processes ------------------------------------------------------------------------------

def _snapshot(pid: int) -> list[psutil.Process]:
    """`pid` and all its descendants, as psutil objects (which remember the start time, so
    a recycled pid is never killed later)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def kill_all(procs: list[psutil.Process], timeout: float = 10.0) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(procs, timeout=timeout)


def alive(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class Cleanup:
    """Reaps what a test started: Popen objects (their process group and descendants)
    and any pid registered with `track` (e.g. orphans a worker left)."""

    def __init__(self) -> None:
        self._popens: list[subprocess.Popen[bytes]] = []
        self._trees: list[psutil.Process] = []
        self._tracked: list[psutil.Process] = []
        self._paths: list[str] = []

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[bytes] = subprocess.Popen(args, **kwargs)
        self._popens.append(proc)
        return proc

    def track(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            self._tracked.append(psutil.Process(pid))

    def track_tree(self, pid: int) -> None:
        """A controller we did not start as a child (a daemon from `up`): its tree is
        snapshotted now and again at teardown. psutil remembers the start time, so a pid
        reused meanwhile by another process is never signalled."""
        try:
            root = psutil.Process(pid)
            if not any("ringleader" in arg for arg in root.cmdline()):
                return  # a stale pid file's pid, now someone else's
        except psutil.Error:
            return
        self._trees.append(root)
        self._tracked += _snapshot(pid)

    def remove_later(self, path: str) -> None:
        self._paths.append(path)

    def finish(self) -> None:
        procs: list[psutil.Process] = list(self._tracked)
        for root in self._trees:  # daemons: a graceful stop first, as for our own children
            with contextlib.suppress(psutil.Error):
                procs += root.children(recursive=True)
                root.terminate()
        psutil.wait_procs(self._trees, timeout=10)
        for proc in self._popens:
            procs += _snapshot(proc.pid)
        for proc in self._popens:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self._popens:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.kill()
                proc.wait(10)
        kill_all(procs)
        for path in self._paths:
            with contextlib.suppress(OSError):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    c = Cleanup()
    try:
        yield c
    finally:
        c.finish()


def cli(*args: str, cwd: Path | str | None = None,
        timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
    """One `ringleader ...` command; fails the test (instead of hanging) past `timeout`."""
    try:
        return subprocess.run([*RINGLEADER, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`ringleader {' '.join(args)}` did not finish within "
                             f"{timeout:g}s") from None


def one_error_line(stderr: str) -> None:
    """A user mistake: a clear message, never a traceback."""
    assert "Traceback" not in stderr, stderr
    assert stderr.strip(), "expected an error message on stderr"


# -- files and folders -----------------------------------------------------------------------

def _own_dir(prefix: str, mode: int, cleanup: Cleanup) -> Path:
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, mode)
    cleanup.remove_later(path)
    return Path(path)


@pytest.fixture
def sticky_dir(cleanup: Cleanup) -> Path:
    """A folder like /tmp: world-writable with the sticky bit (0o1777)."""
    return _own_dir("rl-sticky-", 0o1777, cleanup)


@pytest.fixture
def public_dir(cleanup: Cleanup) -> Path:
    """A root-owned folder (0o755) that other users can reach but not write (pytest's own
    tmp_path sits under a 0700 folder that an unprivileged attacker cannot enter)."""
    return _own_dir("rl-public-", 0o755, cleanup)


def as_nobody(*argv: str, input: str | None = None,
              groups: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `argv` as the unprivileged attacker (uid/gid 65534; no supplementary groups, or
    `groups`: a comma-separated list for setpriv --groups)."""
    prefix = AS_NOBODY if groups is None else [*AS_NOBODY[:3], f"--groups={groups}"]
    done = subprocess.run([*prefix, *argv], capture_output=True, text=True, input=input,
                          timeout=DEADLINE, cwd="/")
    return done


def plant(path: Path, content: str) -> None:
    """The attacker writes `path` (as uid 65534)."""
    done = as_nobody("sh", "-c", 'cat > "$0"', str(path), input=content)
    assert done.returncode == 0, done.stderr
    assert path.stat().st_uid == NOBODY


def plant_symlink(link: Path, target: Path) -> None:
    """The attacker makes `link` point at `target` (as uid 65534)."""
    done = as_nobody("ln", "-s", str(target), str(link))
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and link.lstat().st_uid == NOBODY


def victim_file(directory: Path, name: str = "victim") -> tuple[Path, bytes]:
    """A root-owned 0600 file standing for /etc/shadow: what an attacker aims a symlink at."""
    path = directory / name
    content = b"root:$6$secret-hash$:19000:0:99999:7:::\n"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    return path, content


def toml_str(value: str) -> str:
    return json.dumps(value)


# -- the controller ---------------------------------------------------------------------------

def _status(endpoint: str, timeout: float = 3.0) -> dict[str, Any] | None:
    try:
        with Client(endpoint, timeout=timeout) as client:
            result: dict[str, Any] = client.call("status")
            return result
    except (Unreachable, ApiError, OSError):
        return None


@dataclass
class Controller:
    """`ringleader run CONFIG` in its own session, output in a log file."""

    proc: subprocess.Popen[bytes]
    endpoint: str
    log: Path

    @property
    def socket_path(self) -> str:
        return self.endpoint.removeprefix("unix:")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def status(self, timeout: float = 3.0) -> dict[str, Any] | None:
        return _status(self.endpoint, timeout)

    def watchers(self) -> dict[str, dict[str, Any]]:
        status = self.status()
        assert status is not None, f"the controller does not answer:\n{self.log_text()}"
        return {w["name"]: w for w in status["watchers"]}

    def worker_pids(self) -> list[int]:
        return [p["pid"] for w in self.watchers().values() for p in w["processes"]
                if p["pid"]]

    def wait_answering(self, timeout: float = DEADLINE) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        def answers() -> bool:
            if self.proc.poll() is not None:
                return True
            status = self.status()
            if status is not None:
                found.append(status)
            return bool(found)

        wait_until_sync(answers, timeout=timeout, interval=0.05,
                        what="the controller to answer")
        assert found, (f"the controller exited with {self.proc.returncode}:\n"
                       f"{self.log_text()}")
        return found[-1]

    def wait_active(self, *names: str, timeout: float = DEADLINE) -> None:
        """Until the named watchers (default: all) are active with every process running."""
        def ready() -> bool:
            if self.proc.poll() is not None:
                return True
            status = self.status()
            if status is None:
                return False
            ws = [w for w in status["watchers"] if not names or w["name"] in names]
            return bool(ws) and all(w["state"] == "active" and w["running"] == w["numprocesses"]
                                    for w in ws)

        wait_until_sync(ready, timeout=timeout, interval=0.05, what=f"watchers {names} active")
        assert self.proc.poll() is None, (f"the controller exited with {self.proc.returncode}:"
                                          f"\n{self.log_text()}")

    def wait_log(self, needle: str, timeout: float = DEADLINE) -> None:
        wait_until_sync(lambda: needle in self.log_text(), timeout=timeout, interval=0.05,
                        what=f"{needle!r} in the controller's log")

    def cli(self, *args: str, timeout: float = DEADLINE) -> subprocess.CompletedProcess[str]:
        return cli(*args, "-e", self.endpoint, timeout=timeout)

    def call(self, op: str, *, name: str | None = None, body: dict[str, Any] | None = None,
             timeout: float = 10.0) -> Any:
        with Client(self.endpoint, timeout=timeout) as client:
            return client.call(op, name=name, body=body)

    def raw(self, request: bytes, timeout: float = 10.0) -> RawResponse:
        return http_unix(self.socket_path, request, timeout=timeout)

    def terminate(self, timeout: float = DEADLINE) -> int | None:
        """SIGTERM; the exit code, or None if it did not exit within `timeout` (it is then
        killed with its whole process group)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            return None


StartController = Callable[..., Controller]


@pytest.fixture
def start_controller(cleanup: Cleanup) -> StartController:
    """start_controller(config, ...): a `ringleader run` whose whole tree is reaped at
    teardown."""
    counter = iter(range(1, 1000))

    def start(config: Path, *, endpoint: str | None = None, args: tuple[str, ...] = (),
              cwd: str | Path | None = None, log: Path | None = None,
              preexec_fn: Callable[[], None] | None = None) -> Controller:
        """`endpoint`: where its socket is when the config names one (default: next to
        the config); `args`: more `run` options."""
        log = log or config.parent / f"controller-{next(counter)}.log"
        with open(log, "ab") as out:
            proc = cleanup.popen([*RINGLEADER, "run", str(config), *args], stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 cwd=cwd, preexec_fn=preexec_fn)
        ctl = Controller(proc, endpoint or f"unix:{config.parent / 'ringleader.sock'}", log)
        return ctl

    return start


def limit_memory(limit: int = 2 << 30) -> Callable[[], None]:
    """A preexec_fn capping the controller's address space: a controller that reads an
    endless file fails fast with MemoryError instead of eating the test machine's memory."""
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return preexec


def write_config(directory: Path, text: str, name: str = "ringleader.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def daemon_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


# -- raw HTTP ---------------------------------------------------------------------------------

@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> str | None:
        try:
            data = self.json()
        except ValueError:
            return None
        return data.get("error") if isinstance(data, dict) else None


class _Buffered:
    """Reads off a socket, keeping what was read past the point asked for."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def until(self, marker: bytes) -> bytes:
        while marker not in self.buf:
            if not self.fill():
                raise ConnectionError(f"connection closed before a whole answer: "
                                      f"{self.buf[:200]!r}")
        head, _, self.buf = self.buf.partition(marker)
        return head

    def take(self, n: int) -> bytes:
        while len(self.buf) < n and self.fill():
            pass
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def rest(self) -> bytes:
        while self.fill():
            pass
        data, self.buf = self.buf, b""
        return data


def read_response(sock: socket.socket, timeout: float, *,
                  stream: bool = False) -> RawResponse:
    """One HTTP/1.1 response off `sock` (Content-Length, chunked, or up to EOF); interim
    1xx answers are skipped. With `stream`, a body without Content-Length (an event
    stream) is not read: only the status and headers are returned."""
    sock.settimeout(timeout)
    reader = _Buffered(sock)
    while True:
        lines = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if not 100 <= status < 200:
            break
    if "content-length" in headers:
        body = reader.take(int(headers["content-length"]))
    elif stream:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", ""):
        body = b""
        while True:
            size = int(reader.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                reader.until(b"\r\n")
                break
            body += reader.take(size)
            reader.take(2)
    else:
        body = reader.rest()
    return RawResponse(status, headers, body)


def connect_unix(path: str, timeout: float = 10.0) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def http_unix(path: str, request: bytes, timeout: float = 10.0) -> RawResponse:
    """Send `request` (raw bytes) on a new unix-socket connection; the answer."""
    with connect_unix(path, timeout) as sock:
        sock.sendall(request)
        return read_response(sock, timeout)


def request(method: str, target: str, body: bytes | None = None, *,
            headers: dict[str, str] | None = None, version: str = "HTTP/1.1") -> bytes:
    """A well-formed request, closing the connection after the answer."""
    lines = [f"{method} {target} {version}", "Host: localhost", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def tls_client_context(ca: str, cert: str | None = None,
                       key: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def connect_tls(port: int, ctx: ssl.SSLContext, timeout: float = 10.0,
                source: str | None = None) -> ssl.SSLSocket:
    """A TLS connection to 127.0.0.1:`port`, from the loopback address `source` (another
    127.x.y.z stands for another peer) or the default one."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def http_tls(port: int, ctx: ssl.SSLContext, req: bytes, timeout: float = 10.0,
             source: str | None = None) -> RawResponse:
    with connect_tls(port, ctx, timeout, source) as sock:
        sock.sendall(req)
        return read_response(sock, timeout)


# -- the TLS listener ----------------------------------------------------------------------

VALID_TOKEN = "rl_regression-tests-valid-token-0123456789abcdef"


def token_hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Tls:
    """A throw-away PKI and a free port for a `[ringleader.tcp]` listener."""

    pki: dict[str, str]
    port: int
    directory: Path

    def section(self, *, client_ca: bool = False, roles: str = "") -> str:
        """The [ringleader.tcp] table, a token (VALID_TOKEN, role read) and `roles`
        (extra TOML, e.g. [[ringleader.client_certs]])."""
        ca = f"client_ca = {toml_str(self.pki['ca'])}\n" if client_ca else ""
        return (f"[ringleader.tcp]\nlisten = \"127.0.0.1:{self.port}\"\n"
                f"tls_cert = {toml_str(self.pki['server_cert'])}\n"
                f"tls_key = {toml_str(self.pki['server_key'])}\n{ca}"
                f"[[ringleader.tokens]]\nname = \"ci\"\nrole = \"read\"\n"
                f"hash = \"{token_hash(VALID_TOKEN)}\"\n{roles}")

    def context(self, client: str | None = None) -> ssl.SSLContext:
        if client is None:
            return tls_client_context(self.pki["ca"])
        return tls_client_context(self.pki["ca"], self.pki[f"{client}_cert"],
                                  self.pki[f"{client}_key"])

    def client_cert(self, name: str, subject: str) -> None:
        """Another client certificate signed by the CA, with a subject of our choice
        (e.g. two CNs); its files become pki[name + "_cert"] / pki[name + "_key"]."""
        d = str(self.directory)

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", subject)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2")
        self.pki[f"{name}_cert"] = os.path.join(d, f"{name}.pem")
        self.pki[f"{name}_key"] = os.path.join(d, f"{name}.key")

    def get(self, target: str, *, token: str | None = None, client: str | None = None,
            timeout: float = 10.0, source: str | None = None) -> RawResponse:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http_tls(self.port, self.context(client),
                        request("GET", target, headers=headers), timeout, source)


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    pki_dir = tmp_path / "pki"
    pki_dir.mkdir()
    pki = make_test_pki(str(pki_dir), clients=("alice",))
    return Tls(pki, free_port(), pki_dir)


def wait_gone(pids: list[int], timeout: float = DEADLINE, what: str = "processes") -> None:
    wait_until_sync(lambda: not any(alive(p) for p in pids), timeout=timeout, interval=0.05,
                    what=f"{what} {pids} to be gone")


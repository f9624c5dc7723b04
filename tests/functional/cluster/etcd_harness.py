"""Real etcd members for the tests: free loopback ports, a temporary data dir, a deadline-bound
wait for health, SIGKILL/restart, plus TLS and auth set-ups and a loopback TCP proxy that a
test can cut."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from ringleader.testing import free_port

AUTH_PREFIX = "/ringleader/"  # what the "agent" user may touch when auth is on
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
# Fast elections and lease checks; 1 s progress notifications (default 10 min).
FAST = ["--heartbeat-interval", "50", "--election-timeout", "500",
        "--experimental-watch-progress-notify-interval", "1s", "--logger", "zap",
        "--log-level", "warn"]


@dataclass
class Tls:
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


@dataclass
class Member:
    name: str
    data_dir: Path
    client_port: int
    peer_port: int
    tls: Tls | None = None
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def start(self, initial_cluster: str, state: str = "new") -> None:
        args = [ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.client_url,
                "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
                *FAST, *self.extra]
        if self.tls:
            args += ["--cert-file", self.tls.server_cert, "--key-file", self.tls.server_key,
                     "--trusted-ca-file", self.tls.ca, "--client-cert-auth"]
        log = open(self.data_dir.parent / f"{self.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

    def kill(self) -> None:
        """SIGKILL, and reap."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()
        self.proc = None

    def log_tail(self) -> str:
        path = self.data_dir.parent / f"{self.name}.log"
        return path.read_bytes()[-2000:].decode(errors="replace") if path.exists() else ""


def ssl_context(tls: Tls | None) -> ssl.SSLContext | None:
    if tls is None:
        return None
    ctx = ssl.create_default_context(cafile=tls.ca)
    ctx.load_cert_chain(tls.client_cert, tls.client_key)
    return ctx


def call(member: Member, path: str, body: dict[str, object], token: str | None = None,
         timeout: float = 5.0) -> dict[str, object]:
    """One raw gateway call (for set-up, not through the code under test)."""
    req = urllib.request.Request(member.client_url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": token} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context(member.tls)) as r:
            return dict(json.loads(r.read()))
    except urllib.error.HTTPError as exc:
        return dict(json.loads(exc.read()))


def b64(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def is_healthy(member: Member) -> bool:
    try:
        with urllib.request.urlopen(member.client_url + "/health", timeout=1,
                                    context=ssl_context(member.tls)) as r:
            return bool(json.loads(r.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


class EtcdCluster:
    """One or more etcd members on loopback, in ``root``."""

    def __init__(self, root: Path, size: int = 1, *, tls: Tls | None = None,
                 extra: list[str] | None = None) -> None:
        self.root = root
        self.members = [Member(f"m{i}", root / f"m{i}.data", free_port(), free_port(), tls,
                               list(extra or [])) for i in range(1, size + 1)]

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def start(self, timeout: float = 30.0) -> None:
        for m in self.members:
            m.start(self.initial_cluster)
        self.wait_healthy(timeout)

    def restart(self, member: Member, timeout: float = 30.0) -> None:
        member.start(self.initial_cluster, "existing")
        self.wait_healthy(timeout, [member])

    def wait_healthy(self, timeout: float = 30.0, members: list[Member] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for m in members or self.members:
            while not is_healthy(m):
                if m.proc is None or m.proc.poll() is not None:
                    raise RuntimeError(f"etcd {m.name} exited:\n{m.log_tail()}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"etcd {m.name} not healthy in {timeout} s:\n"
                                       f"{m.log_tail()}")
                time.sleep(0.05)

    def leader(self) -> Member:
        status = call(self.members[0] if self.members[0].proc else self.alive()[0],
                      "/v3/maintenance/status", {})
        leader_id = str(status["leader"])
        for m in self.alive():
            if str(call(m, "/v3/maintenance/status", {})["header"]["member_id"]  # type: ignore[index]
                   ) == leader_id:
                return m
        raise RuntimeError("no leader")

    def alive(self) -> list[Member]:
        return [m for m in self.members if m.proc is not None]

    def stop(self) -> None:
        for m in self.members:
            m.kill()

    def enable_auth(self, user: str, password: str, prefix: str) -> None:
        """root (password rootpw) and ``user`` with read-write on ``prefix`` only."""
        m = self.members[0]
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        for path, body in (
                ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
                ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
                ("/v3/auth/role/add", {"name": "agents"}),
                ("/v3/auth/role/grant", {"name": "agents", "perm": {
                    "permType": "READWRITE", "key": b64(prefix), "range_end": b64(end)}}),
                ("/v3/auth/user/add", {"name": user, "password": password}),
                ("/v3/auth/user/grant", {"user": user, "role": "agents"}),
                ("/v3/auth/enable", {})):
            answer = call(m, path, body)
            assert "error" not in answer, (path, answer)


def make_tls(directory: str) -> Tls:
    from ringleader.testing import make_test_pki

    pki = make_test_pki(directory, clients=("agent",))
    for path in pki.values():
        os.chmod(path, 0o600 if path.endswith(".key") else 0o644)
    return Tls(pki["ca"], pki["server_cert"], pki["server_key"], pki["agent_cert"],
               pki["agent_key"])


class TcpProxy:
    """A loopback TCP proxy in the test's event loop: ``cut`` breaks every connection,
    ``block`` also refuses new ones until ``unblock``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.blocked = False
        self._stopped = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._frozen: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()  # for tests driving it from a thread
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)  # from now on, cut() breaks it
        up_writer = None
        try:
            if not (self.blocked or self._stopped):
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                     self.target_port)
        except OSError:
            pass
        finally:  # blocked, stopped or cancelled meanwhile: drop the connection
            if up_writer is None or self.blocked or self._stopped or writer.is_closing():
                for w in (writer, up_writer):
                    if w is not None:
                        w.transport.abort()
                        self._writers.discard(w)
                up_writer = None
        if up_writer is None:
            return
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if asyncio.current_task() not in self._frozen:
                dst.close()
                self._writers.discard(dst)

    def freeze(self) -> None:
        """The connections open now carry nothing more but stay open, without an error
        (a route that drops packets); new connections work."""
        self._frozen |= self._tasks
        for task in self._frozen:
            task.cancel()

    def cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    def block(self) -> None:
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    async def stop(self) -> None:
        self._stopped = True
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

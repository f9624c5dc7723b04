"""The control API transport over real sockets: unix socket safety, HTTP/1.1 framing and
limits, Server-Sent Events, TLS with tokens and client certificates. A tiny in-test app stands
in for the real handlers."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ringleader.api.auth import Authenticator, hash_token, new_token
from ringleader.api.http import EventStream, Limits, Request, Response
from ringleader.api.runner import ApiServer, build_server
from ringleader.api.sites import ListenerError
from ringleader.config.model import ClientCertConfig, ControllerConfig, TcpConfig, TokenConfig
from ringleader.testing import run_async as run
from ringleader.testing import wait_until

GET = b"GET /hello HTTP/1.1\r\nhost: x\r\n\r\n"
TOKEN = new_token()


class TinyApp:
    def __init__(self) -> None:
        self.release = asyncio.Event()  # /wait answers once set
        self.waiting = asyncio.Event()
        self.events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        self.stream_closed = asyncio.Event()

    async def handle(self, request: Request) -> Response | EventStream:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/wait":
            self.waiting.set()
            await self.release.wait()
        if request.path == "/events":
            return EventStream(self._events(), heartbeat=float(request.query["hb"][0]))
        body = {"who": request.identity.name, "role": request.identity.role,
                "path": request.path, "query": request.query, "size": len(request.body)}
        return Response(200, json.dumps(body).encode())

    async def _events(self) -> AsyncIterator[tuple[str, bytes]]:
        try:
            while True:
                yield await self.events.get()
        finally:
            self.stream_closed.set()

    def error(self, status: int, code: str, detail: str) -> Response:
        return Response(status, json.dumps({"error": code, "detail": detail}).encode())


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        return json.loads(self.body)  # type: ignore[no-any-return]


async def read_answer(reader: asyncio.StreamReader) -> Answer:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(int(head[0].split()[1]), headers, body)


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    size = int((await reader.readline()).strip(), 16)
    data = await reader.readexactly(size)
    await reader.readexactly(2)
    return data


@asynccontextmanager
async def connect(path: str) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        yield reader, writer
    finally:
        writer.close()
        await writer.wait_closed()


async def ask(path: str, request: bytes = GET) -> Answer:
    async with connect(path) as (reader, writer):
        writer.write(request)
        return await read_answer(reader)


@asynccontextmanager
async def serving(tmp_path: Path, app: TinyApp | None = None, *,
                  config: ControllerConfig | None = None,
                  **limits: float) -> AsyncIterator[tuple[ApiServer, str, TinyApp]]:
    app = app or TinyApp()
    path = str(tmp_path / "api.sock")
    server = ApiServer(app, unix_path=path, authenticator=Authenticator(config),
                       tcp=config.tcp if config else None,
                       limits=Limits(shutdown_grace=2.0, **limits))  # type: ignore[arg-type]
    async with server:
        yield server, path, app


# -- the unix socket --------------------------------------------------------------------

def test_socket_is_0600_and_removed_on_stop(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (server, path, _):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert server.addresses == [f"unix:{path}"]
            answer = await ask(path)
            assert answer.status == 200 and answer.json()["role"] == "admin"
        assert not os.path.exists(path)

    run(main(), timeout=10)


def test_refuses_a_world_writable_directory_without_sticky_bit(tmp_path: Path) -> None:
    async def main() -> None:
        unsafe = tmp_path / "unsafe"
        unsafe.mkdir()
        unsafe.chmod(0o777)
        server = ApiServer(TinyApp(), unix_path=str(unsafe / "s.sock"),
                           authenticator=Authenticator())
        with pytest.raises(ListenerError, match=f"{unsafe}: the directory is world-writable"):
            await server.start()
        assert not (unsafe / "s.sock").exists()
        unsafe.chmod(0o1777)  # sticky, like /tmp: fine
        async with serving(unsafe) as (_, path, _):
            assert (await ask(path)).status == 200

    run(main(), timeout=10)


def test_stale_socket_is_replaced_but_a_live_one_is_not(tmp_path: Path) -> None:
    async def main() -> None:
        import socket

        stale = socket.socket(socket.AF_UNIX)
        stale.bind(str(tmp_path / "api.sock"))
        stale.close()  # the file stays, nobody listens: a controller that died
        async with serving(tmp_path) as (_, path, _):
            assert (await ask(path)).status == 200
            second = ApiServer(TinyApp(), unix_path=path, authenticator=Authenticator())
            with pytest.raises(ListenerError, match=f"another controller is running on {path}"):
                await second.start()
            assert (await ask(path)).status == 200  # the first one is untouched

    run(main(), timeout=10)


def test_disallowed_uid_gets_403(tmp_path: Path) -> None:
    python = "/usr/bin/python3"
    if os.getuid() != 0 or not os.access(python, os.X_OK):
        pytest.skip("needs root and a system python to connect as another user")
    client = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n"
              "s.sendall(b'GET /hello HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n')\n"
              "sys.stdout.write(s.recv(4096).decode())\n")

    async def main() -> None:
        shared = Path(subprocess.check_output(["mktemp", "-d", "/tmp/rl-api.XXXXXX"],
                                              text=True).strip())
        try:
            shared.chmod(0o711)
            config = ControllerConfig(allowed_uids=[65533])  # someone else: mode 0666
            async with serving(shared, config=config) as (_, path, _):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o666
                proc = await asyncio.create_subprocess_exec(
                    python, "-I", "-c", client, path, user=65534, group=65534,
                    stdout=subprocess.PIPE)
                out, _ = await proc.communicate()
                assert out.startswith(b"HTTP/1.1 403 ") and b'"forbidden"' in out
        finally:
            subprocess.run(["rm", "-rf", str(shared)], check=True)

    run(main(), timeout=20)


def test_peer_groups_are_the_supplementary_groups_of_the_peer() -> None:
    import socket

    from ringleader.api.sites import peer_groups

    ours, theirs = socket.socketpair()
    with ours, theirs:
        groups = peer_groups(ours)
    assert groups is not None, "SO_PEERGROUPS needs Linux 4.13"
    assert sorted(groups) == sorted(os.getgroups())


# -- HTTP/1.1 framing and limits ------------------------------------------------------

def test_keep_alive_pipelining_and_connection_close(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_, path, _), connect(path) as (reader, writer):
            writer.write(GET)
            assert (await read_answer(reader)).status == 200
            writer.write(b"GET /a?x=1&x=2 HTTP/1.1\r\nhost: x\r\n\r\n"
                         b"POST /b%20c HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc"
                         b"GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            first, second, third = [await read_answer(reader) for _ in range(3)]
            assert first.json()["query"] == {"x": ["1", "2"]}
            assert second.json()["path"] == "/b c" and second.json()["size"] == 3
            assert third.json()["path"] == "/last"
            assert await reader.read() == b""  # closed as asked

    run(main(), timeout=10)


def test_malformed_http_is_400_then_closed(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_, path, _), connect(path) as (reader, writer):
            writer.write(b"HELLO THERE\r\n\r\n")
            answer = await read_answer(reader)
            assert answer.status == 400 and answer.json()["error"] == "bad_request"
            assert await reader.read() == b""

    run(main(), timeout=10)


def test_oversized_headers_and_bodies(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, max_body_bytes=1000) as (_, path, _):
            huge = b"GET / HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20_000 + b"\r\n\r\n"
            answer = await ask(path, huge)
            assert answer.status == 431 and answer.headers["connection"] == "close"
            big = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1001\r\n\r\n"
            answer = await ask(path, big)
            assert answer.status == 413 and answer.json()["error"] == "payload_too_large"
            chunked = (b"POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                       + (b"200\r\n" + b"z" * 512 + b"\r\n") * 2)
            assert (await ask(path, chunked)).status == 413
            ok = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n" + b"y" * 1000
            assert (await ask(path, ok)).json()["size"] == 1000

    run(main(), timeout=10)


def test_ambiguous_or_unknown_framing_is_refused_then_closed(tmp_path: Path) -> None:
    """HTTP versions other than 1.0/1.1 (505), Content-Length with Transfer-Encoding (400:
    request smuggling), a body in more chunks than max_body_chunks (400): answered, closed,
    never handed to the app."""
    def chunked(count: int) -> bytes:
        return (b"POST /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                + b"1\r\nz\r\n" * count + b"0\r\n\r\n")

    async def main() -> None:
        async with serving(tmp_path, max_body_chunks=10) as (_, path, _):
            for version in (b"2.0", b"0.9", b"9.9"):
                answer = await ask(path, b"GET / HTTP/%s\r\nhost: x\r\n\r\n" % version)
                assert answer.status == 505 and answer.headers["connection"] == "close"
            assert (await ask(path, b"GET / HTTP/1.0\r\n\r\n")).status == 200
            both = (b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n"
                    b"transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
            answer = await ask(path, both)
            assert answer.status == 400 and "Transfer-Encoding" in answer.json()["detail"]
            assert (await ask(path, chunked(10))).json()["size"] == 10
            answer = await ask(path, chunked(11))
            assert answer.status == 400 and "more than 10 chunks" in answer.json()["detail"]

    run(main(), timeout=10)


def test_too_many_connections_get_503_past_the_owners_reserve(tmp_path: Path) -> None:
    """max_connections per listener; the controller's own user (here: the test, root or
    not) gets owner_reserve more on the unix socket, then 503 like anybody."""
    async def main() -> None:
        async with serving(tmp_path, max_connections=2, owner_reserve=1) as (server, path, _), \
                connect(path) as (r1, w1), connect(path) as (r2, w2), \
                connect(path) as (r3, w3):
            for reader, writer in ((r1, w1), (r2, w2), (r3, w3)):
                writer.write(GET)
                assert (await read_answer(reader)).status == 200
            assert server.connections == 3 and server.pool("unix").size == 3
            answer = await ask(path)
            assert answer.status == 503 and answer.json()["error"] == "unavailable"
            w1.write(GET)  # the admitted ones go on
            assert (await read_answer(r1)).status == 200

    run(main(), timeout=10)


def test_slow_request_and_idle_connection_are_closed(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, read_timeout=0.2, idle_timeout=0.4) as (_, path, _):
            async with connect(path) as (reader, writer):
                writer.write(b"GET /hello HTTP/1.1\r\nhost")  # and nothing more
                assert await reader.read() == b""
            async with connect(path) as (reader, writer):
                writer.write(GET)
                assert (await read_answer(reader)).status == 200
                assert await reader.read() == b""  # idle keep-alive, closed

    run(main(), timeout=10)


def test_handler_exception_is_500_and_the_server_goes_on(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_, path, _), connect(path) as (reader, writer):
            writer.write(b"GET /boom HTTP/1.1\r\nhost: x\r\n\r\n")
            answer = await read_answer(reader)
            assert answer.status == 500 and answer.json()["error"] == "internal"
            writer.write(GET)
            assert (await read_answer(reader)).status == 200

    run(main(), timeout=10)
    assert "handler bug" in caplog.text  # logged with its traceback


def test_a_hundred_concurrent_clients_are_all_answered(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_, path, _):
            answers = await asyncio.gather(*(ask(path) for _ in range(100)))
            assert [a.status for a in answers] == [200] * 100

    run(main(), timeout=20)


def test_stop_waits_for_requests_in_progress_and_closes_idle_ones(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (server, path, app), \
                connect(path) as (busy_r, busy_w), connect(path) as (idle_r, idle_w):
            idle_w.write(GET)
            assert (await read_answer(idle_r)).status == 200
            busy_w.write(b"GET /wait HTTP/1.1\r\nhost: x\r\n\r\n")
            await app.waiting.wait()
            stopping = asyncio.create_task(server.stop())
            assert await idle_r.read() == b""
            app.release.set()
            answer = await read_answer(busy_r)
            assert answer.status == 200 and answer.headers["connection"] == "close"
            await stopping

    run(main(), timeout=10)


# -- Server-Sent Events -------------------------------------------------------------

async def open_stream(path: str, hb: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(f"GET /events?hb={hb} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert b" 200 " in head and b"content-type: text/event-stream" in head
    assert b"cache-control: no-cache" in head
    return reader, writer


def test_events_heartbeats_and_client_disconnect_closes_the_iterator(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (_, path, app):
            reader, writer = await open_stream(path, hb=0.05)
            app.events.put_nowait(("state", b'{"a": 1}'))
            assert await read_chunk(reader) == b'event: state\ndata: {"a": 1}\n\n'
            assert await read_chunk(reader) == b": heartbeat\n\n"
            writer.close()
            await writer.wait_closed()
            await app.stream_closed.wait()

    run(main(), timeout=10)


def test_a_slow_event_reader_is_disconnected(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, write_timeout=0.2) as (_, path, app):
            _reader, writer = await open_stream(path, hb=60)
            for _ in range(200):  # megabytes, never read: the socket buffers fill up
                app.events.put_nowait(("blob", b'"' + b"x" * 65536 + b'"'))
            await app.stream_closed.wait()
            writer.close()
            await writer.wait_closed()

    run(main(), timeout=10)


def test_stop_ends_event_streams(tmp_path: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path) as (server, path, app):
            reader, writer = await open_stream(path, hb=60)
            await server.stop()
            await app.stream_closed.wait()
            assert await read_chunk(reader) == b""  # the last chunk: the stream ended cleanly
            writer.close()
            await writer.wait_closed()

    run(main(), timeout=10)


# -- TLS -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and client certificates, made with openssl."""
    d = tmp_path_factory.mktemp("pki")

    def sh(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
       "-subj", "/CN=test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name, cn, ext in (("server", "localhost", "server.ext"), ("alice", "alice", "client.ext"),
                          ("mallory", "mallory", "client.ext")):
        sh("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        sh("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext)
    return d


def tls_config(pki: Path, **tcp: object) -> ControllerConfig:
    return ControllerConfig(
        tcp=TcpConfig(listen="127.0.0.1:0", tls_cert=str(pki / "server.pem"),
                      tls_key=str(pki / "server.key"), client_ca=str(pki / "ca.pem"),
                      **tcp),  # type: ignore[arg-type]
        tokens=[TokenConfig(name="ci", role="operate", hash=hash_token(TOKEN))],
        client_certs=[ClientCertConfig(cn="alice", role="read")])


def client_tls(pki: Path, cert: str | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.pem"), str(pki / f"{cert}.key"))
    return ctx


async def ask_tls(address: str, ctx: ssl.SSLContext, auth: str | None = None) -> Answer:
    host, port = address.removeprefix("https://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx)
    try:
        extra = f"authorization: {auth}\r\n" if auth else ""
        writer.write(f"GET /hello HTTP/1.1\r\nhost: x\r\n{extra}\r\n".encode())
        return await read_answer(reader)
    finally:
        writer.close()
        await writer.wait_closed()


def test_tls_tokens_and_client_certificates(tmp_path: Path, pki: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, config=tls_config(pki)) as (server, _, _):
            address = server.addresses[1]
            assert address.startswith("https://127.0.0.1:")
            plain = client_tls(pki)
            missing = await ask_tls(address, plain)
            assert missing.status == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert (await ask_tls(address, plain, "Bearer wrong")).status == 401
            good = await ask_tls(address, plain, f"Bearer {TOKEN}")
            assert good.status == 200 and good.json()["who"] == "token:ci"
            alice = await ask_tls(address, client_tls(pki, "alice"))
            assert alice.json() == {**alice.json(), "who": "cert:alice", "role": "read"}
            mallory = await ask_tls(address, client_tls(pki, "mallory"), f"Bearer {TOKEN}")
            assert mallory.status == 403
            for _ in range(2):  # 5 failures from 127.0.0.1: then bad tokens are slowed down
                assert (await ask_tls(address, plain, "Bearer wrong")).status == 401
            slowed = await ask_tls(address, plain, "Bearer wrong")
            assert slowed.status == 429 and int(slowed.headers["retry-after"]) >= 1
            # ... but a valid credential from the same address still gets in
            assert (await ask_tls(address, plain, f"Bearer {TOKEN}")).status == 200

    run(main(), timeout=20)


def test_plain_http_to_the_tls_port_gets_no_answer(tmp_path: Path, pki: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, config=tls_config(pki)) as (server, _, _):
            host, port = server.addresses[1].removeprefix("https://").rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(GET)
            data = await reader.read()
            assert not data.startswith(b"HTTP/1.1 200")
            writer.close()
            await writer.wait_closed()

    run(main(), timeout=10)


def test_client_certificate_required(tmp_path: Path, pki: Path) -> None:
    async def main() -> None:
        config = tls_config(pki, client_cert_required=True)
        async with serving(tmp_path, config=config) as (server, _, _):
            address = server.addresses[1]
            assert (await ask_tls(address, client_tls(pki, "alice"))).status == 200
            with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                await ask_tls(address, client_tls(pki), f"Bearer {TOKEN}")

    run(main(), timeout=10)


async def open_tls(address: str, ctx: ssl.SSLContext, source: str | None = None,
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.removeprefix("https://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port), ssl=ctx,
                                         local_addr=(source, 0) if source else None)


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    try:
        return await reader.read() == b""
    except (ConnectionError, ssl.SSLError):
        return True


def test_strangers_get_a_budget_per_address_and_short_deadlines(tmp_path: Path,
                                                               pki: Path) -> None:
    """Before its first authenticated request a TLS connection is a stranger: at most
    max_unauthenticated_per_peer of them per address (more are closed before any
    handshake), each with auth_timeout to send a head. Other addresses, authenticated
    connections and the unix socket are not affected."""
    async def main() -> None:
        async with serving(tmp_path, config=tls_config(pki), max_unauthenticated_per_peer=2,
                           auth_timeout=0.5) as (server, path, _):
            address, plain = server.addresses[1], client_tls(pki)
            authorized = (f"GET /hello HTTP/1.1\r\nhost: x\r\n"
                          f"authorization: Bearer {TOKEN}\r\n\r\n").encode()
            reader, writer = await open_tls(address, plain)
            writer.write(authorized)
            assert (await read_answer(reader)).status == 200
            held = [await open_tls(address, plain) for _ in range(2)]
            assert server.pool("tcp").unauthenticated("127.0.0.1") == 2
            with pytest.raises((ConnectionError, ssl.SSLError)):
                await open_tls(address, plain)  # a third: closed, no handshake made
            assert (await ask(path)).status == 200  # the unix socket is its own pool
            other_r, other_w = await open_tls(address, plain, source="127.0.0.2")
            other_w.write(authorized)
            assert (await read_answer(other_r)).status == 200
            for r, _ in held:  # strangers that never sent a head: closed at the deadline
                assert await closed_by_server(r)
            await wait_until(lambda: not server.pool("tcp").unauthenticated("127.0.0.1"),
                             what="the strangers' places to be released")
            writer.write(authorized)  # authenticated earlier: keep-alive goes on
            assert (await read_answer(reader)).status == 200
            for _, w in [*held, (reader, writer), (other_r, other_w)]:
                w.close()

    run(main(), timeout=20)


def test_tls_handshake_has_a_short_deadline(tmp_path: Path, pki: Path) -> None:
    async def main() -> None:
        async with serving(tmp_path, config=tls_config(pki),
                           handshake_timeout=0.3) as (server, _, _):
            host, port = server.addresses[1].removeprefix("https://").rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))  # no ClientHello
            assert await closed_by_server(reader)
            assert server.pool("tcp").size == 0
            writer.close()

    run(main(), timeout=10)


def test_build_server_from_the_controller_config(tmp_path: Path, pki: Path) -> None:
    async def main() -> None:
        config = tls_config(pki)
        config = ControllerConfig(**{**{f: getattr(config, f) for f in config.__struct_fields__},
                                     "endpoint": f"unix:{tmp_path / 'c.sock'}"})
        async with build_server(TinyApp(), config) as server:
            assert server.addresses[0] == f"unix:{tmp_path / 'c.sock'}"
            assert (await ask(str(tmp_path / "c.sock"))).status == 200
            assert (await ask_tls(server.addresses[1], client_tls(pki), f"Bearer {TOKEN}")
                    ).status == 200

    run(main(), timeout=10)


if sys.platform != "linux":  # SO_PEERCRED
    pytestmark = pytest.mark.skip("Linux only")

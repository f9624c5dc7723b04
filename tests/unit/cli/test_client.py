"""The light client against a scripted HTTP server on a real unix socket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_fakehttp import FakeServer, Handler, Request, chunked, response

from ringleader.api.client import (
    ApiError,
    Client,
    EndpointError,
    Unreachable,
    parse_endpoint,
    quote,
)

Serve = Callable[[Handler], FakeServer]
STATUS = {"controller": {"pid": 1, "version": "0.1.0", "uptime": 1.0, "config": None},
          "watchers": []}


def test_call_sends_the_route_and_decodes_json(serve: Serve) -> None:
    server = serve(lambda req: response(200, STATUS))
    with Client(server.endpoint) as client:
        assert client.call("status") == STATUS
    req = server.requests[0]
    assert (req.method, req.target) == ("GET", "/v1/status")
    assert req.headers["host"] == "localhost"
    assert req.headers["accept"] == "application/json"
    assert "authorization" not in req.headers


def test_name_is_quoted_and_query_lists_repeat(serve: Serve) -> None:
    server = serve(lambda req: response(200, {"name": "x", "options": {}}))
    with Client(server.endpoint) as client:
        client.call("options", name="a b/ç", query={"key": ["cmd", "env x"], "k2": "v"})
    assert server.requests[0].target == ("/v1/watchers/a%20b%2F%C3%A7/options"
                                         "?key=cmd&key=env%20x&k2=v")


def test_post_body_is_json_and_token_is_a_bearer(serve: Serve) -> None:
    server = serve(lambda req: response(200, {"name": "web", "numprocesses": 3}))
    with Client(server.endpoint, token="s3cret") as client:
        assert client.call("incr", name="web", body={"count": 2})["numprocesses"] == 3
    req = server.requests[0]
    assert (req.method, req.target) == ("POST", "/v1/watchers/web/incr")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["authorization"] == "Bearer s3cret"
    assert req.json == {"count": 2}


def test_post_without_body_sends_content_length_zero(serve: Serve) -> None:
    server = serve(lambda req: response(200, STATUS))
    with Client(server.endpoint) as client:
        client.call("stop_all")
    assert server.requests[0].headers["content-length"] == "0"


def test_chunked_response_with_extensions_and_trailers(serve: Serve) -> None:
    body = b'{"watchers": ["a", "b", "c"]}'
    server = serve(lambda req: chunked(200, [body[:5], body[5:6], body[6:]]))
    with Client(server.endpoint) as client:
        assert client.call("list") == {"watchers": ["a", "b", "c"]}
        assert client.call("list") == {"watchers": ["a", "b", "c"]}  # framing consumed exactly
    assert server.connections == 1


def test_keep_alive_reuses_one_connection(serve: Serve) -> None:
    server = serve(lambda req: response(200, STATUS))
    with Client(server.endpoint) as client:
        for _ in range(5):
            client.call("status")
    assert server.connections == 1


def test_connection_close_opens_a_new_one(serve: Serve) -> None:
    server = serve(lambda req: response(200, STATUS, close=True))
    with Client(server.endpoint) as client:
        client.call("status")
        client.call("status")
    assert server.connections == 2


def test_an_idle_connection_closed_by_the_server_is_retried_once(serve: Serve) -> None:
    server = serve(lambda req: response(200, STATUS))
    server.close_after_each = True  # closes without "Connection: close"
    with Client(server.endpoint) as client:
        client.call("status")
        client.call("status")
    assert server.connections == 2
    assert len(server.requests) == 2


def test_body_up_to_eof_without_length(serve: Serve) -> None:
    server = serve(lambda req: b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nmetric 1\n")
    server.close_after_each = True
    with Client(server.endpoint) as client:
        assert client.call("metrics") == "metric 1\n"


def test_interim_100_response_is_skipped(serve: Serve) -> None:
    server = serve(lambda req: [b"HTTP/1.1 100 Continue\r\n\r\n", response(200, STATUS)])
    with Client(server.endpoint) as client:
        assert client.call("status") == STATUS


def test_api_error_carries_status_code_and_detail(serve: Serve) -> None:
    server = serve(lambda req: response(404, {"error": "not_found",
                                              "detail": "no watcher named 'x'"}))
    with Client(server.endpoint) as client, pytest.raises(ApiError) as info:
        client.call("get_watcher", name="x")
    assert (info.value.status, info.value.code) == (404, "not_found")
    assert info.value.detail == "no watcher named 'x'"
    assert str(info.value) == "no watcher named 'x' (not_found)"


def test_non_json_error_still_raises_api_error(serve: Serve) -> None:
    server = serve(lambda req: b"HTTP/1.1 502 Bad\r\nContent-Length: 4\r\n\r\noops")
    with Client(server.endpoint) as client, pytest.raises(ApiError) as info:
        client.call("status")
    assert (info.value.status, info.value.code, info.value.detail) == (502, "http_502", "oops")


def test_invalid_json_answer_is_an_api_error(serve: Serve) -> None:
    server = serve(lambda req: b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 3\r\n\r\n{x}")
    with Client(server.endpoint) as client, pytest.raises(ApiError) as info:
        client.call("status")
    assert info.value.code == "bad_response"


def test_missing_socket_is_unreachable(tmp_path: Path) -> None:
    endpoint = f"unix:{tmp_path}/none.sock"
    with Client(endpoint) as client, pytest.raises(Unreachable) as info:
        client.call("status")
    assert info.value.endpoint == endpoint
    assert "no such socket" in info.value.reason
    assert str(info.value).startswith(f"cannot reach the controller at {endpoint}: ")


def test_refused_socket_is_unreachable(tmp_path: Path) -> None:
    path = str(tmp_path / "dead.sock")
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound, never listening: what a crashed controller leaves
        with Client(path) as client, pytest.raises(Unreachable) as info:
            client.call("status")
    assert "refused" in info.value.reason


def test_silent_server_times_out(serve: Serve) -> None:
    release = threading.Event()

    def hang(req: Request) -> None:
        release.wait(10)
        return None

    server = serve(hang)
    try:
        with Client(server.endpoint, timeout=0.2) as client, pytest.raises(Unreachable) as info:
            client.call("status")
        assert info.value.reason == "timed out"
    finally:
        release.set()


def test_answer_cut_off_mid_body_is_unreachable(serve: Serve) -> None:
    server = serve(lambda req: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\""])
    server.close_after_each = True
    with Client(server.endpoint) as client, pytest.raises(Unreachable) as info:
        client.call("status")
    assert "cut off" in info.value.reason


def test_closed_without_answer_on_a_fresh_connection_is_unreachable(serve: Serve) -> None:
    server = serve(lambda req: None)
    with Client(server.endpoint) as client, pytest.raises(Unreachable) as info:
        client.call("status")
    assert "closed without an answer" in info.value.reason
    assert len(server.requests) == 1  # a fresh connection is never retried


def test_socket_path_longer_than_sun_path(tmp_path: Path, serve: Serve) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = str(deep / "ringleader.sock")
    assert len(path) > 108
    listener = socket.socket(socket.AF_UNIX)
    dfd = os.open(deep, os.O_PATH)
    try:
        listener.bind(f"/proc/self/fd/{dfd}/ringleader.sock")
        listener.listen(1)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(response(200, STATUS, close=True))

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with Client("unix:" + path) as client:
            assert client.call("status") == STATUS
        thread.join(5)
    finally:
        os.close(dfd)
        listener.close()


# -- Server-Sent Events ------------------------------------------------------------------

def test_stream_parses_events_comments_and_multiline_data(serve: Serve) -> None:
    events = (b": hello\r\n\r\n"
              b"event: log\r\ndata: {\"line\": \"a\"}\r\n\r\n"
              b"data: {\"x\":\r\ndata: 1}\n\n"
              b"event: note\ndata:plain text\nid: 7\n\n"
              b"event: empty\n\n")
    server = serve(lambda req: chunked(200, [events[:7], events[7:40], events[40:]],
                                       content_type="text/event-stream"))
    with Client(server.endpoint) as client:
        got = list(client.stream("logs_stream", query={"watcher": "web", "lines": "5"}))
    assert got == [("log", {"line": "a"}), ("message", {"x": 1}), ("note", "plain text")]
    req = server.requests[0]
    assert req.target == "/v1/logs/stream?watcher=web&lines=5"
    assert req.headers["accept"] == "text/event-stream"


def test_stream_error_status_raises_api_error(serve: Serve) -> None:
    server = serve(lambda req: response(403, {"error": "forbidden", "detail": "read only"}))
    with Client(server.endpoint) as client, pytest.raises(ApiError) as info:
        client.stream("events")
    assert info.value.code == "forbidden"


def test_stream_does_not_take_the_calls_connection(serve: Serve) -> None:
    def handle(req: Request) -> bytes | list[bytes]:
        if req.target.startswith("/v1/events"):
            return chunked(200, [b"data: 1\n\n"], content_type="text/event-stream")
        return response(200, STATUS)

    server = serve(handle)
    with Client(server.endpoint) as client:
        client.call("status")
        events = client.stream("events", query={"topic": ["process", "watcher"]})
        assert next(events) == ("message", 1)
        assert client.call("status") == STATUS  # a new connection, the stream keeps its own
        events.close()  # type: ignore[attr-defined]
    assert server.requests[1].target == "/v1/events?topic=process&topic=watcher"


# -- endpoints and TLS -----------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "parsed"), [
    ("unix:/run/r.sock", ("unix", "/run/r.sock", 0)),
    ("unix:///run/r.sock", ("unix", "/run/r.sock", 0)),
    ("unix:rel.sock", ("unix", "rel.sock", 0)),
    ("/x/r.sock", ("unix", "/x/r.sock", 0)),
    ("https://host.example:5555", ("https", "host.example", 5555)),
    ("https://[::1]:5555/", ("https", "::1", 5555)),
    ("https://host.example", ("https", "host.example", 443)),
])
def test_parse_endpoint(endpoint: str, parsed: tuple[str, str, int]) -> None:
    assert parse_endpoint(endpoint) == parsed


@pytest.mark.parametrize("endpoint", ["http://h:1", "tcp://h:1", "unix:", "ftp://x",
                                      "https://h:1/path", "https://h:x"])
def test_bad_endpoints(endpoint: str) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(endpoint)


def test_client_certificate_needs_https() -> None:
    with pytest.raises(EndpointError):
        Client("unix:/x.sock", certfile="c.pem")


def test_unreadable_ca_file_is_an_endpoint_error(tmp_path: Path) -> None:
    with pytest.raises(EndpointError):
        Client("https://localhost:1", cafile=str(tmp_path / "missing.pem"))


def test_quote() -> None:
    assert quote("a-b_c.d~e") == "a-b_c.d~e"
    assert quote("a b&c=d/é") == "a%20b%26c%3Dd%2F%C3%A9"


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def _tls_server(cert: str, key: str, answer: bytes) -> tuple[socket.socket, threading.Thread]:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)

    def serve_one() -> None:
        try:
            raw, _ = listener.accept()
        except OSError:
            return
        try:
            with ctx.wrap_socket(raw, server_side=True) as conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                conn.sendall(answer)
                conn.recv(1)  # until the client hangs up
        except (OSError, ssl.SSLError):
            raw.close()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    return listener, thread


def test_https_with_a_ca_file(tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    listener, thread = _tls_server(cert, key, response(200, STATUS))
    port = listener.getsockname()[1]
    try:
        with Client(f"https://localhost:{port}", cafile=cert, token="t") as client:
            assert client.call("status") == STATUS
    finally:
        thread.join(10)
        listener.close()


def test_https_untrusted_certificate_is_unreachable(tls_files: tuple[str, str]) -> None:
    cert, key = tls_files
    listener, thread = _tls_server(cert, key, response(200, STATUS))
    port = listener.getsockname()[1]
    try:
        with Client(f"https://localhost:{port}") as client, pytest.raises(Unreachable) as info:
            client.call("status")
        assert "certificate" in info.value.reason.lower()
    finally:
        thread.join(10)
        listener.close()

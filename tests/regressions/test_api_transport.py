"""Issue 8 items 4, 8, 9 and 13: the API's transport against hostile clients.

Item 4: unauthenticated TLS clients filled the shared connection limit and locked the local
admin out (503 on the unix socket). Item 8: hostile JSON gave 500 and lost the audit line;
duplicate keys, unknown HTTP versions and Content-Length with Transfer-Encoding were
accepted. Item 9: /metrics answered 500 without a TLS listener. Item 13: a body of 1-byte
chunks, and stats streams at a tiny interval, cost the controller without bound.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from pathlib import Path

import pytest

from .conftest import (
    VALID_TOKEN,
    Controller,
    StartController,
    Tls,
    connect_tls,
    connect_unix,
    read_response,
    request,
    toml_str,
    write_config,
)

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""


@pytest.fixture
def ctl(tmp_path: Path, start_controller: StartController) -> Controller:
    audit = tmp_path / "audit.log"
    config = write_config(tmp_path, f"[ringleader]\naudit_log = {toml_str(str(audit))}\n"
                          + SLEEPER)
    controller = start_controller(config)
    controller.wait_active()
    return controller


def _audit_ops(ctl: Controller) -> list[str]:
    path = ctl.log.parent / "audit.log"
    try:
        return [json.loads(line)["op"] for line in path.read_text().splitlines()]
    except FileNotFoundError:
        return []


# -- item 4 ------------------------------------------------------------------------------------

def test_slow_unauthenticated_tls_clients_do_not_lock_out_the_local_admin(
        tmp_path: Path, tls: Tls, start_controller: StartController) -> None:
    """300 TLS clients without a token from 127.0.0.1, each holding a half-sent request
    head. The unix socket (limits per listener, room kept for its owner) and a client
    with a valid token from another address (a small budget of unauthenticated
    connections per peer address) both still get in."""
    config = write_config(tmp_path, "[ringleader]\n" + tls.section() + SLEEPER)
    ctl = start_controller(config)
    ctl.wait_active()
    held: list[socket.socket] = []
    try:
        ctx = tls.context()
        for _ in range(300):
            try:
                held.append(connect_tls(tls.port, ctx, timeout=5))
            except (OSError, ssl.SSLError):
                continue  # refused early: what a per-peer budget does
        for sock in held:  # the request heads start only now: no deadline runs out early
            with contextlib.suppress(OSError):
                sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n")
        for _ in range(5):
            answer = ctl.raw(request("GET", "/v1/status"), timeout=5)
            assert answer.status == 200, (answer.status, answer.body)
        answer = tls.get("/v1/status", token=VALID_TOKEN, timeout=5, source="127.0.0.2")
        assert answer.status == 200, (answer.status, answer.body)
    finally:
        for sock in held:
            sock.close()


# -- item 8 ------------------------------------------------------------------------------------

HOSTILE_BODIES = [
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply_nested"),
    pytest.param(b'{"name": "x", "cmd": "sleep 1", "options": {"\xff\xfe": 1}}',
                 id="invalid_utf8_key"),
]


@pytest.mark.parametrize("body", HOSTILE_BODIES)
def test_hostile_json_is_a_400_and_still_audited(body: bytes, ctl: Controller) -> None:
    answer = ctl.raw(request("POST", "/v1/watchers", body))
    assert answer.status == 400, (answer.status, answer.body)
    assert answer.error == "bad_request"
    assert _audit_ops(ctl) == ["add"], "the refused call is missing from the audit log"
    assert ctl.status() is not None


def test_duplicate_json_keys_are_refused(ctl: Controller) -> None:
    """{"count": 1, "count": 3}: which one did the client mean? 400, nothing changes."""
    answer = ctl.raw(request("POST", "/v1/watchers/sleeper/incr", b'{"count": 1, "count": 3}'))
    assert answer.status == 400, (answer.status, answer.body)
    assert ctl.watchers()["sleeper"]["numprocesses"] == 1


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/9.9"])
def test_request_line_of_unknown_http_version_is_refused(version: str,
                                                         ctl: Controller) -> None:
    """Only HTTP/1.0 and 1.1 are spoken: 505 (or 400), never a 200."""
    answer = ctl.raw(request("GET", "/v1/status", version=version))
    assert answer.status in (400, 505), (answer.status, answer.body)


def test_request_with_content_length_and_transfer_encoding_is_refused(
        ctl: Controller) -> None:
    """RFC 9112 6.1: the framing is ambiguous (request smuggling): 400, connection closed,
    and the request is not carried out."""
    body = b'{"count": 2}'
    raw = (b"POST /v1/watchers/sleeper/incr HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nContent-Length: 3\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    answer = ctl.raw(raw)
    assert answer.status == 400, (answer.status, answer.body)
    assert ctl.watchers()["sleeper"]["numprocesses"] == 1


def test_request_line_http_1_0_is_still_served(ctl: Controller) -> None:
    """Guard for the fix: HTTP/1.0 clients (old curl, probes) keep working."""
    answer = ctl.raw(request("GET", "/v1/status", version="HTTP/1.0"))
    assert answer.status == 200


# -- item 9 ------------------------------------------------------------------------------------

def test_metrics_answer_in_the_default_setup(ctl: Controller) -> None:
    answer = ctl.raw(request("GET", "/metrics"))
    assert answer.status == 200, (answer.status, answer.body)
    assert b"ringleader_watcher_processes" in answer.body


# -- item 13 -----------------------------------------------------------------------------------

def test_body_of_many_tiny_chunks_is_refused(ctl: Controller) -> None:
    """100,000 one-byte chunks (a 100 KB body, well under max_body_bytes): the work per
    request is bounded (a chunk count), so the request is refused (400 or 413) and not
    carried out."""
    payload = b'{"count": 1' + b" " * (100_000 - 12) + b"}"
    chunks = b"".join(b"1\r\n%c\r\n" % c for c in payload)
    head = (b"POST /v1/watchers/sleeper/incr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    with connect_unix(ctl.socket_path, timeout=20) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + chunks + b"0\r\n\r\n")
        answer = read_response(sock, timeout=20)
    assert answer.status in (400, 413), (answer.status, answer.body[:200])
    assert ctl.watchers()["sleeper"]["numprocesses"] == 1


def test_stats_stream_interval_has_a_floor(ctl: Controller) -> None:
    """Design choice: the floor is 0.5 s (at or below `top`'s 1 s default) and a smaller
    interval is refused with 400 naming `interval`, rather than clamped silently."""
    with connect_unix(ctl.socket_path) as sock:
        sock.sendall(request("GET", "/v1/stats/stream?interval=0.2"))
        answer = read_response(sock, timeout=10, stream=True)
    assert answer.status == 400, (answer.status, answer.body[:200])
    assert b"interval" in answer.body

"""The dashboard's server side without a browser, against a real controller: the headers,
the cookie, every browser check (Host, fetch metadata, Origin, method, body type, CSRF),
roles, the session routes, the live stream's framing and resume, the one-time link's
rules, and that nothing of the dashboard is loaded before a page is asked for."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from real_controller import RealController

from ringleader.api.client import ApiError, Client
from ringleader.testing import wait_until_sync


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Browser:
    """Requests as the dashboard's page sends them, on the loopback listener."""

    port: int
    cookie: str | None = None
    csrf: str | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def headers(self, method: str) -> dict[str, str]:
        headers = {"Host": f"127.0.0.1:{self.port}", "Sec-Fetch-Site": "same-origin"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if method != "GET":
            headers.update({"Origin": self.origin, "Content-Type": "application/json"})
            if self.csrf:
                headers["X-Ringleader-CSRF"] = self.csrf
        return headers

    def request(self, method: str, path: str, body: Any = None, *,
                headers: dict[str, str | None] | None = None, raw: bytes | None = None,
                ) -> Answer:
        merged: dict[str, str | None] = {**self.headers(method), **(headers or {})}
        payload = raw if raw is not None else \
            (None if body is None and method == "GET" else json.dumps(body or {}).encode())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in merged.items():
                if value is not None:
                    connection.putheader(name, value)
            if payload is not None:
                connection.putheader("Content-Length", str(len(payload)))
            connection.endheaders(payload)
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())
        finally:
            connection.close()

    def sign_in(self, token: str) -> Answer:
        answer = self.request("POST", "/v1/session", {"token": token})
        if answer.status == 200:
            self.cookie = answer.headers["set-cookie"].partition(";")[0]
            self.csrf = answer.json()["session"]["csrf"]
        return answer


def browser_for(controller: RealController, role: str = "admin") -> Browser:
    url = controller.one_time_url(role)
    browser = Browser(int(url.split(":")[2].split("/")[0]))
    assert browser.sign_in(url.partition("#token=")[2]).status == 200
    return browser


@pytest.fixture
def admin(controller: RealController) -> Browser:
    return browser_for(controller)


# -- pages, cookie, session routes ------------------------------------------------------

def test_the_page_assets_and_their_headers(admin: Browser) -> None:
    page = admin.request("GET", "/ui/", headers={"Sec-Fetch-Site": "none",
                                                 "Accept-Encoding": "gzip"})
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"].startswith("default-src 'none'; ")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "require-trusted-types-for 'script'" in page.headers["content-security-policy"]
    for name, value in [("x-content-type-options", "nosniff"), ("cache-control", "no-store"),
                        ("referrer-policy", "no-referrer"), ("x-frame-options", "DENY")]:
        assert page.headers[name] == value
    html = gzip.decompress(page.body).decode()
    script = html.split('<script type="module" src="')[1].split('"')[0]
    assert script.startswith("/ui/assets/app.") and script.endswith(".js")
    asset = admin.request("GET", script, headers={"Accept-Encoding": "gzip"})
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"] == "text/javascript; charset=utf-8"
    assert asset.headers["content-encoding"] == "gzip"
    assert admin.request("GET", script).headers.get("content-encoding") is None
    assert admin.request("GET", "/ui").status == 308
    assert admin.request("GET", "/ui").headers["location"] == "/ui/"
    missing = admin.request("GET", "/ui/assets/nothing.0123456789ab.js")
    assert (missing.status, missing.json()["error"]) == (404, "not_found")
    assert missing.headers["x-content-type-options"] == "nosniff"
    assert admin.request("HEAD", "/ui/").status == 405


def test_the_cookie_and_the_session_routes(controller: RealController) -> None:
    url = controller.one_time_url("operate")
    browser = Browser(int(url.split(":")[2].split("/")[0]))
    assert browser.request("GET", "/v1/session").json() == {"session": None}  # not 401
    answer = browser.request("POST", "/v1/session", {"token": url.partition("#token=")[2]})
    name, _, attributes = answer.headers["set-cookie"].partition("; ")
    assert name.startswith(f"__Host-ringleader-{browser.port}=")
    assert attributes == "Path=/; Max-Age=43200; HttpOnly; SameSite=Strict; Secure"
    session = answer.json()["session"]
    assert session["role"] == "operate" and session["name"].startswith("session:uid:")
    assert 43190 < session["expires_in"] <= 43200
    assert answer.headers["cache-control"] == "no-store"
    browser.cookie, browser.csrf = name, session["csrf"]
    # expires_in counts down in whole seconds: a second may turn between two requests
    again = browser.request("GET", "/v1/session").json()["session"]
    assert {**again, "expires_in": 0} == {**session, "expires_in": 0}
    assert 43190 < again["expires_in"] <= session["expires_in"]
    out = browser.request("POST", "/v1/session/logout")
    assert out.status == 200
    assert out.headers["set-cookie"].startswith(f"__Host-ringleader-{browser.port}=; Path=/; "
                                                "Max-Age=0")
    assert browser.request("GET", "/v1/status").status == 401
    assert browser.request("GET", "/v1/session").json() == {"session": None}


# -- the browser checks -------------------------------------------------------------------

def test_every_browser_check(admin: Browser, controller: RealController) -> None:
    stop = "/v1/watchers/worker/stop"
    cases: list[tuple[str, dict[str, str | None], int, str]] = [
        ("GET", {"Host": "evil.example:1"}, 403, "Host 'evil.example:1' is not a name"),
        ("GET", {"Host": f"localhost:{admin.port}"}, 403, "is not a name of this listener"),
        ("GET", {"Sec-Fetch-Site": "cross-site"}, 403, "Sec-Fetch-Site: cross-site"),
        ("GET", {"Origin": "http://localhost:1"}, 403, "Origin 'http://localhost:1'"),
        ("GET", {"Cookie": None}, 401, "sign in first"),
        ("POST", {"Sec-Fetch-Site": "same-site"}, 403, "Sec-Fetch-Site: same-site"),
        ("POST", {"Sec-Fetch-Site": "none"}, 403, "Sec-Fetch-Site: none"),
        ("POST", {"Origin": None}, 403, "a POST needs an Origin header"),
        ("POST", {"Content-Type": "text/plain"}, 400, "Content-Type text/plain"),
        ("POST", {"Content-Type": None}, 400, "Content-Type missing"),
        ("POST", {"X-Ringleader-CSRF": None}, 403, "the X-Ringleader-CSRF header is missing"),
        ("POST", {"X-Ringleader-CSRF": "x" * 43}, 403, "does not match the session"),
        ("POST", {"Authorization": "Bearer rl_x", "Cookie": None}, 401, "sign in first"),
        ("PATCH", {}, 405, "every change is a POST"),
        ("DELETE", {}, 405, "every change is a POST"),
    ]
    for method, headers, status, detail in cases:
        path = "/v1/status" if method == "GET" else stop
        answer = admin.request(method, path, headers=headers)
        assert (answer.status, answer.json()["error"] != "") == (status, True), (headers, answer)
        assert detail in answer.json()["detail"], (headers, answer.json())
    assert controller.call("get_watcher", name="worker")["state"] == "active"
    assert admin.request("POST", stop).status == 200  # with every check passed


def test_roles_are_enforced_whatever_the_page_shows(controller: RealController) -> None:
    read, operate = browser_for(controller, "read"), browser_for(controller, "operate")
    refused = read.request("POST", "/v1/watchers/worker/stop")
    assert refused.status == 403
    assert refused.json()["detail"].startswith("stop needs the operate role; session:uid:")
    assert operate.request("POST", "/v1/watchers/worker/incr", {"count": 1}).status == 200
    for path, body in [("/v1/watchers/worker/options", {"options": {"numprocesses": 1}}),
                       ("/v1/watchers/worker/remove", {}), ("/v1/watchers",
                        {"name": "x", "cmd": "sleep 1"}), ("/v1/quit", {}),
                       ("/v1/cluster/nodes/alpha/drain", {})]:
        answer = operate.request("POST", path, body)
        assert answer.status == 403 and "needs the admin role" in answer.json()["detail"], path
    admin = browser_for(controller, "admin")
    answer = admin.request("POST", "/v1/watchers/worker/options",
                           {"options": {"graceful_timeout": 3}})
    assert answer.json()["options"]["graceful_timeout"] == 3
    assert admin.request("POST", "/v1/cluster/nodes/alpha/drain").status == 404
    assert admin.request("GET", "/v1/cluster/overview").json() == {"enabled": False}
    assert admin.request("POST", "/v1/dashboard").json()["error"] == "forbidden"
    ops = [(e["op"], e["args"]) for e in controller.audit()
           if e["who"].startswith("session:") and e["status"] == 200 and e["op"] != "session"]
    assert ops == [("incr", {"count": 1}), ("set", {"options": {"graceful_timeout": 3}})]
    assert admin.request("POST", "/v1/watchers/worker/remove").status == 200
    assert controller.call("list")["watchers"] == []


def test_the_one_time_link_rules(controller: RealController) -> None:
    with Client(controller.socket) as client:
        link = client.call("dashboard", body={})
        assert link["role"] == "admin" and link["expires_in"] == 300
        read = client.call("dashboard", body={"role": "read"})
        with pytest.raises(ApiError, match="invalid request body"):
            client.call("dashboard", body={"role": "root"})
    port = int(link["url"].split(":")[2].split("/")[0])
    assert read["url"].startswith(f"http://127.0.0.1:{port}/ui/#token=rlo_")  # one listener
    browser = Browser(port)
    token = link["url"].partition("#token=")[2]
    assert browser.sign_in(token).status == 200
    again = Browser(port).sign_in(token)
    assert again.status == 401 and "invalid one-time token" in again.json()["detail"]
    # failures are limited per address (5 a minute, the reuse above was one); a valid
    # token still gets in
    for _ in range(4):
        assert Browser(port).sign_in("rlo_" + "x" * 43).status == 401
    limited = Browser(port).sign_in("rlo_" + "y" * 43)
    assert limited.status == 429 and limited.headers["retry-after"].isdigit()
    assert Browser(port).sign_in(read["url"].partition("#token=")[2]).status == 200
    # a read-only caller cannot mint an admin link (over TLS: see the TLS test)
    assert "rlo_" not in controller.log.read_text()


def test_the_loopback_listener_takes_no_console_credentials(controller: RealController,
                                                            ) -> None:
    url = controller.one_time_url("read")
    port = int(url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     b"Authorization: Bearer rl_anything\r\n\r\n" % port)
        head = sock.recv(4096).split(b"\r\n", 1)[0]
    assert head == b"HTTP/1.1 401 Unauthorized"


# -- the live stream ----------------------------------------------------------------------

def read_frames(browser: Browser, query: str, want: int,
                headers: dict[str, str] | None = None) -> list[dict[str, str]]:
    """The first *want* messages (retry lines aside) of a stream, as field dicts."""
    connection = http.client.HTTPConnection("127.0.0.1", browser.port, timeout=10)
    connection.request("GET", f"/v1/stream?{query}", headers={**browser.headers("GET"),
                                                              **(headers or {})})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    assert response.getheader("content-type") == "text/event-stream"
    assert response.getheader("cache-control") == "no-store"
    messages: list[dict[str, str]] = []
    buffer = b""
    try:
        while len(messages) < want:
            buffer += response.read1(65536)
            while b"\n\n" in buffer and len(messages) < want:
                block, buffer = buffer.split(b"\n\n", 1)
                fields: dict[str, str] = {}
                for line in block.decode().split("\n"):
                    key, _, value = line.partition(": ")
                    fields[key] = f"{fields[key]}\n{value}" if key in fields else value
                if "retry" not in fields and not block.startswith(b":"):
                    messages.append(fields)
    finally:
        connection.close()
    return messages


def test_the_stream_frames_and_resumes(admin: Browser, controller: RealController) -> None:
    first = read_frames(admin, "topics=logs,status&backlog=3", 5)
    assert first[0] == {"event": "hello", "data": '{"topics":["logs","status"],'
                                                  '"resumed":false}'}
    backlog = first[1:4]
    assert [m["event"] for m in backlog] == ["log"] * 3
    assert sorted(json.loads(m["data"])["line"] for m in backlog) == \
        ["ready 1", "ready 2", "ready 3"]
    assert first[4]["event"] == "status" and "id" not in first[4]  # snapshots carry no id
    last_id = backlog[-1]["id"]
    epoch, _, seq = last_id.partition("-")

    controller.say("line one\nline two")  # one print, two lines
    wait_until_sync(lambda: sum("line t" in line["line"] or "line o" in line["line"]
                                for line in controller.call("logs")["lines"]) == 2,
                    what="the worker's lines")
    resumed = read_frames(admin, "topics=logs", 3, headers={"Last-Event-ID": last_id})
    assert resumed[0]["data"] == '{"topics":["logs"],"resumed":true}'
    assert [json.loads(m["data"])["line"] for m in resumed[1:]] == ["line one", "line two"]
    assert [m["id"] for m in resumed[1:]] == [f"{epoch}-{int(seq) + 1}",
                                              f"{epoch}-{int(seq) + 2}"]
    by_query = read_frames(admin, f"topics=logs&last_event_id={resumed[1]['id']}", 2)
    assert json.loads(by_query[1]["data"])["line"] == "line two"

    for gone in ("00000000-1", f"{epoch}-999999"):  # another run's id, one from the future
        fresh = read_frames(admin, "topics=logs&backlog=1", 3, headers={"Last-Event-ID": gone})
        assert fresh[0]["data"] == '{"topics":["logs"],"resumed":false}'
        assert fresh[1]["event"] == "reset"
        assert json.loads(fresh[2]["data"])["line"] == "line two"  # the backlog follows

    bad = admin.request("GET", "/v1/stream?topics=logs,bogus")
    assert (bad.status, bad.json()["detail"]) == (400, "unknown topic(s) bogus (expected "
                                                       "status, stats, events, logs)")
    assert admin.request("GET", "/v1/stream").json()["detail"].startswith("topics is required")
    assert admin.request("GET", "/v1/stream?topics=logs&last_event_id=x").status == 400


def test_events_and_stats_on_one_stream(admin: Browser, controller: RealController) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    connection.request("GET", "/v1/stream?topics=events,stats&interval=0.5",
                       headers=admin.headers("GET"))
    response = connection.getresponse()
    seen: set[str] = set()
    text = ""
    try:
        while "hello" not in text:
            text += response.read1(65536).decode()
        controller.call("incr", name="worker", body={"count": 1})
        while not {"event", "stats"} <= seen:
            text += response.read1(65536).decode()
            seen |= {line[7:] for line in text.split("\n") if line.startswith("event: ")}
    finally:
        connection.close()
    assert "process.spawned" in text and '"watchers":[' in text


def test_signing_out_ends_the_sessions_streams(admin: Browser) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", admin.port, timeout=10)
    connection.request("GET", "/v1/stream?topics=status", headers=admin.headers("GET"))
    response = connection.getresponse()
    text = b""
    while b"event: status" not in text:
        text += response.read1(65536)
    assert admin.request("POST", "/v1/session/logout").status == 200
    while chunk := response.read1(65536):  # the server ends the stream: EOF
        text += chunk
    connection.close()


# -- nothing before a page ----------------------------------------------------------------

def test_nothing_of_the_dashboard_is_loaded_before_a_page_is_asked_for(tmp_path: Path,
                                                                      ) -> None:
    """`python -X importtime` on a real controller: its imports go to its log as they
    happen. Console calls import nothing of the dashboard; a page does."""
    log = tmp_path / "run.log"
    (tmp_path / "rl.toml").write_text(f'[ringleader]\nendpoint = "unix:{tmp_path}/rl.sock"\n'
                                      '[watchers.w]\ncmd = "sleep 3600"\n')
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "ringleader", "run",
                                 str(tmp_path / "rl.toml")], stdout=out, stderr=out)
    try:
        with Client(f"unix:{tmp_path}/rl.sock", timeout=30) as client:
            wait_until_sync(lambda: _answers(client), timeout=30, what="the controller")
            for op in ("status", "list", "stats", "openapi"):
                client.call(op)
            client.call("stop", name="w")
            assert "ringleader.dashboard" not in log.read_text()
            url = client.call("dashboard", body={})["url"]
        browser = Browser(int(url.split(":")[2].split("/")[0]))
        assert browser.sign_in(url.partition("#token=")[2]).status == 200
        assert "ringleader.dashboard.assets" not in log.read_text()  # sessions only
        assert browser.request("GET", "/ui/").status == 200
        imported = log.read_text()
        assert "ringleader.dashboard.assets" in imported
        assert "ringleader.dashboard.session" in imported
    finally:
        proc.terminate()
        proc.wait(20)


def _answers(client: Client) -> bool:
    try:
        client.call("status")
    except Exception:
        return False
    return True


# -- the TLS listener -------------------------------------------------------------------

@pytest.fixture
def tls_controller(tmp_path: Path) -> Iterator[RealController]:
    ctl = RealController(tmp_path, tls=True, extra="")
    try:
        yield ctl
    finally:
        ctl.stop()


def tls_request(ctl: RealController, method: str, path: str,
                headers: dict[str, str], body: bytes | None = None) -> Answer:
    import ssl

    context = ssl.create_default_context(cafile=ctl.ca)
    assert ctl.port is not None
    connection = http.client.HTTPSConnection("127.0.0.1", ctl.port, timeout=10,
                                             context=context)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                      response.read())
    finally:
        connection.close()


def test_the_tls_listener_tells_browsers_from_consoles(tls_controller: RealController) -> None:
    ctl = tls_controller
    host = {"Host": f"127.0.0.1:{ctl.port}"}
    bearer = {**host, "Authorization": f"Bearer {ctl.tokens['read']}"}
    # a console: unchanged, whatever it sends
    assert tls_request(ctl, "GET", "/v1/status", bearer).status == 200
    assert tls_request(ctl, "GET", "/v1/status", {**bearer, "Host": "evil:1"}).status == 200
    no_token = tls_request(ctl, "GET", "/v1/status", host)
    assert (no_token.status, no_token.json()["detail"]) == (
        401, "credentials required: a bearer token or a client certificate")
    # a browser (fetch metadata): the browser checks, then the session
    browser = {**host, "Sec-Fetch-Site": "same-origin"}
    assert tls_request(ctl, "GET", "/v1/status", browser).json()["detail"].startswith(
        "sign in first")
    assert tls_request(ctl, "GET", "/v1/status", {**browser, "Host": "evil.example"}
                       ).status == 403
    page = tls_request(ctl, "GET", "/ui/", {**host, "Sec-Fetch-Site": "none"})
    assert page.status == 200 and "content-security-policy" in page.headers
    # the login form's API token, and the role rules of the link
    login = {**browser, "Origin": f"https://127.0.0.1:{ctl.port}",
             "Content-Type": "application/json"}
    answer = tls_request(ctl, "POST", "/v1/session", login,
                         json.dumps({"token": ctl.tokens["read"]}).encode())
    assert answer.json()["session"]["name"] == "session:token:read-token"
    assert "; Secure" in answer.headers["set-cookie"]
    refused = tls_request(ctl, "POST", "/v1/dashboard", {**bearer, "Content-Type":
                          "application/json"}, b'{"role": "admin"}')
    assert refused.json() == {"error": "forbidden", "detail": "token:read-token has the read "
                              "role: it cannot open a session with the admin role"}
    link = tls_request(ctl, "POST", "/v1/dashboard", {**bearer, "Host": f"localhost:{ctl.port}"},
                       b"{}")
    assert link.json()["url"].startswith(f"https://localhost:{ctl.port}/ui/#token=rlo_")

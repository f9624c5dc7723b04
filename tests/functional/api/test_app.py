"""The API application in-process (no socket): routing, roles, validation, errors,
audit, against a real Arbiter with real processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ringleader.api.app import ControlApp
from ringleader.api.audit import AuditLog
from ringleader.api.commands import Commands
from ringleader.api.http import EventStream, Identity, Peer, Request, Response
from ringleader.config.model import Config
from ringleader.config.plan import ReloadPlan
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import ConfigError
from ringleader.testing import pid_exists
from ringleader.testing import run_async as run

PEER = Peer(transport="unix", uid=0, gid=0, pid=1, address="unix:/test.sock", cert_subject=None)


class FakeController:
    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.quits = 0
        self.recorded: list[tuple[str, str | None]] = []
        self.next_config: Config | None = None

    def quit(self) -> None:
        self.quits += 1

    def record(self, op: str, name: str | None, value: object = None) -> None:
        self.recorded.append((op, name))

    async def saved(self) -> None:
        pass

    async def reload_config(self) -> ReloadPlan:
        if self.next_config is None:
            raise ConfigError(["x.toml: [watchers.a] numprocesses: expected an integer"])
        return await self.arbiter.reload_config(self.next_config)


class Harness:
    def __init__(self, app: ControlApp, controller: FakeController) -> None:
        self.app = app
        self.controller = controller

    async def call(self, method: str, path: str, body: Any = None, *, role: str = "admin",
                   query: dict[str, list[str]] | None = None) -> tuple[int, Any]:
        raw = (body if isinstance(body, bytes)
               else b"" if body is None else json.dumps(body).encode())
        request = Request(method=method, path=path, query=query or {}, headers={}, body=raw,
                          peer=PEER, identity=Identity(name="uid:0(root)", role=role))
        response = await self.app.handle(request)
        assert isinstance(response, Response)
        if response.content_type == "application/json":
            return response.status, json.loads(response.body)
        return response.status, response.body

    async def stream(self, path: str, query: dict[str, list[str]]) -> EventStream:
        request = Request(method="GET", path=path, query=query, headers={}, body=b"",
                          peer=PEER, identity=Identity(name="t", role="read"))
        response = await self.app.handle(request)
        assert isinstance(response, EventStream)
        return response


@asynccontextmanager
async def harness(tmp_path: Path, *watchers: dict[str, Any]) -> AsyncIterator[Harness]:
    arbiter = Arbiter(list(watchers))
    controller = FakeController(arbiter)
    audit = AuditLog(str(tmp_path / "audit.log"))
    async with arbiter:
        yield Harness(ControlApp(Commands(arbiter, controller), audit), controller)
    audit.close()


def sleeper(name: str = "s", **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": "sleep 600", "stdout_stream": {"kind": "null"}, **options}


def app_test(func: Callable[[Harness], Any], *watchers: dict[str, Any]) -> Callable[[Path], None]:
    def test(tmp_path: Path) -> None:
        async def main() -> None:
            async with harness(tmp_path, *watchers) as h:
                await func(h)

        run(main())

    return test


async def _status(h: Harness) -> None:
    status, body = await h.call("GET", "/v1/status")
    assert status == 200
    (watcher,) = body["watchers"]
    assert watcher["name"] == "s" and watcher["running"] == 2
    assert [p["state"] for p in watcher["processes"]] == ["running", "running"]
    assert body["controller"]["version"]


test_status = app_test(_status, sleeper(numprocesses=2))


async def _errors(h: Harness) -> None:
    cases = [
        (("GET", "/v1/nope"), 404, "not_found"),
        (("DELETE", "/v1/status"), 405, "method_not_allowed"),
        (("GET", "/v1/watchers/missing"), 404, "not_found"),
        (("POST", "/v1/watchers/s/incr", b"{not json"), 400, "bad_request"),
        (("POST", "/v1/watchers/s/incr", {"count": "many"}), 400, "bad_request"),
        (("POST", "/v1/watchers/s/incr", {"count": 0}), 400, "bad_request"),
        (("POST", "/v1/watchers/s/incr", {"count": 1, "extra": 1}), 400, "bad_request"),
        (("POST", "/v1/watchers/s/signal", {"signal": "SIGNOPE"}), 400, "bad_request"),
        (("POST", "/v1/watchers/s/signal", {"signal": 999}), 400, "bad_request"),
        (("POST", "/v1/watchers/s/signal", {"signal": "HUP", "pid": 1}), 404, "not_found"),
        (("POST", "/v1/watchers/s/signal", {"signal": "HUP", "wid": 9}), 404, "not_found"),
        (("POST", "/v1/watchers", {"name": "s", "cmd": "sleep 1"}), 409, "already_exists"),
        (("POST", "/v1/watchers", {"name": "bad name!", "cmd": "x"}), 400, "bad_request"),
        (("PATCH", "/v1/watchers/s/options", {"options": {"numprocesses": -3}}), 422,
         "config_invalid"),
        (("PATCH", "/v1/watchers/s/options", {"options": {}}), 400, "bad_request"),
        (("POST", "/v1/reloadconfig"), 422, "config_invalid"),
        (("POST", "/v1/status"), 405, "method_not_allowed"),
        (("GET", "/v1/status", b"{}"), 400, "bad_request"),
    ]
    for args, code, error in cases:
        status, body = await h.call(*args)  # type: ignore[arg-type]
        assert (status, body["error"]) == (code, error), (args, body)
        assert body["detail"]
    status, body = await h.call("GET", "/v1/logs", query={"lines": ["x"]})
    assert (status, body["error"]) == (400, "bad_request")
    status, body = await h.call("GET", "/v1/status", query={"bogus": ["1"]})
    assert (status, body["error"]) == (400, "bad_request")


test_errors_are_clear_and_stable = app_test(_errors, sleeper())


async def _roles(h: Harness) -> None:
    status, body = await h.call("POST", "/v1/watchers/s/incr", {"count": 1}, role="read")
    assert (status, body["error"]) == (403, "forbidden")
    status, _ = await h.call("POST", "/v1/watchers/s/incr", {"count": 1}, role="operate")
    assert status == 200
    status, body = await h.call("DELETE", "/v1/watchers/s", role="operate")
    assert (status, body["error"]) == (403, "forbidden")
    status, body = await h.call("POST", "/v1/quit", role="operate")
    assert status == 403 and h.controller.quits == 0
    status, _ = await h.call("GET", "/v1/status", role="read")
    assert status == 200


test_roles = app_test(_roles, sleeper())


async def _operations(h: Harness) -> None:
    assert (await h.call("POST", "/v1/watchers/s/incr", {"count": 2}))[1]["numprocesses"] == 3
    assert (await h.call("POST", "/v1/watchers/s/decr", {}))[1]["numprocesses"] == 2
    assert (await h.call("GET", "/v1/watchers/s/numprocesses"))[1]["numprocesses"] == 2
    status, info = await h.call("POST", "/v1/watchers/s/stop")
    assert status == 200 and info["state"] == "stopped" and info["running"] == 0
    status, info = await h.call("POST", "/v1/watchers/s/start")
    assert info["state"] == "active" and info["running"] == 2
    pids = [p["pid"] for p in info["processes"]]
    _, info = await h.call("POST", "/v1/watchers/s/reload")
    assert not set(pids) & {p["pid"] for p in info["processes"]}
    _, result = await h.call("POST", "/v1/watchers/s/signal", {"signal": "STOP", "wid": 1})
    assert result == {"signalled": 1}
    _, result = await h.call("POST", "/v1/watchers/s/signal", {"signal": "CONT"})
    assert result == {"signalled": 2}
    status, info = await h.call("POST", "/v1/watchers", {
        "name": "extra", "cmd": "sleep 601", "numprocesses": 2, "start": True,
        "options": {"stdout_stream": {"kind": "null"}, "env": {"API_TOKEN": "hunter2"}}})
    assert status == 201 and info["running"] == 2
    _, opts = await h.call("GET", "/v1/watchers/extra/options")
    assert opts["options"]["env"] == {"API_TOKEN": "***"}
    _, opts = await h.call("GET", "/v1/watchers/extra/options", query={"key": ["cmd"]})
    assert opts["options"] == {"cmd": "sleep 601"}
    _, opts = await h.call("PATCH", "/v1/watchers/extra/options",
                           {"options": {"graceful_timeout": 2}})
    assert opts["options"]["graceful_timeout"] == 2
    extra_pids = [p["pid"] for p in info["processes"]]
    status, _ = await h.call("DELETE", "/v1/watchers/extra")
    assert status == 200 and not any(pid_exists(p) for p in extra_pids)
    _, names = await h.call("GET", "/v1/watchers")
    assert names == {"watchers": ["s"]}
    status, body = await h.call("POST", "/v1/stop")
    assert status == 200 and body["watchers"][0]["state"] == "stopped"
    status, _ = await h.call("POST", "/v1/quit")
    assert status == 200 and h.controller.quits == 1


test_operations = app_test(_operations, sleeper())


def test_audit_log_records_who_what_result(tmp_path: Path) -> None:
    async def main() -> None:
        async with harness(tmp_path, sleeper()) as h:
            await h.call("POST", "/v1/watchers/s/incr", {"count": 1}, role="operate")
            await h.call("POST", "/v1/watchers/s/incr", {"count": 1}, role="read")
            await h.call("POST", "/v1/watchers", {"name": "x", "cmd": "sleep 1",
                                                  "options": {"env": {"PASSWORD": "p"}}})
            await h.call("GET", "/v1/status")  # reads are not audited

    run(main())
    lines = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(e["op"], e["status"], e["result"]) for e in lines] == [
        ("incr", 200, "ok"), ("incr", 403, "forbidden"), ("add", 201, "ok")]
    assert lines[0]["who"] == "uid:0(root)" and lines[0]["watcher"] == "s"
    assert lines[0]["args"] == {"count": 1}
    assert "p" not in json.dumps(lines[2]["args"]["options"]["env"])
    assert oct((tmp_path / "audit.log").stat().st_mode & 0o777) == "0o600"


def test_refused_and_failed_calls_are_audited_and_answered(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app is the error boundary: a body it cannot parse, a handler bug and even a bug
    in the audit record end in an answer, never an exception."""
    async def main() -> None:
        async with harness(tmp_path, sleeper()) as h:
            bad = b'{"count": 1, "\xff": 2}'  # invalid UTF-8 in a key
            status, body = await h.call("POST", "/v1/watchers/s/incr", bad)
            assert (status, body["error"]) == (400, "bad_request")

            async def broken(*args: Any, **kwargs: Any) -> Any:
                raise RuntimeError("handler bug")

            h.app._handlers["decr"] = broken
            status, body = await h.call("POST", "/v1/watchers/s/decr", {"count": 1})
            assert (status, body["error"]) == (500, "internal")

            def record_bug(*args: Any, **kwargs: Any) -> None:
                raise RuntimeError("audit bug")

            monkeypatch.setattr(AuditLog, "record", record_bug)
            status, _ = await h.call("POST", "/v1/watchers/s/incr", {"count": 1})
            assert status == 200

    run(main())
    lines = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
    assert [(e["op"], e["status"], e["result"], e["args"]) for e in lines] == [
        ("incr", 400, "bad_request", {"unparsed_bytes": 20}),
        ("decr", 500, "internal", {"count": 1})]
    assert "handler bug" in caplog.text and "audit bug" in caplog.text


async def _conflict(h: Harness) -> None:
    watcher = h.controller.arbiter.watcher("s")
    async with watcher.lock:
        status, body = await h.call("POST", "/v1/watchers/s/incr", {"count": 1})
    assert (status, body["error"]) == (409, "conflict")


test_busy_watcher_gives_conflict = app_test(_conflict, sleeper())


def test_openapi_document_lists_every_route(tmp_path: Path) -> None:
    async def main() -> None:
        async with harness(tmp_path) as h:
            status, body = await h.call("GET", "/v1/openapi.json")
            assert status == 200
            doc = json.loads(body) if isinstance(body, bytes) else body
            ops = {op["operationId"] for methods in doc["paths"].values()
                   for op in methods.values()}
            from ringleader.api.routes import ROUTES

            assert ops == {r.op for r in ROUTES}

    run(main())


@pytest.mark.parametrize("topic", [None, "process.state"])
def test_events_stream_in_order(tmp_path: Path, topic: str | None) -> None:
    async def main() -> None:
        async with harness(tmp_path, sleeper()) as h:
            stream = await h.stream("/v1/events", {"topic": [topic]} if topic else {})
            events = stream.events.__aiter__()
            assert (await h.call("POST", "/v1/watchers/s/incr", {"count": 1}))[0] == 200
            seen = []
            while len(seen) < 2:
                _, data = await events.__anext__()
                payload = json.loads(data)
                if payload["topic"] == "process.state":
                    seen.append(payload["data"]["new"])
                elif topic:
                    pytest.fail(f"topic filter let {payload['topic']} through")
            assert seen == ["starting", "running"]
            await events.aclose()  # type: ignore[attr-defined]

    run(main())


def test_stats_streams_share_one_sampler_and_have_a_floor(tmp_path: Path) -> None:
    """Two streams at one interval get the same snapshots (same `at`, the time of the
    sample); an interval under 0.5 s is refused, naming it."""
    async def main() -> None:
        async with harness(tmp_path, sleeper()) as h:
            status, body = await h.call("GET", "/v1/stats/stream",
                                        query={"interval": ["0.2"]}, role="read")
            assert (status, body["error"]) == (400, "bad_request")
            assert "interval must be between 0.5 and 3600" in body["detail"]
            query = {"interval": ["0.5"]}
            first = (await h.stream("/v1/stats/stream", query)).events.__aiter__()
            second = (await h.stream("/v1/stats/stream", query)).events.__aiter__()
            a1 = json.loads((await first.__anext__())[1])
            b1 = json.loads((await second.__anext__())[1])
            assert a1 == b1 and a1["watchers"][0]["processes"][0]["pid"]
            a2 = json.loads((await first.__anext__())[1])
            b2 = json.loads((await second.__anext__())[1])
            assert a2 == b2 and a2["at"] > a1["at"]
            assert h.app.commands.feeds.samplers == 1
            for events in (first, second):
                await events.aclose()  # type: ignore[attr-defined]
            assert h.app.commands.feeds.samplers == 0

    run(main())


async def _status_shape(h: Harness) -> None:
    import msgspec

    from ringleader.api.schema import StatusResponse

    _, body = await h.call("GET", "/v1/status")
    # The fast path encodes the engine's dicts directly: they must be a StatusResponse.
    msgspec.convert(body, StatusResponse)


test_status_has_the_documented_shape = app_test(_status_shape, sleeper(numprocesses=2))

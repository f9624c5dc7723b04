"""The dashboard's Cluster page on real `ringleader run` nodes over a real etcd: the
overview route answers the nodes and the jobs x nodes counts read from etcd; a drain
POSTed as the browser does (cookie, CSRF header, Origin) moves the work away, is audited,
refused to a read session, and undone by an undrain; and in Chromium, the Cluster page of
a node shows the nodes and a job's counts."""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from etcd_harness import EtcdCluster
from node_harness import Node, Nodes

from ringleader.api.client import Client
from ringleader.testing import make_test_pki, wait_until_sync

# The browser harness lives with the dashboard's tests (its fixtures come with it).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "dashboard"))
from dashboard_harness import Dashboard, browser  # noqa: F401

JOBS = """
    [jobs.web]
    cmd = "sleep 600"
    count = 4
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(str(tmp_path_factory.mktemp("dash-pki")))


@pytest.fixture
def nodes(request: pytest.FixtureRequest, tmp_path: Path, etcd: EtcdCluster,
          pki: dict[str, str]) -> Iterator[Nodes]:
    """Nodes a and b, running `web` (count 4) two and two."""
    group = Nodes(tmp_path, etcd.endpoints, pki, prefix=f"/dash/{request.node.name}")
    try:
        for name in "ab":
            group.add(name, labels={"zone": name})
        for node in group.nodes.values():
            node.start()
        applied = group.console("apply", group.jobs_file(JOBS))
        assert applied.returncode == 0, applied.stderr
        wait_until_sync(lambda: group.counts() == {"a": 2, "b": 2}, timeout=15,
                        what="2 per node")
        yield group
    finally:
        group.stop_all()


def one_time_url(node: Node, role: str) -> str:
    with Client(f"unix:{node.sock}", timeout=10) as client:
        url: str = client.call("dashboard", body={"role": role})["url"]
    return url


@dataclass
class Session:
    """Requests as the dashboard's page sends them, on a node's loopback listener."""

    port: int
    cookie: str = ""
    csrf: str = ""

    @classmethod
    def sign_in(cls, node: Node, role: str) -> Session:
        url = one_time_url(node, role)
        session = cls(int(url.split(":")[2].split("/")[0]))
        status, answer, headers = session.request(
            "POST", "/v1/session", {"token": url.partition("#token=")[2]})
        assert status == 200, answer
        session.cookie = headers["set-cookie"].partition(";")[0]
        session.csrf = answer["session"]["csrf"]
        return session

    def request(self, method: str, path: str,
                body: Any = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Host": f"127.0.0.1:{self.port}", "Sec-Fetch-Site": "same-origin"}
        if self.cookie:
            headers["Cookie"] = self.cookie
        payload = None
        if method != "GET":
            payload = json.dumps(body or {}).encode()
            headers.update({"Origin": f"http://127.0.0.1:{self.port}",
                            "Content-Type": "application/json",
                            "Content-Length": str(len(payload))})
            if self.csrf:
                headers["X-Ringleader-CSRF"] = self.csrf
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return (response.status, json.loads(response.read() or b"null"),
                    {k.lower(): v for k, v in response.getheaders()})
        finally:
            connection.close()

    def overview(self) -> dict[str, Any]:
        status, answer, _ = self.request("GET", "/v1/cluster/overview")
        assert status == 200, answer
        return dict(answer)


def audit(node: Node, op: str) -> list[dict[str, Any]]:
    """The node's audit records of ``op``, each by a dashboard session."""
    lines = (node.folder / "ringleader-audit.log").read_text().splitlines()
    found = [e for e in map(json.loads, lines) if e["op"] == op]
    assert all(e["who"].startswith("session:") for e in found), found
    return found


def health(overview: dict[str, Any]) -> dict[str, str]:
    return {n["name"]: n["health"] for n in overview.get("nodes", [])}  # none: omitted


def test_the_overview_and_a_drain_through_the_dashboard(nodes: Nodes) -> None:
    a, b = nodes.nodes["a"], nodes.nodes["b"]
    admin = Session.sign_in(a, "admin")
    overview = admin.overview()
    assert overview["enabled"] is True and overview["node"] == "a"
    assert overview["scheduler"] in ("a", "b")
    assert [(n["name"], n["health"], n["labels"], n["connected"])
            for n in overview["nodes"]] == [("a", "healthy", {"zone": "a"}, True),
                                            ("b", "healthy", {"zone": "b"}, True)]
    (web,) = overview["jobs"]
    assert (web["name"], web["placement"], web["desired"], web["assigned"]) == \
        ("web", "count=4", 4, 4)
    assert "pending" not in web or web["pending"] is None
    # desired from etcd; running known by this node for its own watcher only
    assert web["nodes"]["a"]["desired"] == web["nodes"]["b"]["desired"] == 2
    assert web["nodes"]["a"]["running"] == 2 and web["nodes"]["a"]["state"] == "active"
    assert web["nodes"]["b"]["running"] is None

    # a read session sees the overview but may not drain
    reader = Session.sign_in(a, "read")
    assert reader.overview()["nodes"] == overview["nodes"]
    status, answer, _ = reader.request("POST", "/v1/cluster/nodes/b/drain")
    assert status == 403 and answer["error"] == "forbidden"
    # without the CSRF header the browser's cookie is not enough
    forged = Session(admin.port, cookie=admin.cookie)
    assert forged.request("POST", "/v1/cluster/nodes/b/drain")[0] == 403
    status, answer, _ = admin.request("POST", "/v1/cluster/nodes/nobody/drain")
    assert status == 404 and "no live node named 'nobody'" in answer["detail"]
    assert nodes.counts() == {"a": 2, "b": 2}  # refused: nothing moved

    b_pids = b.pids()
    status, answer, _ = admin.request("POST", "/v1/cluster/nodes/b/drain")
    assert status == 200, answer
    wait_until_sync(lambda: nodes.counts() == {"a": 4, "b": 0}, timeout=15,
                    what="b's share to move to a")
    assert not set(b_pids) & set(a.pids())
    drained = admin.overview()
    assert health(drained) == {"a": "healthy", "b": "draining"}
    reason = drained["nodes"][1]["detail"]  # who drained it, and where
    assert reason.startswith("by session:uid:") and reason.endswith(
        " on the dashboard of node a"), reason
    assert drained["jobs"][0]["nodes"]["a"] == {"running": 4, "desired": 4,
                                                "state": "active", "problem": None}
    # the console sees the same drain (one library, one key)
    _, console = nodes.console_json("status")
    assert {n["name"]: n["health"] for n in console["nodes"]}["b"] == "draining"
    assert [(e["role"], e["watcher"], e["result"]) for e in audit(a, "cluster_drain")] == \
        [("read", "b", "forbidden"), ("admin", "nobody", "not_found"), ("admin", "b", "ok")]

    status, answer, _ = admin.request("POST", "/v1/cluster/nodes/b/undrain")
    assert status == 200, answer
    (undrain,) = audit(a, "cluster_undrain")
    assert (undrain["role"], undrain["watcher"], undrain["result"]) == ("admin", "b", "ok")
    wait_until_sync(lambda: health(admin.overview())["b"] == "healthy", timeout=10,
                    what="b to be healthy again")
    status, answer, _ = admin.request("POST", "/v1/cluster/nodes/b/undrain")
    assert status == 404 and "not drained" in answer["detail"]


class NodePages:
    """A node as the browser harness's server: its one-time links."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.base: str | None = None

    def one_time_url(self, role: str = "admin") -> str:
        url = one_time_url(self.node, role)
        self.base = url.partition("/ui/")[0]
        return url

    def url(self, path: str = "/ui/") -> str:
        if self.base is None:
            self.one_time_url("read")
        assert self.base is not None
        return self.base + path


def test_the_cluster_page_of_a_node_in_chromium(browser: Any,  # noqa: F811
                                                nodes: Nodes) -> None:
    from playwright.sync_api import expect

    board = Dashboard(browser, NodePages(nodes.nodes["b"]))
    try:
        page = board.open("admin")
        page.get_by_role("link", name="Cluster").click()
        expect(page.get_by_role("row", name="b (this one)")).to_contain_text("zone=b")
        expect(page.locator('tr[data-node="a"]')).to_contain_text("healthy")
        web = page.locator('tr[data-job="web"]')
        expect(web.locator('td[data-node="b"]')).to_have_text("2/2")
        expect(web.locator('td[data-node="a"]')).to_have_text("?/2")
        # Drain and Undrain from the page: the same key the console writes
        page.get_by_role("button", name="Drain a").click()
        expect(page.locator('tr[data-node="a"] .badge')).to_have_text("draining")
        wait_until_sync(lambda: nodes.counts() == {"a": 0, "b": 4}, timeout=15,
                        what="a's share to move to b")
        expect(web.locator('td[data-node="b"]')).to_have_text("4/4", timeout=15_000)
        page.get_by_role("button", name="Undrain a").click()
        expect(page.locator('tr[data-node="a"] .badge')).to_have_text("healthy")
        assert not board.check()
    finally:
        board.close()


def test_etcd_away_the_page_gets_a_clear_503(tmp_path: Path, etcd_own: EtcdCluster,
                                              pki: dict[str, str]) -> None:
    group = Nodes(tmp_path, etcd_own.endpoints, pki, prefix="/dash/away")
    try:
        a = group.start("a")
        admin = Session.sign_in(a, "admin")
        wait_until_sync(lambda: health(admin.overview()) == {"a": "healthy"}, timeout=10,
                        what="node a registered and connected")
        for member in etcd_own.members:
            member.kill()
        status, answer, _ = admin.request("GET", "/v1/cluster/overview")
        assert status == 503 and answer["error"] == "unavailable", answer
        assert answer["detail"].startswith("etcd does not answer node a: ")
        status, answer, _ = admin.request("POST", "/v1/cluster/nodes/a/drain")
        assert status == 503 and "etcd does not answer node a" in answer["detail"], answer
        assert a.status()["watchers"] == []  # the node itself goes on
    finally:
        group.stop_all()

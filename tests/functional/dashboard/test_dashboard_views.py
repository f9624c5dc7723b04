"""The dashboard's views in Chromium against a real controller: the buttons each role gets,
a watcher's page (processes, options, set, signal, remove), adding a watcher, the events
and charts of real workers, the cluster page of a lone controller, and the phone width,
dark scheme and keyboard."""

from __future__ import annotations

import re

import psutil
import pytest
from dashboard_harness import PHONE, Dashboard
from playwright.sync_api import expect
from real_controller import RealController

from ringleader.testing import wait_until_sync

ROW = "main tbody tr"
WORKER = 'tr[data-name="worker"]'


@pytest.mark.parametrize("role", ["read", "operate", "admin"])
def test_buttons_follow_the_role(board: Dashboard, role: str) -> None:
    page = board.open(role)
    expect(page.locator(ROW)).to_have_count(1)
    expect(page.locator("main tbody button")).to_have_count(0 if role == "read" else 4)
    expect(page.get_by_text("Add a watcher")).to_have_count(1 if role == "admin" else 0)

    page.get_by_role("link", name="worker", exact=True).click()
    expect(page.locator("main tbody tr[data-wid]")).to_have_count(3)
    expect(page.get_by_role("cell", name="talker.py")).to_be_visible()
    actions = ["Start", "Stop", "Restart", "Reload", "Remove a process", "Add a process",
               "Send"]
    for name in actions:
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(
            0 if role == "read" else 1)
    expect(page.get_by_role("button", name="Set")).to_have_count(1 if role == "admin" else 0)
    expect(page.get_by_role("button", name="Remove watcher…")).to_have_count(
        1 if role == "admin" else 0)
    if role == "read":
        expect(page.locator("main button")).to_have_count(0)


def test_watcher_page_set_signal_and_remove(board: Dashboard,
                                            controller: RealController) -> None:
    page = board.open("admin")
    page.get_by_role("link", name="worker", exact=True).click()
    expect(page).to_have_title("worker · Ringleader")
    procs = page.locator("main tbody tr[data-wid]")
    expect(procs).to_have_count(3)
    pids = controller.pids()
    expect(procs.first.locator("td").nth(0)).to_have_text(str(pids[0]))
    expect(procs.first.locator(".badge")).to_have_text("running")

    page.locator("#set-key").fill("graceful_timeout")
    page.locator("#set-value").fill("7")
    page.get_by_role("button", name="Set").click()
    expect(page.get_by_role("row", name="graceful_timeout")).to_contain_text("7")
    options = controller.call("options", name="worker", query={"key": ["graceful_timeout"]})
    assert options["options"]["graceful_timeout"] == 7

    (controller.dir / "say.txt").write_text("signalled from the page")
    page.locator("#signal-name").select_option("USR1")
    page.locator("#signal-target").select_option(label=f"process 2 (pid {pids[1]})")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#notice")).to_have_text("SIGUSR1 to worker: done")
    page.get_by_role("link", name="Logs").first.click()
    expect(page.locator(".log .line", has_text="signalled from the page")).to_have_count(1)
    lines = controller.call("logs", query={"watcher": "worker"})["lines"]
    assert [line["wid"] for line in lines if line["line"] == "signalled from the page"] == [2]

    page.go_back()
    remove = page.get_by_role("button", name="Remove watcher…")
    remove.click()
    page.get_by_role("button", name="Really remove worker?").click()
    expect(page).to_have_url(controller.url("/ui/#/"))
    expect(page.locator(ROW)).to_have_count(0)
    assert controller.call("list")["watchers"] == []
    assert controller.children() == set()


def test_admin_adds_a_watcher(board: Dashboard, controller: RealController) -> None:
    page = board.open("admin")
    page.get_by_text("Add a watcher").click()
    page.locator("#add-name").fill("batch")
    page.locator("#add-cmd").fill("sleep 3600")
    page.locator("#add-count").fill("2")
    page.get_by_role("button", name="Add watcher").click()
    expect(page.locator('tr[data-name="batch"] td').nth(1)).to_have_text("2/2")
    sleepers = [p for p in psutil.Process(controller.proc.pid).children()
                if p.cmdline() == ["sleep", "3600"]]
    assert sorted(p.pid for p in sleepers) == sorted(controller.pids("batch"))
    # the table shows 2/2 from the event feed; the audit record follows the add's answer
    wait_until_sync(lambda: any(e["op"] == "add" for e in controller.audit()), timeout=20,
                    what="the add's audit record")
    [added] = [e for e in controller.audit() if e["op"] == "add"]
    assert added["args"] == {"name": "batch", "cmd": "sleep 3600", "numprocesses": 2,
                             "start": True}


def test_the_cluster_page_of_a_lone_controller(board: Dashboard) -> None:
    page = board.open("admin")
    page.get_by_role("link", name="Cluster").click()
    expect(page.get_by_text("This controller is not a cluster node.")).to_be_visible()


def test_phone_width_dark_scheme_and_keyboard(board: Dashboard,
                                              controller: RealController) -> None:
    page = board.watch(board.context(PHONE, "dark").new_page())
    page.goto(controller.one_time_url("operate"))
    expect(page.locator(WORKER)).to_have_count(1)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page is wider than a phone"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 19, 25)"  # the dark palette's --bg

    # keyboard only: tab to the watcher's link and open it, then "+" by keyboard
    page.locator("body").focus()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "worker":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(controller.url("/ui/#/w/worker"))
    expect(page.locator("h1")).to_be_focused()
    page.get_by_role("button", name="Add a process").focus()
    page.keyboard.press("Enter")
    expect(page.locator("main tbody tr[data-wid]")).to_have_count(4)


def test_events_and_charts_of_real_workers(board: Dashboard,
                                           controller: RealController) -> None:
    page = board.open("read")
    page.get_by_role("link", name="Events").click()
    board.live(page)
    victim = controller.pids()[1]
    psutil.Process(victim).kill()  # the controller sees it die and respawns it
    timeline = page.locator("ol.timeline li.event")
    expect(timeline.filter(has_text=f"worker.2 pid {victim} exited")).to_have_count(1)
    expect(timeline.filter(has_text="worker.2 spawned as pid")).to_have_count(1)
    respawned = controller.pids()[1]
    assert respawned != victim
    expect(timeline.filter(has_text=f"spawned as pid {respawned}")).to_have_count(1)

    page.get_by_role("link", name="Charts").click()
    expect(page.locator(".chart canvas")).to_have_count(2)
    # real samples of the workers (one per 2 s), drawn by uPlot
    expect(page.locator(".charts .summary")).to_have_text(re.compile(r"^Last \d+ minutes"),
                                                          timeout=15_000)

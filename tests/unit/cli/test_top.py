"""`ringleader top`: the table (pure), the update loop with a fake client, and the live view
in a real terminal (tmux) against a fake controller."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ringleader.cli.top import View, build_table, cmd_top, exits

STATS: dict[str, Any] = {"at": 1_700_000_000.0, "watchers": [
    {"name": "web", "cpu_percent": 75.5, "rss": 150 << 20, "processes": [
        {"wid": 1, "pid": 4242, "cpu_percent": 70.0, "rss": 100 << 20, "uss": 90 << 20,
         "num_fds": 12, "num_children": 2, "age": 3725.0, "restarts": 3,
         "exit_history": [1, -9, 0, -15]},
        {"wid": 2, "pid": 4243, "cpu_percent": 5.5, "rss": 50 << 20, "uss": None,
         "num_fds": None, "num_children": 0, "age": 5.0, "restarts": 0, "exit_history": []},
    ]},
    {"name": "idle", "cpu_percent": 0.0, "rss": 0, "processes": []},
]}
STATUS: dict[str, Any] = {
    "controller": {"pid": 1, "version": "0.1.0", "uptime": 10.0, "config": None},
    "watchers": [
        {"name": "web", "state": "active", "numprocesses": 3, "running": 2, "processes": [
            {"wid": 1, "pid": 4242, "state": "running", "uptime": 1, "restarts": 3,
             "exit_code": None, "exit_signal": None},
            {"wid": 2, "pid": 4243, "state": "starting", "uptime": 1, "restarts": 0,
             "exit_code": None, "exit_signal": None},
            {"wid": 3, "pid": None, "state": "backoff", "uptime": 0, "restarts": 7,
             "exit_code": 1, "exit_signal": None},
        ]},
        {"name": "idle", "state": "stopped", "numprocesses": 0, "running": 0, "processes": []},
    ],
}


def render(stats: dict[str, Any], status: dict[str, Any] | None = None) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(build_table(stats, status))
    return console.export_text()


def row(text: str, start: str) -> list[str]:
    (line,) = [x for x in text.splitlines() if x.strip().startswith(start)]
    return line.split()


def test_table_rows_for_watchers_and_processes() -> None:
    text = render(STATS, STATUS)
    assert "2 watcher(s), 2 process(es), CPU 75.5%, RSS 150.0M" in text
    assert row(text, "web.1") == ["web.1", "4242", "running", "70.0", "100.0M", "90.0M", "12",
                                  "2", "1h02m", "3", "KILL", "0", "TERM"]
    assert row(text, "web.2") == ["web.2", "4243", "starting", "5.5", "50.0M", "-", "-", "0",
                                  "5s", "0"]
    assert row(text, "web.3") == ["web.3", "-", "backoff", "-", "-", "-", "-", "-", "-", "7"]
    assert row(text, "web ") == ["web", "active", "75.5", "150.0M"]
    assert row(text, "idle") == ["idle", "stopped", "0.0", "0B"]
    assert "q: quit" in text


def test_a_narrow_table_leaves_out_the_least_useful_columns() -> None:
    console = Console(record=True, width=80, color_system=None)
    console.print(build_table(STATS, STATUS, narrow=True))
    text = console.export_text()
    assert row(text, "web.1") == ["web.1", "4242", "running", "70.0", "100.0M", "12", "1h02m",
                                  "3"]
    assert "USS" not in text and "…" not in text


def test_table_without_status() -> None:
    text = render(STATS)
    assert row(text, "web.2")[2] == "running"  # in the stats: it has a live process
    assert row(text, "web ") == ["web", "-", "75.5", "150.0M"]
    assert "web.3" not in text


def test_exit_history_words() -> None:
    assert exits([]) == ""
    assert exits([3, -9, 0, -15, -200]) == "0 TERM sig200"


class FakeClient:
    def __init__(self, events: list[tuple[str, Any]], error: Exception | None = None) -> None:
        self.events, self.error = events, error
        self.queries: list[dict[str, Any] | None] = []

    def stream(self, op: str, *, name: str | None = None,
               query: dict[str, Any] | None = None) -> Iterator[tuple[str, Any]]:
        assert op == "stats_stream"
        self.queries.append(query)
        yield from self.events
        if self.error is not None:
            raise self.error

    def call(self, op: str, **kw: Any) -> Any:
        assert op == "status"
        return STATUS


def args(**kw: Any) -> argparse.Namespace:
    return argparse.Namespace(**{"interval": 0.5, "name": None, "json": False, **kw})


@pytest.mark.timeout(20)
def test_updates_until_the_stream_ends(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient([("stats", STATS), ("ping", {}), ("stats", STATS)])
    assert cmd_top(args(name="web"), client) == 1  # type: ignore[arg-type]
    out, err = capsys.readouterr()
    assert out.count("web.1") == 2  # not a terminal: one (narrow) table per update
    assert "the controller ended the stream" in err
    assert client.queries == [{"interval": "0.5", "watcher": "web"}]


@pytest.mark.timeout(20)
def test_json_lines_and_errors_reach_the_caller(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient([("stats", STATS)], error=ConnectionError("gone"))
    with pytest.raises(ConnectionError):
        cmd_top(args(json=True), client)  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out) == STATS


# -- in a real terminal ---------------------------------------------------------------------

class _FakeController(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str) -> None:
        super().__init__(path, _Handler)
        self.done = threading.Event()


class _Handler(socketserver.StreamRequestHandler):
    server: _FakeController

    def handle(self) -> None:
        target = self.rfile.readline().split()[1].decode()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        if target.startswith("/v1/stats/stream"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Connection: close\r\n\r\n")
            self.wfile.write(b"event: stats\ndata: " + json.dumps(STATS).encode() + b"\n\n")
            self.wfile.flush()
            self.server.done.wait(60)  # the stream stays open, as a real one would
            return
        body = json.dumps(STATUS).encode()
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(body), body))


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "ctl.sock")
    server = _FakeController(path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.done.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


def _wait(cond: Any, what: str, deadline: float = 15.0) -> None:
    """Last-resort polling of a terminal we cannot get events from."""
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.timeout(40)
@pytest.mark.parametrize("key", ["q", "C-c"])
def test_live_view_in_a_terminal_quits_and_restores_it(
        tmp_path: Path, controller: str, key: str) -> None:
    sock = f"rl-top-{os.getpid()}-{key}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    code = ("import argparse, sys; from ringleader.api.client import Client; "
            "from ringleader.cli.top import cmd_top; "
            f"sys.exit(cmd_top(argparse.Namespace(interval=0.2, name=None, json=False), "
            f"Client('unix:{controller}')))")
    script = tmp_path / "run.sh"
    # The shell must outlive a Ctrl-C; a trap (unlike an ignore) is not inherited by python.
    script.write_text(f"cd {shlex.quote(str(tmp_path))}\ntrap true INT\nstty -g > before\n"
                      f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} 2> err\n"
                      "echo $? > rc.tmp && mv rc.tmp rc\nstty -g > after\n"
                      "exec cat\n")  # keeps the pane (and its tty) alive until kill-server
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-x", "130", "-y", "40", "sh", str(script)],
                   check=True, env=env, timeout=10)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                  text=True, timeout=10).stdout

        _wait(lambda: "web.3" in screen(), "the table")
        text = screen()
        assert "ringleader top" in text and "backoff" in text and "4242" in text
        subprocess.run([*tmux, "send-keys", key], check=True, timeout=10)
        _wait(lambda: (tmp_path / "rc").exists() and (tmp_path / "after").exists(), "exit")
        assert (tmp_path / "rc").read_text().strip() == "0", (tmp_path / "err").read_text()
        assert (tmp_path / "after").read_text() == (tmp_path / "before").read_text()
        assert "ringleader top" not in screen()  # the alternate screen is gone
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=10)


# -- sorting and filtering --------------------------------------------------------------------

def test_sort_by_cpu_or_memory_and_filter_by_watcher() -> None:
    stats = {**STATS, "watchers": [*STATS["watchers"], {
        "name": "db", "cpu_percent": 1.0, "rss": 900 << 20, "processes": [
            {**STATS["watchers"][0]["processes"][1], "wid": 1, "pid": 5000,
             "cpu_percent": 1.0, "rss": 900 << 20}]}]}

    def order(text: str) -> list[str]:
        names = ("web", "idle", "db", "web.1", "web.2", "db.1")
        return [line.split()[0] for line in text.splitlines()
                if line.split() and line.split()[0] in names]

    assert order(render_with(stats)) == ["web", "web.1", "web.2", "idle", "db", "db.1"]
    assert order(render_with(stats, sort="cpu")) == ["web", "web.1", "web.2", "db", "db.1",
                                                     "idle"]
    assert order(render_with(stats, sort="mem")) == ["db", "db.1", "web", "web.1", "web.2",
                                                     "idle"]
    mem_first = {**stats, "watchers": [{**stats["watchers"][0], "processes": list(reversed(
        stats["watchers"][0]["processes"]))}]}
    assert order(render_with(mem_first, sort="mem")) == ["web", "web.1", "web.2"]
    assert order(render_with(mem_first)) == ["web", "web.2", "web.1"]  # as listed
    text = render_with(stats, sort="mem", only="web")
    assert order(text) == ["web", "web.1", "web.2"]
    assert "sorted by mem, only web" in text


def render_with(stats: dict[str, Any], **kw: Any) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(build_table(stats, None, **kw))
    return console.export_text()


def test_keys_change_the_view() -> None:
    view = View("name")
    view.names = ["web", "db"]
    assert view.press(b"m") and view.sort == "mem"
    assert not view.press(b"m")
    assert view.press(b"C") and view.sort == "cpu"
    assert view.press(b"w") and view.only == "web"
    assert view.press(b"w") and view.only == "db"
    assert view.press(b"w") and view.only is None
    assert not view.press(b"x")


def test_without_rich_top_says_which_extra_to_install(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['rich'] = None; from ringleader.cli.main import main; "
            "sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "top", "-e", f"unix:{tmp_path}/x"],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("error: ringleader top needs the rich package: pip install "
                           "'ringleader[top]'\n")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.timeout(40)
def test_sort_and_filter_keys_in_a_terminal(tmp_path: Path, controller: str) -> None:
    sock = f"rl-top-keys-{os.getpid()}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    script = tmp_path / "run.sh"
    script.write_text(f"cd {shlex.quote(str(tmp_path))}\n"
                      f"{shlex.quote(sys.executable)} -m ringleader top --sort cpu "
                      f"--interval 0.2 -e unix:{controller} 2> err\n"
                      "echo $? > rc.tmp && mv rc.tmp rc\nexec cat\n")
    env = {**os.environ, "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-x", "130", "-y", "40", "sh", str(script)],
                   check=True, env=env, timeout=10)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True,
                                  text=True, timeout=10).stdout

        _wait(lambda: "sorted by cpu" in screen(), "the table")
        subprocess.run([*tmux, "send-keys", "m"], check=True, timeout=10)
        _wait(lambda: "sorted by mem" in screen(), "the memory order")
        subprocess.run([*tmux, "send-keys", "w", "w"], check=True, timeout=10)
        _wait(lambda: "only idle" in screen(), "the second watcher alone")
        assert "web.1" not in screen()
        subprocess.run([*tmux, "send-keys", "q"], check=True, timeout=10)
        _wait(lambda: (tmp_path / "rc").exists(), "exit")
        assert (tmp_path / "rc").read_text().strip() == "0", (tmp_path / "err").read_text()
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=10)

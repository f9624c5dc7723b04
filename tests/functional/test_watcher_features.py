"""Advanced watcher features through the engine, with real processes: flapping, cgroups,
sd_notify readiness and watchdog, dependencies."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessExited, ProcessStateChanged, WatcherChanged
from ringleader.testing import EventRecorder, pid_exists, python_cmd, wait_until
from ringleader.testing import run_async as run

NULL = {"kind": "null"}


def watcher(name: str, cmd: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "cmd": cmd, "stdout_stream": NULL, "stderr_stream": NULL, **options}


# -- flapping ---------------------------------------------------------------------------

def test_flapping_parks_then_gives_up_and_start_revives() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("crash", "false", flapping={
            "attempts": 2, "window": 5, "retry_in": 0.2, "max_retry": 2})])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "flapping")
            status = arbiter.statuses()["crash"]
            assert status["state"] == "flapping" and "exits" in status["detail"]
            failed = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "failed")
            assert "round" in failed.reason or "flapping" in failed.reason
            status = arbiter.statuses()["crash"]
            assert status["state"] == "failed"
            assert status["processes"][0]["exit_history"][-1] == 1
            mark = len(rec.events)
            await arbiter.start_watcher("crash")  # an explicit start clears it
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "starting", start=mark)

    run(main())


# -- cgroups ----------------------------------------------------------------------------

def _cgroups_usable() -> str | None:
    if os.geteuid() != 0:
        return "cgroups need root"
    try:
        from ringleader.features.cgroups.discovery import detect
    except ImportError as exc:
        return str(exc)
    return None if "memory" in detect() else f"no memory controller: {detect()}"


cgroups = pytest.mark.skipif(_cgroups_usable() is not None, reason=str(_cgroups_usable()))

ESCAPER = python_cmd(
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "        time.sleep(600)\n"
    "    os._exit(0)\n"
    "time.sleep(600)\n"
)


@cgroups
def test_a_daemonizing_grandchild_does_not_escape_stop(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"

    async def main() -> None:
        cfg = watcher("esc", f"{ESCAPER} {marker}", cgroup={"parent": "ringleader-test"})
        async with Arbiter([cfg]) as arbiter:
            await wait_until(lambda: marker.exists() and marker.read_text() != "",
                             what="the grandchild")
            grandchild = int(marker.read_text())
            assert pid_exists(grandchild)
            cgroup = arbiter.watcher("esc").features.cgroup
            assert cgroup is not None and grandchild in cgroup.pids()
            await arbiter.stop_watcher("esc")
            await wait_until(lambda: not pid_exists(grandchild), what="grandchild gone")

    run(main())


@cgroups
def test_a_memory_hog_is_killed_at_its_limit_and_respawned() -> None:
    hog = python_cmd("x = bytearray(300 * 1024 * 1024)\nimport time\ntime.sleep(600)")

    async def main() -> None:
        arbiter = Arbiter([watcher("hog", hog, cgroup={
            "memory_limit": 64 * 1024 * 1024, "parent": "ringleader-test"})])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            exited = await rec.wait_for(ProcessExited, timeout=20)
            assert exited.signal == 9 and not exited.expected  # the OOM killer
            # The respawn policy applies: a young death is respawned.
            await rec.wait_for(ProcessStateChanged,
                               lambda e: e.new == "starting" and e.pid != exited.pid)

    run(main())


@cgroups
def test_a_fork_bomb_stops_at_the_pids_limit() -> None:
    bomb = python_cmd(
        "import os, time\n"
        "n = 0\n"
        "while n < 500:\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(600)\n"
        "        os._exit(0)\n"
        "    n += 1\n"
        "print(n, flush=True)\n"
        "time.sleep(600)\n"
    )

    async def main() -> None:
        arbiter = Arbiter([watcher("bomb", bomb, cgroup={"pids_limit": 20,
                                                         "parent": "ringleader-test"},
                                   stdout_stream={"kind": "console"})], console_fd=2)
        async with arbiter:
            cgroup = arbiter.watcher("bomb").features.cgroup
            assert cgroup is not None
            await wait_until(lambda: len(cgroup.pids()) >= 20, what="the bomb to fill up")
            assert len(cgroup.pids()) <= 20
            # The controller is healthy: it still starts and stops processes.
            await arbiter.add_watcher(watcher("other", "sleep 600"))
            assert len(arbiter.pids("other")) == 1
        assert cgroup.pids() == []

    run(main())


# -- sd_notify --------------------------------------------------------------------------

NOTIFIER = python_cmd(
    "import os, socket, sys, time\n"
    "addr = os.environ['NOTIFY_SOCKET']\n"
    "addr = '\\0' + addr[1:] if addr.startswith('@') else addr\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    "time.sleep(float(sys.argv[1]))\n"
    "s.sendto(b'STATUS=warming up\\nREADY=1', addr)\n"
    "while sys.argv[2] == 'ping':\n"
    "    s.sendto(b'WATCHDOG=1', addr)\n"
    "    time.sleep(0.1)\n"
    "time.sleep(600)\n"
)


def test_notify_readiness_waits_for_ready() -> None:
    async def main() -> None:
        arbiter = Arbiter([watcher("n", f"{NOTIFIER} 0.3 quiet", readiness="notify",
                                   ready_timeout=20)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            # start() returned only once READY=1 arrived.
            states = [e.new for e in rec.of(ProcessStateChanged)]
            assert states[-2:] == ["starting", "running"]
            ready = rec.of(ProcessStateChanged)[-1]
            assert ready.reason == "sd_notify READY=1"
            assert arbiter.watcher("n").processes[1].status_text == "warming up"

    run(main())


def test_notify_watchdog_restarts_a_hung_process() -> None:
    async def main() -> None:
        arbiter = Arbiter([
            watcher("quiet", f"{NOTIFIER} 0 quiet", readiness="notify", watchdog_sec=0.5),
            watcher("pinging", f"{NOTIFIER} 0 ping", readiness="notify", watchdog_sec=0.5),
        ])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            quiet = arbiter.pids("quiet")[0]
            exited = await rec.wait_for(ProcessExited, lambda e: e.pid == quiet)
            assert exited.watcher == "quiet"
            await rec.wait_for(ProcessStateChanged,
                               lambda e: e.watcher == "quiet" and e.new == "running"
                               and e.pid != quiet)
            # The one that keeps pinging is left alone.
            assert not [e for e in rec.of(ProcessExited) if e.watcher == "pinging"]

    run(main())


# -- dependencies ----------------------------------------------------------------------

def test_after_orders_start_and_stop_and_requires_follows_failure() -> None:
    async def main() -> None:
        arbiter = Arbiter([
            watcher("web", "sleep 600", after=["db"], priority=100),
            watcher("db", "sleep 601", warmup_delay=0.2),
            watcher("worker", "sleep 602", requires=["db"]),
        ])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            order = [e.watcher for e in rec.of(ProcessStateChanged) if e.new == "running"]
            assert order.index("db") < order.index("web")
            assert order.index("db") < order.index("worker")
            await arbiter.stop_watcher("db")
            await rec.wait_for(WatcherChanged, lambda e: e.watcher == "worker"
                               and e.action == "stopped")
            assert arbiter.statuses()["web"]["state"] == "active"  # after, not requires
            await arbiter.start_watcher("db")
            mark = len(rec.events)
        # The controller's own stop: dependents first.
        stopped = [e.watcher for e in rec.events[mark:] if isinstance(e, ProcessExited)]
        assert stopped.index("web") < stopped.index("db")

    run(main())


# -- shared sockets -------------------------------------------------------------------

def test_workers_inherit_a_socket_bound_before_they_start(tmp_path: Path) -> None:
    server = python_cmd(
        "import os, socket\n"
        "assert os.environ['LISTEN_PID'] == str(os.getpid())\n"
        "s = socket.socket(fileno=3)\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    c.sendall(os.environ['RINGLEADER_WID'].encode())\n"
        "    c.close()\n"
    )

    async def main() -> None:
        arbiter = Arbiter([watcher("srv", server, use_sockets=True, numprocesses=2)],
                          sockets=[_socket_config()])
        async with arbiter:
            assert arbiter.sockets is not None
            (sock,) = arbiter.sockets.sockets
            host, port = sock.address.rsplit(":", 1)
            answers = {_ask(host, int(port)) for _ in range(20)}
            assert answers <= {b"1", b"2"} and answers

    run(main())


def _socket_config() -> Any:
    from ringleader.config.features import SocketConfig

    return SocketConfig(name="web", host="127.0.0.1", port=0)


def _ask(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=10) as c:
        return c.recv(16)


def test_a_watcher_added_at_runtime_can_use_notify_readiness() -> None:
    async def main() -> None:
        async with Arbiter([]) as arbiter:
            await arbiter.add_watcher(watcher("late", f"{NOTIFIER} 0.1 quiet",
                                              readiness="notify", ready_timeout=20))
            proc = arbiter.watcher("late").processes[1]
            assert proc.state.value == "running" and proc.reason == "sd_notify READY=1"

    run(main())

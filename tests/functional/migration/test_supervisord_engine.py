"""supervisord's process semantics carried out by the engine, with real processes:
start_secs/start_retries, respawn = "unexpected" with exit_codes, process_name and
wid_start, redirect_stderr, kill_children, port_base, stdin_socket, groups' order."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

from ringleader.config.load import config_from_dicts
from ringleader.config.model import GroupConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessSpawned, ProcessStateChanged
from ringleader.testing import EventRecorder, pid_exists, python_cmd, wait_until
from ringleader.testing import run_async as run

# Appends a line to FILE per start, then exits with the n-th of CODES (the last one once
# they run out): a scripted history of exits.
SCRIPTED = python_cmd(
    "import os, sys, time\n"
    "path, codes, stay = sys.argv[1], sys.argv[2].split(','), float(sys.argv[3])\n"
    "n = len(open(path).readlines()) if os.path.exists(path) else 0\n"
    "open(path, 'a').write('start\\n')\n"
    "time.sleep(stay)\n"
    "sys.exit(int(codes[min(n, len(codes) - 1)]))\n"
)


def scripted(counter: Path, codes: str, stay: float = 0.0) -> str:
    return f"{SCRIPTED} {counter} {codes} {stay}"


def starts(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def states(rec: EventRecorder, watcher: str = "w") -> list[str]:
    return [e.new for e in rec.of(ProcessStateChanged) if e.watcher == watcher]


def test_unexpected_exit_code_respawns_an_expected_one_does_not(tmp_path: Path) -> None:
    counter = tmp_path / "starts"

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": scripted(counter, "3,3,2"),
                            "respawn": "unexpected", "exit_codes": [0, 2]}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")
            status = arbiter.statuses()["w"]["processes"][0]
        assert status["exit_code"] == 2 and status["restarts"] == 2

    run(main())
    assert starts(counter) == 3  # 3 and 3 are unexpected: respawned; 2 is expected


def test_a_death_by_signal_is_unexpected(tmp_path: Path) -> None:
    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": "sleep 60", "respawn": "unexpected"}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            first = arbiter.pids("w")[0]
            os.kill(first, signal.SIGKILL)
            spawned = await rec.wait_for(ProcessSpawned, lambda e: e.pid != first)
            assert spawned.pid != first

    run(main())


def test_failed_starts_are_retried_start_retries_times_then_failed(tmp_path: Path) -> None:
    counter = tmp_path / "starts"

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": scripted(counter, "0"), "respawn": True,
                            "start_secs": 5, "start_retries": 2}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            failed = await rec.wait_for(ProcessStateChanged, lambda e: e.new == "failed")
            assert "giving up after 2 retries" in failed.reason
            assert arbiter.statuses()["w"]["state"] == "failed"
        assert states(rec)[:6] == ["starting", "backoff", "starting", "backoff", "starting",
                                   "failed"]
        backoffs = [e.reason for e in rec.of(ProcessStateChanged) if e.new == "backoff"]
        assert "retry 1 of 2 in 1s" in backoffs[0] and "retry 2 of 2 in 2s" in backoffs[1]

    run(main(), timeout=30)
    # an exit before start_secs is a failed start, whatever respawn and the exit code say
    assert starts(counter) == 3


def test_a_start_counts_after_start_secs_then_respawn_decides(tmp_path: Path) -> None:
    counter = tmp_path / "starts"

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": scripted(counter, "1,0", stay=0.6),
                            "respawn": "unexpected", "start_secs": 0.3,
                            "start_retries": 0}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited",
                               timeout=20)
        # running once up 0.3 s; exit 1 unexpected: respawned; exit 0 expected: exited
        assert [s for s in states(rec) if s != "backoff"][:5] == [
            "starting", "running", "starting", "running", "exited"]

    run(main())
    assert starts(counter) == 2


def test_process_names_wid_start_and_a_log_file_per_process(tmp_path: Path) -> None:
    cmd = python_cmd("import os, sys; print(sys.argv[1], os.environ['RINGLEADER_WID'], "
                     "os.environ['PORT'], flush=True)") + " $(ringleader.wid:02d)"

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "numprocesses": 2, "wid_start": 0,
                            "process_name": "w_$(ringleader.wid:02d)", "respawn": False,
                            "port_base": 6000,
                            "stdout_stream": {"filename": str(tmp_path / "out-$(ringleader"
                                                              ".wid).log")}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await wait_until(lambda: states(rec).count("exited") == 2)
            procs = arbiter.statuses()["w"]["processes"]
            assert [p["name"] for p in procs] == ["w_00", "w_01"]
            assert [p["wid"] for p in procs] == [1, 2]  # slots stay 1..n

    run(main())
    assert (tmp_path / "out-0.log").read_text() == "00 0 6000\n"
    assert (tmp_path / "out-1.log").read_text() == "01 1 6001\n"


def test_redirect_stderr_keeps_the_order_on_one_pipe(tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    cmd = python_cmd("import sys\n"
                     "for i in range(200):\n"
                     "    s = sys.stdout if i % 2 else sys.stderr\n"
                     "    s.write(f'{i}\\n'); s.flush()\n")

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "respawn": False, "redirect_stderr": True,
                            "stdout_stream": {"filename": str(out)},
                            "stderr_stream": {"filename": str(tmp_path / "err.log")}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")

    run(main())
    assert out.read_text().split() == [str(i) for i in range(200)]
    assert not (tmp_path / "err.log").exists() or not (tmp_path / "err.log").read_text()


def test_kill_children_sends_the_final_sigkill_to_the_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    # The worker and its child both ignore SIGTERM: only a SIGKILL to the group ends both.
    cmd = python_cmd(
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n")

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "kill_children": True,
                            "graceful_timeout": 0.2}], use_guardian=False)
        async with arbiter:
            await wait_until(lambda: pidfile.exists() and pidfile.read_text() != "")
            grandchild = int(pidfile.read_text())
            await arbiter.stop_watcher("w")
            await wait_until(lambda: not pid_exists(grandchild))

    run(main())


def test_stdin_socket_is_the_processes_stdin(tmp_path: Path) -> None:
    out = tmp_path / "out.log"
    cmd = python_cmd("import socket; s = socket.socket(fileno=0); "
                     "print(s.getsockname()[1], s.type == socket.SOCK_STREAM, flush=True)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    config = config_from_dicts([{"name": "w", "cmd": cmd, "respawn": False,
                                 "stdin_socket": "s", "stdout_stream": {"filename": str(out)}}],
                               sockets=[{"name": "s", "host": "127.0.0.1", "port": port}])

    async def main() -> None:
        arbiter = Arbiter(config.watchers, sockets=config.sockets)
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")

    run(main())
    assert out.read_text().split() == [str(port), "True"]


def test_group_priority_orders_the_start_before_the_watchers_own() -> None:
    watchers = [{"name": n, "cmd": "sleep 60", "priority": p}
                for n, p in (("a", 50), ("b", 0), ("c", 10))]

    async def main() -> None:
        # b and c form a group of priority 100: both start before a (priority 50), c first
        arbiter = Arbiter(watchers, groups=[GroupConfig(name="g", watchers=["b", "c"],
                                                        priority=100)])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            assert [e.watcher for e in rec.of(ProcessSpawned)] == ["c", "b", "a"]
            assert arbiter.statuses()["b"]["group"] == "g"

    run(main())


def test_executable_runs_with_cmd_as_argv0(tmp_path: Path) -> None:
    out = tmp_path / "out.log"

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": "renamed -c 'echo $0'", "executable": "/bin/sh",
                            "respawn": False, "stdout_stream": {"filename": str(out)}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")

    run(main())
    assert out.read_text() == "renamed\n"
    assert sys.executable  # the interpreter is not what ran

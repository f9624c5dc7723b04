"""supervisord's event listener protocol with real listener processes: READY, the header
and payload, RESULT OK/FAIL (a failed event is sent again), PROCESS_STATE_* and TICK_5,
buffer_size (the oldest dropped), a protocol violation (no more events)."""

from __future__ import annotations

import json
from pathlib import Path

from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessStateChanged
from ringleader.testing import EventRecorder, python_cmd, wait_until
from ringleader.testing import run_async as run

# A listener written from supervisord's documentation of the protocol: READY, read a
# header line and `len` bytes, answer. Every event goes to LOG as a JSON line; answers
# FAIL to the first event when FAIL_FIRST is set; waits for GATE (a file) before its first
# READY when set.
LISTENER = python_cmd(
    "import json, os, sys, time\n"
    "log, fail_first, gate = sys.argv[1], sys.argv[2] == '1', sys.argv[3]\n"
    "while gate != '-' and not os.path.exists(gate): time.sleep(0.05)\n"
    "n = 0\n"
    "while True:\n"
    "    sys.stdout.write('READY\\n'); sys.stdout.flush()\n"
    "    line = sys.stdin.readline()\n"
    "    if not line: break\n"
    "    headers = dict(x.split(':', 1) for x in line.split())\n"
    "    payload = sys.stdin.read(int(headers['len']))\n"
    "    with open(log, 'a') as f:\n"
    "        f.write(json.dumps({'headers': headers, 'payload': payload}) + '\\n')\n"
    "    n += 1\n"
    "    answer = 'FAIL' if fail_first and n == 1 else 'OK'\n"
    "    sys.stdout.write(f'RESULT {len(answer)}\\n{answer}'); sys.stdout.flush()\n"
)


def listener(log: Path, *, fail_first: bool = False, gate: Path | None = None) -> str:
    return f"{LISTENER} {log} {int(fail_first)} {gate or '-'}"


def received(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def names(log: Path) -> list[str]:
    return [e["headers"]["eventname"] for e in received(log)]  # type: ignore[index]


def test_process_state_events_reach_a_listener_with_supervisords_header(tmp_path: Path) -> None:
    log = tmp_path / "events"

    async def main() -> None:
        arbiter = Arbiter([
            {"name": "listener", "cmd": listener(log), "events": ["PROCESS_STATE"],
             "priority": 10},
            {"name": "job", "cmd": python_cmd("import sys; sys.exit(3)"),
             "respawn": False, "exit_codes": [0], "process_name": "job_$(ringleader.wid)"},
        ])
        async with arbiter:
            await wait_until(lambda: "PROCESS_STATE_EXITED" in names(log))
        events = received(log)
        exited = next(e for e in events
                      if e["headers"]["eventname"] == "PROCESS_STATE_EXITED")  # type: ignore[index]
        headers = exited["headers"]
        assert headers["ver"] == "3.0" and headers["server"] == "supervisor"  # type: ignore[index]
        assert headers["pool"] == "listener"  # type: ignore[index]
        fields = dict(x.split(":", 1) for x in str(exited["payload"]).split())
        assert fields["processname"] == "job_1" and fields["groupname"] == "job"
        assert fields["expected"] == "0" and fields["from_state"] == "RUNNING"
        serials = [int(e["headers"]["serial"]) for e in events]  # type: ignore[index]
        assert serials == sorted(serials)
        job = [str(e["payload"]) for e in events if "processname:job_1" in str(e["payload"])]
        assert [p.split()[2] for p in job][:2] == ["from_state:STOPPED",
                                                  "from_state:STARTING"]

    run(main())


def test_a_failed_event_is_sent_again(tmp_path: Path) -> None:
    log = tmp_path / "events"

    async def main() -> None:
        arbiter = Arbiter([
            {"name": "listener", "cmd": listener(log, fail_first=True),
             "events": ["PROCESS_STATE_RUNNING"], "priority": 10},
            {"name": "job", "cmd": "sleep 60"},
        ])
        async with arbiter:
            await wait_until(lambda: len(received(log)) >= 2)
        first, second = received(log)[:2]
        assert first["headers"]["serial"] == second["headers"]["serial"]  # type: ignore[index]
        assert first["payload"] == second["payload"]

    run(main())


def test_tick_5_comes_with_its_timeslice(tmp_path: Path) -> None:
    log = tmp_path / "events"

    async def main() -> None:
        async with Arbiter([{"name": "listener", "cmd": listener(log),
                             "events": ["TICK_5"]}]):
            await wait_until(lambda: bool(received(log)), timeout=15)
        tick = received(log)[0]
        assert tick["headers"]["eventname"] == "TICK_5"  # type: ignore[index]
        when = int(str(tick["payload"]).removeprefix("when:"))
        assert when % 5 == 0

    run(main(), timeout=30)


def test_buffer_size_keeps_the_newest_events(tmp_path: Path) -> None:
    log, gate = tmp_path / "events", tmp_path / "gate"

    async def main() -> None:
        arbiter = Arbiter([
            {"name": "listener", "cmd": listener(log, gate=gate), "buffer_size": 3,
             "events": ["PROCESS_STATE_RUNNING"], "priority": 10},
            {"name": "job", "cmd": "sleep 60", "numprocesses": 6},
        ])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await wait_until(lambda: sum(1 for e in rec.of(ProcessStateChanged)
                                         if e.watcher == "job" and e.new == "running") == 6)
            gate.touch()  # now READY: it gets what the buffer kept
            await wait_until(lambda: len(received(log)) >= 3)
        got = [str(e["payload"]) for e in received(log)]
        assert len(got) == 3  # the 3 newest of 7 RUNNING events (listener's own, 6 jobs)
        assert [g.split()[0] for g in got] == [f"processname:job.{i}" for i in (4, 5, 6)]

    run(main())


def test_a_listener_that_breaks_the_protocol_gets_no_more_events(tmp_path: Path) -> None:
    chatty = python_cmd("import sys, time\n"
                        "sys.stdout.write('hello\\n'); sys.stdout.flush(); time.sleep(60)")
    log = tmp_path / "events"

    async def main() -> None:
        async with Arbiter([
            {"name": "bad", "cmd": chatty, "events": ["PROCESS_STATE"], "priority": 10},
            {"name": "good", "cmd": listener(log), "events": ["PROCESS_STATE_RUNNING"],
             "priority": 10},
            {"name": "job", "cmd": "sleep 60"},
        ]) as arbiter:
            await wait_until(lambda: "processname:job.1" in " ".join(
                str(e["payload"]) for e in received(log)))
            # the controller goes on; the bad listener stays up, in the UNKNOWN state
            assert arbiter.statuses()["bad"]["running"] == 1

    run(main())

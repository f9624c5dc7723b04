"""circus options done as circus does them, with a running engine: on_demand, SOCK_DGRAM,
send_hup, close_child_stdout, custom stream classes, colour names, free-form options,
virtualenv, [circus] warmup_delay between watchers; circus's example2.ini loads."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from pathlib import Path

from ringleader.config.load import config_from_dicts, load_config
from ringleader.config.model import ControllerConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.lifecycle.events import ProcessSpawned, ProcessStateChanged
from ringleader.testing import EventRecorder, free_port, python_cmd, wait_until
from ringleader.testing import run_async as run


async def exited(rec: EventRecorder) -> ProcessStateChanged:
    return await rec.wait_for(ProcessStateChanged, lambda e: e.new == "exited")


def test_on_demand_starts_on_the_first_connection_and_again_after_a_stop() -> None:
    port = free_port()
    config = config_from_dicts([{"name": "w", "cmd": "sleep 60", "on_demand": True,
                                 "use_sockets": True}],
                               sockets=[{"name": "s", "host": "127.0.0.1", "port": port}])

    async def connect() -> None:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()

    async def main() -> None:
        async with Arbiter(config.watchers, sockets=config.sockets) as arbiter:
            assert arbiter.statuses()["w"]["state"] == "stopped"  # not with the controller
            await connect()
            await wait_until(lambda: arbiter.statuses()["w"]["running"] == 1)
            await arbiter.stop_watcher("w")
            await connect()  # armed again once stopped, as circus does
            await wait_until(lambda: arbiter.statuses()["w"]["running"] == 1)

    run(main())


def test_a_sock_dgram_socket_is_udp(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "got"
    cmd = python_cmd(f"import socket, sys; s = socket.socket(fileno=int(sys.argv[1])); "
                     f"open({str(out)!r}, 'wb').write(s.recv(100))") + \
        " $(circus.sockets.udp)"
    config = load_config(_write(tmp_path, "c.ini", f"""
[socket:udp]
host = 127.0.0.1
port = {port}
type = SOCK_DGRAM

[watcher:w]
cmd = {cmd}
use_sockets = true
respawn = false
"""))

    async def main() -> None:
        arbiter = Arbiter(config.watchers, sockets=config.sockets)
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(b"hello", ("127.0.0.1", port))
            await exited(rec)

    run(main())
    assert out.read_bytes() == b"hello"


def test_send_hup_makes_reload_a_sighup(tmp_path: Path) -> None:
    hups = tmp_path / "hups"
    cmd = python_cmd("import signal, time\n"
                     f"signal.signal(signal.SIGHUP, lambda *a: open({str(hups)!r}, 'a')"
                     ".write('hup\\n'))\n"
                     "while True: time.sleep(1)\n")

    async def main() -> None:
        async with Arbiter([{"name": "w", "cmd": cmd, "send_hup": True,
                             "warmup_delay": 0.3}]) as arbiter:
            pid = arbiter.pids("w")
            await arbiter.reload("w")
            await wait_until(lambda: hups.exists())
            assert arbiter.pids("w") == pid  # the same process, told to reload itself

    run(main())
    assert hups.read_text() == "hup\n"


def test_close_child_stdout_gives_dev_null(tmp_path: Path) -> None:
    err = tmp_path / "err"
    cmd = python_cmd("import os, sys; print(os.readlink('/proc/self/fd/1'), file=sys.stderr)")

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "respawn": False,
                            "close_child_stdout": True,
                            "stderr_stream": {"filename": str(err)}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await exited(rec)

    run(main())
    assert err.read_text() == "/dev/null\n"


def test_a_custom_stream_class_gets_whole_lines_with_pid_and_name(tmp_path: Path) -> None:
    out = tmp_path / "recorded"
    cmd = python_cmd("import sys; sys.stdout.write('one\\ntw'); sys.stdout.flush(); "
                     "sys.stdout.write('o\\n')")
    config = load_config(_write(tmp_path, "c.ini", f"""
[watcher:w]
cmd = {cmd}
respawn = false
stdout_stream.class = circus_streams.Recorder
stdout_stream.filename = {out}
stdout_stream.prefix = >
"""))

    async def main() -> None:
        arbiter = Arbiter(config.watchers)
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            pid = (await rec.wait_for(ProcessSpawned)).pid
            await exited(rec)
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert "".join(d["data"].removeprefix(">") for d in lines[:-1]) == "one\ntwo\n"
        assert {(d["pid"], d["name"]) for d in lines[:-1]} == {(pid, "stdout")}
        assert lines[-1] == "closed"  # close() when the controller closes its outputs

    run(main())
    assert config.watchers[0].stdout_stream.options == {"filename": str(out), "prefix": ">"}


def test_a_colour_name_colours_the_console_prefix() -> None:
    read_end, write_end = os.pipe()
    cmd = python_cmd("print('hi')")

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "respawn": False,
                            "stdout_stream": {"color": "red"}}], console_fd=write_end)
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await exited(rec)

    try:
        run(main())
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            assert f.read() == b"\x1b[31mw.1 |\x1b[0m hi\n"
    finally:
        with contextlib.suppress(OSError):
            os.close(write_end)


def test_free_form_options_are_kept_for_options_and_hooks(tmp_path: Path) -> None:
    seen = tmp_path / "seen.json"
    config = load_config(_write(tmp_path, "c.ini", f"""
[watcher:w]
cmd = sleep 60
team = payments
out = {seen}
hooks.after_start = circus_streams.record_options
"""))
    assert config.watchers[0].extra == {"team": "payments", "out": str(seen)}
    assert any("kept for hooks" in w and "team, out" in w for w in config.warnings)

    async def main() -> None:
        async with Arbiter(config.watchers) as arbiter:
            await wait_until(seen.exists)
            assert arbiter.options("w").options["extra"]["team"] == "payments"
            # asked for by its own name, as circus's get does
            assert arbiter.options("w", "team").options == {"team": "payments"}

    run(main())
    assert json.loads(seen.read_text())["team"] == "payments"


def test_virtualenv_puts_its_bin_and_site_packages_first(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    site = venv / "lib" / "python3.99" / "site-packages"
    site.mkdir(parents=True)
    out = tmp_path / "env.json"
    cmd = python_cmd("import json, os; print(json.dumps({k: os.environ.get(k) for k in "
                     "('VIRTUAL_ENV', 'PATH', 'PYTHONPATH')}))")

    async def main() -> None:
        arbiter = Arbiter([{"name": "w", "cmd": cmd, "respawn": False,
                            "virtualenv": str(venv), "virtualenv_py_ver": "3.99",
                            "stdout_stream": {"filename": str(out)}}])
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            await exited(rec)

    run(main())
    env = json.loads(out.read_text())
    assert env["VIRTUAL_ENV"] == str(venv)
    assert env["PATH"].split(os.pathsep)[0] == str(venv / "bin")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(site)


def test_circus_warmup_delay_spaces_the_watchers_starts() -> None:
    async def main() -> None:
        arbiter = Arbiter([{"name": "a", "cmd": "sleep 60", "priority": 2},
                           {"name": "b", "cmd": "sleep 60", "priority": 1}],
                          ControllerConfig(warmup_delay=0.2))
        rec = EventRecorder(arbiter.bus)
        async with arbiter:
            a, b = rec.of(ProcessSpawned)
            assert (a.watcher, b.watcher) == ("a", "b")
            running_a = next(e for e in rec.of(ProcessStateChanged)
                             if e.watcher == "a" and e.new == "running")
            # one after the other: b spawned after a was running, and warmup_delay later
            assert rec.events.index(running_a) < rec.events.index(b)
            assert b.at - running_a.at >= 0.2 - 0.01  # at least the delay (wall clock)

    run(main())


def test_circus_example2_loads(tmp_path: Path) -> None:
    """circus's examples/example2.ini, in shape: ZeroMQ endpoints, check_delay, a stream
    class option Ringleader does not need (refresh_time), the flapping plugin."""
    config = load_config(_write(tmp_path, "example2.ini", """
[circus]
check_delay = 5
endpoint = tcp://127.0.0.1:5555
pubsub_endpoint = tcp://127.0.0.1:5556
stats_endpoint = tcp://127.0.0.1:5557

[watcher:verbose]
cmd = python
args = -u verbose_fly.py
warmup_delay = 0
numprocesses = 10
stdout_stream.class = FileStream
stdout_stream.filename = test.log
stdout_stream.refresh_time = 0.3

[watcher:verbose2]
cmd = python
args = -u verbose_fly.py
numprocesses = 4

[plugin:flapping]
use = circus.plugins.flapping.Flapping
retry_in = 3
max_retry = 2
"""))
    verbose = config.watchers[0]
    assert verbose.stdout_stream.kind == "file"
    assert verbose.stdout_stream.options == {"refresh_time": "0.3"}
    assert any("refresh_time" in w for w in config.warnings)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip())
    return path

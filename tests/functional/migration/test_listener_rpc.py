"""supervisord's XML-RPC interface for event listeners (api.supervisor_socket): superlance's
memmon, unchanged, restarts a process past its RSS limit under `ringleader run
supervisord.conf`; supervisor's own client gets process information, starts and stops, and
supervisord's faults; strangers, unknown methods and hostile bodies are refused, and the
controller goes on."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ringleader.api.commands import Commands
from ringleader.api.supervisor_socket import ListenerRpcServer
from ringleader.config.plan import ReloadPlan
from ringleader.engine.arbiter import Arbiter
from ringleader.testing import run_async, terminate, wait_until, wait_until_sync

RINGLEADER = [sys.executable, "-m", "ringleader"]
MEMMON = os.path.join(os.path.dirname(sys.executable), "memmon")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `ringleader ARGS` in tmp_path (output in tmp_path/out); stopped at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        with open(tmp_path / "out", "wb") as out:
            proc = subprocess.Popen([*RINGLEADER, *args], cwd=tmp_path, stdout=out,
                                    stderr=out)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        terminate(proc)


def status(endpoint: str) -> dict[str, Any]:
    out = subprocess.run([*RINGLEADER, "-e", endpoint, "--json", "status"],
                         capture_output=True, text=True, check=False)
    result: dict[str, Any] = json.loads(out.stdout) if out.stdout.startswith("{") else {}
    return result


@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.path.exists(MEMMON), reason="superlance is not installed")
def test_memmon_restarts_a_process_past_its_rss_limit(
        controller: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    big = tmp_path / "big.py"
    big.write_text("import time\nheld = bytearray(60 * 1024 * 1024)\n"
                   "for i in range(0, len(held), 4096): held[i] = 1\ntime.sleep(600)\n")
    (tmp_path / "supervisord.conf").write_text(textwrap.dedent(f"""
        [unix_http_server]
        file = %(here)s/supervisor.sock

        [supervisord]
        logfile = %(here)s/supervisord.log

        [program:big]
        command = {sys.executable} {big}
        startsecs = 0

        [eventlistener:memmon]
        command = {MEMMON} -p big=30MB
        events = TICK_5
    """))
    controller("run", "supervisord.conf")
    endpoint = f"unix:{tmp_path / 'supervisor.sock'}"

    def big_pid() -> int | None:
        for w in status(endpoint).get("watchers", []):
            if w["name"] == "big" and w["processes"] and w["processes"][0]["pid"]:
                return int(w["processes"][0]["pid"])
        return None

    wait_until_sync(lambda: big_pid() is not None, timeout=20, what="big running")
    first = big_pid()
    wait_until_sync(lambda: big_pid() not in (None, first), timeout=60,
                    what="memmon's restart of big (new pid)")
    audit = "".join(p.read_text() for p in tmp_path.rglob("*audit*") if p.is_file())
    assert '"who":"listener:memmon"' in audit and "supervisor:stopProcess" in audit


class _Controller:
    """The daemon's side of Commands: nothing to record for one process's start/stop."""

    async def reload_config(self) -> ReloadPlan:
        raise AssertionError("not used")

    def quit(self) -> None: ...

    def record(self, op: str, name: str | None, value: object = None) -> None: ...

    async def saved(self) -> None: ...


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder other users may traverse (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="rl-rpc-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _serve(folder: Path, check: Callable[[ListenerRpcServer, Arbiter], Any], *,
           listener_uid: int | None = None) -> None:
    async def main() -> None:
        arbiter = Arbiter([
            {"name": "listener", "cmd": "sleep 60", "events": ["TICK_60"],
             **({"uid": listener_uid} if listener_uid is not None else {})},
            {"name": "web", "cmd": "sleep 60", "process_name": "web_$(ringleader.wid)",
             "numprocesses": 2},
        ])
        server = ListenerRpcServer(str(folder / "rl.sock.listeners"), arbiter,
                                   Commands(arbiter, _Controller()), None)
        arbiter.supervisor_url = lambda: server.url
        async with arbiter:
            await server.start()
            try:
                await wait_until(lambda: all(w.pids() for w in arbiter.watchers))
                await check(server, arbiter)
            finally:
                await server.stop()

    run_async(main(), timeout=50)


def _proxy(url: str) -> Any:
    from supervisor import childutils

    return childutils.getRPCInterface({"SUPERVISOR_SERVER_URL": url})


def _fault(call: Callable[[], object]) -> int:
    with pytest.raises(xmlrpc.client.Fault) as info:
        call()
    return int(info.value.faultCode)


def test_supervisors_client_reads_starts_and_stops_one_process(shared_dir: Path) -> None:
    async def check(server: ListenerRpcServer, arbiter: Arbiter) -> None:
        proxy = _proxy(server.url)
        try:
            await _read_start_stop(proxy.supervisor, arbiter)
        finally:
            proxy("close")()

    _serve(shared_dir, check)


async def _read_start_stop(rpc: Any, arbiter: Arbiter) -> None:
    infos = await asyncio.to_thread(rpc.getAllProcessInfo)
    web = {i["name"]: i for i in infos if i["group"] == "web"}
    assert sorted(web) == ["web_1", "web_2"]
    assert web["web_1"]["statename"] == "RUNNING" and web["web_1"]["state"] == 20
    old = web["web_1"]["pid"]
    assert old == arbiter.watcher("web").processes[1].pid
    info = await asyncio.to_thread(rpc.getProcessInfo, "web:web_1")
    assert info["pid"] == old and info["now"] >= info["start"] > 0
    assert await asyncio.to_thread(rpc.stopProcess, "web:web_1") is True
    assert (await asyncio.to_thread(rpc.getProcessInfo, "web:web_1"))["pid"] == 0
    assert await asyncio.to_thread(_fault, lambda: rpc.stopProcess("web:web_1")) == 70
    assert await asyncio.to_thread(rpc.startProcess, "web:web_1") is True
    new = (await asyncio.to_thread(rpc.getProcessInfo, "web:web_1"))["pid"]
    assert new not in (0, old)
    assert await asyncio.to_thread(_fault, lambda: rpc.startProcess("web:web_1")) == 60
    assert await asyncio.to_thread(_fault, lambda: rpc.getProcessInfo("web:nope")) == 10
    assert await asyncio.to_thread(_fault, lambda: rpc.stopProcess("nope")) == 10
    assert await asyncio.to_thread(_fault, lambda: rpc.getProcessInfo()) == 2
    assert await asyncio.to_thread(_fault, lambda: rpc.shutdown()) == 1
    assert await asyncio.to_thread(_fault, lambda: rpc.addProcessGroup("x")) == 1
    assert (await asyncio.to_thread(rpc.getState))["statename"] == "RUNNING"
    assert arbiter.watcher("web").processes[2].is_alive  # the other one was left alone


def _post(path: str, body: bytes, *, length: int | None = None) -> bytes:
    import socket

    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                     % (len(body) if length is None else length) + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_hostile_bodies_get_a_fault_or_a_400_and_the_server_goes_on(shared_dir: Path) -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %c "%s">' % (98 + i, (b"&%c;" % (97 + i)) * 10)
                       for i in range(8))
            + b"]><methodCall><methodName>&i;</methodName></methodCall>")
    bodies = [b"<methodCall><methodName>supervisor.getPID",  # truncated
              b"not xml at all", bomb,
              b"<methodCall><params><param><value><int>" + b"9" * 5000
              + b"</int></value></param></params></methodCall>"]

    async def check(server: ListenerRpcServer, arbiter: Arbiter) -> None:
        for body in bodies:
            answer = await asyncio.to_thread(_post, server.path, body)
            assert answer.startswith(b"HTTP/1.1 200") and b"<name>faultCode</name>" in answer
        too_big = await asyncio.to_thread(_post, server.path, b"", length=1 << 20)
        assert too_big.startswith(b"HTTP/1.1 413")
        proxy = _proxy(server.url)
        try:
            assert await asyncio.to_thread(proxy.supervisor.getPID) == os.getpid()
        finally:
            proxy("close")()

    _serve(shared_dir, check)


# supervisor's own client, as a listener calls it: what it got
_CLIENT = ("import sys, xmlrpc.client\n"
           "from supervisor import childutils\n"
           "rpc = childutils.getRPCInterface({'SUPERVISOR_SERVER_URL': sys.argv[1]})\n"
           "try:\n    rpc.supervisor.getAllProcessInfo()\n"
           "except xmlrpc.client.ProtocolError as e:\n    print('refused', e.errcode)\n"
           "except OSError as e:\n    print('oserror', e.errno)\n"
           "else:\n    print('answered')\n")


# one write of a whole call, then the answer's status line (supervisor's client may still be
# writing when a refusal closes the connection: EPIPE rather than the 403)
_RAW_CLIENT = ("import socket, sys\n"
               "body = b'<methodCall><methodName>supervisor.getPID</methodName></methodCall>'\n"
               "s = socket.socket(socket.AF_UNIX)\n"
               "try:\n    s.connect(sys.argv[1].removeprefix('unix://'))\n"
               "except OSError as e:\n    print('oserror', e.errno); sys.exit()\n"
               "s.sendall(b'POST /RPC2 HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\n'\n"
               "          b'\\r\\n' % len(body) + body)\n"
               "print(s.makefile('rb').readline().decode().strip())\n")


def _run_as_nobody(url: str, client: str = _CLIENT) -> str:
    out = subprocess.run([*NOBODY, sys.executable, "-c", client, url],
                         capture_output=True, text=True, timeout=30, check=False)
    return out.stdout.strip() + out.stderr[-300:]


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv")


@needs_root
def test_another_user_is_refused_even_through_an_open_file_mode(shared_dir: Path) -> None:
    async def check(server: ListenerRpcServer, arbiter: Arbiter) -> None:
        answer = await asyncio.to_thread(_run_as_nobody, server.url)
        assert answer.startswith("oserror 13"), answer  # the file's mode: 0600, ours
        os.chmod(server.path, 0o666)  # even so: the peer's uid decides
        answer = await asyncio.to_thread(_run_as_nobody, server.url, _RAW_CLIENT)
        assert answer == "HTTP/1.1 403 Forbidden", answer
        assert arbiter.watcher("web").processes[1].is_alive

    _serve(shared_dir, check)


@needs_root
def test_a_listener_running_as_another_user_may_use_it(shared_dir: Path) -> None:
    async def check(server: ListenerRpcServer, arbiter: Arbiter) -> None:
        assert os.stat(server.path).st_uid == 65534
        assert (await asyncio.to_thread(_run_as_nobody, server.url)) == "answered"

    _serve(shared_dir, check, listener_uid=65534)


# A Daemon until its watchers run: the listeners' server modules it loaded.
RUN = textwrap.dedent("""
    import asyncio, sys
    from ringleader.config.load import load_config
    from ringleader.daemon import Daemon

    async def main():
        daemon = Daemon(load_config(sys.argv[1]))
        task = asyncio.create_task(daemon.run())
        while not (daemon.arbiter.is_running and all(w.pids() for w in daemon.arbiter.watchers)):
            await asyncio.sleep(0.01)
        print(" ".join(sorted(m for m in sys.modules if "supervisor_" in m)))
        daemon.quit()
        return await task

    sys.exit(asyncio.run(main()))
""")


@pytest.mark.parametrize("events", [False, True])
def test_the_listeners_server_is_loaded_only_with_listeners(tmp_path: Path,
                                                            events: bool) -> None:
    config = tmp_path / "ringleader.toml"
    extra = '[watchers.l]\ncmd = "sleep 60"\nevents = ["TICK_60"]\n' if events else ""
    config.write_text(f'[ringleader]\nendpoint = "unix:{tmp_path}/rl.sock"\n'
                      f'[watchers.w]\ncmd = "sleep 60"\n{extra}')
    proc = subprocess.run([sys.executable, "-c", RUN, str(config)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.split()
    assert ("ringleader.api.supervisor_socket" in loaded) is events
    assert ("ringleader.api.supervisor_rpc" in loaded) is events

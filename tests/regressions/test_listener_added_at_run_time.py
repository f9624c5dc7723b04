"""A supervisord event listener added at run time (`ringleader add`, the API's add) to a
controller that had none got an empty SUPERVISOR_SERVER_URL: the listeners' XML-RPC
socket was opened only at start (or reload) when the config had listeners. It must get
the same URL as one configured at start, and that URL must answer.
"""

from __future__ import annotations

import json
from pathlib import Path

from ringleader.testing import wait_until_sync

from .conftest import (
    DEADLINE,
    NOBODY,
    StartController,
    http_unix,
    needs_root,
    request,
    write_config,
)

GET_STATE = (b"<?xml version='1.0'?><methodCall><methodName>supervisor.getState"
             b"</methodName><params></params></methodCall>")


def _listener(url_file: Path) -> dict[str, object]:
    return {"name": "listener", "start": True,
            "cmd": f"sh -c 'echo \"$SUPERVISOR_SERVER_URL\" > {url_file}; exec sleep 600'",
            "options": {"events": ["TICK_60"]}}


def _url(url_file: Path) -> str:
    wait_until_sync(lambda: url_file.exists() and url_file.read_text().endswith("\n"),
                    timeout=DEADLINE, interval=0.05, what="the listener's environment")
    return url_file.read_text().strip()


def test_a_listener_added_at_run_time_gets_the_servers_url(
        tmp_path: Path, start_controller: StartController) -> None:
    ctl = start_controller(write_config(tmp_path, '[watchers.web]\ncmd = "sleep 600"\n'))
    ctl.wait_active()
    url_file = tmp_path / "url"
    body = json.dumps(_listener(url_file)).encode()
    answer = ctl.raw(request("POST", "/v1/watchers", body), timeout=DEADLINE)
    assert answer.status == 201, answer.body
    url = _url(url_file)
    assert url == f"unix://{ctl.socket_path}.listeners"
    rpc = http_unix(url.removeprefix("unix://"), request(
        "POST", "/RPC2", GET_STATE, headers={"Content-Type": "text/xml"}))
    assert rpc.status == 200 and b"RUNNING" in rpc.body, rpc.body


def test_the_url_is_the_one_a_listener_configured_at_start_gets(
        tmp_path: Path, start_controller: StartController) -> None:
    url_file = tmp_path / "url"
    listener = _listener(url_file)
    config = write_config(tmp_path, f"""
[watchers.listener]
cmd = {json.dumps(listener["cmd"])}
events = ["TICK_60"]
""")
    ctl = start_controller(config)
    ctl.wait_active()
    assert _url(url_file) == f"unix://{ctl.socket_path}.listeners"


@needs_root
def test_a_listener_added_as_another_user_is_given_the_socket(
        tmp_path: Path, start_controller: StartController) -> None:
    """The socket goes to the listeners' user when they all run as one other user: also
    when that user's listener comes at run time, next to one running as ours."""
    ctl = start_controller(write_config(tmp_path, """
[watchers.ours]
cmd = "sleep 600"
events = ["TICK_60"]
"""))
    ctl.wait_active()
    rpc_socket = Path(f"{ctl.socket_path}.listeners")
    assert rpc_socket.stat().st_uid == 0
    body = json.dumps({"name": "theirs", "cmd": "sleep 600", "start": True,
                       "options": {"events": ["TICK_60"], "uid": NOBODY}}).encode()
    answer = ctl.raw(request("POST", "/v1/watchers", body), timeout=DEADLINE)
    assert answer.status == 201, answer.body
    assert rpc_socket.stat().st_uid == NOBODY

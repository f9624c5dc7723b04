"""Time ``status`` through one tool's control API with its own client library.

    PYTHON apiclient.py TOOL ENDPOINT WARMUP CALLS

Run with the interpreter of the tool's venv (the bench's for Ringleader), so each tool is
called through its own library: Ringleader's ``Client`` (HTTP/1.1 on its unix socket, one
persistent connection), supervisor's ``SupervisorTransport`` (XML-RPC on its unix socket,
persistent; ``supervisor.getAllProcessInfo()``), circus's ``CircusClient`` (ZeroMQ on its
ipc:// endpoint; ``{"command": "status"}``). Prints one JSON object: the seconds of each
timed call and the size of the last answer.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any


def ringleader(endpoint: str) -> Callable[[], Any]:
    from ringleader.api.client import Client

    client = Client(endpoint)
    return lambda: client.call("status")


def supervisord(endpoint: str) -> Callable[[], Any]:
    import xmlrpc.client

    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=endpoint)
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
    return proxy.supervisor.getAllProcessInfo


def circus(endpoint: str) -> Callable[[], Any]:
    from circus.client import CircusClient

    client = CircusClient(endpoint=endpoint, timeout=5.0)

    def call() -> Any:
        answer = client.call({"command": "status", "properties": {}})
        if answer.get("status") != "ok":
            raise RuntimeError(f"circus answered {answer!r}")
        return answer

    return call


CLIENTS = {"ringleader": ringleader, "supervisord": supervisord, "circus": circus}


def main(argv: list[str]) -> int:
    tool, endpoint, warmup, calls = argv[0], argv[1], int(argv[2]), int(argv[3])
    call = CLIENTS[tool](endpoint)
    answer = None
    for _ in range(warmup):
        answer = call()
    seconds: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - started)
    size = len(json.dumps(answer, default=str))
    print(json.dumps({"seconds": seconds, "answer_chars": size}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

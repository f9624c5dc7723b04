"""Schemathesis fuzzes the real controller from its own OpenAPI document, over TLS with
a token: no 5xx, no crash, and the controller still answers afterwards."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import Client
from ringleader.testing import free_port, make_test_pki, terminate, wait_until_sync

ST = shutil.which("st", path=os.path.dirname(sys.executable))
# quit ends the controller; add and set would run commands made up by the fuzzer (their
# validation is covered by hand-written cases); streams never end by themselves.
EXCLUDED = ("quit", "add", "set", "events", "logs_stream", "stats_stream")


@pytest.mark.timeout(300)
@pytest.mark.skipif(ST is None, reason="schemathesis is not installed")
def test_schemathesis_finds_no_server_error(tmp_path: Path) -> None:
    pki = make_test_pki(str(tmp_path))
    token, port = new_token(), free_port()
    config = tmp_path / "ringleader.toml"
    config.write_text(f"""
[ringleader]
endpoint = "unix:{tmp_path}/rl.sock"
loglevel = "warning"
max_processes = 30
[ringleader.tcp]
listen = "127.0.0.1:{port}"
tls_cert = "{pki['server_cert']}"
tls_key = "{pki['server_key']}"
[[ringleader.tokens]]
name = "fuzz"
role = "admin"
hash = "{hash_token(token)}"
[watchers.web]
cmd = "sleep 600"
numprocesses = 2
reload_batch = 100
[watchers.web.backoff]
min_uptime = 0.01
[watchers.other]
cmd = "sleep 601"
reload_batch = 100
[watchers.other.backoff]
min_uptime = 0.01
""")
    # (Short settle times: the fuzzer reloads and restarts watchers hundreds of times.)
    log = open(tmp_path / "controller.log", "wb")  # noqa: SIM115
    daemon = subprocess.Popen([sys.executable, "-m", "ringleader", "run", str(config)],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_sync(lambda: (tmp_path / "rl.sock").exists(), timeout=20, what="socket")
        base = f"https://127.0.0.1:{port}"
        excluded = [a for op in EXCLUDED for a in ("--exclude-operation-id", op)]
        result = subprocess.run(
            [ST, "run", f"{base}/v1/openapi.json", "--url", base,
             "--tls-verify", pki["ca"], "-H", f"Authorization: Bearer {token}",
             "--checks", "not_a_server_error", "--max-examples", "25", "--seed", "1",
             "--request-timeout", "30", "--workers", "2", *excluded,
             # The coverage phase crashes inside schemathesis 4.32 itself (a hypothesis
             # lambda-source lookup), whatever the API; fuzzing and stateful runs work.
             "--phases", "examples,fuzzing,stateful"],
            capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"},
            cwd=tmp_path)  # schemathesis leaves a cache directory behind
        assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
        assert daemon.poll() is None, "the controller died under fuzzing"
        with Client(f"unix:{tmp_path}/rl.sock") as client:
            assert client.call("status")["controller"]["pid"] == daemon.pid
    finally:
        terminate(daemon)
        log.close()
    assert "Traceback" not in (tmp_path / "controller.log").read_text()

"""Schemathesis fuzzes the real controller from its own OpenAPI document, over TLS with
a token: no 5xx, no crash, and the controller still answers afterwards.

Two runs. The first covers every operation but the ones below, with valid and invalid
data. The second fuzzes `add` and `set`, which make the controller (root, here) run
processes: the document it is given is the served one with the body of both narrowed so
that the command is pinned to a harmless `sleep 3600` while every other watcher option is
fuzzed within its model's type (values of wrong types are the validator's unit tests'
matter). It generates valid data only (a negative example of a pinned field would be any
other command). Pinned besides the command:
what makes the controller run other programs or touch the machine outside the test (hooks,
a health check's command, the shell, cgroups, log file names), and the durations that a
request waits for (graceful_timeout, warmup_delay, ready_timeout: bounded, so that no
request outlives the fuzzer's timeout by design).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ringleader.api.auth import hash_token, new_token
from ringleader.api.client import Client, Unreachable
from ringleader.config.model import RLIMIT_NAMES, WatcherConfig
from ringleader.testing import free_port, make_test_pki, terminate, wait_until_sync

ST = shutil.which("st", path=os.path.dirname(sys.executable))
HARMLESS = "sleep 3600"
# quit ends the controller; streams never end by themselves; add and set: the second run.
EXCLUDED = ("quit", "events", "logs_stream", "stats_stream")
SPAWNING = ("add", "set")
_REF = "#/components/schemas/{name}"


def fuzz_document(served: dict[str, Any], log_dir: Path) -> dict[str, Any]:
    """The served OpenAPI document with `add` and `set` bodies narrowed to a pinned,
    harmless command and fuzzable options (the module's docstring says which are pinned)."""
    doc = copy.deepcopy(served)
    schemas = doc["components"]["schemas"]
    _, models = msgspec.json.schema_components([WatcherConfig], ref_template=_REF)
    for name, schema in models.items():
        schemas.setdefault(name, schema)
    stream = copy.deepcopy(models["StreamConfig"])
    stream["properties"]["filename"] = {"const": str(log_dir / "fuzz.log")}
    schemas["FuzzStream"] = stream
    health = copy.deepcopy(models["HealthCheckConfig"])
    health["properties"]["command"] = {"const": "true"}
    schemas["FuzzHealth"] = health

    fields: dict[str, Any] = {}
    for name, schema in models["WatcherConfig"]["properties"].items():
        fields[name] = schema
    del fields["name"]  # set refuses it, add takes it from the body
    del fields["rlimits"]  # the model's name: the option is rlimit_NAME
    fields.update({f"rlimit_{r}": {"type": "integer"} for r in sorted(RLIMIT_NAMES)})
    fields.update({
        "cmd": {"const": HARMLESS},
        "args": {"const": []},
        "shell": {"const": False},  # sh may read BASH_ENV/ENV: a random file run
        "hooks": {"const": {}},
        "cgroup": {"const": None},  # the machine's cgroup tree is shared with other tests
        "stdout_stream": {"$ref": _REF.format(name="FuzzStream")},
        "stderr_stream": {"$ref": _REF.format(name="FuzzStream")},
        "health": {"anyOf": [{"$ref": _REF.format(name="FuzzHealth")}, {"type": "null"}]},
        "graceful_timeout": {"type": "number", "minimum": 0, "maximum": 1},
        "warmup_delay": {"type": "number", "minimum": 0, "maximum": 1},
        "ready_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 2},
    })
    options = {"type": "object", "properties": fields, "additionalProperties": False}
    add = schemas["AddWatcherRequest"]
    add["properties"]["cmd"] = {"const": HARMLESS}
    add["properties"]["options"] = options
    schemas["SetOptionsRequest"]["properties"]["options"] = {**options, "minProperties": 1}
    return doc


@dataclass
class Fuzzed:
    """A controller with a TLS listener and an admin token, for schemathesis."""

    base: str
    ca: str
    token: str
    socket: str
    directory: Path
    daemon: subprocess.Popen[bytes]

    def run(self, source: str, *args: str, examples: int = 25) -> None:
        assert ST is not None
        result = subprocess.run(
            [ST, "run", source, "--url", self.base, "--tls-verify", self.ca,
             "-H", f"Authorization: Bearer {self.token}", "--checks", "not_a_server_error",
             "--max-examples", str(examples), "--seed", "1", "--request-timeout", "30",
             "--workers", "2",
             # The coverage phase crashes inside schemathesis 4.32 itself (a hypothesis
             # lambda-source lookup), whatever the API; fuzzing and stateful runs work.
             "--phases", "examples,fuzzing,stateful", *args],
            capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"},
            cwd=self.directory)  # schemathesis leaves a cache directory behind
        assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
        assert "Tested: 0" not in result.stdout

    def check_healthy(self) -> None:
        assert self.daemon.poll() is None, "the controller died under fuzzing"
        with Client(self.socket) as client:
            assert client.call("status")["controller"]["pid"] == self.daemon.pid
        assert "Traceback" not in (self.directory / "controller.log").read_text()


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[Fuzzed]:
    if ST is None:
        pytest.skip("schemathesis is not installed")
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
    socket = f"unix:{tmp_path}/rl.sock"
    log = open(tmp_path / "controller.log", "wb")  # noqa: SIM115
    daemon = subprocess.Popen([sys.executable, "-m", "ringleader", "run", str(config)],
                              stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until_sync(lambda: _answers(socket) or daemon.poll() is not None, timeout=20,
                        what="the controller to answer")
        yield Fuzzed(f"https://127.0.0.1:{port}", pki["ca"], token, socket, tmp_path, daemon)
    finally:
        terminate(daemon)
        log.close()


def _answers(socket: str) -> bool:
    try:
        with Client(socket) as client:
            client.call("status")
    except (Unreachable, OSError):
        return False
    return True


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_server_error(fuzzed: Fuzzed) -> None:
    excluded = [a for op in (*EXCLUDED, *SPAWNING) for a in ("--exclude-operation-id", op)]
    fuzzed.run(f"{fuzzed.base}/v1/openapi.json", *excluded)
    fuzzed.check_healthy()


@pytest.mark.timeout(300)
def test_schemathesis_add_and_set_with_a_harmless_command_find_no_server_error(
        fuzzed: Fuzzed) -> None:
    with Client(fuzzed.socket) as client:
        served = client.call("openapi")
    document = fuzzed.directory / "openapi-add-set.json"
    document.write_text(json.dumps(fuzz_document(served, fuzzed.directory)))
    included = [a for op in SPAWNING for a in ("--include-operation-id", op)]
    fuzzed.run(str(document), *included, "--mode", "positive", examples=100)
    fuzzed.check_healthy()

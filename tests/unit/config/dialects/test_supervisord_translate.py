"""supervisord.conf files translate into native documents that describe the same processes as
supervisord itself reads from them (supervisor's ServerOptions is the oracle), and that the
native loader accepts."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from supervisord_oracle import supervisord_processes, translated_processes

from ringleader.config.dialects.supervisord import translate_supervisord
from ringleader.config.dialects.toml_writer import dump_toml
from ringleader.config.model import Config
from ringleader.errors import ConfigError

Load = Callable[[dict[str, Any]], Config]
Copy = Callable[[str], Path]


def notes_of(t: Any) -> list[str]:
    return [str(n) for n in t.notes]


def test_django_celery_nginx_stack(fixture_copy: Copy, native_load: Load) -> None:
    root = fixture_copy("supervisord/django")
    (root / "log").mkdir()
    (root / "run").mkdir()
    conf = root / "supervisord.conf"
    t = translate_supervisord(conf)
    assert translated_processes(t.document) == supervisord_processes(conf)
    assert t.sources == [str(conf), str(root / "conf.d/flower.conf"),
                         str(root / "conf.d/redis.conf")]
    doc = t.document
    assert doc["ringleader"] == {
        "logoutput": f"{root}/log/supervisord.log", "pidfile": f"{root}/run/supervisord.pid",
        "loglevel": "info", "umask": "022", "minfds": 4096, "minprocs": 200,
        "log_max_bytes": 50 << 20, "log_backups": 10,
        "endpoint": f"unix:{root}/run/supervisor.sock", "allowed_groups": ["www-data"]}
    assert doc["groups"] == {"django": {"watchers": ["gunicorn", "celery_worker",
                                                     "celery_beat"], "priority": 499}}
    worker = doc["watchers"]["celery_worker"]
    assert worker["cmd"].endswith("-n worker$(ringleader.wid)@%h")
    assert (worker["numprocesses"], worker["wid_start"], worker["process_name"]) == \
        (2, 0, "celery_worker_$(ringleader.wid:02d)")
    assert worker["kill_children"] is True and "stop_children" not in worker
    assert doc["watchers"]["flower"]["cmd"].startswith("$(ringleader.env.HOME)/")
    assert list(doc["watchers"]) == ["gunicorn", "celery_worker", "celery_beat", "nginx",
                                     "crashmail", "flower", "redis"]
    notes = notes_of(t)
    assert f"{conf}: [supervisord] nodaemon: dropped: `ringleader run` stays in the " \
        "foreground, `ringleader up` daemonizes" in notes
    assert any("[supervisorctl]: client settings, ignored" in n for n in notes)
    assert any("AUTO log files" in n for n in notes)  # redis, flower stderr, ...
    assert not any("rpcinterface" in n for n in notes)  # the standard one: nothing to say
    config = native_load(doc)
    by_name = {w.name: w for w in config.watchers}
    assert by_name["nginx"].stop_signal == 3 and by_name["gunicorn"].graceful_timeout == 30
    assert by_name["gunicorn"].uid == 33 and by_name["gunicorn"].stop_children
    assert config.controller.endpoint == f"unix:{root}/run/supervisor.sock"
    assert config.controller.allowed_groups == [33]


def test_convert_output_reads_back_with_its_comments(fixture_copy: Copy) -> None:
    root = fixture_copy("supervisord/django")
    t = translate_supervisord(root / "supervisord.conf")
    text = dump_toml(t.document, t.notes)
    assert tomllib.loads(text) == t.document
    lines = text.splitlines()
    header = lines.index("[watchers.celery_worker]")
    assert lines[header - 1].startswith("#") is False  # nothing was dropped there
    assert any(line.startswith("# ") and "nodaemon" in line
               for line in lines[:lines.index("[ringleader]")])


@pytest.mark.parametrize("name", ["numprocs.conf", "groups.conf"])
def test_templates_groups_and_listeners(fixture_copy: Copy, native_load: Load,
                                        name: str) -> None:
    root = fixture_copy("supervisord")
    conf = root / name
    t = translate_supervisord(conf)
    assert translated_processes(t.document) == supervisord_processes(conf)
    native_load(t.document)


def test_numprocs_details(fixture_copy: Copy) -> None:
    t = translate_supervisord(fixture_copy("supervisord") / "numprocs.conf")
    w = t.document["watchers"]
    assert w["api"]["cmd"] == ("python3 -m api --port=80$(ringleader.wid:02d) "
                               "--worker=$(ringleader.wid)/4")
    assert "wid_start" not in w["api"]  # numprocs_start=1: the native numbering
    assert w["queue"]["wid_start"] == 10 and w["queue"]["exit_codes"] == [0, 2, 3]
    assert w["queue"]["env"] == {"WORKER_ID": "$(ringleader.wid)", "QUEUE": "jobs"}
    assert w["single"]["cmd"] == "python3 single.py --slot 7"  # one process: a constant
    assert w["single"]["process_name"] == "single_7" and "numprocesses" not in w["single"]
    assert w["spare"]["numprocesses"] == 0


def test_groups_and_listeners_details(fixture_copy: Copy) -> None:
    t = translate_supervisord(fixture_copy("supervisord") / "groups.conf")
    doc = t.document
    assert doc["groups"] == {"backend": {"watchers": ["db", "worker"], "priority": 994},
                             "frontend": {"watchers": ["web"]}}
    assert doc["watchers"]["memmon"]["events"] == ["TICK_60"]
    assert doc["watchers"]["memmon"]["priority"] == 1000  # listeners start first
    assert doc["watchers"]["crashmail"]["events"] == ["PROCESS_STATE", "TICK_3600"]
    assert doc["watchers"]["crashmail"]["priority"] == 992
    # supervisord: lower first; native: higher first
    order = sorted(doc["watchers"], key=lambda n: -doc["watchers"][n].get("priority", 0))
    assert order[:2] == ["memmon", "db"]


def echo_supervisord_conf() -> str:
    script = Path(sys.executable).with_name("echo_supervisord_conf")
    command = str(script) if script.exists() else shutil.which("echo_supervisord_conf")
    assert command, "echo_supervisord_conf (the supervisor package) is not installed"
    done = subprocess.run([command], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def test_supervisords_own_sample(tmp_path: Path, native_load: Load) -> None:
    conf = tmp_path / "supervisord.conf"
    conf.write_text(echo_supervisord_conf())
    t = translate_supervisord(conf)
    assert t.document == {"ringleader": {
        "logoutput": "/tmp/supervisord.log", "pidfile": "/tmp/supervisord.pid",
        "loglevel": "info", "minfds": 1024, "minprocs": 200,
        "log_max_bytes": 50 << 20, "log_backups": 10,
        "endpoint": "unix:/tmp/supervisor.sock"}}
    assert {n.where.rsplit(" ", 1)[-1] for n in t.notes} == {
        "nodaemon", "silent", "[supervisorctl]"}
    assert native_load(t.document).controller.pidfile == "/tmp/supervisord.pid"


def uncomment(sample: str) -> str:
    """Every section and option of the sample that is shown commented out, switched on."""
    return re.sub(r"^;(?=\[|[a-z_.]+\s*=)", "", sample, flags=re.M)


def test_supervisords_sample_with_every_section_switched_on(tmp_path: Path,
                                                            native_load: Load) -> None:
    text = uncomment(echo_supervisord_conf())
    conf = tmp_path / "supervisord.conf"
    conf.write_text(text)
    with pytest.raises(ConfigError) as err:
        translate_supervisord(conf)
    assert err.value.problems == [
        f"{conf}: [inet_http_server]: refused: Ringleader never opens a plaintext TCP "
        'control port; remove it and configure the TLS listener instead ([ringleader.tcp] '
        'listen = "127.0.0.1:9001", tls_cert, tls_key, and a token from `ringleader token '
        "new`)",
        f"{conf}: [group:thegroupname] programs: names unknown program 'progname1'",
        f"{conf}: [group:thegroupname] programs: names unknown program 'progname2'",
    ]
    # What a user does next: drop the TCP server, name real programs, users and paths.
    text = re.sub(r"^\[inet_http_server\].*?(?=^\[)", "", text, flags=re.M | re.S)
    text = text.replace("progname1,progname2", "theprogramname")
    text = text.replace("chrism", "nobody").replace("=supervisord ", "=root ")
    text = text.replace("/a/path", str(tmp_path / "a.log"))
    conf.write_text(text)
    t = translate_supervisord(conf)
    assert translated_processes(t.document) == supervisord_processes(conf)
    listener = t.document["watchers"]["theeventlistenername"]
    assert (listener["events"], listener["stop_signal"]) == (["EVENT"], "SIGQUIT")
    program = t.document["watchers"]["theprogramname"]
    assert program["redirect_stderr"] is True and "stderr_stream" not in program
    assert t.document["ringleader"]["allowed_uids"] == ["nobody"]
    wheres = {n.where.split(": ", 1)[1] for n in t.notes}
    for expected in ("[unix_http_server] username", "[unix_http_server] password",
                     "[include] files", "[program:theprogramname] stdout_capture_maxbytes",
                     "[program:theprogramname] stderr_logfile", "[supervisord] directory",
                     "[supervisord] identifier", "[supervisord] nocleanup"):
        assert expected in wheres
    native_load(t.document)

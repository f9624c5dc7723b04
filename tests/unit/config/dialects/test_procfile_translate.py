"""Procfiles (with their .env) as honcho and foreman run them: one watcher per process type,
commands through the shell, PORT per process, formation, and the native loader accepts the
result."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ringleader.config.dialects.procfile import is_procfile, parse_dotenv, translate_procfile
from ringleader.config.dialects.translation import Findings
from ringleader.config.model import Config
from ringleader.errors import ConfigError

Load = Callable[[dict[str, Any]], Config]
Copy = Callable[[str], Path]


def _names(kind: str) -> dict[str, str]:
    """foreman's PS and honcho's HONCHO_PROCESS_NAME: web.1, web.2 ..."""
    return dict.fromkeys(("PS", "HONCHO_PROCESS_NAME"), f"{kind}.$(ringleader.wid)")


def test_honchos_documented_procfile_and_env(fixture_copy: Copy, native_load: Load) -> None:
    root = fixture_copy("procfile/honcho")
    t = translate_procfile(root / "Procfile")
    env = {"RACK_ENV": "production", "ASSET_ROOT": "https://myapp.s3.amazonaws.com/assets",
           "PROCFILE": "Procfile"}
    common = {"shell": True, "working_dir": str(root), "copy_env": True,
              "stop_children": True, "graceful_timeout": 5.0}
    assert t.document == {"watchers": {
        "web": {"cmd": "python serve.py --port $PORT", **common,
                "env": {**env, "PORT": "5000", **_names("web")}},
        "redis": {"cmd": "redis-server", **common,
                  "env": {**env, "PORT": "5100", **_names("redis")}},
        "myprogram": {"cmd": "PYTHONUNBUFFERED=true python myprogram.py", **common,
                      "env": {**env, "PORT": "5200", **_names("myprogram")}},
    }}
    assert t.sources == [str(root / "Procfile"), str(root / ".env")]
    assert any("a process that exits is respawned" in str(n) for n in t.notes)
    config = native_load(t.document)
    assert [(w.name, w.shell, w.numprocesses, w.env["PORT"]) for w in config.watchers] == [
        ("web", True, 1, "5000"), ("redis", True, 1, "5100"), ("myprogram", True, 1, "5200")]


def test_formation_ports_and_awkward_lines(fixture_copy: Copy, native_load: Load) -> None:
    root = fixture_copy("procfile/rails")
    procfile = root / "Procfile.dev"
    t = translate_procfile(procfile, formation="all=1, worker=2,release_tasks=0",
                           port_base=3000)
    w = t.document["watchers"]
    assert list(w) == ["web", "worker", "css", "js-build", "release_tasks"]
    assert w["web"]["cmd"] == "bundle exec rails server -p ${PORT:-3000} -b 0.0.0.0"
    assert w["worker"]["cmd"].endswith("2>&1 | tee -a log/sidekiq.log")
    assert (w["worker"]["numprocesses"], w["worker"]["port_base"]) == (2, 3100)
    assert "PORT" not in w["worker"]["env"]  # per process: port_base + instance
    assert w["css"]["env"]["PORT"] == "3200" and w["js-build"]["env"]["PORT"] == "3300"
    assert (w["release_tasks"]["numprocesses"], w["release_tasks"]["port_base"]) == (0, 3400)
    assert w["web"]["env"] == {
        "DATABASE_URL": "postgres://app:secret@localhost:5432/app_dev",
        "REDIS_URL": "redis://localhost:6379/0", "RAILS_LOG_TO_STDOUT": "true",
        "SECRET_KEY_BASE": "abc#123", "GREETING": 'hello "world"\tand\nmore', "PORT": "3000",
        **_names("web")}
    notes = [str(n) for n in t.notes]
    assert f"{procfile}:8: ignored: expected NAME: COMMAND (NAME of letters, digits, '_' " \
        "and '-'), got 'indented: this line is not a process type'" in notes
    assert f"{root}/.env:7: ignored: expected KEY=value, got 'not a valid line'" in notes
    native_load(t.document)


def test_foreman_formation_names_only_what_runs(write_procfile: Callable[..., Path]) -> None:
    path = write_procfile("web: a\nworker: b\nclock: c\n")
    w = translate_procfile(path, formation="web=2").document["watchers"]
    assert [w[n].get("numprocesses", 1) for n in w] == [2, 0, 0]


def test_commands_run_through_the_shell_with_port_set(write_procfile: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    """What the document means, run by hand: each process's environment as the engine
    builds it (the controller's, env, PORT) and its command through /bin/sh -c."""
    path = write_procfile('web: echo "$APP web on ${PORT}" > out.$PORT\n'
                          "worker: echo worker $PORT > out.$PORT\n", env="APP=shop\n")
    t = translate_procfile(path, formation="web=2,worker=1", port_base=7000)
    for w in t.document["watchers"].values():
        for instance in range(w.get("numprocesses", 1)):
            env = {**os.environ, **w["env"]}
            if "port_base" in w:
                env["PORT"] = str(w["port_base"] + instance)
            assert w["shell"] is True
            subprocess.run(["/bin/sh", "-c", w["cmd"]], env=env, cwd=w["working_dir"],
                           check=True, timeout=30)
    outputs = {p.name: p.read_text() for p in sorted(tmp_path.glob("out.*"))}
    assert outputs == {"out.7000": "shop web on 7000\n", "out.7001": "shop web on 7001\n",
                       "out.7100": "worker 7100\n"}


@pytest.fixture
def write_procfile(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "Procfile", env: str | None = None) -> Path:
        path = tmp_path / name
        path.write_text(text)
        if env is not None:
            (tmp_path / ".env").write_text(env)
        return path

    return write


@pytest.mark.parametrize("text, expected", [
    ("FOO=bar", {"FOO": "bar"}),
    ("FOO=bar\nBAZ=qux", {"FOO": "bar", "BAZ": "qux"}),
    ("#commented=out", {}),
    ("MYVAR='hello\"world'", {"MYVAR": 'hello"world'}),
    ("MYVAR=\"hello'world\"", {"MYVAR": "hello'world"}),
    ("MYVAR='\"surrounded\"'", {"MYVAR": '"surrounded"'}),
    ('MYVAR=\\"escaped\\"', {"MYVAR": '"escaped"'}),
    ("MYVAR=user@domain.com", {"MYVAR": "user@domain.com"}),
    ("MYVAR=~pun|u@|0n$=", {"MYVAR": "~pun|u@|0n$="}),
    ("MYVAR=⋃ñᴉ—☪ó∂ǝ", {"MYVAR": "⋃ñᴉ—☪ó∂ǝ"}),  # noqa: RUF001
    ("MYVAR='sp ace'", {"MYVAR": "sp ace"}),
    ("TABS='foo\\tbar'\nNEWLINES='foo\\nbar'\nDOLLAR='foo\\$bar'",
     {"TABS": "foo\tbar", "NEWLINES": "foo\nbar", "DOLLAR": "foo\\$bar"}),
    ("export A=1\n  export  B = 'two'  # note", {"A": "1", "B": "two"}),
    ("URL=http://x/#frag # comment", {"URL": "http://x/#frag"}),
    ("EMPTY=\nQUOTED=''", {"EMPTY": "", "QUOTED": ""}),
    ("A=1\nA=2", {"A": "2"}),
    ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
])
def test_dotenv_syntax(text: str, expected: dict[str, str]) -> None:
    findings = Findings()
    assert parse_dotenv(text, ".env", findings) == expected
    assert findings.notes == [] and findings.problems == []


@pytest.mark.parametrize("line", ["-foo=command", "ṀẎṾẠṚ=value", "A='unterminated",
                                  "A=\"x\" trailing", "just words", "=1"])
def test_dotenv_lines_ignored_with_a_note(line: str) -> None:
    findings = Findings()
    assert parse_dotenv(f"OK=1\n{line}\n", "app/.env", findings) == {"OK": "1"}
    assert [str(n) for n in findings.notes] == [
        f"app/.env:2: ignored: expected KEY=value, got {line!r}"]


def test_env_port_is_the_base_and_env_file_option(write_procfile: Callable[..., Path],
                                                  tmp_path: Path) -> None:
    path = write_procfile("web: a\nworker: b\n", env="PORT=8000\nSECRET=$HOME\n")
    t = translate_procfile(path, port_base=5000)
    assert [w["env"]["PORT"] for w in t.document["watchers"].values()] == ["8000", "8100"]
    assert any("SECRET: the native loader expands $NAME" in str(n) for n in t.notes)
    other = tmp_path / "prod.env"
    other.write_text("MODE=prod\nPROCFILE=Procfile.prod\n")
    t = translate_procfile(path, env_file=other)
    assert t.document["watchers"]["web"]["env"] == {"MODE": "prod",
                                                   "PROCFILE": "Procfile.prod", "PORT": "5000",
                                                   **_names("web")}
    assert t.sources == [str(path), str(other)]
    assert f"{other}: PROCFILE: honcho would read Procfile.prod; this translation is of " \
        f"{path}" in [str(n) for n in t.notes]


@pytest.mark.parametrize("procfile, kwargs, problem", [
    ("web: a\nweb: b\n", {}, "Procfile:2: process type 'web' is defined twice"),
    ("# nothing\n", {}, "Procfile: no process type (expected lines NAME: COMMAND)"),
    ("web: a\n", {"formation": "web=two"}, "formation: expected NAME=COUNT[,NAME=COUNT...] "
     "such as web=2,worker=1 (or all=N), got 'web=two'"),
    ("web: a\nworker: b\n", {"formation": "wrker=1"}, "formation: no process type 'wrker' "
     'in the Procfile (did you mean "worker"?); it has web, worker'),
    ("web: a\n", {"port_base": 70000}, "port: expected a port number 1-65535, got 70000"),
    ("web: a\nb: b\n", {"port_base": 65500}, "port: b: PORT 65600 is past 65535 "
     "(base 65500 + 100 x 1 + instance)"),
    ("web: a\n", {"env_file": "missing.env"}, "missing.env: no such file"),
])
def test_mistakes(write_procfile: Callable[..., Path], tmp_path: Path, procfile: str,
                  kwargs: dict[str, Any], problem: str,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_procfile(procfile)
    with pytest.raises(ConfigError) as err:
        translate_procfile("Procfile", **kwargs)
    assert problem in err.value.problems


def test_env_port_must_be_a_number(write_procfile: Callable[..., Path]) -> None:
    path = write_procfile("web: a\n", env="PORT=http\n")
    with pytest.raises(ConfigError, match=r"\.env PORT: expected a port number, got 'http'"):
        translate_procfile(path)


def test_a_symlinked_env_file_is_refused(write_procfile: Callable[..., Path],
                                         tmp_path: Path) -> None:
    path = write_procfile("web: a\n")
    (tmp_path / "real.env").write_text("A=1\n")
    os.symlink(tmp_path / "real.env", tmp_path / ".env")
    with pytest.raises(ConfigError, match=re.escape(".env: a symbolic link")):
        translate_procfile(path)


@pytest.mark.parametrize("name, expected", [
    ("Procfile", True), ("/srv/app/Procfile", True), ("Procfile.dev", True),
    ("Procfile.", False), ("procfile", False), ("Procfile-dev", False), ("my.Procfile", False),
])
def test_recognised_by_name(name: str, expected: bool) -> None:
    assert is_procfile(name) is expected

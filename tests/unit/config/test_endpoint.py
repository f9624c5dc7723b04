"""`-c CONFIG` reads only the endpoint (config.endpoint.find_endpoint); it must find the very
endpoint the full loader gives the controller, for every config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ringleader.cli.common import config_endpoint
from ringleader.config.endpoint import EndpointError, find_endpoint
from ringleader.config.load import load_config
from ringleader.errors import ConfigError

REPO = Path(__file__).parents[3]
FIXTURE_CONFIGS = sorted(
    p for folder in (REPO / "tests" / "fixtures" / "config", REPO / "examples")
    for p in folder.rglob("*") if p.suffix in (".ini", ".toml")
)

# name -> {file: text}; the first file is the one given to -c. Each case is a valid config.
CASES: dict[str, dict[str, str]] = {
    "toml default": {"r.toml": '[watchers.a]\ncmd = "sleep 1"\n'},
    "toml relative": {"r.toml": '[ringleader]\nendpoint = "unix:run/rl.sock"\n'},
    "toml unix://": {"r.toml": '[ringleader]\nendpoint = "unix:///tmp/x/../rl.sock"\n'},
    "toml home": {"r.toml": '[ringleader]\nendpoint = "unix:~/rl.sock"\n'},
    "toml dotted key": {"r.toml": 'ringleader.endpoint = "unix:dotted.sock"\n'},
    "toml escaped key": {"r.toml": '[ringleader]\n"\\u0065ndpoint" = "unix:esc.sock"\n'},
    "toml env ref": {"r.toml": '[ringleader]\nendpoint = "unix:$(circus.env.RL_T_DIR)/x.sock"\n'},
    "toml include": {
        "r.toml": '[ringleader]\ninclude = ["conf.d/*.toml"]\n',
        "conf.d/a.toml": '[ringleader]\nendpoint = "unix:from-a.sock"\n',
        "conf.d/b.toml": '[ringleader]\nendpoint = "unix:from-b.sock"\n',
    },
    "toml include_dir": {
        "r.toml": '[ringleader]\ninclude_dir = "more"\n',
        "more/x.toml": '[ringleader]\nendpoint = "ipc://x.sock"\n',
    },
    "toml main wins over include": {
        "r.toml": '[ringleader]\ninclude = "i.toml"\nendpoint = "unix:main.sock"\n',
        "i.toml": '[ringleader]\nendpoint = "unix:inc.sock"\n',
    },
    "ini circus ipc": {"c.ini": "[circus]\nendpoint = ipc://circus.sock\n"},
    "ini tcp ignored": {"c.ini": "[circus]\nendpoint = tcp://127.0.0.1:5555\n"},
    "ini ringleader section": {"c.ini": "[ringleader]\nendpoint = unix:/tmp/rl-ini.sock\n"},
    "ini both sections": {
        "c.ini": "[ringleader]\nendpoint = unix:first.sock\n[circus]\nendpoint = unix:second.sock\n"
    },
    "ini env section": {
        "c.ini": "[circus]\nendpoint = ipc://$(circus.env.SOCKDIR)/c.sock\n"
                 "[env]\nSOCKDIR = /tmp/ini\n"
    },
    "ini env from include": {
        "c.ini": "[circus]\ninclude = e.ini\nendpoint = ipc://((circus.env.SOCKDIR))/c.sock\n",
        "e.ini": "[env]\nSOCKDIR = /tmp/included\n",
    },
    "ini include gives endpoint": {
        "c.ini": "[circus]\ninclude_dir = d\n[watcher:w]\ncmd = sleep 1\n",
        "d/z.ini": "[circus]\nendpoint = ipc://z.sock\n",
    },
    "ini comment and continuation": {
        "c.ini": "; comment\n[circus]\nendpoint = ipc://c.sock ; trailing\n"
                 "[watcher:w]\ncmd = sleep\nargs = 1\n  2\n"
    },
    "no extension, ini": {"circusconf": "[circus]\nendpoint = ipc://noext.sock\n"},
    "no extension, toml": {"rlconf": '[ringleader]\nendpoint = "unix:noext.sock"\n'},
    "toml includes ini": {
        "r.toml": '[ringleader]\ninclude = "c.ini"\n',
        "c.ini": "[circus]\nendpoint = tcp://127.0.0.1:5555\n",
    },
}


def _loader_endpoint(path: Path) -> str:
    config = load_config(path)
    return config_endpoint(config.controller.endpoint, config.source or str(path))


@pytest.mark.parametrize("path", FIXTURE_CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_agrees_with_the_loader_on_fixture_configs(path: Path) -> None:
    try:
        expected = _loader_endpoint(path)
    except ConfigError:
        pytest.skip("the loader refuses this fixture")
    assert find_endpoint(str(path)) == expected


@pytest.mark.parametrize("name", CASES)
def test_agrees_with_the_loader(name: str, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RL_T_DIR", str(tmp_path / "env"))
    files = CASES[name]
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    main = tmp_path / next(iter(files))
    expected = _loader_endpoint(main)
    assert find_endpoint(str(main)) == expected
    monkeypatch.chdir(tmp_path)  # a relative CONFIG argument, as typed
    assert find_endpoint(main.name) == expected


@pytest.mark.parametrize("text", [
    '[ringleader]\nendpoint = "tcp://127.0.0.1:1"\n',
    '[ringleader]\nendpoint = 5\n',
    '[ringleader]\nendpoint = "http://x"\n',
    '[ringleader]\nendpoint = "unix:"\n',
    '[ringleader]\nendpoint = "unix:x\n',
])
def test_a_bad_endpoint_is_refused_like_the_loader(text: str, tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_config(path)
    with pytest.raises(EndpointError, match=r"r\.toml"):
        find_endpoint(str(path))


def test_reads_only_the_endpoint(tmp_path: Path) -> None:
    """A config with mistakes elsewhere still tells where its controller listens (the
    loader would refuse it: -c is about finding the controller, not checking the file)."""
    path = tmp_path / "r.toml"
    path.write_text('[ringleader]\nendpoint = "unix:x.sock"\n[watchers.a]\nnumprocesses = -1\n')
    with pytest.raises(ConfigError):
        load_config(path)
    assert find_endpoint(str(path)) == f"unix:{tmp_path}/x.sock"


def test_a_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        find_endpoint(str(tmp_path / "nope.toml"))


def test_the_console_imports_neither_msgspec_nor_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "c.ini"
    path.write_text("[circus]\nendpoint = ipc://$(circus.env.HOME)/c.sock\n")
    code = ("import sys; from ringleader.cli.common import endpoint_from_config; "
            f"print(endpoint_from_config({str(path)!r})); "
            "print(sorted(m for m in sys.modules "
            "if m.startswith(('msgspec', 'ringleader.config'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30).stdout.splitlines()
    assert out[0].startswith("unix:/")
    assert out[1] == str(["ringleader.config", "ringleader.config.endpoint",
                          "ringleader.config.endpoint_toml", "ringleader.config.ini_syntax",
                          "ringleader.config.places", "ringleader.config.substitute"])

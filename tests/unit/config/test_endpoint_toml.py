"""The console's TOML reader (config.endpoint_toml) reads a config's [ringleader] endpoint
and includes as tomllib does, or gives up: on every fixture config, on tricky texts, and on
thousands of texts mutated from those."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest

from ringleader.config.endpoint import find_endpoint
from ringleader.config.endpoint_toml import KEYS_READ, controller_table

REPO = Path(__file__).parents[3]
FIXTURES = sorted(p for folder in ("tests", "examples", "docs", "bench")
                  for p in (REPO / folder).rglob("*.toml"))
ERROR = "tomllib refuses it"


def tomllib_reading(text: str) -> dict[str, object] | str:
    """What config.endpoint takes of the text through tomllib."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ERROR
    table = data.get("ringleader")
    return {k: v for k, v in table.items() if k in KEYS_READ} if isinstance(table, dict) else {}


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 5


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(REPO)))
def test_reads_every_fixture_config_as_tomllib(path: Path) -> None:
    text = path.read_text()
    expected = tomllib_reading(text)
    got = controller_table(text)
    assert got == expected or (got is None and expected == ERROR)


PLAIN = """\
# a config
[ringleader]
endpoint = "unix:run/rl.sock"   # where
include = ["conf.d/*.toml", 'more/*.toml',]
check_delay = 5
tcp.port = 5555
[ringleader.tls]
certfile = 'c.pem'
[watchers.web]
cmd = "python -c \\"print(1)\\""
args = [
  "--a",  # a comment
  1, 2.5, -3e2, true,
  [1, [2]], { x = 1 },
]
env = { A = "1", B = { C = 'x' } }
stdout_stream.kind = "file"
stdout_stream.max_bytes = 1_000
[watchers.web.hooks]
before_start = "x"
[watchers.other]
numprocesses = +0
"""

# Each is read as tomllib reads it.
READ = {
    "plain": PLAIN,
    "empty": "",
    "no ringleader table": '[watchers.a]\ncmd = "x"\nendpoint = "not this one"\n',
    "no newline at the end": '[ringleader]\nendpoint = "unix:x.sock"',
    "literal string": "[ringleader]\nendpoint = 'unix:C:\\x\\y'\n",
    "spaces in the header": '[ ringleader ]\nendpoint="unix:x"\n',
    "include_dir": '[ringleader]\ninclude_dir = "d"\ninclude = "a.toml b.toml"\n',
    "an empty include list": "[ringleader]\ninclude = []\n",
    "a hash in the value": '[ringleader]\nendpoint = "unix:a#b.sock" # c\n',
    "implicit table made later explicit": '[ringleader.tcp]\nport = 1\n[ringleader]\n'
                                          'endpoint = "unix:x"\n',
    "a table under a dotted key": '[a]\nb.c = 1\n[a.b.d]\ne = 1\n[ringleader]\n'
                                  'endpoint = "unix:y"\n',
    "the table only implied": "[ringleader.tcp]\nport = 1\n",
    "a ringleader key elsewhere": '[watchers.ringleader]\nendpoint = "x"\n'
                                  '[w]\nringleader.endpoint = "y"\n',
    "unicode in strings and comments": '# é\n[ringleader]\nendpoint = "unix:é.sock" # ü\n',
    "escapes elsewhere": '[w]\ncmd = "a\\tb\\\\c\\""\n[ringleader]\nendpoint = "unix:z"\n',
}

# Each must make the reader give up (tomllib may read them, or refuse them).
GIVE_UP = {
    "multi-line basic string": '[w]\ncmd = """\n[ringleader]\nendpoint = "unix:x"\n"""\n',
    "multi-line literal string": "[w]\ncmd = '''\nx'''\n[ringleader]\nendpoint = 'unix:y'\n",
    "multi-line array in the table": '[ringleader]\ninclude = [\n"a",\n]\n',
    "quoted key in the table": '[ringleader]\n"endpoint" = "unix:q"\n',
    "escaped quoted key": '[ringleader]\n"\\u0065ndpoint" = "unix:q"\n',
    "quoted table name": '["ringleader"]\nendpoint = "unix:q"\n',
    "quoted key elsewhere": '[w]\n"a b" = 1\n',
    "dotted key at the top": 'ringleader.endpoint = "unix:d"\n',
    "inline table at the top": 'ringleader = { endpoint = "unix:i" }\n',
    "dotted endpoint": '[ringleader]\nendpoint.path = "x"\n',
    "endpoint table": '[ringleader.endpoint]\npath = "x"\n',
    "escape in the endpoint": '[ringleader]\nendpoint = "unix:a\\tb"\n',
    "unicode escape": '[w]\ncmd = "\\u00e9"\n',
    "not a string": "[ringleader]\nendpoint = 5\n",
    "array of numbers": "[ringleader]\ninclude = [1]\n",
    "array of tables": '[[ringleader]]\nendpoint = "unix:a"\n',
    "array of tables elsewhere": '[[w]]\na = 1\n',
    "table twice": '[ringleader]\n[ringleader]\nendpoint = "unix:x"\n',
    "key twice": '[ringleader]\nendpoint = "unix:a"\nendpoint = "unix:b"\n',
    "key twice elsewhere": "[w]\na = 1\na = 2\n",
    "a value made a table": "[w]\na = 1\n[w.a]\nb = 2\n",
    "a dotted table declared": "[w]\na.b = 1\n[w.a]\nc = 2\n",
    "an inline table extended": "[w]\na = { b = 1 }\na.c = 2\n",
    "a header table redefined by a dotted key": "[w.a]\nb = 1\n[w]\na.c = 2\n",
    "a table overwritten": "[w.a.b]\n[w]\na = 1\n",
    "unclosed string": '[ringleader]\nendpoint = "unix:x\n',
    "unclosed array": "[w]\na = [1, 2\n",
    "missing value": "[w]\na =\n",
    "missing equals": "[w]\na 1\n",
    "two values": "[w]\na = 1 b = 2\n",
    "header with junk": "[w] x\n",
    "a date": "[w]\nd = 1979-05-27\n",
    "hexadecimal": "[w]\nh = 0xff\n",
    "inf": "[w]\nf = inf\n",
    "leading zero": "[w]\nn = 01\n",
    "bad word": "[w]\nb = yes\n",
    "carriage return": '[ringleader]\r\nendpoint = "unix:x"\r\n',
    "control character": '[w]\na = "\x01"\n[ringleader]\nendpoint = "unix:x"\n',
    "a byte-order mark": '\ufeff[ringleader]\nendpoint = "unix:x"\n',
    "inline table over lines": "[w]\na = { b = [\n1] }\n",
    "inline table trailing comma": "[w]\na = { b = 1, }\n",
    "bad escape": '[w]\na = "\\q"\n',
}


@pytest.mark.parametrize("name", READ)
def test_reads_a_plain_config_as_tomllib(name: str) -> None:
    expected = tomllib_reading(READ[name])
    assert expected != ERROR
    assert controller_table(READ[name]) == expected


@pytest.mark.parametrize("name", GIVE_UP)
def test_gives_up_where_not_sure(name: str) -> None:
    assert controller_table(GIVE_UP[name]) is None


MUTATIONS = ["[", "]", "{", "}", '"', "'", "=", ".", ",", "#", "\n", " ", "\\", "x", "1", "_",
             "e", "-", "+", "[[", "ringleader", "endpoint", "include", "[ringleader]\n",
             '"""', "true", "inf", ":", "0"]


def test_mutated_texts_are_read_as_tomllib_or_given_up() -> None:
    """Characters deleted, inserted, lines repeated: the reader never says what tomllib
    would not (and never reads a text tomllib refuses)."""
    rng = random.Random(2026)
    seeds = [READ["plain"], *READ.values(), *(p.read_text() for p in FIXTURES)]
    read = 0
    for _ in range(4000):
        text = rng.choice(seeds)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(text) + 1)
            roll = rng.random()
            if roll < 0.3:
                text = text[:i] + text[i + 1:]
            elif roll < 0.7:
                text = text[:i] + rng.choice(MUTATIONS) + text[i:]
            else:
                lines = text.split("\n")
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
                text = "\n".join(lines)
        got = controller_table(text)
        if got is not None:
            read += 1
            assert got == tomllib_reading(text), text
    assert read > 1000  # the reader does read most plain configs


def test_find_endpoint_uses_neither_tomllib_nor_re_for_a_plain_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "r.toml"
    path.write_text(PLAIN.replace("include =", "other ="))  # glob imports re
    code = ("import sys; from ringleader.config.endpoint import find_endpoint; "
            f"print(find_endpoint({str(path)!r})); "
            "print(sorted(m for m in ('tomllib', 're') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=30).stdout.splitlines()
    assert out == [find_endpoint(str(path)), "[]"]
    assert out[0] == f"unix:{tmp_path}/run/rl.sock"

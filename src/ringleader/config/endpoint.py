"""Where a config's controller listens: the rules the full loader and the console share.

``ringleader status -c CONFIG`` needs only the control endpoint, so it reads only that
(``find_endpoint``) instead of loading and validating the whole config (which imports
msgspec and every section's normaliser: about 60 ms of a 30 ms command). Both go through
the rules below (which file is TOML, how includes are found, how an endpoint value
resolves, the default next to the config), so that they cannot disagree;
tests/unit/config/test_endpoint.py checks that they agree on every fixture config.

Stdlib only, and nothing imported that the console does not need: a TOML file that names
an endpoint or an include is read by ``config.endpoint_toml`` (no import), and by tomllib
(its import compiles regular expressions: ~5 ms) only where that reader is not sure.
"""

from __future__ import annotations

import os

from ringleader.config.endpoint_toml import controller_table
from ringleader.config.places import default_socket

TYPE_CHECKING = False  # not typing's: the console imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_SOCKET_NAME = "ringleader.sock"
INI_EXTENSIONS = (".ini", ".cfg", ".conf")
INI_SECTIONS = ("circus", "ringleader")  # the controller's section in the INI dialect
_INI_HINT = r"^\s*\[(circus|env|watcher:|socket:|plugin:|env:)"


class EndpointError(Exception):
    """The config names its endpoint wrongly, or cannot be read; the message says where."""


def default_endpoint(source: str) -> str:
    """Without an `endpoint`, the controller listens on ringleader.sock next to its config
    (a system config's, under /etc: in /run/ringleader, config.places)."""
    return "unix:" + default_socket(source)


def has_circus_section(text: str) -> bool:
    """A circus section at the start of a line: circus INI."""
    import re

    return re.search(_INI_HINT, text, re.M) is not None


def is_toml(path: str, text: str) -> bool:
    """TOML by its extension; INI by its extension or a circus section at the start of a
    line; otherwise TOML if it parses as TOML."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".toml":
        return True
    if ext in INI_EXTENSIONS:
        return False
    import re

    if re.search(_INI_HINT, text, re.M):
        return False
    import tomllib

    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def include_files(pattern: str, base_dir: str) -> list[str]:
    """circus read_config: a glob relative to the including file's directory; files only,
    sorted (an empty list: the caller warns)."""
    import glob

    full = pattern if os.path.isabs(pattern) else os.path.join(base_dir, pattern)
    return sorted(p for p in glob.glob(full) if os.path.isfile(p))


def include_patterns(key: str, value: object, toml: bool) -> list[str]:
    """The glob patterns of an `include` (space-separated, or a TOML list) or an
    `include_dir` (each directory's *.toml / *.ini) option."""
    if isinstance(value, str):
        items = value.split()
    elif isinstance(value, list):
        items = [str(v) for v in value]
    else:
        items = []
    if key == "include_dir":
        return [os.path.join(d, "*.toml" if toml else "*.ini") for d in items]
    return items


class Resolved:
    """An endpoint value resolved: `endpoint` (None: the default), or what is wrong."""

    __slots__ = ("endpoint", "error", "warning")

    def __init__(self, endpoint: str | None = None, error: str | None = None,
                 warning: str | None = None) -> None:
        self.endpoint = endpoint
        self.error = error  # "expected unix:PATH, got ..." (the field is `endpoint`)
        self.warning = warning  # an INI tcp:// endpoint, ignored


def resolve(value: object, ini: bool, base_dir: str) -> Resolved:
    """unix:PATH / unix://PATH / ipc://PATH, relative to the config file's directory ->
    unix:/abs/path. circus's ZeroMQ TCP endpoints are never opened as unauthenticated TCP:
    ignored with a warning in INI, refused in TOML. `value` is already substituted."""
    if not isinstance(value, str) or not value.strip():
        return Resolved(error=f"expected unix:PATH, got {_show(value)}")
    text = value.strip()
    if text.startswith("tcp://"):
        if ini:
            return Resolved(warning=f"circus ZeroMQ TCP endpoint {text} ignored; the default "
                                    "unix socket is used")
        return Resolved(error=f"a TCP endpoint ({text}) needs TLS and a token: configure it "
                              "in [ringleader.tcp] (expected unix:PATH)")
    for scheme in ("unix://", "unix:", "ipc://"):
        if text.startswith(scheme):
            path = text[len(scheme):]
            break
    else:
        return Resolved(error=f"expected unix:PATH, got {_show(value)}")
    if not path:
        return Resolved(error=f"expected unix:PATH, got {_show(value)}")
    path = os.path.expanduser(path)
    return Resolved("unix:" + os.path.normpath(os.path.join(base_dir, path)))


def _show(value: object) -> str:
    """config.values.show, which the console does not import (shlex, typing)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# -- the console's reading: the endpoint alone ---------------------------------------

class _Found:
    """What the files read so far say: the first endpoint setting wins (as the loader's
    Collector), and circus [env] values (first wins) for $(circus.env.X) in it (the loader
    substitutes every controller setting from os.environ + [env])."""

    __slots__ = ("base_dir", "env", "ini", "value", "visited", "where")

    def __init__(self) -> None:
        self.value: object = None
        self.base_dir = ""
        self.ini = False
        self.where = ""
        self.env: dict[str, str] = {}
        self.visited: set[str] = set()


def find_endpoint(path: str) -> str:
    """The endpoint a controller run with the config file `path` listens on, read with the
    loader's rules but nothing else checked. Raises OSError when `path` cannot be read,
    EndpointError for a config that says its endpoint wrongly (or cannot be parsed where it
    matters)."""
    found = _Found()
    _read(os.path.abspath(path), path, found, main=True)
    if found.where == "":
        return default_endpoint(path)
    value = found.value
    if isinstance(value, str) and ("$(" in value or "((" in value):
        from ringleader.config.substitute import expand_env_refs

        value = expand_env_refs(value, {**os.environ, **found.env})
    resolved = resolve(value, found.ini, found.base_dir)
    if resolved.error is not None:
        raise EndpointError(f"{found.where} endpoint: {resolved.error}")
    return resolved.endpoint or default_endpoint(path)


def _read(path: str, display: str, found: _Found, *, main: bool = False) -> None:
    real = os.path.realpath(path)
    if real in found.visited:
        return
    found.visited.add(real)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError):
        if main:
            raise
        return  # an unreadable include: the loader refuses the config, no endpoint here
    if is_toml(path, text):
        includes = _read_toml(path, display, text, found)
    else:
        includes = _read_ini(path, display, text, found)
    for inc in includes:
        _read(inc, inc, found)


def _read_toml(path: str, display: str, text: str, found: _Found) -> list[str]:
    # The endpoint and the includes are all that matter: a file that names neither (nor
    # hides a key behind a \u escape) needs no parse.
    if not any(word in text for word in ("endpoint", "include", "\\u", "\\U")):
        return []
    ctrl = controller_table(text)  # None: not plain enough to be sure without tomllib
    if ctrl is None:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise EndpointError(f"{display}: TOML syntax error: {exc}") from None
        table = data.get("ringleader")
        ctrl = table if isinstance(table, dict) else {}
    return _take(ctrl, path, f"{display}: [ringleader]", False, found)


def _read_ini(path: str, display: str, text: str, found: _Found) -> list[str]:
    from ringleader.config.ini_syntax import parse_ini

    sections, problems = parse_ini(text, display)
    if problems:
        raise EndpointError(problems[0])
    includes: list[str] = []
    for s in sections:
        if s.name in INI_SECTIONS:
            includes += _take(s.options, path, f"{display}: [{s.name}]", True, found)
        elif s.name == "env":
            for key, value in s.options.items():
                found.env.setdefault(key, value)
    return includes


def _take(options: Mapping[str, object], path: str, where: str, ini: bool,
          found: _Found) -> list[str]:
    base_dir = os.path.dirname(path)
    includes: list[str] = []
    for key, value in options.items():
        if key in ("include", "include_dir"):
            for pattern in include_patterns(key, value, toml=not ini):
                includes += include_files(pattern, base_dir)
        elif key == "endpoint" and found.where == "":
            found.value, found.base_dir, found.ini, found.where = value, base_dir, ini, where
    return includes

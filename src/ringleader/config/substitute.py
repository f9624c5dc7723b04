"""``$(circus.NAME)`` / ``$(ringleader.NAME)`` substitutions, and ``$VAR`` in env values.

Compatible with circus ``util.replace_gnu_args``: both ``$(prefix.key)`` and ``((prefix.key))``
forms, the prefix and key matched case-insensitively, env names looked up lowercased (circus
lowercases the env keys and the reference alike), unknown references left unchanged.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

# Same character set as circus (word characters, '.', '-'), either syntax, any case; a wid
# may carry a format spec, Python's (supervisord's %(process_num)02d): $(ringleader.wid:02d).
_SPEC = r"(?::([0-9<>^=+\- #,._]*[bdoxXn]?))?"
_REF = re.compile(
    rf"\$\((circus|ringleader)\.([\w.\-]+){_SPEC}\)|\(\((circus|ringleader)\.([\w.\-]+){_SPEC}\)\)",
    re.I,
)
# circus parse_env_dict expands $NAME (upper-case names only); ${NAME} is our addition.
_DOLLAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Z]+[A-Z0-9_]*)")


def _lower_keys(m: Mapping[str, object] | None) -> dict[str, object]:
    return {k.lower(): v for k, v in m.items()} if m else {}


def expand(
    text: str,
    *,
    wid: int | None = None,
    env: Mapping[str, str] | None = None,
    sockets: Mapping[str, int] | None = None,
) -> str:
    """Replace ``$(circus.wid)``, ``$(circus.env.NAME)``, ``$(circus.sockets.NAME)`` (and the
    ``ringleader.`` spellings) in *text*; references to anything unknown stay as written."""
    if "$(" not in text and "((" not in text:  # the common case, per spawn: no work
        return text
    lenv: dict[str, object] | None = None
    lsockets: dict[str, object] | None = None

    def repl(m: re.Match[str]) -> str:
        nonlocal lenv, lsockets
        key = (m.group(2) or m.group(5)).lower()
        spec = m.group(3) if m.group(2) else m.group(6)
        if key == "wid":
            if wid is None:
                return m.group(0)
            try:
                return format(wid, spec) if spec else str(wid)
            except ValueError:  # a spec that no int takes: left as written
                return m.group(0)
        if spec is not None:
            return m.group(0)
        kind, _, name = key.partition(".")
        if kind == "env" and name:
            if lenv is None:
                lenv = _lower_keys(env)
            value = lenv.get(name)
        elif kind == "sockets" and name:
            if lsockets is None:
                lsockets = _lower_keys(sockets)
            value = lsockets.get(name)
        else:
            value = None
        return m.group(0) if value is None else str(value)

    return _REF.sub(repl, text)


def expand_env_refs(text: str, env: Mapping[str, str]) -> str:
    """Load-time pass: only ``$(circus.env.X)`` references that *env* defines are replaced;
    ``wid``, ``sockets`` and unknown names are kept for spawn time (as circus does)."""
    if "$(" not in text and "((" not in text:
        return text
    return expand(text, env=env)


# Set by the spawn itself (HOME/USER/LOGNAME from uid, PYTHONPATH from copy_path, PATH):
# a reference to one may resolve only then.
_SET_AT_SPAWN = frozenset({"home", "user", "logname", "path", "pythonpath"})


def unknown_env_refs(text: str) -> list[str]:
    """The X of each ``$(circus.env.X)`` left in *text* after the load-time pass: a variable
    nothing defines (a typo, or one unset in the controller's environment)."""
    if "$(" not in text and "((" not in text:
        return []
    names = []
    for m in _REF.finditer(text):
        kind, _, name = (m.group(2) or m.group(5)).partition(".")
        if kind.lower() == "env" and name and name.lower() not in _SET_AT_SPAWN:
            names.append(name)
    return names


def expand_dollar_vars(
    text: str, environ: Mapping[str, str] | None = None
) -> tuple[str, list[str]]:
    """Expand ``$NAME`` / ``${NAME}`` from the controller's environment, as circus does for env
    values (``PATH = $PATH:/bin``). Returns the text and the names that were not set (left
    unchanged rather than silently emptied)."""
    if "$" not in text:
        return text, []
    source = os.environ if environ is None else environ
    missing: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        value = source.get(name)
        if value is None:
            missing.append(name)
            return m.group(0)
        return value

    return _DOLLAR.sub(repl, text), missing

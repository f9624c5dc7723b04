"""supervisord's value syntaxes (supervisor/datatypes.py, read for its behaviour), each turned
into the native value, and its ``%(name)s`` expansions.

Every parser raises ``Invalid`` with what was expected; the caller adds file, section and
option. Where supervisord accepts something by accident (a pair separator that is not a
comma in ``environment``, ``%s`` formatting the whole expansion dict), we refuse it.
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Callable, Mapping
from typing import Literal

Restart = bool | Literal["unexpected"]
LogTarget = Literal["AUTO", "NONE", "SYSLOG"] | str


class Invalid(ValueError):
    """*message* completes "FILE: [section] option: ..."."""


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def to_bool(text: str) -> bool:
    v = text.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise Invalid(f"expected true or false (yes/no, on/off, 1/0), got {text.strip()!r}")


def to_int(text: str, *, minimum: int | None = None) -> int:
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    try:
        num = int(text.strip())
    except ValueError:
        raise Invalid(f"expected {expected}, got {text.strip()!r}") from None
    if minimum is not None and num < minimum:
        raise Invalid(f"expected {expected}, got {num}")
    return num


_SIZE = re.compile(r"^\s*(\d+)\s*(kb|mb|gb)?\s*$", re.I)
_UNITS = {None: 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}


def to_byte_size(text: str) -> int:
    """"50MB" -> 52428800; supervisord's units are KB, MB, GB (1024-based, any case)."""
    m = _SIZE.match(text)
    if not m:
        raise Invalid(f'expected bytes, or a whole number with KB, MB or GB such as "50MB", '
                      f"got {text.strip()!r}")
    unit = m.group(2).lower() if m.group(2) else None
    return int(m.group(1)) * _UNITS[unit]


def to_exitcodes(text: str) -> list[int]:
    codes = []
    for item in text.split(","):
        try:
            code = int(item.strip())
        except ValueError:
            code = -1
        if not 0 <= code <= 255:
            raise Invalid(f"expected exit codes 0-255 separated by commas such as \"0,2\", "
                          f"got {text.strip()!r}")
        codes.append(code)
    return codes


def to_signal(text: str) -> str:
    """TERM, SIGTERM, term, 15 -> "SIGTERM" (the native loader takes names)."""
    v = text.strip()
    try:
        return signal.Signals(int(v)).name
    except ValueError:
        pass
    name = v.upper() if v.upper().startswith("SIG") else "SIG" + v.upper()
    if name not in signal.Signals.__members__:
        raise Invalid(f"expected a signal name such as TERM, QUIT, HUP, INT, KILL, USR1 "
                      f"or its number, got {v!r}")
    return signal.Signals[name].name  # an alias (SIGCLD) becomes its canonical name


def to_octal(text: str) -> int:
    try:
        num = int(text.strip(), 8)
    except ValueError:
        num = -1
    if not 0 <= num <= 0o777:
        raise Invalid(f'expected an octal mode such as "022" or "0700", got {text.strip()!r}')
    return num


def to_restart(text: str) -> Restart:
    v = text.strip().lower()
    if v == "unexpected":
        return "unexpected"
    try:
        return to_bool(v)
    except Invalid:
        raise Invalid(f"expected true, false or unexpected, got {text.strip()!r}") from None


def to_logfile(text: str) -> LogTarget:
    """A path, or AUTO / NONE / SYSLOG (supervisord's magic names, any case)."""
    v = text.strip()
    if v.upper() in ("AUTO", "NONE", "SYSLOG"):
        return v.upper()
    if not v:
        raise Invalid("expected a file path, AUTO or NONE, got an empty value")
    return v


def to_names(text: str) -> list[str]:
    """supervisord's list_of_strings: comma separated, each stripped."""
    return [item.strip() for item in text.split(",")] if text.strip() else []


def to_env_pairs(text: str) -> dict[str, str]:
    """``KEY="v",K2=v2`` -> {"KEY": "v", "K2": "v2"}: supervisord's tokenisation (shlex in
    non-POSIX mode: quotes group, no backslash escapes, '#' starts a comment), then quotes
    at both ends of a value stripped. Pairs must be separated by commas."""
    lexer = shlex.shlex(text)
    lexer.wordchars += "/.+-():"
    try:
        tokens = list(lexer)
    except ValueError as exc:  # "No closing quotation"
        raise Invalid(f"{exc} in {text.strip()!r} (expected KEY=\"value\",KEY2=value2)") from None
    env: dict[str, str] = {}
    for i in range(0, len(tokens), 4):
        pair = tokens[i:i + 3]
        if len(pair) != 3 or pair[1] != "=" or pair[0][0] in "\"'":
            raise Invalid(f"expected KEY=\"value\",KEY2=value2, stuck at {' '.join(pair)!r} "
                          "(quote a value with spaces or punctuation)")
        if i + 3 < len(tokens) and tokens[i + 3] != ",":
            raise Invalid(f"expected a comma after {pair[0]}={pair[2]}, got "
                          f"{tokens[i + 3]!r} (quote a value with spaces or punctuation)")
        env[pair[0]] = pair[2].strip("'\"")  # a trailing comma is fine, as in supervisord
    return env


# -- %(name)s expansions ------------------------------------------------------------------

# printf conversions as Python's % operator takes them: %(name)[flags][width][.prec]type
_EXPANSION = re.compile(r"%(?:(%)|\((?P<name>[^)]*)\)(?P<spec>[#0\- +]*\d*(?:\.\d+)?)"
                        r"(?P<type>[diouxXeEfFgGcrsa]))")
WID = "$(ringleader.wid)"  # the native per-process slot number


class PerProcess:
    """Stands for %(process_num)d: the native $(ringleader.wid), with the format kept."""


PROCESS_NUM = PerProcess()
Value = str | int | PerProcess


_SPEC = re.compile(r"^(?P<flags>[#0\- +]*)(?P<width>\d*)(?P<precision>\.\d+)?$")


def _wid(spec: str, kind: str, name: str) -> str:
    """The printf format of %(process_num)...d as the native $(ringleader.wid:SPEC), whose
    SPEC is Python's format mini-language: "02" -> "02d", "-3" -> "<3d"."""
    m = _SPEC.match(spec)
    flags = set(m.group("flags")) if m else {"#"}
    if kind not in "dius" or not m or m.group("precision") or flags - {"0", "-"}:
        raise Invalid(f"%({name}){spec}{kind}: only %({name})d, %({name})s and a width "
                      f"such as %({name})02d are supported")
    width = m.group("width")
    if not width:
        return WID
    align = "<" if "-" in flags else ("0" if "0" in flags and kind != "s" else "")
    return f"$(ringleader.wid:{align}{width}d)"


def expand(text: str, names: Mapping[str, Value],
           env_ref: Callable[[str], str | None]) -> str:
    """supervisord's ``text % expansions``, into native text: known names are replaced,
    %(process_num)d becomes $(ringleader.wid) (a per-process value natively), %(ENV_X)s not
    in *names* becomes ``env_ref(X)`` (a native reference resolved when the file is loaded;
    None when X is not set, an error as in supervisord)."""
    if "%" not in text:
        return text
    out: list[str] = []
    pos = 0
    for m in _EXPANSION.finditer(text):
        if "%" in text[pos:m.start()]:
            break
        out.append(text[pos:m.start()])
        pos = m.end()
        if m.group(1):
            out.append("%")
            continue
        name, spec, kind = m.group("name"), m.group("spec"), m.group("type")
        if name in names:
            out.append(_format(names[name], name, spec, kind))
        elif name.startswith("ENV_") and len(name) > 4:
            ref = env_ref(name[4:])
            if ref is None:
                raise Invalid(f"%({name}){spec}{kind}: {name[4:]} is not set in the "
                              "environment (supervisord refuses this too)")
            if spec or kind != "s":
                raise Invalid(f"%({name}){spec}{kind}: write %({name})s")
            out.append(ref)
        else:
            available = ", ".join(sorted(n for n in names if not n.startswith("ENV_")))
            raise Invalid(f"%({name}){spec}{kind}: unknown name {name!r} (available: "
                          f"{available}, ENV_X)")
    rest = text[pos:]
    if "%" in rest:
        raise Invalid(f"a '%' that starts no %(name)s expansion in {text!r} (write %% "
                      "for a literal %)")
    return "".join(out) + rest


def _format(v: Value, name: str, spec: str, kind: str) -> str:
    if isinstance(v, PerProcess):
        return _wid(spec, kind, name)
    try:
        return ("%" + spec + kind) % (v,)
    except (TypeError, ValueError):
        raise Invalid(f"%({name}){spec}{kind}: cannot format {v!r} that way (write "
                      f"%({name})s)") from None

"""Normalisers for single option values, shared by the TOML, INI and dict front ends.

INI gives strings, TOML and dicts give native values: every normaliser accepts both. A bad
value raises ``BadValue`` carrying what was expected; the caller adds file, section and field.
"""

from __future__ import annotations

import re
import shlex
import signal
from collections.abc import Callable
from typing import Any

# Bounds every value is held to, so that what validation accepts the OS, the spawn and the
# state file's encoder take too.
INT64_MAX = (1 << 63) - 1
ID_MAX = (1 << 32) - 2  # uid/gid: (uid_t)-1 means "no change" to setresuid
MAX_SECONDS = 365 * 24 * 3600.0  # a duration longer than a year is a mistake
# The shortest period of anything the controller repeats on its own (autoscale, resource
# watchdog and health rounds, max_age recycling): below it a typo burns a core.
MIN_PERIOD = 0.1


class BadValue(ValueError):
    """*expected* is the tail of the message: 'an integer >= 0', ..."""

    def __init__(self, expected: str, detail: str | None = None) -> None:
        self.expected = expected
        self.detail = detail
        super().__init__(expected)


def show(value: Any) -> str:
    """A value as the user wrote it, quoted like JSON (strings in double quotes)."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


# circus util.TRUTHY_STRINGS / FALSY_STRINGS
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise BadValue("a boolean (true/false, yes/no, on/off, 1/0)")


def to_int(value: Any, *, minimum: int | None = None, maximum: int = INT64_MAX,
           too_big: str | None = None) -> int:
    """An integer >= `minimum`; above `maximum` (by default the largest 64-bit integer),
    the error says `too_big` (or the range). Below -`maximum`-1 without a minimum: out of
    the 64-bit range too."""
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    result: int
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int):
        result = value
    elif isinstance(value, float) and value.is_integer():
        result = int(value)
    elif isinstance(value, str):
        try:
            result = int(value.strip())
        except ValueError:
            raise BadValue(expected) from None
    else:
        raise BadValue(expected)
    if minimum is not None and result < minimum:
        raise BadValue(expected)
    if result > maximum or (minimum is None and result < -INT64_MAX - 1):
        low = -INT64_MAX - 1 if minimum is None else minimum
        raise BadValue(too_big or f"an integer between {low} and {maximum}")
    return result


def to_float(value: Any, *, minimum: float | None = 0.0,
             maximum: float = MAX_SECONDS) -> float:
    """A finite number >= `minimum` and <= `maximum` (by default a year of seconds: most
    numbers are durations, and none should be infinite or absurd)."""
    expected = "a number" if minimum is None else f"a number >= {minimum:g}"
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise BadValue(expected) from None
    else:
        raise BadValue(expected)
    if result != result or (minimum is not None and result < minimum):  # NaN, or too small
        raise BadValue(expected)
    if not -maximum <= result <= maximum:  # infinite, or absurd
        low = f"{minimum:g}" if minimum is not None else f"{-maximum:g}"
        raise BadValue(f"a finite number between {low} and {maximum:g}")
    return result


def to_period(value: Any) -> float:
    """The period of a repeated check: seconds, at least MIN_PERIOD."""
    num = to_float(value)
    if num < MIN_PERIOD:
        raise BadValue(f"a number of seconds >= {MIN_PERIOD:g} (the floor of a period)")
    return num


def to_period_or_off(value: Any) -> float:
    """Like to_period, or 0 for off."""
    num = to_float(value, minimum=None)
    if num != 0 and not num >= MIN_PERIOD:
        raise BadValue(f"0 (off) or a number of seconds >= {MIN_PERIOD:g}")
    return 0.0 if num == 0 else to_period(num)


def to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise BadValue("a string")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.@\-]{1,128}")


def plain_name_problem(name: str, extra: str = "") -> str | None:
    """Why `name` is no plain name (1-128 letters, digits, '_', '.', '-' and the characters
    in `extra`; never '.' or '..'), or None. The models' patterns use "$", which Python
    lets match before a final newline: "web\n" would pass them."""
    allowed = set("_.-" + extra)
    if (_PLAIN_NAME.fullmatch(name) and name not in (".", "..")
            and all(c.isascii() and (c.isalnum() or c in allowed) for c in name)):
        return None
    shown = ", ".join(f"'{c}'" for c in sorted(allowed))
    return f"1 to 128 letters, digits or {shown} (not '.' or '..'), got {show(name)}"


def nul_in(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (key or value) in `value` holding a NUL
    character, or None: no such string can reach the OS (argv, env, paths)."""
    if isinstance(value, str):
        return path if "\0" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\0" in key:
                return here
            found = nul_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = nul_in(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def to_command(value: Any) -> str:
    """A command line that shlex can split into at least a program (shell = false)."""
    text = to_str(value)
    try:
        argv = shlex.split(text)
    except ValueError as exc:  # unbalanced quotes, a trailing backslash
        raise BadValue("a command line in shell syntax (or shell = true)",
                       f"cannot be split into arguments: {exc}") from None
    if not argv:
        raise BadValue("a command line, at least the program to run")
    return text


def to_signal(value: Any) -> int:
    """SIGTERM, TERM, term, 15 or '15' -> 15 (circus to_signum, without the RTMIN+N forms)."""
    expected = "a signal name (SIGTERM, TERM) or number 1-64"
    if isinstance(value, int) and not isinstance(value, bool):
        num = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            num = int(text)
        else:
            name = text.upper()
            if not name.startswith("SIG"):
                name = "SIG" + name
            sig = getattr(signal.Signals, name, None) if not name.startswith("SIG_") else None
            if sig is None:
                raise BadValue(expected)
            num = int(sig)
    else:
        raise BadValue(expected)
    if not 1 <= num <= 64:
        raise BadValue(expected)
    return num


def _id(value: Any, lookup: Callable[[str], int], kind: str, short: str) -> int:
    """A user or group given by number (0 to ID_MAX) or by name (resolved with `lookup`)."""
    expected = f"an existing {kind} name or a {short}"

    def in_range(num: int) -> int:
        if num > ID_MAX:
            raise BadValue(f"an existing {kind} name or a {short} between 0 and {ID_MAX}")
        return num

    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return in_range(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return in_range(int(text))
        try:
            return lookup(text)
        except KeyError:
            raise BadValue(expected, f"unknown {kind} {show(text)}") from None
    raise BadValue(expected)


def to_uid(value: Any) -> int:
    import pwd  # POSIX-only, and only needed when a uid is configured

    return _id(value, lambda name: pwd.getpwnam(name).pw_uid, "user", "uid")


def to_gid(value: Any) -> int:
    import grp

    return _id(value, lambda name: grp.getgrnam(name).gr_gid, "group", "gid")


def _octal(value: Any, expected: str) -> int:
    """Strings are octal as in circus ("022", "0o22"); a native integer is taken as is."""
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int):
        num = value
    elif isinstance(value, str):
        try:
            num = int(value.strip(), 8)
        except ValueError:
            raise BadValue(expected) from None
    else:
        raise BadValue(expected)
    if not 0 <= num <= 0o777:
        raise BadValue(expected)
    return num


def to_umask(value: Any) -> int:
    return _octal(value, 'an octal umask between "000" and "777"')


_UNLIMITED = frozenset({"", "-1", "unlimited", "infinity"})


def to_rlimit(value: Any) -> int:
    """An integer >= 0, or -1 / "unlimited" (and empty, as circus) for RLIM_INFINITY -> -1;
    at most the largest value setrlimit() takes."""
    if isinstance(value, str) and value.strip().lower() in _UNLIMITED:
        return -1
    try:
        num = to_int(value, minimum=-1, too_big=f'an integer between 0 and {INT64_MAX}, or '
                     '"unlimited"')
    except BadValue as exc:
        too_big = exc.expected.startswith("an integer between")
        raise BadValue(exc.expected if too_big else 'an integer >= 0, or "unlimited"') from None
    return num


def to_args(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:  # unbalanced quotes
            raise BadValue("arguments in shell syntax", str(exc)) from None
    if isinstance(value, list | tuple) and all(isinstance(a, str) for a in value):
        return list(value)
    raise BadValue("a string or a list of strings")


def to_env(value: Any) -> dict[str, str]:
    """A mapping of names to values; numbers and booleans become strings (TOML convenience)."""
    if not isinstance(value, dict):
        raise BadValue("a table of NAME = value")
    env: dict[str, str] = {}
    for key, val in value.items():
        if not isinstance(key, str) or not key or "=" in key:
            raise BadValue("variable names without '='")
        if isinstance(val, bool):
            env[key] = "true" if val else "false"
        elif isinstance(val, str | int | float):
            env[key] = str(val)
        else:
            raise BadValue("string values", f"{key} is {show(val)}")
    return env


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_EXPECTED = ('a size: bytes, or a number with a unit K, M, G or T such as "512M", "1.5G", '
                 '"64MiB" (1024-based: 1K = 1024 bytes)')


def to_size(value: Any, *, minimum: int = 0) -> int:
    """512 (bytes), "512", "100k", "512M", "1.5G", "64MiB", "2GB" -> bytes. Every unit is
    1024-based, as memory limits are (cgroup memory.max, RSS)."""
    expected = SIZE_EXPECTED if minimum <= 0 else f"{SIZE_EXPECTED}, at least {minimum}"
    if isinstance(value, bool):
        raise BadValue(expected)
    if isinstance(value, int):
        num = value
    elif isinstance(value, float) and value.is_integer():
        num = int(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "").replace("_", "")
        for suffix in ("ib", "b"):
            if text.endswith(suffix) and text[:-len(suffix)][-1:] in ("k", "m", "g", "t"):
                text = text[:-len(suffix)]
                break
        else:
            if text.endswith("b") and text[:-1][-1:].isdigit():
                text = text[:-1]  # "4096B"
        unit = text[-1:] if text[-1:] in _SIZE_UNITS else ""
        number = text[:-1] if unit else text
        try:
            amount = float(number)
        except ValueError:
            raise BadValue(expected) from None
        if amount != amount or amount in (float("inf"), float("-inf")):
            raise BadValue(expected)
        num = int(amount * _SIZE_UNITS[unit])
    else:
        raise BadValue(expected)
    if num < minimum:
        raise BadValue(expected)
    return num


def to_percent(value: Any) -> float:
    """80, 80.5, "80", "80%" -> 80.0 (per cent of one CPU core; above 100 on many cores)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        value = value.strip()[:-1]
    try:
        return to_float(value)
    except BadValue:
        raise BadValue('a percentage >= 0 such as 80 or "80%"') from None


def to_names(value: Any) -> list[str]:
    """A list of names; INI (and TOML, for convenience) may give "a, b c" as one string."""
    if isinstance(value, str):
        return [n for n in value.replace(",", " ").split() if n]
    if isinstance(value, list | tuple) and all(isinstance(n, str) and n.strip() for n in value):
        return [n.strip() for n in value]
    raise BadValue('a list of names (INI: "a, b")')


def to_mode(value: Any) -> int:
    """A file mode: octal strings ("0660", "660", "0o660") or a native integer (0o660)."""
    return _octal(value, 'an octal mode between "000" and "777", such as "0660"')

"""A small TOML writer for the documents Ringleader produces: ``dump_toml(document, notes)``.

It covers the subset a native config (translated, or a loaded ``Config`` turned into builtins
with ``msgspec.to_builtins``) holds: tables and sub-tables, arrays of tables, strings, ints,
floats, booleans, arrays and inline tables. ``tomllib.loads(dump_toml(d)) == d`` holds for
every document it accepts; anything else (None, dates, ints beyond 64 bits, lone
surrogates) is a ValueError naming the key, never a file that reads back differently.

Layout follows the README: ``[watchers.web]`` with its options, then ``[watchers.web.env]``,
``[watchers.web.stdout_stream]`` and other sub-tables; small leaf tables deeper down (a
hook's ``{ target = ..., kind = ... }``) stay inline. Each note becomes a ``#`` comment
above the key or table it concerns, or at the top of its nearest table when the thing it
concerns was dropped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ringleader.config.dialects.translation import Note

Path = tuple[str, ...]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_\-]+\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what a literal string may not hold
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}
_INLINE_DEPTH = 4  # [watchers.NAME.hooks] holds its hooks inline; shallower tables get headers
_WIDTH = 100  # an inline table or array longer than this is written otherwise


def dump_toml(document: Mapping[str, Any], notes: Sequence[Note] = ()) -> str:
    """The TOML text of *document*, with each of *notes* as a comment next to its target."""
    writer = _Writer(_place_notes(document, notes))
    writer.table((), document, header=False)
    writer.flush_top()
    lines: list[str] = []
    for line in writer.head + writer.lines:
        if line or (lines and lines[-1]):  # one blank line between blocks, none at the top
            lines.append(line)
    return "\n".join(lines).rstrip("\n") + "\n"


def _place_notes(document: Mapping[str, Any], notes: Sequence[Note]) -> dict[Path, list[str]]:
    """Each note keyed by the deepest part of its target the document has."""
    placed: dict[Path, list[str]] = {}
    for note in notes:
        node: Any = document
        reached: Path = ()
        for part in note.target:
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
            reached += (part,)
        placed.setdefault(reached, []).append(_comment(str(note)))
    return placed


def _comment(text: str) -> str:
    # A note quotes the user's file: a newline in it must not start a TOML line.
    return "# " + re.sub(r"[\x00-\x1f\x7f\u2028\u2029]", " ", text).strip()


def key(name: str) -> str:
    return name if _BARE_KEY.match(name) else _basic(name, (name,))


def _dotted(path: Path) -> str:
    return ".".join(key(p) for p in path)


def _basic(text: str, path: Path) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04X}")
        elif "\ud800" <= ch <= "\udfff":
            raise ValueError(f"{_dotted(path)}: a lone surrogate (not valid Unicode) has no "
                             "TOML form")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def string(text: str, path: Path = ()) -> str:
    """Basic string with escapes; a literal '...' string when that reads better (backslashes
    or double quotes, and nothing a literal string cannot hold)."""
    if ("\\" in text or '"' in text) and "'" not in text and not _CONTROL.search(text) \
            and not any("\ud800" <= ch <= "\udfff" for ch in text):
        return "'" + text + "'"
    return _basic(text, path)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list | tuple) and bool(value) and \
        all(isinstance(v, Mapping) for v in value)


def _is_leaf(table: Mapping[str, Any]) -> bool:
    return not any(isinstance(v, Mapping) or _is_table_list(v) for v in table.values())


def value(v: Any, path: Path) -> str:
    """One value on one line (arrays may wrap: see ``_Writer.assign``)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        if not -(1 << 63) <= v < (1 << 63):
            raise ValueError(f"{_dotted(path)}: {v} does not fit a TOML integer (64 bits)")
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return string(v, path)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(item, path) for item in v) + "]"
    if isinstance(v, Mapping):
        if not v:
            return "{}"
        return "{ " + ", ".join(f"{key(_name(k, path))} = {value(item, (*path, k))}"
                                for k, item in v.items()) + " }"
    what = "None" if v is None else type(v).__name__
    raise ValueError(f"{_dotted(path)}: {what} has no TOML form")


def _name(k: Any, path: Path) -> str:
    if not isinstance(k, str):
        raise ValueError(f"{_dotted(path)}: key {k!r} is not a string")
    return k


class _Writer:
    def __init__(self, notes: dict[Path, list[str]]) -> None:
        self.notes = notes
        self.head: list[str] = []  # notes about the whole document
        self.lines: list[str] = []

    def flush_top(self) -> None:
        self.head = self.notes.pop((), [])
        if self.head:
            self.head.append("")

    def _notes_under(self, path: Path) -> list[str]:
        """Notes of *path* and of everything inside it (written as one line)."""
        found: list[str] = []
        for p in sorted((p for p in self.notes if p[:len(path)] == path and p), key=len):
            found += self.notes.pop(p)
        return found

    def _inline(self, path: Path, v: Any) -> bool:
        if not isinstance(v, Mapping):
            return not _is_table_list(v)
        if not v:
            return True
        return len(path) >= _INLINE_DEPTH and _is_leaf(v) and len(value(v, path)) <= _WIDTH

    def assign(self, path: Path, v: Any) -> None:
        self.lines += self._notes_under(path)
        name = key(path[-1])
        text = value(v, path)
        if isinstance(v, list | tuple) and len(name) + len(text) + 3 > _WIDTH:
            items = [f"    {value(item, path)}," for item in v]
            self.lines += [f"{name} = [", *items, "]"]
        else:
            self.lines.append(f"{name} = {text}")

    def table(self, path: Path, table: Mapping[str, Any], *, header: bool,
              array: bool = False) -> None:
        for k in table:
            _name(k, path)
        inline = [k for k, v in table.items() if self._inline((*path, k), v)]
        nested = [k for k in table if k not in inline]
        if header:
            own = self.notes.get(path, [])
            if inline or not nested or own or array:
                self.lines.append("")
                self.lines += self.notes.pop(path, []) if not array else []
                self.lines.append(f"[[{_dotted(path)}]]" if array else f"[{_dotted(path)}]")
        for k in inline:
            self.assign((*path, k), table[k])
        for k in nested:
            sub = table[k]
            if isinstance(sub, Mapping):
                self.table((*path, k), sub, header=True)
                continue
            self.lines.append("")
            self.lines += self._notes_under((*path, k))
            for element in sub:
                self.table((*path, k), element, header=True, array=True)

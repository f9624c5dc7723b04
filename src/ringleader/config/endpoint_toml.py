"""What a TOML config's ``[ringleader]`` table says of its endpoint and includes, read
without tomllib: the console's ``-c CONFIG`` needs those three values only, and importing
tomllib (with re, typing, datetime) costs more than the rest of a ``status`` command.

The reader is conservative: it answers only for the plain TOML a config is written in and
gives up (None: "read it with tomllib", as before) on anything it is not sure of: multi-line
strings anywhere, quoted keys, arrays of tables, \\u escapes, dates, hexadecimal numbers, a
key or table defined twice or redefined, any syntax error, and, for the values it reads, a
dotted or inline definition of the table, an escape, or a value spanning lines.
tests/unit/config/test_endpoint_toml.py checks that it agrees with tomllib or gives up.

Stdlib only, and not even that: no import at all.
"""

from __future__ import annotations

KEYS_READ = ("endpoint", "include", "include_dir")
_TABLE = "ringleader"
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_ESCAPES = frozenset('btnfr"\\')
_VALUE_END = frozenset(" \t\n,]}#")
_OTHER = object()  # a value that is not a plain string or a list of them
_ESCAPED = object()  # a basic string with an escape in it (not decoded here)


class _GiveUp(Exception):
    """Not sure: tomllib decides."""


def controller_table(text: str) -> dict[str, object] | None:
    """The `endpoint`, `include` and `include_dir` of the `[ringleader]` table of TOML
    `text` (those present, in their order; {} when none is), as tomllib would read them; or
    None when not sure."""
    if '"""' in text or "'''" in text or "\r" in text or _has_control(text):
        return None
    try:
        return _Reader(text).document()
    except (_GiveUp, IndexError, RecursionError):  # IndexError: it ended mid-construct
        return None


def _has_control(text: str) -> bool:
    """ASCII control characters other than tab and newline: an error in TOML anywhere."""
    if text.replace("\t", "").replace("\n", "").isprintable():
        return False
    return any((ord(c) < 32 and c not in "\t\n") or c == "\x7f" for c in text)


class _Reader:
    __slots__ = ("dotted", "found", "headers", "n", "pos", "tables", "text", "values")

    def __init__(self, text: str) -> None:
        self.text = text + "\n"  # the last line ends like the others
        self.n = len(self.text)
        self.pos = 0
        self.found: dict[str, object] = {}
        self.headers: set[tuple[str, ...]] = set()  # tables declared by [header]
        self.dotted: set[tuple[str, ...]] = set()  # tables made by dotted keys
        self.tables: set[tuple[str, ...]] = set()  # every table path and its parents
        self.values: set[tuple[str, ...]] = set()  # every key given a value (inline too)

    def document(self) -> dict[str, object]:
        header: tuple[str, ...] = ()
        while self.pos < self.n:
            self.skip_blank()
            c = self.text[self.pos]
            if c == "\n":
                self.pos += 1
                continue
            if c == "#":
                self.skip_comment()
                continue
            if c == "[":
                header = self.header()
            else:
                self.key_value(header)
            self.end_of_line()
        return self.found

    # -- lines -------------------------------------------------------------------------

    def header(self) -> tuple[str, ...]:
        self.pos += 1
        if self.text[self.pos] == "[":
            raise _GiveUp  # an array of tables
        self.skip_blank()
        path = self.key_path()
        self.skip_blank()
        self.expect("]")
        if path in self.headers or path in self.dotted or path in self.values:
            raise _GiveUp  # declared twice, or a value already
        if any(path[:i] in self.values for i in range(1, len(path))):
            raise _GiveUp
        if path[0] == _TABLE and len(path) > 1 and path[1] in KEYS_READ:
            raise _GiveUp  # [ringleader.endpoint]: a table where a string is read
        self.headers.add(path)
        self.tables.update(path[:i] for i in range(1, len(path) + 1))
        return path

    def key_value(self, header: tuple[str, ...]) -> None:
        key = self.key_path()
        full = header + key
        self.skip_blank()
        self.expect("=")
        self.skip_blank()
        start = self.pos
        value = self.value()
        for i in range(1, len(key)):
            container = header + key[:i]
            if container in self.headers or container in self.values:
                raise _GiveUp  # redefines a table, or a value
            self.dotted.add(container)
            self.tables.add(container)
        if full in self.values or full in self.tables:
            raise _GiveUp  # defined twice
        self.values.add(full)
        if header == () and key[0] == _TABLE:
            raise _GiveUp  # ringleader.endpoint = ..., ringleader = {...}
        if header == (_TABLE,) and key[0] in KEYS_READ:
            if len(key) > 1 or "\n" in self.text[start:self.pos]:
                raise _GiveUp
            if value is _OTHER or value is _ESCAPED:
                raise _GiveUp
            self.found[key[0]] = value

    def key_path(self) -> tuple[str, ...]:
        keys = [self.bare_key()]
        while True:
            self.skip_blank()
            if self.text[self.pos] != ".":
                return tuple(keys)
            self.pos += 1
            self.skip_blank()
            keys.append(self.bare_key())

    def bare_key(self) -> str:
        start = self.pos
        while self.text[self.pos] in _BARE:
            self.pos += 1
        if self.pos == start:
            raise _GiveUp  # a quoted key, or no key
        return self.text[start:self.pos]

    def end_of_line(self) -> None:
        self.skip_blank()
        if self.text[self.pos] == "#":
            self.skip_comment()
        else:
            self.expect("\n")

    # -- values ------------------------------------------------------------------------

    def value(self) -> object:
        c = self.text[self.pos]
        if c == '"':
            return self.basic_string()
        if c == "'":
            return self.literal_string()
        if c == "[":
            return self.array()
        if c == "{":
            self.inline_table()
            return _OTHER
        start = self.pos
        while self.text[self.pos] not in _VALUE_END:
            self.pos += 1
        if not _is_scalar(self.text[start:self.pos]):
            raise _GiveUp
        return _OTHER

    def basic_string(self) -> object:
        start = self.pos + 1
        i = start
        escaped = False
        while True:
            quote = self.text.find('"', i)
            if quote < 0:
                raise _GiveUp
            slash = self.text.find("\\", i, quote)
            if slash < 0:
                break
            if self.text[slash + 1] not in _ESCAPES:
                raise _GiveUp  # \u, \U (decoded by tomllib) or not an escape
            escaped = True
            i = slash + 2
        if "\n" in self.text[start:quote]:
            raise _GiveUp
        self.pos = quote + 1
        return _ESCAPED if escaped else self.text[start:quote]

    def literal_string(self) -> str:
        start = self.pos + 1
        end = self.text.find("'", start)
        if end < 0 or "\n" in self.text[start:end]:
            raise _GiveUp
        self.pos = end + 1
        return self.text[start:end]

    def array(self) -> object:
        self.pos += 1
        items: list[object] = []
        while True:
            self.skip_space_in_array()
            if self.text[self.pos] == "]":
                break
            items.append(self.value())
            self.skip_space_in_array()
            if self.text[self.pos] != ",":
                break
            self.pos += 1
        self.expect("]")
        if all(isinstance(item, str) for item in items):
            return items
        return _OTHER

    def inline_table(self) -> None:
        """{ a = 1, b = "x" } on one line; dotted keys in it: give up."""
        self.pos += 1
        keys: set[str] = set()
        self.skip_blank()
        if self.text[self.pos] == "}":
            self.pos += 1
            return
        while True:
            self.skip_blank()
            key = self.bare_key()
            self.skip_blank()
            if key in keys or self.text[self.pos] != "=":
                raise _GiveUp  # a key twice, a dotted key or no `=`
            keys.add(key)
            self.pos += 1
            self.skip_blank()
            value_start = self.pos
            self.value()
            if "\n" in self.text[value_start:self.pos]:
                raise _GiveUp  # an inline table is one line
            self.skip_blank()
            if self.text[self.pos] == "}":
                self.pos += 1
                return
            self.expect(",")

    # -- characters --------------------------------------------------------------------

    def expect(self, char: str) -> None:
        if self.text[self.pos] != char:
            raise _GiveUp
        self.pos += 1

    def skip_blank(self) -> None:
        while self.text[self.pos] in " \t":
            self.pos += 1

    def skip_comment(self) -> None:
        self.pos = self.text.index("\n", self.pos) + 1

    def skip_space_in_array(self) -> None:
        """Blanks, newlines and comments between an array's items."""
        while True:
            c = self.text[self.pos]
            if c in " \t\n":
                self.pos += 1
            elif c == "#":
                self.skip_comment()
            else:
                return


def _is_scalar(token: str) -> bool:
    """true, false, a decimal integer or a float as TOML writes them (no inf, nan, hex,
    octal, binary or date: the reader gives up on those)."""
    if token in ("true", "false"):
        return True
    body = token[1:] if token[:1] in "+-" else token
    mantissa, e, exponent = body.lower().partition("e")
    whole, dot, fraction = mantissa.partition(".")
    if not _digits(whole) or (len(whole) > 1 and whole[0] == "0"):
        return False
    if dot and not _digits(fraction):
        return False
    if e:
        exponent = exponent[1:] if exponent[:1] in "+-" else exponent
        if not _digits(exponent):
            return False
    return True


def _digits(text: str) -> bool:
    """ASCII digits, single underscores between them."""
    return (text != "" and text[0] != "_" and text[-1] != "_" and "__" not in text
            and text.isascii() and text.replace("_", "").isdigit())

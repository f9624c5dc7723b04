"""What a foreign format (supervisord.conf, Procfile) translates into: the native TOML document
as a plain dict, plus notes on what was dropped or changed meaning.

The native loader validates the document like any ``ringleader.toml`` (one validation path);
``ringleader convert`` prints it with ``dump_toml`` and each note as a comment next to the
thing it concerns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ringleader.errors import ConfigError

# A watcher (and socket, group) name the native loader accepts (model.WatcherConfig.name).
NATIVE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}\Z")  # \Z: no trailing newline


@dataclass(frozen=True, slots=True)
class Note:
    """One thing of the source that was dropped or changed meaning.

    *where*: the place in the source ("supervisord.conf: [program:web] stdout_syslog");
    *target*: the key path in the document the comment goes next to (("watchers", "web",
    "stdout_stream")); a path that does not exist in the document (a dropped option) puts
    the comment in its nearest existing table; () puts it at the top."""

    where: str
    message: str
    target: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True, slots=True)
class Translation:
    """*document*: exactly what ``tomllib`` gives for the equivalent native file;
    *sources*: absolute paths of every file read (includes, ``.env``)."""

    document: dict[str, Any]
    notes: list[Note]
    sources: list[str]


@dataclass
class Findings:
    """Problems (errors, one finished line each) and notes gathered while translating."""

    problems: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def error(self, where: str, option: str, message: str) -> None:
        self.problems.append(f"{where} {option}: {message}" if option else f"{where}: {message}")

    def note(self, where: str, message: str, target: tuple[str, ...] = ()) -> None:
        self.notes.append(Note(where, message, target))

    def unknown(self, where: str, option: str, candidates: list[str]) -> bool:
        """A misspelt option (close to a known one) is an error with a suggestion: True.
        Anything else is only unknown: False, the caller notes it."""
        import difflib  # only on this path

        close = difflib.get_close_matches(option, candidates, n=1, cutoff=0.75)
        if close:
            self.problems.append(f'{where} {option}: unknown option (did you mean '
                                 f'"{close[0]}"?)')
            return True
        return False

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)

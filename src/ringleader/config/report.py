"""What normalising a config collects: every problem and warning, one finished line each
(``FILE: [section] field: what is wrong (expected ...)``), so that the user sees every
mistake at once. The leaf of the config package: every section and dialect reports here.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

from ringleader.config.values import BadValue, show

# The front end a section came from: its option spellings and defaults differ a little.
Dialect = Literal["toml", "ini", "dict"]
_T = TypeVar("_T")


class Report:
    """Collects problems (errors) and warnings, each one finished line."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def bad(self, where: str, field: str, value: Any, exc: BadValue) -> None:
        if exc.detail:
            self.problems.append(f"{where} {field}: {exc.detail} (expected {exc.expected})")
        else:
            self.problems.append(f"{where} {field}: expected {exc.expected}, got {show(value)}")

    def error(self, where: str, field: str, message: str) -> None:
        self.problems.append(f"{where} {field}: {message}" if field else f"{where}: {message}")

    def unknown(self, where: str, key: str, candidates: list[str]) -> None:
        import difflib  # only on the error path

        close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.7)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        self.problems.append(f"{where} {key}: unknown option{hint}")


def convert(data: dict[str, Any], model: type[_T], where: str, prefix: str,
            report: Report) -> _T | None:
    """Last guard: the model's own constraints, with its error path mapped back to a field."""
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        field = ""
        if " - at `$." in msg:
            msg, _, path = msg.partition(" - at `$.")
            field = path.rstrip("`").replace("[", ".").replace("]", "").replace("'", "")
        report.error(where, prefix + field if field else prefix.rstrip("."), msg)
        return None

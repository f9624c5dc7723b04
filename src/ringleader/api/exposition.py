"""The Prometheus text exposition format, version 0.0.4, written by hand.

It is a dozen rules (``# HELP`` and ``# TYPE`` lines, then one ``name{label="value"} number``
line per sample; backslash, double quote and newline escaped in label values, backslash and
newline in help texts), which every Prometheus version reads. Writing it here keeps the
controller free of prometheus-client, whose exposition module imports ``ssl`` (kept out of a
controller without a TLS listener, about 4 MB) and a registry the controller does not need.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

__all__ = ["CONTENT_TYPE", "Family", "render"]

CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Family:
    """One metric: its name as exposed (a counter's ends in ``_total``), help text, type,
    label names, and samples (label values in the order of `labels`, value)."""

    name: str
    help: str
    kind: Literal["gauge", "counter"] = "gauge"
    labels: tuple[str, ...] = ()
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float) -> None:
        if len(values) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.labels)} label values expected, "
                             f"got {len(values)}")
        self.samples.append((tuple(values), value))


def render(families: Iterable[Family]) -> bytes:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        order = sorted(range(len(family.labels)), key=family.labels.__getitem__)
        for values, value in family.samples:
            labels = ",".join(f'{family.labels[i]}="{_escape_label(values[i])}"'
                              for i in order)
            selector = f"{{{labels}}}" if labels else ""
            lines.append(f"{family.name}{selector} {format_value(value)}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


def format_value(value: float) -> str:
    """A sample value as Prometheus parses it: Go's spellings of the specials, else the
    shortest text that reads back as the same float."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

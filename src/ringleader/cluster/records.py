"""The values stored under the cluster's keys (see ``keys``), as JSON Structs.

Unknown fields are ignored on read, so a newer agent may add some without breaking older
ones during a rolling upgrade. A value that does not decode is treated as absent by the
readers (and logged by them), never as a crash.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

T = TypeVar("T")


class Capacity(msgspec.Struct, frozen=True, kw_only=True):
    """What a node offers, for the console and future placement by resources."""

    cpus: int = 0
    memory_bytes: int = 0


class NodeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``nodes/<node>``: a live node (the key goes with the node's lease)."""

    name: str
    api: str | None = None  # its TLS control API, HOST:PORT (the console's way in)
    labels: dict[str, str] = {}
    version: str = ""
    started: float = 0.0  # wall clock, seconds since the epoch
    instance: str = ""  # random per agent start: tells a restart from the same run
    registered: float = 0.0  # wall clock of this registration (its lease's age)
    capacity: Capacity = Capacity()


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """``assignments/<node>/<job>``: run ``count`` processes of the job as defined at
    ``job_revision`` (the mod_revision of ``jobs/<job>``)."""

    count: int
    job_revision: int


class DrainRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``drain/<node>``: the node gets no cluster work; what it ran moves elsewhere."""

    since: float  # wall clock
    reason: str = ""


class SchedulerRecord(msgspec.Struct, frozen=True, kw_only=True):
    """``scheduler``: the elected scheduler (the key goes with its node's lease)."""

    node: str
    since: float  # wall clock


def encode(record: msgspec.Struct) -> bytes:
    return msgspec.json.encode(record)


def decode(data: bytes, kind: type[T]) -> T | None:
    """The record, or None when the value is not one."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None

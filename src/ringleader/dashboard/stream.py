"""The dashboard's one live stream per tab: ``GET /v1/stream``, pure parts.

Browsers open at most 6 connections per host over HTTP/1.1; a stream per view (status,
logs, stats, events) in a few tabs would leave none for a button's POST, which would
hang. So each tab holds ONE Server-Sent Events stream that multiplexes the topics its
view needs, and closes it while hidden. The full contract is in PROTOCOL.md next to
this module; here are the parts with no I/O, used by the server and its tests:

- `parse_stream_request`: the query (``topics``, ``watcher``, ``stream``, ``backlog``,
  ``interval``, ``last_event_id``) and the ``Last-Event-ID`` header, validated, one-line errors;
- `encode_frame`: one SSE message (``event:``, ``id:``, ``data:`` lines);
- `ReplayBuffer`: the recent events and log lines, numbered, from which a reconnecting
  client is resumed after its last id; when that id is gone (or from another controller
  run), the server sends ``reset`` and the client starts afresh.

Ids are ``<epoch>-<seq>``: *epoch* is random per controller run, *seq* counts the items
of the buffer. Only replayable items (``event``, ``log``) carry an id; snapshots
(``status``, ``stats``) carry none, so the browser's last id is always a replay point.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, final

TOPICS = ("status", "stats", "events", "logs")
# The SSE event name of each topic's messages.
EVENT_NAMES: Mapping[str, str] = {"status": "status", "stats": "stats", "events": "event",
                                  "logs": "log"}
LOG_STREAMS = ("stdout", "stderr")
MAX_BACKLOG = 1000
RETRY_MS = 2000  # sent first: how long the browser waits before reconnecting
_ID = re.compile(r"^([0-9a-f]{8})-([0-9]{1,18})$")
_WATCHER = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")  # the API's watcher name rule
_PARAMS = frozenset({"topics", "watcher", "stream", "backlog", "interval", "last_event_id"})

Kind = Literal["event", "log"]


class StreamRequestError(ValueError):
    """A bad stream query: the message names the parameter."""


@final
@dataclass(frozen=True, slots=True)
class EventId:
    epoch: str
    seq: int

    def __str__(self) -> str:
        return f"{self.epoch}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> EventId | None:
        match = _ID.match(text.strip())
        return cls(match.group(1), int(match.group(2))) if match else None


@final
@dataclass(frozen=True, slots=True)
class StreamRequest:
    topics: frozenset[str]
    watcher: str | None  # logs, stats and events of this watcher only
    streams: frozenset[str]  # which log streams
    backlog: int  # recent log lines and events sent first on a fresh (not resumed) stream
    interval: float  # seconds between stats messages
    resume: EventId | None  # resume after this id

    def wants(self, kind: Kind, watcher: str | None, stream: str | None = None) -> bool:
        """Whether an item of the buffer goes to this stream. Events that concern no
        watcher (a config reload) go to every stream that asked for events."""
        if (kind == "event" and "events" not in self.topics) or \
                (kind == "log" and "logs" not in self.topics):
            return False
        if self.watcher is not None and watcher is not None and watcher != self.watcher:
            return False
        return kind != "log" or stream is None or stream in self.streams


def parse_stream_request(query: Mapping[str, list[str]],
                         last_event_id: str | None = None) -> StreamRequest:
    """Validate the query of ``GET /v1/stream``. The ``Last-Event-ID`` header (sent by
    the browser when it reconnects by itself) wins over the ``last_event_id`` parameter
    (set by the page when it reopens the stream, e.g. when the tab is shown again)."""
    unknown = set(query) - _PARAMS
    if unknown:
        raise StreamRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    topics = frozenset(_split(query, "topics") or ())
    if not topics:
        raise StreamRequestError(f"topics is required: a comma-separated list of "
                                 f"{', '.join(TOPICS)}")
    bad = topics - set(TOPICS)
    if bad:
        raise StreamRequestError(f"unknown topic(s) {', '.join(sorted(bad))} (expected "
                                 f"{', '.join(TOPICS)})")
    watcher = _single(query, "watcher")
    if watcher is not None and not _WATCHER.match(watcher):
        raise StreamRequestError(f"watcher {watcher!r} is not a valid watcher name")
    streams = frozenset(_split(query, "stream") or LOG_STREAMS)
    if streams - set(LOG_STREAMS):
        raise StreamRequestError(f"stream must be stdout, stderr or both, got "
                                 f"{','.join(sorted(streams))}")
    backlog = int(_number(query, "backlog", 0, 0, MAX_BACKLOG, integer=True))
    interval = _number(query, "interval", 2.0, 0.5, 60.0)
    raw_id = last_event_id if last_event_id is not None else _single(query, "last_event_id")
    resume = None
    if raw_id is not None and raw_id.strip():
        resume = EventId.parse(raw_id)
        if resume is None:
            raise StreamRequestError(f"last event id {raw_id[:40]!r} is not EPOCH-SEQ")
    return StreamRequest(topics, watcher, streams, backlog, interval, resume)


def _single(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise StreamRequestError(f"query parameter {key!r} given more than once")
    return values[0]


def _split(query: Mapping[str, list[str]], key: str) -> list[str] | None:
    raw = _single(query, key)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _number(query: Mapping[str, list[str]], key: str, default: float, low: float,
            high: float, *, integer: bool = False) -> float:
    raw = _single(query, key)
    if raw is None:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise StreamRequestError(f"{key} must be {kind}, got {raw[:40]!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise StreamRequestError(f"{key} must be between {low:g} and {high:g}, got {raw}")
    return value


def encode_frame(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One SSE message. A line break inside *data* starts a new ``data:`` line (the
    browser joins them with a newline); CR and CRLF are line breaks to SSE as well."""
    if not event or any(c in event for c in "\r\n:") or \
            (event_id is not None and any(c in event_id for c in "\r\n\0")):
        raise ValueError("an SSE event name or id contains a line break")
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    head = b"event: %s\n" % event.encode()
    if event_id is not None:
        head += b"id: %s\n" % event_id.encode()
    return head + b"".join(b"data: %s\n" % line for line in lines) + b"\n"


def retry_frame(milliseconds: int = RETRY_MS) -> bytes:
    return b"retry: %d\n\n" % milliseconds


@final
@dataclass(frozen=True, slots=True)
class Item:
    seq: int
    kind: Kind
    watcher: str | None
    stream: str | None  # stdout or stderr, for a log line
    data: bytes  # the JSON payload


@final
class ReplayBuffer:
    """The recent replayable items, numbered from 1, bounded by count and by bytes."""

    def __init__(self, epoch: str, *, max_items: int = 10_000,
                 max_bytes: int = 8 << 20) -> None:
        if not re.fullmatch(r"[0-9a-f]{8}", epoch):
            raise ValueError("epoch must be 8 lower-case hex digits")
        self.epoch = epoch
        self._items: deque[Item] = deque()
        self._bytes = 0
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._seq = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def last_id(self) -> EventId | None:
        return EventId(self.epoch, self._seq) if self._seq else None

    def id_of(self, item: Item) -> str:
        return f"{self.epoch}-{item.seq}"

    def append(self, kind: Kind, data: bytes, *, watcher: str | None = None,
               stream: str | None = None) -> Item:
        self._seq += 1
        item = Item(self._seq, kind, watcher, stream, data)
        self._items.append(item)
        self._bytes += len(data)
        while self._items and (len(self._items) > self._max_items
                               or self._bytes > self._max_bytes):
            self._bytes -= len(self._items.popleft().data)
        return item

    def held(self) -> list[Item]:
        """Every item the buffer still holds, oldest first."""
        return list(self._items)

    def since(self, resume: EventId) -> list[Item] | None:
        """The items after *resume*, or None when they cannot all be given: another
        epoch (the controller restarted), an id from the future, or items already
        dropped from the buffer."""
        if resume.epoch != self.epoch or resume.seq > self._seq:
            return None
        oldest = self._items[0].seq if self._items else self._seq + 1
        if resume.seq < oldest - 1:
            return None
        skip = resume.seq - oldest + 1  # seqs are contiguous in the buffer
        return list(self._items)[skip:] if skip > 0 else list(self._items)

    def select(self, items: Iterable[Item], request: StreamRequest) -> list[Item]:
        return [i for i in items if request.wants(i.kind, i.watcher, i.stream)]

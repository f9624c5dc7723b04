"""The live stream's pure parts: the query, ids, SSE framing and the replay buffer."""

from __future__ import annotations

import pytest

from ringleader.dashboard.stream import (
    EventId,
    ReplayBuffer,
    StreamRequest,
    StreamRequestError,
    encode_frame,
    parse_stream_request,
    retry_frame,
)

EPOCH = "0a1b2c3d"


def parse(header: str | None = None, **query: str) -> StreamRequest:
    """The query as keywords; *header* is the Last-Event-ID header."""
    return parse_stream_request({k: [v] for k, v in query.items()}, header)


def test_a_full_query() -> None:
    request = parse(topics="status, logs,stats", watcher="web.1", stream="stderr",
                    backlog="200", interval="0.5", last_event_id=f"{EPOCH}-7")
    assert request == StreamRequest(topics=frozenset({"status", "logs", "stats"}),
                                    watcher="web.1", streams=frozenset({"stderr"}),
                                    backlog=200, interval=0.5, resume=EventId(EPOCH, 7))


def test_defaults() -> None:
    request = parse(topics="events")
    assert (request.watcher, request.streams, request.backlog, request.interval,
            request.resume) == (None, frozenset({"stdout", "stderr"}), 0, 2.0, None)


def test_the_header_wins_over_the_query() -> None:
    """The browser's own reconnection sends the header and reuses the URL, whose
    last_event_id is older."""
    request = parse(f"{EPOCH}-9", topics="logs", last_event_id=f"{EPOCH}-3")
    assert request.resume == EventId(EPOCH, 9)
    assert parse("", topics="logs").resume is None


@pytest.mark.parametrize(("query", "message"), [
    ({}, "topics is required"),
    ({"topics": ""}, "topics is required"),
    ({"topics": "status,secrets"}, "unknown topic(s) secrets"),
    ({"topics": "logs", "colour": "1"}, "unknown query parameter(s): colour"),
    ({"topics": "logs", "watcher": "../etc"}, "watcher '../etc' is not a valid watcher name"),
    ({"topics": "logs", "stream": "stdin"}, "stream must be stdout, stderr or both"),
    ({"topics": "logs", "backlog": "-1"}, "backlog must be between 0 and 1000"),
    ({"topics": "logs", "backlog": "1e3"}, "backlog must be an integer"),
    ({"topics": "logs", "backlog": "5000"}, "backlog must be between 0 and 1000"),
    ({"topics": "stats", "interval": "0.01"}, "interval must be between 0.5 and 60"),
    ({"topics": "stats", "interval": "nan"}, "interval must be between"),
    ({"topics": "stats", "interval": "soon"}, "interval must be a number"),
    ({"topics": "logs", "last_event_id": "7"}, "is not EPOCH-SEQ"),
    ({"topics": "logs", "last_event_id": f"{EPOCH}-x"}, "is not EPOCH-SEQ"),
])
def test_bad_queries_get_one_line_errors(query: dict[str, str], message: str) -> None:
    with pytest.raises(StreamRequestError) as info:
        parse(**query)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_repeated_parameter_is_refused() -> None:
    with pytest.raises(StreamRequestError, match="'watcher' given more than once"):
        parse_stream_request({"topics": ["logs"], "watcher": ["a", "b"]})


def test_a_bad_header_id_is_refused() -> None:
    with pytest.raises(StreamRequestError, match="last event id 'garbage'"):
        parse("garbage", topics="logs")


def test_event_ids() -> None:
    assert str(EventId(EPOCH, 12)) == f"{EPOCH}-12"
    assert EventId.parse(f" {EPOCH}-12 ") == EventId(EPOCH, 12)
    for bad in ("", "0a1b2c3d", "0A1B2C3D-1", "0a1b2c3-1", f"{EPOCH}--1", f"{EPOCH}-1-2",
                f"{EPOCH}-" + "9" * 19):
        assert EventId.parse(bad) is None, bad


def test_frames() -> None:
    assert encode_frame("status", b'{"a":1}') == b'event: status\ndata: {"a":1}\n\n'
    assert encode_frame("log", b"x", f"{EPOCH}-3") == \
        f"event: log\nid: {EPOCH}-3\ndata: x\n\n".encode()
    # every line break SSE knows starts a new data line: nothing can forge a field
    assert encode_frame("log", b"a\nid: 9\r\nb\rc") == \
        b"event: log\ndata: a\ndata: id: 9\ndata: b\ndata: c\n\n"
    assert retry_frame(1500) == b"retry: 1500\n\n"
    for name, event_id in (("", None), ("a\nb", None), ("data:", None), ("log", "1\n2")):
        with pytest.raises(ValueError):
            encode_frame(name, b"x", event_id)


def test_replay_after_an_id() -> None:
    buffer = ReplayBuffer(EPOCH)
    assert buffer.last_id is None
    items = [buffer.append("log", b"%d" % i, watcher="web", stream="stdout") for i in range(5)]
    assert buffer.last_id == EventId(EPOCH, 5)
    assert buffer.since(EventId(EPOCH, 2)) == items[2:]
    assert buffer.since(EventId(EPOCH, 5)) == []
    assert buffer.since(EventId(EPOCH, 0)) == items
    assert buffer.id_of(items[0]) == f"{EPOCH}-1"


def test_no_replay_from_another_run_or_the_future() -> None:
    buffer = ReplayBuffer(EPOCH)
    buffer.append("event", b"{}")
    assert buffer.since(EventId("ffffffff", 1)) is None  # the controller restarted
    assert buffer.since(EventId(EPOCH, 2)) is None
    assert ReplayBuffer(EPOCH).since(EventId(EPOCH, 0)) == []


def test_the_buffer_is_bounded_and_says_when_it_lost_items() -> None:
    by_count = ReplayBuffer(EPOCH, max_items=3)
    for _ in range(5):
        by_count.append("log", b"x")
    assert len(by_count) == 3
    assert by_count.since(EventId(EPOCH, 1)) is None  # item 2 was dropped
    assert [i.seq for i in by_count.since(EventId(EPOCH, 2)) or []] == [3, 4, 5]

    by_bytes = ReplayBuffer(EPOCH, max_bytes=10)
    for _ in range(4):
        by_bytes.append("log", b"abcd")
    assert [i.seq for i in by_bytes.since(EventId(EPOCH, 2)) or []] == [3, 4]


def test_select_by_topic_watcher_and_stream() -> None:
    buffer = ReplayBuffer(EPOCH)
    buffer.append("log", b"", watcher="web", stream="stdout")
    buffer.append("log", b"", watcher="web", stream="stderr")
    buffer.append("log", b"", watcher="db", stream="stdout")
    buffer.append("event", b"", watcher="web")
    buffer.append("event", b"")  # a config reload: no watcher
    everything = buffer.since(EventId(EPOCH, 0)) or []

    def seqs(**query: str) -> list[int]:
        return [i.seq for i in buffer.select(everything, parse(**query))]

    assert seqs(topics="logs,events") == [1, 2, 3, 4, 5]
    assert seqs(topics="logs") == [1, 2, 3]
    assert seqs(topics="events,status") == [4, 5]
    assert seqs(topics="logs,events", watcher="web") == [1, 2, 4, 5]
    assert seqs(topics="logs", stream="stderr") == [2]
    assert seqs(topics="status,stats") == []


def test_the_epoch_is_checked() -> None:
    with pytest.raises(ValueError):
        ReplayBuffer("nothex!!")

"""get_arbiter as users write it: one command with a number of processes, or a list of
watchers; every wrong argument is a TypeError or ValueError naming it, raised by
get_arbiter itself (no thread started, no process spawned)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ringleader import Arbiter, BackgroundArbiter, WatcherConfig, get_arbiter
from ringleader.config.model import StreamConfig
from ringleader.errors import AlreadyExists, ConfigError, LimitExceeded
from ringleader.testing import pid_exists, wait_until_sync

NULL = {"kind": "null"}


def proc_list(pid: int, what: str) -> list[str]:
    """/proc/PID/cmdline or environ (empty until the spawned child has exec'd)."""
    with open(f"/proc/{pid}/{what}", "rb") as f:
        return f.read().decode().split("\0")[:-1]


def test_one_command_and_a_number_of_processes() -> None:
    with get_arbiter("sleep 997", 3, stdout_stream=NULL, timeout=30) as arbiter:
        assert isinstance(arbiter, BackgroundArbiter)
        info = arbiter.status("sleep")  # named after the program
        assert (info.state, info.numprocesses, info.running) == ("active", 3, 3)
        pids = arbiter.pids()
        assert len(pids) == 3
        wait_until_sync(lambda: all(proc_list(p, "cmdline") == ["sleep", "997"] for p in pids),
                        what="the workers' command lines")
    assert not any(pid_exists(p) for p in pids)


def test_watcher_options_by_keyword_and_one_process_by_default() -> None:
    arbiter = get_arbiter("sleep 998", name="napper", env={"MODE": "test"},
                          graceful_timeout=2, stdout_stream=NULL, timeout=30)
    arbiter.start()
    try:
        options = arbiter.options("napper").options
        assert options["env"] == {"MODE": "test"} and options["graceful_timeout"] == 2
        assert arbiter.numprocesses("napper") == 1
        (pid,) = arbiter.pids()
        wait_until_sync(lambda: "MODE=test" in proc_list(pid, "environ"),
                        what="the worker's environment")
    finally:
        arbiter.stop()
    assert not pid_exists(pid)


def test_a_list_of_dicts_and_watcher_configs() -> None:
    watchers: list[Any] = [
        {"name": "a", "cmd": "sleep 997", "numprocesses": 2, "stdout_stream": NULL},
        WatcherConfig(name="b", cmd="sleep 998", stdout_stream=StreamConfig(kind="null")),
        {"cmd": "sleep 999", "autostart": False},
    ]
    with get_arbiter(watchers, timeout=30) as arbiter:
        assert arbiter.list_watchers().watchers == ["a", "b", "sleep"]
        assert [(w.name, w.running) for w in arbiter.status().watchers] == [
            ("a", 2), ("b", 1), ("sleep", 0)]


def test_controller_options_as_a_dict() -> None:
    with pytest.raises(LimitExceeded, match="max_processes = 2"):
        get_arbiter("sleep 997", 3, controller={"max_processes": 2})
    with get_arbiter("sleep 997", 2, controller={"max_processes": 2}, stdout_stream=NULL,
                     timeout=30) as arbiter:
        with pytest.raises(LimitExceeded):
            arbiter.incr("sleep")
        assert arbiter.numprocesses("sleep") == 2


def test_duplicate_names_are_refused_at_once() -> None:
    with pytest.raises(ConfigError, match='duplicate watcher "w"'):
        get_arbiter([{"name": "w", "cmd": "sleep 1"}, {"name": "w", "cmd": "sleep 2"}])
    with pytest.raises(AlreadyExists, match="duplicate watcher names: w"):
        get_arbiter([WatcherConfig(name="w", cmd="sleep 1"), {"name": "w", "cmd": "sleep 2"}])


BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    ("number as a string", ("sleep 997", "3"), {}, TypeError,
     "numprocesses must be an int, got str '3'"),
    ("bool as number", ("sleep 997", True), {}, TypeError, "numprocesses must be an int"),
    ("negative number", ("sleep 997", -1), {}, ValueError, "numprocesses must be >= 0, got -1"),
    ("empty command", ("  ",), {}, ValueError, "cmd must be a command line"),
    ("command twice", ("sleep 997",), {"cmd": "sleep 1"}, TypeError, "the command twice"),
    ("not a list", (997,), {}, TypeError,
     "watchers must be a list of dicts of watcher options (or WatcherConfig objects), got int"),
    ("one dict", ({"cmd": "sleep 1"},), {}, TypeError, "got a single dict: put it in a list"),
    ("strings in the list", (["sleep 1"],), {}, TypeError,
     'watchers[0] must be a dict of watcher options or a WatcherConfig, got str "sleep 1"'),
    ("None in the list", ([{"cmd": "sleep 1"}, None],), {}, TypeError, "watchers[1] must be"),
    ("number key", ([{1: "x"}],), {}, TypeError, "watchers[0]: option names must be strings"),
    ("number with a list", ([{"cmd": "sleep 1"}], 3), {}, TypeError,
     "numprocesses goes with a command string"),
    ("options with a list", ([{"cmd": "sleep 1"}],), {"warmup_delay": 1}, TypeError,
     "unexpected keyword argument(s) warmup_delay"),
    ("timeout as a string", ("sleep 1",), {"timeout": "5"}, TypeError,
     "timeout must be a number of seconds or None"),
    ("zero timeout", ("sleep 1",), {"timeout": 0}, ValueError, "timeout must be > 0"),
    ("guardian as a string", ("sleep 1",), {"use_guardian": "yes"}, TypeError,
     "use_guardian must be True or False"),
    ("negative fd", ("sleep 1",), {"console_fd": -1}, ValueError, "console_fd must be >= 0"),
    ("colour as a string", ("sleep 1",), {"console_color": "auto"}, TypeError,
     "console_color must be True, False or None"),
    ("controller as a number", ("sleep 1",), {"controller": 5}, TypeError,
     "controller must be a ControllerConfig, a dict of controller options or None"),
    ("bad option value", ("sleep 1",), {"warmup_delay": "soon"}, ConfigError,
     'warmup_delay: expected a number >= 0, got "soon"'),
    ("misspelt option", ("sleep 1",), {"numproceses": 2}, ConfigError,
     'numproceses: unknown option (did you mean "numprocesses"?)'),
    ("bad value in a dict", ([{"cmd": "sleep 1", "numprocesses": "many"}],), {}, ConfigError,
     'numprocesses: expected an integer >= 0, got "many"'),
    ("bad controller option", ("sleep 1",), {"controller": {"max_processes": "lots"}},
     ConfigError, "max_processes"),
]


@pytest.mark.parametrize(("args", "kwargs", "kind", "message"),
                         [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_wrong_arguments_raise_a_clear_error_at_once(args: tuple[Any, ...],
                                                     kwargs: dict[str, Any],
                                                     kind: type[Exception], message: str) -> None:
    threads = threading.active_count()
    with pytest.raises(kind) as info:
        get_arbiter(*args, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, (TypeError, ValueError))  # ConfigError is a ValueError
    assert threading.active_count() == threads


def test_the_async_arbiter_refuses_a_string_too() -> None:
    with pytest.raises(TypeError, match="got the string \"sleep 1\""):
        Arbiter("sleep 1")  # type: ignore[arg-type]


def test_method_arguments_are_checked_with_clear_errors() -> None:
    with get_arbiter("sleep 997", stdout_stream=NULL, timeout=30) as arbiter:
        with pytest.raises(TypeError, match="count must be an int, got str '2'"):
            arbiter.incr("sleep", "2")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="count must be >= 0, got -1"):
            arbiter.set_numprocesses("sleep", -1)
        with pytest.raises(ValueError, match="no such signal: NOPE"):
            arbiter.signal("sleep", "NOPE")
        with pytest.raises(TypeError, match="changes must be a dict"):
            arbiter.set_options("sleep", 5)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="config must be a dict of watcher options"):
            arbiter.add_watcher("sleep 1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="watchers must be a list"):
            arbiter.reload_config("sleep 1")  # type: ignore[arg-type]
        assert arbiter.numprocesses("sleep") == 1

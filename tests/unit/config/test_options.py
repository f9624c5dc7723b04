"""config.options: the one merge of option changes (set, the API, the state file)."""

from __future__ import annotations

import pytest

from ringleader.config import options
from ringleader.config.features import AutoscaleConfig, BackoffConfig, FlappingConfig
from ringleader.config.load import watcher_from_dict
from ringleader.config.model import StreamConfig
from ringleader.errors import ConfigError

WEB = watcher_from_dict({
    "name": "web", "cmd": "sleep 100", "numprocesses": 2, "env": {"A": "1"},
    "stdout_stream": {"kind": "file", "filename": "/tmp/web.log", "max_bytes": 1000},
    "autoscale": {"min": 1, "max": 4, "interval": 2},
    "flapping": {"attempts": 3, "window": 5},
})


def test_dump_leaves_out_what_is_unset_or_at_its_default() -> None:
    full = options.dump(WEB)
    assert full["numprocesses"] == 2 and "uid" not in full
    assert full["stdout_stream"]["filename"] == "/tmp/web.log"
    assert "filename" not in full["stderr_stream"]  # None inside a table is left out too
    changed = options.dump(WEB, changed_only=True)
    assert {"name", "cmd", "numprocesses", "env", "stdout_stream", "autoscale",
            "flapping"} <= set(changed)
    assert not {"graceful_timeout", "backoff", "health", "hooks"} & set(changed)


def test_values_are_normalised_as_in_a_config_file() -> None:
    new = options.apply(WEB, {"numprocesses": "5", "graceful_timeout": "3"}, where="w")
    assert (new.numprocesses, new.graceful_timeout) == (5, 3.0)
    assert new.env == {"A": "1"} and new.autoscale == WEB.autoscale


def test_a_dotted_change_reaches_into_its_table_and_keeps_the_rest() -> None:
    new = options.apply(WEB, {"autoscale.max": "6", "stdout_stream.backup_count": 2},
                        where="w")
    assert new.autoscale == AutoscaleConfig(min=1, max=6, interval=2.0)
    assert new.stdout_stream == StreamConfig(kind="file", filename="/tmp/web.log",
                                             max_bytes=1000, backup_count=2)
    assert new.flapping == WEB.flapping


def test_tables_the_changes_do_not_reach_stay_as_they_are() -> None:
    new = options.apply(WEB, {"numprocesses": 3}, where="w")
    assert new.stdout_stream is WEB.stdout_stream  # typed, not rebuilt from a dict
    assert new.flapping is WEB.flapping


def test_circus_flat_flapping_options_apply_to_the_table() -> None:
    off = options.apply(WEB, {"check_flapping": "false"}, where="w")
    assert off.flapping is None
    plain = watcher_from_dict({"name": "db", "cmd": "x"})
    retries = options.apply(plain, {"max_retry": "4"}, where="w")
    assert retries.backoff == BackoffConfig(max_retries=4)
    assert options.apply(WEB, {"flapping_attempts": 9}, where="w").flapping == \
        FlappingConfig(attempts=3, window=5.0)  # the table's own value wins, as in a file


def test_a_bad_change_names_the_field_and_changes_nothing() -> None:
    with pytest.raises(ConfigError) as info:
        options.apply(WEB, {"numprocesses": "many", "autoscale.min": 9}, where="watcher web")
    problems = "\n".join(info.value.problems)
    assert "watcher web numprocesses" in problems
    assert "watcher web autoscale.min" in problems
    assert WEB.numprocesses == 2


def test_the_name_cannot_change() -> None:
    assert options.apply(WEB, {"name": "other"}, where="w").name == "web"

"""supervisorctl's and circusctl's selectors resolved against a status (pure)."""

from __future__ import annotations

import re

import pytest

from ringleader.cli.selectors import Target, is_selector, resolve

STATUS = {"watchers": [
    {"name": "front", "group": "web", "processes": [{"wid": 1, "name": "front_00"},
                                                   {"wid": 2, "name": "front_01"}]},
    {"name": "api", "group": "web", "processes": [{"wid": 1, "name": "api.1"}]},
    {"name": "worker-a", "group": None, "processes": [{"wid": 1, "name": "worker-a.1"}]},
    {"name": "db", "group": None, "processes": [{"wid": 1, "name": "db"}]},
]}


def test_plain_names_are_not_selectors() -> None:
    assert not is_selector("web")
    assert all(map(is_selector, ["web:*", "w*", "web:front_00", "w?b", "[ab]"]))


def test_a_group() -> None:
    assert resolve(STATUS, "web:*") == [Target("front", None, "web:front"),
                                        Target("api", None, "web:api")]


def test_a_process_of_a_group_and_a_glob_of_them() -> None:
    assert resolve(STATUS, "web:front_01") == [Target("front", 2, "web:front_01")]
    assert [t.wid for t in resolve(STATUS, "web:front_*")] == [1, 2]


def test_a_program_outside_a_group_is_its_own_group() -> None:
    assert resolve(STATUS, "db:*") == [Target("db", None, "db")]
    assert resolve(STATUS, "db:db") == [Target("db", 1, "db")]


def test_globs_match_watchers_then_process_names() -> None:
    assert [t.watcher for t in resolve(STATUS, "work*")] == ["worker-a"]
    assert resolve(STATUS, "front_0?") == [Target("front", 1, "front_00"),
                                           Target("front", 2, "front_01")]


@pytest.mark.parametrize(("selector", "why"), [
    ("nosuch:*", "no group 'nosuch'"),
    ("web:nosuch", "no process 'nosuch' in group 'web'"),
    ("zz*", "no watcher or process matches 'zz*'"),
])
def test_nothing_named_says_why(selector: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        resolve(STATUS, selector)

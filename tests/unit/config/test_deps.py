"""Start/stop order (dependencies, then circus priority) and the loader's dependency checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ringleader.config.load import config_from_dicts, load_config
from ringleader.config.model import WatcherConfig
from ringleader.config.plan import DependencyCycle, find_cycle, start_order, stop_order
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]


@dataclass
class W:
    name: str
    after: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    priority: int = 0


def test_no_watchers() -> None:
    assert start_order([]) == [] and find_cycle([]) is None


def test_independent_watchers_of_equal_priority_start_together_in_given_order() -> None:
    assert start_order([W("c"), W("a"), W("b")]) == [["c", "a", "b"]]


def test_priorities_without_dependencies() -> None:
    ws = [W("a", priority=1), W("b", priority=5), W("c", priority=5), W("d"), W("e", priority=-2)]
    assert start_order(ws) == [["b", "c"], ["a"], ["d"], ["e"]]
    assert stop_order(ws) == [["e"], ["d"], ["a"], ["b", "c"]]


def test_chain() -> None:
    ws = [W("web", after=["api"]), W("api", requires=["db"]), W("db")]
    assert start_order(ws) == [["db"], ["api"], ["web"]]
    assert stop_order(ws) == [["web"], ["api"], ["db"]]


def test_diamond() -> None:
    ws = [W("web", after=["api", "worker"]), W("api", after=["db"]),
          W("worker", requires=["db"]), W("db")]
    assert start_order(ws) == [["db"], ["api", "worker"], ["web"]]


def test_diamond_with_priorities_inside_a_layer() -> None:
    ws = [W("web", after=["api", "worker"]), W("api", after=["db"]),
          W("worker", requires=["db"], priority=3), W("db")]
    assert start_order(ws) == [["db"], ["worker"], ["api"], ["web"]]


def test_a_dependency_inherits_the_priority_of_its_dependent() -> None:
    # b (priority 10) needs c (priority 0): c goes before a (priority 5), then b, then a.
    ws = [W("a", priority=5), W("b", after=["c"], priority=10), W("c")]
    assert start_order(ws) == [["c"], ["b"], ["a"]]


def test_dependencies_beat_priorities() -> None:
    ws = [W("low"), W("high", after=["low"], priority=100)]
    assert start_order(ws) == [["low"], ["high"]]


def test_mixed_graph() -> None:
    ws = [W("lb", after=["web1", "web2"], priority=1), W("web1", requires=["db"]),
          W("web2", requires=["db", "cache"]), W("db", priority=2), W("cache"),
          W("cron"), W("metrics", priority=50)]
    order = start_order(ws)
    # web1 and cache both carry lb's priority 1 (through web1 / web2): together
    assert order == [["metrics"], ["db"], ["web1", "cache"], ["web2"], ["lb"], ["cron"]]
    seen = [n for group in order for n in group]
    assert sorted(seen) == sorted(w.name for w in ws)
    pos = {n: i for i, g in enumerate(order) for n in g}
    for w in ws:
        for dep in (*w.after, *w.requires):
            assert pos[dep] < pos[w.name]


def test_unknown_and_repeated_dependencies_are_ignored() -> None:
    ws = [W("a", after=["ghost", "b"], requires=["b"]), W("b")]
    assert start_order(ws) == [["b"], ["a"]] and find_cycle(ws) is None


@pytest.mark.parametrize(("ws", "cycle"), [
    ([W("a", after=["a"])], ["a", "a"]),
    ([W("web", after=["api"]), W("api", requires=["web"])], ["web", "api", "web"]),
    ([W("x"), W("a", after=["b"]), W("b", after=["c"]), W("c", requires=["b"])],
     ["b", "c", "b"]),
    ([W("a", after=["b", "c"]), W("b"), W("c", after=["d"]), W("d", after=["a"])],
     ["a", "c", "d", "a"]),
])
def test_find_cycle(ws: list[W], cycle: list[str]) -> None:
    assert find_cycle(ws) == cycle
    with pytest.raises(DependencyCycle, match="dependency cycle: " + " -> ".join(cycle)):
        start_order(ws)


def test_long_chain_has_no_recursion_limit() -> None:
    ws = [W(f"w{i}", after=[f"w{i + 1}"] if i < 5000 else []) for i in range(5001)]
    order = start_order(ws)
    assert order[0] == ["w5000"] and order[-1] == ["w0"]
    ws[-1].after.append("w0")
    cycle = find_cycle(ws)
    assert cycle is not None and cycle[0] == cycle[-1] == "w0" and len(cycle) == 5002


def test_watcher_configs_are_accepted() -> None:
    ws = [WatcherConfig(name="a", cmd="x", after=["b"]), WatcherConfig(name="b", cmd="y")]
    assert start_order(ws) == [["b"], ["a"]]


# -- the loader ---------------------------------------------------------------------------------

def test_unknown_watchers_are_named_with_a_hint(write: Write) -> None:
    path = write("r.toml", '[watchers.web]\ncmd = "x"\nafter = ["apii"]\nrequires = ["zzz"]\n'
                 '[watchers.api]\ncmd = "y"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f'{path}: [watchers.web] after: unknown watcher "apii" (did you mean "api"?)',
        f'{path}: [watchers.web] requires: unknown watcher "zzz"',
    ]


def test_a_cycle_is_one_line_naming_the_watchers(write: Write, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write("ringleader.toml", '[watchers.web]\ncmd = "x"\nafter = ["api"]\n'
          '[watchers.api]\ncmd = "y"\nrequires = ["web"]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("ringleader.toml")
    assert info.value.problems == ["ringleader.toml: dependency cycle: web -> api -> web"]


def test_ini_dependencies_and_cycles(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nafter = b, c\n[watcher:b]\ncmd = x\n"
                 "[watcher:c]\ncmd = x\nrequires = a\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [f"{path}: dependency cycle: a -> c -> a"]


def test_a_watcher_with_problems_is_still_a_known_name(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nafter = ["b"]\n[watchers.b]\n'
                 'cmd = "x"\nnumprocesses = -1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        f"{path}: [watchers.b] numprocesses: expected an integer >= 0, got -1"]


def test_dicts_check_names_too_and_accept_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dicts([{"name": "a", "cmd": "x", "after": ["b"]}])
    assert info.value.problems == ['watcher[0] after: unknown watcher "b"']
    config = config_from_dicts([{"name": "a", "cmd": "x", "after": ["b"]}],
                               known_watchers=("b",))
    assert config.watchers[0].after == ["b"]
    with pytest.raises(ConfigError, match=r"^config: dependency cycle: a -> b -> a$"):
        config_from_dicts([{"name": "a", "cmd": "x", "after": ["b"]},
                           {"name": "b", "cmd": "x", "after": ["a"]}])

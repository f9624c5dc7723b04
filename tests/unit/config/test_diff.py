from ringleader.config.model import WatcherConfig
from ringleader.config.plan import plan_reload


def w(name: str, **kw: object) -> WatcherConfig:
    return WatcherConfig(name=name, cmd=kw.pop("cmd", "sleep 10"), **kw)  # type: ignore[arg-type]


def test_identical_configs_give_an_empty_plan() -> None:
    assert plan_reload([w("a"), w("b")], [w("a"), w("b")]).is_empty


def test_added_removed_changed_rescaled() -> None:
    old = [w("keep"), w("gone"), w("cmd", cmd="sleep 1"), w("scale", numprocesses=2)]
    new = [w("keep"), w("cmd", cmd="sleep 2"), w("scale", numprocesses=5), w("new")]
    plan = plan_reload(old, new)
    assert [c.name for c in plan.added] == ["new"]
    assert plan.removed == ("gone",)
    assert [c.name for c in plan.changed] == ["cmd"]
    assert [c.name for c in plan.rescaled] == ["scale"]


def test_numprocesses_plus_another_change_is_a_change() -> None:
    plan = plan_reload([w("a", numprocesses=1)], [w("a", numprocesses=2, priority=3)])
    assert [c.name for c in plan.changed] == ["a"]
    assert not plan.rescaled

"""The pure placement: exact counts, constraints, spread_by, max_per_node, per_node, drained
nodes, pending reasons, and minimal movement when nodes leave and come back."""

from __future__ import annotations

from typing import Any

from ringleader.cluster.jobs import Job, job_from_dict
from ringleader.cluster.placement import NodeInfo, Placement, place


def job(name: str = "web", **placement: Any) -> Job:
    return job_from_dict(name, {"cmd": "sleep 60", **placement})


def nodes(*names: str, drained: tuple[str, ...] = (), **labels: dict[str, str]
          ) -> dict[str, NodeInfo]:
    return {n: NodeInfo(n, labels.get(n, {}), n in drained) for n in names}


def per_node(result: Placement, name: str = "web") -> dict[str, int]:
    return {n: jobs[name] for n, jobs in result.assignments.items() if name in jobs}


def test_count_is_exact_and_even() -> None:
    for count, size in ((6, 3), (7, 3), (1, 5), (10, 4), (0, 3)):
        names = [f"n{i}" for i in range(size)]
        result = place({"web": job(count=count)}, nodes(*names), {})
        spread = per_node(result)
        assert result.count("web") == count
        assert not result.pending
        if count:
            assert max(spread.values()) - min(spread.get(n, 0) for n in names) <= 1
    assert per_node(place({"web": job(count=6)}, nodes("a", "b", "c"), {})) == {
        "a": 2, "b": 2, "c": 2}


def test_the_result_is_its_own_fixed_point() -> None:
    jobs = {"web": job(count=7), "api": job("api", count=3, max_per_node=1),
            "log": job("log", per_node=1)}
    cluster = nodes("a", "b", "c", "d")
    first = place(jobs, cluster, {})
    assert place(jobs, cluster, first.assignments) == first


def test_several_jobs_fill_the_least_loaded_nodes() -> None:
    jobs = {"a": job("a", count=2), "b": job("b", count=2)}
    result = place(jobs, nodes("n1", "n2", "n3", "n4"), {})
    assert sorted(sum(j.values()) for j in result.assignments.values()) == [1, 1, 1, 1]


def test_constraints_equal_and_in_a_set() -> None:
    cluster = nodes("a", "b", "c", "d", a={"zone": "z1", "disk": "ssd"},
                    b={"zone": "z2", "disk": "nvme"}, c={"zone": "z1", "disk": "hdd"}, d={})
    result = place({"web": job(count=4, constraints={"disk": ["ssd", "nvme"]})}, cluster, {})
    assert per_node(result) == {"a": 2, "b": 2}
    result = place({"web": job(count=3, constraints={"zone": "z1", "disk": "hdd"})},
                   cluster, {})
    assert per_node(result) == {"c": 3}


def test_a_job_no_node_matches_is_pending_with_why() -> None:
    cluster = nodes("a", "b", drained=("b",), a={"zone": "z1"}, b={"zone": "z2"})
    result = place({"web": job(count=2, constraints={"zone": "z2"})}, cluster, {})
    assert result.assignments == {}
    assert result.pending["web"] == "no eligible node (a: zone=z1, not z2; b: drained)"
    result = place({"web": job(count=2, constraints={"rack": ["r1", "r2"]})}, cluster, {})
    assert result.pending["web"].startswith("no eligible node (a: no label rack;")
    assert place({"web": job(count=1)}, {}, {}).pending == {"web": "no live node"}
    many = {f"n{i}": NodeInfo(f"n{i}", {}, True) for i in range(9)}
    assert place({"web": job(count=1)}, many, {}).pending["web"].endswith("and 5 more)")


def test_max_per_node_caps_and_reports_what_is_missing() -> None:
    result = place({"web": job(count=5, max_per_node=2)}, nodes("a", "b"), {})
    assert per_node(result) == {"a": 2, "b": 2}
    assert result.pending == {"web": "placed 4 of 5: every eligible node (2) is at "
                                     "max_per_node 2"}
    # a lowered cap moves the excess to nodes with room
    result = place({"web": job(count=4, max_per_node=2)}, nodes("a", "b", "c"),
                   {"a": {"web": 4}})
    assert per_node(result) == {"a": 2, "b": 1, "c": 1}


def test_spread_by_shares_the_count_over_label_values_first() -> None:
    cluster = nodes("a1", "a2", "a3", "b1", "x", a1={"zone": "a"}, a2={"zone": "a"},
                    a3={"zone": "a"}, b1={"zone": "b"})
    result = place({"web": job(count=4, spread_by="zone")}, cluster, {})
    assert per_node(result) == {"a1": 1, "a2": 1, "b1": 2}  # 2 per zone; x has no zone
    result = place({"web": job(count=5, spread_by="zone", max_per_node=2)}, cluster, {})
    assert per_node(result) == {"a1": 1, "a2": 1, "a3": 1, "b1": 2}


def test_per_node_runs_on_every_eligible_node() -> None:
    cluster = nodes("a", "b", "c", drained=("c",), a={"role": "edge"}, b={"role": "core"})
    result = place({"agent": job("agent", per_node=2)}, cluster, {})
    assert per_node(result, "agent") == {"a": 2, "b": 2}
    result = place({"agent": job("agent", per_node=1, constraints={"role": "edge"})},
                   cluster, {})
    assert per_node(result, "agent") == {"a": 1}
    result = place({"agent": job("agent", per_node=1, constraints={"role": "db"})},
                   cluster, {})
    assert "agent" in result.pending and not result.assignments


def test_a_node_leaving_moves_only_its_own_share() -> None:
    jobs = {"web": job(count=6)}
    before = place(jobs, nodes("a", "b", "c"), {}).assignments
    after = place(jobs, nodes("a", "b"), before)
    assert per_node(after) == {"a": 3, "b": 3}
    # the survivors kept their 2 and gained one each: nothing else moved
    assert all(after.assignments[n]["web"] >= before[n]["web"] for n in ("a", "b"))


def test_a_node_coming_back_takes_nothing_from_the_others() -> None:
    jobs = {"web": job(count=6), "log": job("log", per_node=1)}
    without_c = place(jobs, nodes("a", "b"), {}).assignments
    back = place(jobs, nodes("a", "b", "c"), without_c)
    assert per_node(back) == per_node(Placement(without_c, {}))  # no reshuffle
    assert per_node(back, "log") == {"a": 1, "b": 1, "c": 1}  # where counts need it
    raised = place({**jobs, "web": job(count=9)}, nodes("a", "b", "c"), back.assignments)
    assert per_node(raised) == {"a": 3, "b": 3, "c": 3}  # new copies go to the emptiest


def test_lowering_a_count_removes_from_the_fullest() -> None:
    result = place({"web": job(count=3)}, nodes("a", "b", "c"),
                   {"a": {"web": 3}, "b": {"web": 1}})
    assert per_node(result) == {"a": 2, "b": 1}


def test_draining_moves_the_work_and_undraining_moves_none_back() -> None:
    jobs = {"web": job(count=4)}
    start = place(jobs, nodes("a", "b"), {}).assignments
    drained = place(jobs, nodes("a", "b", drained=("b",)), start)
    assert per_node(drained) == {"a": 4}
    undrained = place(jobs, nodes("a", "b"), drained.assignments)
    assert per_node(undrained) == {"a": 4}


def test_previous_assignments_of_vanished_jobs_and_nodes_are_dropped() -> None:
    result = place({"web": job(count=1)}, nodes("a"),
                   {"a": {"old": 3, "web": 1}, "gone": {"web": 1}})
    assert result.assignments == {"a": {"web": 1}}

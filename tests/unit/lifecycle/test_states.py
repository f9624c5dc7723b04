from ringleader.lifecycle.states import (
    ALIVE,
    INITIAL,
    TRANSITIONS,
    ProcessState,
    is_allowed,
    mermaid_diagram,
)

PS = ProcessState


def test_every_state_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(ProcessState)


def test_every_state_is_reachable_from_the_initial_state() -> None:
    seen, todo = {INITIAL}, [INITIAL]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(ProcessState)


def test_every_state_can_get_back_to_stopped() -> None:
    for state in ProcessState:
        seen, todo = {state}, [state]
        while todo:
            for nxt in TRANSITIONS[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        assert PS.STOPPED in seen, state


def test_stopping_only_ends_in_stopped() -> None:
    assert TRANSITIONS[PS.STOPPING] == {PS.STOPPED}


def test_forbidden_moves() -> None:
    assert not is_allowed(PS.STOPPED, PS.RUNNING)  # must spawn first
    assert not is_allowed(PS.STOPPING, PS.RUNNING)
    assert not is_allowed(PS.RUNNING, PS.STARTING)  # a live process is not respawned
    assert is_allowed(PS.BACKOFF, PS.STARTING)


def test_alive_states() -> None:
    assert {PS.STARTING, PS.RUNNING, PS.STOPPING} == ALIVE


def test_diagram_lists_every_transition() -> None:
    diagram = mermaid_diagram()
    count = sum(len(v) for v in TRANSITIONS.values())
    assert diagram.count("-->") == count + 1  # plus the initial arrow
    assert "stopping --> stopped" in diagram


def test_readme_shows_the_current_diagram() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    indented = "\n".join("  " + line for line in mermaid_diagram().splitlines())
    assert indented in readme

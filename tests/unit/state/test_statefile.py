"""The state file's precedence rules (pure: no I/O, no processes)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from ringleader.config import options
from ringleader.config.load import config_from_dicts, watcher_from_dict
from ringleader.config.model import Config
from ringleader.state.file import RuntimeState
from ringleader.state.merge import apply_state, start_overrides, watcher_digest
from ringleader.state.recorder import StateRecorder

pytestmark = pytest.mark.timeout(10)

SOURCE = "/etc/app/ringleader.toml"


def cfg(*watchers: dict[str, Any], max_processes: int | None = None) -> Config:
    controller = {"max_processes": max_processes} if max_processes else None
    config = config_from_dicts([dict(w) for w in watchers], controller)
    return msgspec.structs.replace(config, source=SOURCE)


WEB = {"name": "web", "cmd": "sleep 100", "numprocesses": 2}
DB = {"name": "db", "cmd": "sleep 200"}
BASE = cfg(WEB, DB)


def by_name(config: Config) -> dict[str, Any]:
    return {w.name: w for w in config.watchers}


def roundtrip(state: RuntimeState) -> RuntimeState:
    """What a restart sees: the state as written and read back."""
    return msgspec.json.decode(msgspec.json.encode(state), type=RuntimeState)


def test_no_runtime_change_restores_the_file_unchanged() -> None:
    rec = StateRecorder(BASE)
    assert not rec.dirty
    config, notes = apply_state(BASE, roundtrip(rec.snapshot()))
    assert config == BASE
    assert notes == []


def test_numprocesses_and_options_are_restored_with_notes() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.changed("web", {"graceful_timeout": 3})
    assert rec.dirty
    config, notes = apply_state(BASE, roundtrip(rec.snapshot()))
    web = by_name(config)["web"]
    assert (web.numprocesses, web.graceful_timeout) == (5, 3.0)
    assert by_name(config)["db"] == by_name(BASE)["db"]
    assert "restored: web numprocesses 2 -> 5" in notes
    assert "restored: web graceful_timeout 30.0 -> 3.0" in notes


def test_whole_options_dict_keeps_only_the_difference() -> None:
    from ringleader.config.options import dump

    rec = StateRecorder(BASE)
    full = dump(by_name(BASE)["web"])
    rec.changed("web", {**full, "numprocesses": 7})
    assert rec.snapshot().overrides == {"web": {"numprocesses": 7}}


def test_an_option_set_back_to_the_file_value_is_no_override() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.changed("web", {"numprocesses": 2})
    assert rec.snapshot().overrides == {}


def test_file_wins_for_a_watcher_whose_definition_changed() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.changed("db", {"numprocesses": 3})
    edited = cfg({**WEB, "cmd": "sleep 101"}, DB)
    config, notes = apply_state(edited, roundtrip(rec.snapshot()))
    assert by_name(config)["web"] == by_name(edited)["web"]
    assert by_name(config)["db"].numprocesses == 3  # per watcher: db's changes kept
    assert any(n.startswith("ignored: runtime changes to web (numprocesses): its definition")
               for n in notes)


def test_numprocesses_changed_in_the_file_also_wins() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"graceful_timeout": 1})
    edited = cfg({**WEB, "numprocesses": 4}, DB)
    config, _ = apply_state(edited, roundtrip(rec.snapshot()))
    assert by_name(config)["web"] == by_name(edited)["web"]


def test_env_order_does_not_count_as_a_change() -> None:
    a = cfg({**WEB, "env": {"A": "1", "B": "2"}})
    b = cfg({**WEB, "env": {"B": "2", "A": "1"}})
    assert watcher_digest(a.watchers[0]) == watcher_digest(b.watchers[0])


def test_override_that_no_longer_validates_is_ignored() -> None:
    state = StateRecorder(BASE).snapshot()
    state.overrides = {"web": {"numprocesses": -3}}
    config, notes = apply_state(BASE, state)
    assert config == BASE
    assert any(n.startswith("ignored: runtime changes to web:") for n in notes)


def test_added_watcher_is_restored_with_its_later_changes() -> None:
    rec = StateRecorder(BASE)
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300", "env": {"K": "v"}}))
    rec.changed("extra", {"numprocesses": 4})
    config, notes = apply_state(BASE, roundtrip(rec.snapshot()))
    extra = by_name(config)["extra"]
    assert (extra.cmd, extra.env, extra.numprocesses) == ("sleep 300", {"K": "v"}, 4)
    assert [w.name for w in config.watchers] == ["web", "db", "extra"]
    assert "restored: watcher extra added" in notes
    assert start_overrides(BASE, rec.snapshot()) == {}


def test_added_watcher_loses_to_a_file_watcher_of_the_same_name() -> None:
    rec = StateRecorder(BASE)
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300"}))
    edited = cfg(WEB, DB, {"name": "extra", "cmd": "sleep 301"})
    config, notes = apply_state(edited, roundtrip(rec.snapshot()))
    assert by_name(config)["extra"].cmd == "sleep 301"
    assert "ignored: watcher extra added at runtime: the config file defines it now" in notes


def test_added_watcher_that_no_longer_validates_is_ignored() -> None:
    state = StateRecorder(BASE).snapshot()
    state.added = {"bad": {"name": "bad", "cmd": "x", "nosuchoption": 1}}
    config, notes = apply_state(BASE, state)
    assert config == BASE
    assert any(n.startswith("ignored: watcher bad added at runtime:") for n in notes)


def test_added_without_start_stays_stopped() -> None:
    rec = StateRecorder(BASE)
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300"}), start=False)
    assert start_overrides(BASE, roundtrip(rec.snapshot())) == {"extra": False}
    rec.started("extra")
    assert start_overrides(BASE, roundtrip(rec.snapshot())) == {"extra": True}


def test_removed_watcher_stays_removed_while_its_definition_is_unchanged() -> None:
    rec = StateRecorder(BASE)
    rec.changed("db", {"numprocesses": 3})
    rec.removed("db")
    state = roundtrip(rec.snapshot())
    assert state.overrides == {}
    config, notes = apply_state(BASE, state)
    assert [w.name for w in config.watchers] == ["web"]
    assert "restored: db removed" in notes
    # Another watcher's edit does not matter (per-watcher digests).
    edited = cfg({**WEB, "cmd": "sleep 101"}, DB)
    assert [w.name for w in apply_state(edited, state)[0].watchers] == ["web"]


def test_removal_is_not_applied_when_the_file_changed_that_watcher() -> None:
    rec = StateRecorder(BASE)
    rec.removed("db")
    edited = cfg(WEB, {**DB, "cmd": "sleep 201"})
    config, notes = apply_state(edited, roundtrip(rec.snapshot()))
    assert by_name(config)["db"].cmd == "sleep 201"
    assert "ignored: removal of db: its definition in the config file changed" in notes


def test_changes_to_a_watcher_gone_from_the_file_are_noted() -> None:
    rec = StateRecorder(BASE)
    rec.changed("db", {"numprocesses": 3})
    config, notes = apply_state(cfg(WEB), roundtrip(rec.snapshot()))
    assert [w.name for w in config.watchers] == ["web"]
    assert "ignored: runtime changes to db: the config file no longer defines it" in notes


def test_removed_then_added_again_replaces_the_definition() -> None:
    rec = StateRecorder(BASE)
    rec.removed("db")
    rec.added(watcher_from_dict({"name": "db", "cmd": "sleep 999"}))
    state = roundtrip(rec.snapshot())
    assert by_name(apply_state(BASE, state)[0])["db"].cmd == "sleep 999"
    edited = cfg(WEB, {**DB, "numprocesses": 2})  # the file changed db: it wins
    assert by_name(apply_state(edited, state)[0])["db"] == by_name(edited)["db"]
    # Removing the runtime one again: the config one stays removed.
    rec.removed("db")
    assert [w.name for w in apply_state(BASE, roundtrip(rec.snapshot()))[0].watchers] == ["web"]


def test_removing_an_added_watcher_forgets_it() -> None:
    rec = StateRecorder(BASE)
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300"}))
    rec.stopped("extra")
    rec.removed("extra")
    state = rec.snapshot()
    assert (state.added, state.removed, state.stopped) == ({}, [], [])


def test_operator_stop_and_start_are_restored_for_unchanged_watchers() -> None:
    autostart_off = cfg(WEB, {**DB, "autostart": False})
    rec = StateRecorder(autostart_off)
    rec.stopped("web")
    rec.started("db")
    state = roundtrip(rec.snapshot())
    assert start_overrides(autostart_off, state) == {"web": False, "db": True}
    config, _ = apply_state(autostart_off, state)
    assert config == autostart_off  # autostart itself is left alone
    edited = cfg({**WEB, "numprocesses": 3}, {**DB, "autostart": False})
    assert start_overrides(edited, state) == {"db": True}
    assert "ignored: web stopped by an operator: its definition in the config file changed" \
        in apply_state(edited, state)[1]


def test_start_after_stop_cancels_it() -> None:
    rec = StateRecorder(BASE)
    rec.stopped("web")
    rec.started("web")
    assert rec.snapshot().stopped == []


def test_state_beyond_max_processes_is_ignored_as_a_whole() -> None:
    rec = StateRecorder(cfg(WEB, DB, max_processes=10))
    rec.changed("web", {"numprocesses": 9})
    rec.removed("db")
    lowered = cfg(WEB, DB, max_processes=5)
    config, notes = apply_state(lowered, roundtrip(rec.snapshot()))
    assert config == lowered
    assert notes == ["ignored: the runtime state asks for 9 processes, more than "
                     "max_processes = 5: the config file is used as it is"]


def test_state_of_another_config_file_is_ignored() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    other = msgspec.structs.replace(BASE, source="/elsewhere/ringleader.toml")
    config, notes = apply_state(other, roundtrip(rec.snapshot()))
    assert config == other
    assert notes[0].startswith("ignored: the state was recorded for config " + SOURCE)


def test_reset_config_drops_changes_of_changed_watchers_only() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.changed("db", {"numprocesses": 3})
    rec.stopped("db")
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300"}))
    rec.added(watcher_from_dict({"name": "keep", "cmd": "sleep 400"}))
    rec.dirty = False
    new_file = cfg(WEB, {**DB, "cmd": "sleep 201"}, {"name": "extra", "cmd": "sleep 301"})
    effective, _ = rec.reconcile(new_file)
    assert rec.dirty
    state = rec.snapshot()
    assert state.overrides == {"web": {"numprocesses": 5}}
    assert set(state.added) == {"keep"}
    assert state.stopped == []
    got = by_name(effective)
    assert (got["web"].numprocesses, got["db"].cmd, got["extra"].cmd) == (5, "sleep 201",
                                                                        "sleep 301")
    assert "keep" in got
    # And a restart against the new file gives the same.
    assert apply_state(new_file, roundtrip(state))[0] == effective


def test_reset_config_forgets_a_removal_when_the_file_changed_it() -> None:
    rec = StateRecorder(BASE)
    rec.removed("db")
    rec.reset_config(cfg(WEB, {**DB, "numprocesses": 4}))
    assert rec.snapshot().removed == []
    rec2 = StateRecorder(BASE)
    rec2.removed("db")
    rec2.reset_config(cfg(WEB, DB, {"name": "new", "cmd": "true"}))
    assert rec2.snapshot().removed == ["db"]


def test_recorder_resumes_from_a_restored_state() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.removed("db")
    rec.added(watcher_from_dict({"name": "extra", "cmd": "sleep 300"}), start=False)
    state = roundtrip(rec.snapshot())
    resumed = StateRecorder(BASE, state)
    assert not resumed.dirty
    assert resumed.snapshot() == state
    resumed.changed("web", {"numprocesses": 6})
    assert resumed.dirty
    assert by_name(apply_state(BASE, resumed.snapshot())[0])["web"].numprocesses == 6


def test_recorder_resuming_after_an_edit_keeps_only_what_survived() -> None:
    rec = StateRecorder(BASE)
    rec.changed("web", {"numprocesses": 5})
    rec.changed("db", {"numprocesses": 3})
    edited = cfg({**WEB, "cmd": "sleep 101"}, DB)
    resumed = StateRecorder(edited, roundtrip(rec.snapshot()))
    assert resumed.dirty  # re-based on the new file: to be written again
    state = resumed.snapshot()
    assert state.overrides == {"db": {"numprocesses": 3}}
    assert state.watcher_digests["web"] == watcher_digest(by_name(edited)["web"])


def test_changes_of_unknown_watchers_are_not_recorded() -> None:
    rec = StateRecorder(BASE)
    rec.changed("nope", {"numprocesses": 3})
    assert not rec.dirty
    assert rec.snapshot().overrides == {}


# -- restoring never raises (issue 8 item 5) ----------------------------------------------

def _json_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(10 ** 30),
                                                              max_value=10 ** 30),
                        st.floats(allow_nan=True, allow_infinity=True),
                        st.text(max_size=12), st.sampled_from(['sleep "1', "sleep 1\0", "..",
                                                               "inf", "-1", "unlimited"]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@pytest.mark.timeout(120)
def test_any_decodable_state_is_restored_or_ignored_never_raising() -> None:
    """Whatever a state file holds (hand-edited, written by an older controller), laying it
    over the config gives a config and notes; an entry the validator refuses is skipped
    with a note naming it."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    keys = st.sampled_from(["cmd", "numprocesses", "uid", "gid", "env", "priority",
                            "graceful_timeout", "rlimit_nofile", "stdout_stream", "args",
                            "shell", "hooks", "health", "name", "singleton", "whatever"])
    option_dicts = st.dictionaries(keys, _json_values(), max_size=4)
    names = st.sampled_from(["web", "db", "new", "..", "x\n", ""])

    @settings(max_examples=200, deadline=None)
    @given(added=st.dictionaries(names, option_dicts, max_size=3),
           overrides=st.dictionaries(names, option_dicts, max_size=3),
           removed=st.lists(names, max_size=2), stopped=st.lists(names, max_size=2))
    def check(added: dict[str, Any], overrides: dict[str, Any], removed: list[str],
              stopped: list[str]) -> None:
        state = RuntimeState(source=SOURCE, watcher_digests={
            w.name: watcher_digest(w) for w in BASE.watchers}, added=added,
            overrides=overrides, removed=removed, stopped=stopped)
        config, notes = apply_state(BASE, roundtrip(state))
        for w in config.watchers:  # what was restored passes the validator again
            assert options.apply(w, {}, where="again") == w
        for name in added:
            if name not in {w.name for w in config.watchers}:
                assert any(name in note for note in notes)
        StateRecorder(BASE, state)  # adopting it neither

    check()

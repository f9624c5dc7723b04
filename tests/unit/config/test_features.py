"""The feature options of a watcher (flapping, backoff, autoscale, cgroup, watchdog, health,
hooks, readiness, ...) in every dialect, circus's flapping names, and every mistake as one
line naming file, section and field."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from ringleader.cli.check import format_config, run_check
from ringleader.config.features import (
    AutoscaleConfig,
    BackoffConfig,
    CgroupConfig,
    FlappingConfig,
    HealthCheckConfig,
    HookConfig,
    WatchdogConfig,
)
from ringleader.config.load import config_from_dicts, load_config, watcher_from_dict
from ringleader.config.values import BadValue, to_size
from ringleader.errors import ConfigError

Write = Callable[[str, str], Path]
FLAPPING_PLUGIN = "[plugin:flapping]\nuse = circus.plugins.flapping.Flapping\n"


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


def one_watcher(write: Write, name: str, text: str) -> Any:
    (w,) = load_config(write(name, text)).watchers
    return w


# -- both dialects ------------------------------------------------------------------------

def test_toml_and_ini_give_the_same_features(fixtures: Path) -> None:
    toml = load_config(fixtures / "features.toml")
    ini = load_config(fixtures / "features.ini")
    assert toml.watchers == ini.watchers
    assert toml.sockets == ini.sockets
    assert toml.warnings == ini.warnings == []
    db, web, _cache = toml.watchers
    assert (db.readiness, db.watchdog_sec, db.ready_timeout) == ("notify", 15.0, 30.0)
    assert web.use_sockets and web.sockets == ["web", "admin"]
    assert (web.readiness, web.after, web.requires, web.reload_batch) == (
        "health", ["db"], ["cache"], 2)
    assert web.flapping == FlappingConfig(attempts=3, window=2.5, retry_in=10, max_retry=0)
    assert web.backoff == BackoffConfig(initial=0.5, factor=3, max=60, min_uptime=5,
                                        free_retries=1, max_retries=10)
    assert web.autoscale == AutoscaleConfig(min=2, max=8, step=2, cooldown=20, grow_above=75,
                                            grow_after=5, shrink_below=5, shrink_after=120,
                                            interval=1)
    assert web.cgroup == CgroupConfig(memory_limit=512 << 20, cpu_quota=1.5, cpu_weight=200,
                                      pids_limit=64, parent="apps")
    assert web.watchdog == WatchdogConfig(max_rss=1536 << 20, max_cpu=90, checks=5, interval=2)
    assert web.health == HealthCheckConfig(kind="http", url="http://127.0.0.1:8080/health",
                                           interval=5, timeout=2, failures=2, start_period=10)
    assert web.hooks == {
        "before_start": HookConfig(target="myapp.hooks.check"),
        "after_start": HookConfig(target="curl -fsS http://127.0.0.1:8080/warm",
                                  kind="shell"),
        "before_stop": HookConfig(target="myapp.hooks.drain", timeout=5,
                                  abort_on_failure=True),
        "after_stop": HookConfig(target="/usr/local/bin/notify", kind="shell",
                                 abort_on_failure=False),
    }


def test_defaults_are_untouched(write: Write) -> None:
    w = one_watcher(write, "r.toml", '[watchers.a]\ncmd = "x"\n')
    assert (w.flapping, w.autoscale, w.cgroup, w.watchdog, w.health) == (None,) * 5
    assert w.backoff == BackoffConfig() and w.hooks == {}
    assert (w.use_sockets, w.sockets, w.readiness, w.after, w.reload_batch) == (
        False, [], "warmup", [], 1)


def test_dicts_take_nested_dicts_and_models() -> None:
    config = config_from_dicts([
        {"name": "a", "cmd": "x", "flapping": {"attempts": 4}, "cgroup": {"memory_limit": "1G"},
         "hooks": {"before_start": "m.f", "after_stop": {"target": "echo bye"}},
         "health": {"kind": "tcp", "port": 80}, "readiness": "health", "after": ["b"]},
        {"name": "b", "cmd": "y", "backoff": BackoffConfig(initial=1),
         "autoscale": AutoscaleConfig(max=3), "flapping": False},
    ])
    a, b = config.watchers
    assert a.flapping == FlappingConfig(attempts=4)
    assert a.cgroup == CgroupConfig(memory_limit=1 << 30)
    assert a.hooks["after_stop"] == HookConfig(target="echo bye", kind="shell",
                                               abort_on_failure=False)
    assert a.health == HealthCheckConfig(kind="tcp", port=80)
    assert (b.backoff.initial, b.autoscale, b.flapping) == (1, AutoscaleConfig(max=3), None)


def test_a_loaded_watcher_survives_the_round_trip_through_a_dict(fixtures: Path) -> None:
    # what the engine does for `set`: watcher -> builtins (None left out) -> watcher_from_dict
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if v is not None}
        return value

    for w in load_config(fixtures / "features.ini").watchers:
        assert watcher_from_dict(strip(msgspec.to_builtins(w))) == w


def test_watcher_from_dict_does_not_check_names_of_others() -> None:
    w = watcher_from_dict({"cmd": "x", "after": ["elsewhere"], "sockets": ["s"]})
    assert w.after == ["elsewhere"] and w.sockets == ["s"] and w.use_sockets


# -- sizes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (4096, 4096), ("4096", 4096), ("4096B", 4096), ("100k", 100 << 10), ("100K", 100 << 10),
    ("512M", 512 << 20), ("512MB", 512 << 20), ("64MiB", 64 << 20), ("1.5G", 3 << 29),
    ("1.5 GiB", 3 << 29), ("2T", 2 << 40), ("0.5k", 512), (8.0, 8),
])
def test_sizes(value: Any, expected: int) -> None:
    assert to_size(value) == expected


@pytest.mark.parametrize("value", ["lots", "-1", "12Q", "M", "1e999", True, [1], -5, "nan"])
def test_bad_sizes(value: Any) -> None:
    with pytest.raises(BadValue, match="1024-based"):
        to_size(value)


def test_size_errors_say_1024_based(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\n[watchers.a.cgroup]\nmemory_limit = "1x"\n'
                 '[watchers.a.watchdog]\nmax_rss = 0\n')
    assert problems(path) == [
        f'{path}: [watchers.a] cgroup.memory_limit: expected a size: bytes, or a number with a '
        'unit K, M, G or T such as "512M", "1.5G", "64MiB" (1024-based: 1K = 1024 bytes), '
        'at least 4096, got "1x"',
        f"{path}: [watchers.a] watchdog.max_rss: expected a size: bytes, or a number with a "
        'unit K, M, G or T such as "512M", "1.5G", "64MiB" (1024-based: 1K = 1024 bytes), at '
        "least 1, got 0",
    ]


# -- hooks ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "kind"), [
    ("pkg.mod.func", "python"), ("mod.func", "python"), ("pkg.mod:func", "python"),
    ("./stop.sh", "shell"), ("/usr/bin/true", "shell"), ("echo hi", "shell"),
    ("kill -HUP 1", "shell"),
])
def test_hook_kind_detection(target: str, kind: str) -> None:
    w = watcher_from_dict({"cmd": "x", "hooks": {"before_start": target}})
    assert w.hooks["before_start"] == HookConfig(target=target, kind=kind)  # type: ignore[arg-type]


def test_hook_kind_can_always_be_given() -> None:
    w = watcher_from_dict({"cmd": "x", "hooks": {"after_start": {"target": "true",
                                                                 "kind": "shell"}}})
    assert w.hooks["after_start"].kind == "shell"


def test_circus_hook_failure_flag(write: Write) -> None:
    # circus config.py: "hooks.NAME = mod.func, BOOL", the flag ignores the hook's failures;
    # circus always ignores failures of the stop/signal/extended_stats hooks.
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nhooks.before_start = m.f, true\n"
                    "hooks.after_start = m.g, false\nhooks.before_spawn = m.h\n"
                    "hooks.before_stop = m.i, false\nhooks.extended_stats = m.j\n")
    assert {n: h.abort_on_failure for n, h in w.hooks.items()} == {
        "before_start": False, "after_start": True, "before_spawn": True,
        "before_stop": False, "extended_stats": False}
    assert w.hooks["before_start"].target == "m.f"


def test_a_shell_hook_keeps_its_commas(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nhooks.after_start = echo a, true\n")
    assert w.hooks["after_start"] == HookConfig(target="echo a, true", kind="shell")


@pytest.mark.parametrize(("hooks", "expected"), [
    ('before_strat = "m.f"', 'hooks.before_strat: unknown option (did you mean '
                             '"hooks.before_start"?)'),
    ('before_start = { target = "m.f", kind = "perl" }',
     'hooks.before_start.kind: expected python or shell, got "perl"'),
    ('before_start = { kind = "shell" }',
     'hooks.before_start.target: missing (expected a dotted path "pkg.module.func" or a shell '
     "command)"),
    ('before_start = { target = "m.f", timeout = 0 }',
     "hooks.before_start.timeout: expected a number > 0, got 0"),
    ('before_start = { target = "m.f", abort = true }',
     "hooks.before_start.abort: unknown option"),
    ('before_start = "func"', 'hooks.before_start.target: expected a dotted path '
                              '"pkg.module.func" (or kind = "shell" for a command), got "func"'),
    ("before_start = 3", "hooks.before_start: expected a dotted path"),
])
def test_bad_hooks(write: Write, hooks: str, expected: str) -> None:
    path = write("r.toml", f'[watchers.a]\ncmd = "x"\n[watchers.a.hooks]\n{hooks}\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: [watchers.a] {expected}"), line


def test_hooks_must_be_a_table(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nhooks = "m.f"\n')
    assert problems(path) == [f'{path}: [watchers.a] hooks: expected a table of NAME = hook, '
                              'got "m.f"']


# -- circus flapping --------------------------------------------------------------------------

def test_circus_flapping_dotted_names(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nflapping.attempts = 5\n"
                    "flapping.window = 3\nflapping.retry_in = 1\nflapping.max_retry = 2\n")
    assert w.flapping == FlappingConfig(attempts=5, window=3, retry_in=1, max_retry=2)


def test_old_circus_flat_flapping_names(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\ncheck_flapping = true\n"
                    "flapping_attempts = 4\nflapping_window = 2\nretry_in = 3\nmax_retry = 6\n")
    assert w.flapping == FlappingConfig(attempts=4, window=2, retry_in=3, max_retry=6)
    assert w.backoff == BackoffConfig()


def test_check_flapping_alone_turns_circus_defaults_on(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\ncheck_flapping = yes\n")
    assert w.flapping == FlappingConfig()


def test_max_retry_without_flapping_is_the_backoff_limit(write: Write) -> None:
    # circus >= 0.7: a watcher's max_retry is how often a start is tried before giving up
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nmax_retry = 4\n")
    assert w.flapping is None and w.backoff == BackoffConfig(max_retries=4)
    w = one_watcher(write, "r2.ini", "[watcher:a]\ncmd = x\nmax_retry = -1\n")
    assert w.backoff.max_retries == 0


def test_minus_one_retries_for_ever(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nflapping.max_retry = -1\n")
    assert w.flapping is not None and w.flapping.max_retry == 0


def test_circus_zero_max_retry_is_one_round_with_a_warning(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nflapping.max_retry = 0\n")
    config = load_config(path)
    assert config.watchers[0].flapping == FlappingConfig(max_retry=1)
    assert config.warnings == [f"{path}: [watcher:a] flapping.max_retry: circus's 0 (stop at "
                               "the first flapping) is not supported; 1 retry round is used"]
    # in Ringleader's own config 0 means: never give up
    w = one_watcher(write, "r.toml", '[watchers.a]\ncmd = "x"\nflapping.max_retry = 0\n')
    assert w.flapping == FlappingConfig(max_retry=0)


def test_flapping_plugin_is_the_default_of_every_watcher(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\n[watcher:b]\ncmd = x\nflapping.attempts = 9\n"
                 "[watcher:c]\ncmd = x\ncheck_flapping = false\n"
                 "[watcher:d]\ncmd = x\nflapping.active = false\n"
                 f"{FLAPPING_PLUGIN}attempts = 3\nwindow = 2\nretry_in = 4\nmax_retry = 8\n")
    config = load_config(path)
    a, b, c, d = config.watchers
    assert a.flapping == FlappingConfig(attempts=3, window=2, retry_in=4, max_retry=8)
    assert b.flapping == FlappingConfig(attempts=9, window=2, retry_in=4, max_retry=8)
    assert c.flapping is None and d.flapping is None
    assert config.warnings == []


def test_inactive_flapping_plugin_and_other_plugins(write: Write) -> None:
    path = write("r.ini", f"[watcher:a]\ncmd = x\n{FLAPPING_PLUGIN}active = false\n"
                 "[plugin:stats]\nuse = circus.plugins.statsd.FullStats\n")
    config = load_config(path)
    assert config.watchers[0].flapping is None
    assert config.warnings == [f"{path}: plugins are not supported yet, ignored: "
                               "[plugin:stats]"]


def test_flapping_plugin_mistakes(write: Write) -> None:
    path = write("r.ini", f"[watcher:a]\ncmd = x\n{FLAPPING_PLUGIN}atempts = 3\nwindow = 0\n")
    assert problems(path) == [
        f'{path}: [plugin:flapping] atempts: unknown option (did you mean "attempts"?)',
        f"{path}: [plugin:flapping] window: expected a number > 0, got \"0\"",
    ]


def test_flapping_off_with_options_warns(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\ncheck_flapping = false\nflapping.attempts = 3\n")
    config = load_config(path)
    assert config.watchers[0].flapping is None
    assert config.warnings == [f"{path}: [watcher:a] flapping options ignored: flapping is "
                               "turned off (check_flapping/flapping.active = false)"]


def test_flapping_and_backoff_together_are_fine(write: Write) -> None:
    w = one_watcher(write, "r.toml", '[watchers.a]\ncmd = "x"\n[watchers.a.flapping]\n'
                    '[watchers.a.backoff]\ninitial = 1\n')
    assert w.flapping == FlappingConfig() and w.backoff.initial == 1


def test_toml_flapping_true_and_false(write: Write) -> None:
    w = one_watcher(write, "r.toml", '[watchers.a]\ncmd = "x"\nflapping = true\n')
    assert w.flapping == FlappingConfig()
    w = one_watcher(write, "r2.toml", '[watchers.a]\ncmd = "x"\nflapping = false\n')
    assert w.flapping is None


# -- mistakes -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('readiness = "health"', 'readiness: is "health" but the watcher has no health check '
                             "(expected a [health] table, or readiness = warmup or notify)"),
    ('readiness = "ready"', 'readiness: expected warmup, notify or health, got "ready"'),
    ("reload_batch = 0", "reload_batch: expected an integer >= 1, got 0"),
    ("ready_timeout = -1", "ready_timeout: expected a number >= 0, got -1"),
    ("after = 3", 'after: expected a list of names (INI: "a, b"), got 3'),
    ('flaping = { attempts = 3 }', 'flaping: unknown option (did you mean "flapping"?)'),
    ("flapping = 3", "flapping: expected a table of flapping options, or true/false, got 3"),
    ('flapping = { attemps = 3 }',
     'flapping.attemps: unknown option (did you mean "flapping.attempts"?)'),
    ("flapping = { attempts = 0 }", "flapping.attempts: expected an integer >= 1, got 0"),
    ("flapping = { window = 0 }", "flapping.window: expected a number > 0, got 0"),
    ("backoff = { factor = 0.5 }", "backoff.factor: expected a number >= 1, got 0.5"),
    ('backoff = "fast"', 'backoff: expected a table of backoff options, got "fast"'),
    ("autoscale = { min = 3, max = 2 }",
     "autoscale.min: greater than autoscale.max (3 > 2; expected min <= max)"),
    ("autoscale = { min = 3 }",
     "autoscale.max: missing (expected the most processes, an integer >= 1)"),
    ('autoscale = { max = 3, grow_above = "lots" }',
     'autoscale.grow_above: expected a percentage >= 0 such as 80 or "80%", got "lots"'),
    ("cgroup = { cpu_weight = 0 }", "cgroup.cpu_weight: expected an integer >= 1, got 0"),
    ("cgroup = { cpu_weight = 20000 }",
     "cgroup.cpu_weight: expected an integer between 1 and 10000, got 20000"),
    ("cgroup = { cpu_quota = 0 }", "cgroup.cpu_quota: expected a number > 0, got 0"),
    ("cgroup = { memory = 1 }", "cgroup.memory: unknown option"),
    ("watchdog = { checks = 0 }", "watchdog.checks: expected an integer >= 1, got 0"),
    ('health = { kind = "http" }',
     "health.url: missing (a health check of kind http needs the URL to GET)"),
    ('health = { kind = "tcp" }',
     "health.port: missing (a health check of kind tcp needs the port to connect to)"),
    ('health = { kind = "command" }',
     "health.command: missing (a health check of kind command needs the command to run)"),
    ('health = { kind = "ping", port = 1 }', 'health.kind: expected http, tcp or command'),
    ("health = { interval = 3 }", "health.kind: missing (expected http, tcp or command)"),
    ("health = { port = 70000 }",
     "health.port: expected a port number between 1 and 65535, got 70000"),
])
def test_every_bad_feature_option_is_one_clear_line(write: Write, text: str,
                                                    expected: str) -> None:
    path = write("r.toml", f'[watchers.a]\ncmd = "x"\n{text}\n')
    (line,) = problems(path)
    assert line.startswith(f"{path}: [watchers.a] {expected}"), line


def test_singleton_cannot_autoscale(write: Write) -> None:
    path = write("r.toml", '[watchers.a]\ncmd = "x"\nsingleton = true\nautoscale.max = 2\n')
    assert problems(path) == [f"{path}: [watchers.a] autoscale.max: a singleton watcher runs "
                              "at most one process (expected 1, got 2)"]


def test_health_kind_is_inferred_from_its_one_target(write: Write) -> None:
    w = one_watcher(write, "r.ini", "[watcher:a]\ncmd = x\nhealth.command = check.sh\n"
                    "readiness = health\n")
    assert w.health == HealthCheckConfig(kind="command", command="check.sh")


def test_ini_mistakes_name_the_dotted_field(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nautoscale.max = many\ncgroup.memory_limit = "
                 "1Q\nhooks.before_sart = m.f\n")
    assert problems(path) == [
        f'{path}: [watcher:a] autoscale.max: expected an integer >= 1, got "many"',
        f'{path}: [watcher:a] cgroup.memory_limit: expected a size: bytes, or a number with a '
        'unit K, M, G or T such as "512M", "1.5G", "64MiB" (1024-based: 1K = 1024 bytes), at '
        'least 4096, got "1Q"',
        f'{path}: [watcher:a] hooks.before_sart: unknown option (did you mean '
        '"hooks.before_start"?)',
    ]


@pytest.mark.parametrize(("key", "hint"), [
    ("flaping.attempts", "flapping.attempts"), ("flapping_retry_in", "flapping.retry_in"),
    ("check_flaping", "check_flapping"), ("helth", "health"), ("cgroup_memory_limit",
                                                              "cgroup.memory_limit"),
])
def test_typos_of_feature_names_get_a_hint(key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dicts([{"cmd": "x", key: 1}])
    assert info.value.problems == [f'watcher[0] {key}: unknown option (did you mean "{hint}"?)']


def test_dict_mistakes_name_the_watcher() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dicts([{"cmd": "x", "autoscale": {"min": 5, "max": 1}}])
    assert info.value.problems == [
        "watcher[0] autoscale.min: greater than autoscale.max (5 > 1; expected min <= max)"]


def test_unsupported_circus_options_still_warn(write: Write) -> None:
    path = write("r.ini", "[watcher:a]\ncmd = x\nuse_papa = true\nuse_sockets = true\n"
                 "hooks.before_start = m.f\nflapping.attempts = 2\nmax_retry = 3\n")
    assert load_config(path).warnings == [
        f"{path}: [watcher:a] options not supported yet, ignored: use_papa"]


# -- ringleader check ---------------------------------------------------------------------------

def test_check_shows_only_the_features_set(fixtures: Path) -> None:
    text = format_config(load_config(fixtures / "features.toml"))
    db_block, web_block = text.split("[watcher db]")[1].split("[watcher web]")
    web_block, cache_block = web_block.split("[watcher cache]")
    assert "readiness" in db_block and "watchdog_sec" in db_block
    assert "flapping" not in db_block and "hooks" not in db_block and "backoff" not in db_block
    for expected in ("flapping.attempts", "backoff.initial", "autoscale.max",
                     "cgroup.memory_limit", "536870912 (512 MiB)", "1610612736 (1.5 GiB)",
                     "health.url", "flapping.max_retry", "0 (never give up)",
                     "hooks.before_start", "myapp.hooks.check (python, timeout 30s, failure "
                     "aborts)", "/usr/local/bin/notify (shell, timeout 30s, failure ignored)",
                     "after", "requires", "sockets", "use_sockets"):
        assert expected in web_block, expected
    for absent in ("flapping", "readiness", "use_sockets", "reload_batch", "hooks"):
        assert absent not in cache_block, absent


def test_check_shows_sockets(fixtures: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert run_check(str(fixtures / "features.ini"), as_json=False, out=out, err=err) == 0
    text = out.getvalue()
    assert "[socket web]" in text and "0.0.0.0:8080" in text and "so_reuseport = true" in text
    assert "[socket admin]" in text and "mode    = 0660" in text
    assert str(fixtures / "run" / "admin.sock") in text

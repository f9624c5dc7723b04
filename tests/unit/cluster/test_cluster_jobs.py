"""Jobs: validated by the local watcher's own validation plus placement checks, loaded from
a jobs file with one-line errors naming the job and field, diffed with secrets hidden."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ringleader.cluster.jobs import Job, decode_job, encode_job, job_from_dict
from ringleader.cluster.jobs_file import diff_jobs, format_diff, load_jobs_file
from ringleader.errors import ConfigError


def problems(name: str, table: object, where: str = "jobs.toml:") -> list[str]:
    with pytest.raises(ConfigError) as info:
        job_from_dict(name, table, where=where)
    return info.value.problems


def test_a_job_is_watcher_options_plus_placement() -> None:
    job = job_from_dict("web", {"cmd": "python -m app", "count": 3, "graceful_timeout": 5,
                                "env": {"MODE": "prod"}, "constraints": {"zone": "a"},
                                "stop_after_disconnect": 30})
    assert job.count == 3 and job.per_node is None
    assert job.constraints == {"zone": ["a"]}
    assert job.stop_after_disconnect == 30.0
    config = job.watcher_config(4)
    assert (config.name, config.numprocesses, config.graceful_timeout) == ("web", 4, 5.0)
    assert config.env == {"MODE": "prod"}


def test_every_problem_is_one_line_naming_the_job_and_field() -> None:
    assert problems("web", {"cmd": "x", "count": "six", "graceful_timeout": "soon",
                            "bogus": 1}) == [
        'jobs.toml: [jobs.web] count: expected an integer >= 0, got "six"',
        'jobs.toml: [jobs.web] graceful_timeout: expected a number >= 0, got "soon"',
        "jobs.toml: [jobs.web] bogus: unknown option",
    ]


def test_the_local_watcher_validation_is_shared() -> None:
    # the same message a [watchers.web] table would get
    lines = problems("web", {"cmd": "x", "count": 1, "stop_signal": "NOPE"})
    assert len(lines) == 1 and lines[0].startswith("jobs.toml: [jobs.web] stop_signal:")


def test_placement_rules() -> None:
    assert any("exactly one of count" in p for p in problems("a", {"cmd": "x"}))
    assert any("exactly one of count" in p
               for p in problems("a", {"cmd": "x", "count": 1, "per_node": 1}))
    assert any("spread_by: only for a job with count" in p
               for p in problems("a", {"cmd": "x", "per_node": 1, "spread_by": "zone"}))
    assert any("per_node: 3 is more than max_per_node 2" in p
               for p in problems("a", {"cmd": "x", "per_node": 3, "max_per_node": 2}))
    assert any("max_per_node: expected an integer >= 1" in p
               for p in problems("a", {"cmd": "x", "count": 1, "max_per_node": 0}))
    assert any("stop_after_disconnect: expected a number of seconds > 0" in p
               for p in problems("a", {"cmd": "x", "count": 1, "stop_after_disconnect": -1}))
    assert any("constraints.zone: expected a value or a non-empty list" in p
               for p in problems("a", {"cmd": "x", "count": 1, "constraints": {"zone": []}}))
    assert any("constraints: expected a table of labels" in p
               for p in problems("a", {"cmd": "x", "count": 1, "constraints": "zone=a"}))


def test_options_the_placement_owns_are_refused_with_why() -> None:
    lines = problems("a", {"cmd": "x", "count": 2, "numprocesses": 3, "singleton": True,
                           "name": "b"})
    assert "jobs.toml: [jobs.a] numprocesses: not in a job: the placement sets it: count " \
           "or per_node" in lines
    assert any("singleton: not in a job: use max_per_node = 1" in p for p in lines)
    assert any("name: not in a job" in p for p in lines)
    assert problems("bad name", {"cmd": "x", "count": 1}) == [
        "jobs.toml: [jobs.bad name]: the job name must be 1-128 characters of "
        "A-Z a-z 0-9 _ . -"]
    assert problems("a", {"count": 1}) == ["jobs.toml: [jobs.a] cmd: missing (the command "
                                           "to run)"]
    assert problems("a", 3) == ["jobs.toml: [jobs.a]: expected a table of options, got 3"]


def test_stored_jobs_round_trip_and_bad_values_name_the_job() -> None:
    job = job_from_dict("web", {"cmd": "x", "per_node": 2, "env": {"A": "1"}})
    assert decode_job(encode_job(job), "web") == job
    with pytest.raises(ConfigError, match="stored job web:"):
        decode_job(b"{not json", "web")
    with pytest.raises(ConfigError, match="stored job other: its value names web"):
        decode_job(encode_job(job), "other")
    both = encode_job(Job(name="web", options={"cmd": "x"}, count=1, per_node=1))
    with pytest.raises(ConfigError, match="exactly one of count"):
        decode_job(both, "web")


def test_secret_looking_env_values_are_masked() -> None:
    job = job_from_dict("web", {"cmd": "x", "count": 1,
                                "env": {"API_TOKEN": "s3cret", "DB_PASSWORD": "pw",
                                        "MODE": "prod"}})
    shown = job.redacted()["options"]["env"]
    assert shown == {"API_TOKEN": "***", "DB_PASSWORD": "***", "MODE": "prod"}
    assert "s3cret" not in repr(job.redacted())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text)
    return path


def test_a_jobs_file(tmp_path: Path) -> None:
    path = write(tmp_path, """
[jobs.web]
cmd = "python -m app"
count = 6
spread_by = "zone"
[jobs.web.env]
MODE = "prod"

[jobs.logs]
cmd = "shipper"
per_node = 1
constraints = { role = ["edge", "core"] }
""")
    jobs = load_jobs_file(path)
    assert sorted(jobs) == ["logs", "web"]
    assert jobs["web"].options == {"cmd": "python -m app", "env": {"MODE": "prod"}}
    assert jobs["logs"].constraints == {"role": ["edge", "core"]}


def test_jobs_file_errors(tmp_path: Path) -> None:
    def errors(text: str) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load_jobs_file(write(tmp_path, text))
        return info.value.problems

    f = tmp_path / "jobs.toml"
    assert errors("[jobs.a\n")[0].startswith(f"{f}: TOML syntax:")
    assert errors('[watchers.a]\ncmd = "x"\n') == [
        f"{f}: [watchers]: unknown table (expected [jobs.NAME] tables)"]
    assert errors('[jobs.a]\ncmd = "x"\n[jobs.b]\ncmd = "y"\ncount = -1\n') == [
        f"{f}: [jobs.a] count: expected exactly one of count (processes in all) and "
        "per_node (processes on each matching node)",
        f"{f}: [jobs.b] count: expected an integer >= 0, got -1"]
    with pytest.raises(ConfigError, match="no such file"):
        load_jobs_file(tmp_path / "missing.toml")
    os.mkfifo(tmp_path / "fifo.toml")
    with pytest.raises(ConfigError, match="not a regular file"):
        load_jobs_file(tmp_path / "fifo.toml")  # and it does not hang


def test_diff_for_a_dry_run_hides_secrets() -> None:
    old = {"web": job_from_dict("web", {"cmd": "x", "count": 2,
                                        "env": {"API_KEY": "old", "MODE": "a"}}),
           "gone": job_from_dict("gone", {"cmd": "y", "count": 1})}
    new = {"web": job_from_dict("web", {"cmd": "x", "count": 4,
                                        "env": {"API_KEY": "new", "MODE": "a"}}),
           "fresh": job_from_dict("fresh", {"cmd": "z", "per_node": 1})}
    changes = diff_jobs(old, new)
    assert [(c.name, c.kind) for c in changes] == [("fresh", "add"), ("web", "change")]
    assert [(c.name, c.kind) for c in diff_jobs(old, new, remove_missing=True)] == [
        ("fresh", "add"), ("gone", "remove"), ("web", "change")]
    lines = format_diff(diff_jobs(old, new, remove_missing=True))
    assert lines == ["+ job fresh", "    options.cmd: 'z'", "    per_node: 1",
                     "- job gone",
                     "~ job web", "    count: 2 -> 4", "    options.env.API_KEY: changed (secret)"]
    assert not any("new" in line or "old" in line for line in lines)
    assert diff_jobs(old, old) == []


def test_users_and_groups_are_resolved_on_the_nodes() -> None:
    # the console's host may lack a user the nodes have: apply takes the name...
    job = job_from_dict("web", {"cmd": "x", "count": 1, "uid": "rl-no-such-user",
                                "gid": "rl-no-such-group"})
    assert job.options["uid"] == "rl-no-such-user"
    # ...and a node without it refuses the job there, naming the user
    with pytest.raises(ConfigError) as info:
        job.watcher_config(1)
    assert 'uid: unknown user "rl-no-such-user"' in info.value.problems[0]
    # what cannot be a name is refused at once
    for bad in ("", "no spaces", -1, True):
        assert any("uid:" in p for p in problems("web", {"cmd": "x", "count": 1,
                                                         "uid": bad})), bad
    assert job_from_dict("web", {"cmd": "x", "count": 1, "uid": 0}).watcher_config().uid == 0

"""The pure side of cgroups: mount parsing, the version choice, limits -> kernel values,
the trampoline script, and the refusals that need no cgroup at all."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ringleader.config.features import CgroupConfig
from ringleader.features.cgroups.fs import (
    Host,
    cfs_quota_us,
    join_script,
    parse_keyed,
    parse_mountinfo,
    split_parent,
    v1_settings,
    v2_settings,
    weight_to_shares,
)
from ringleader.features.cgroups.group import Cgroup, CgroupUnavailable

MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer ro,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/my\\040pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""


def test_parse_mountinfo() -> None:
    mounts = {m.path: m for m in parse_mountinfo(MOUNTINFO)}
    assert set(mounts) == {
        "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/my pids", "/sys/fs/cgroup/unified",
    }  # tmpfs and the controller-less name=systemd hierarchy are not cgroups to use
    assert mounts["/sys/fs/cgroup/cpu,cpuacct"].controllers == {"cpu", "cpuacct"}
    assert mounts["/sys/fs/cgroup/freezer"].readonly
    assert mounts["/sys/fs/cgroup/unified"].version == 2


def test_host_probe_reads_the_v2_root() -> None:
    files = {"/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb pids\n"}
    h = Host.probe(MOUNTINFO, read=files.__getitem__)
    assert h.v2 == "/sys/fs/cgroup/unified"
    assert h.v2_controllers == {"hugetlb", "pids"}
    assert h.v1["cpuacct"] == h.v1["cpu"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert h.v1_readonly == {"freezer"}
    assert "hugetlb pids" in h.describe() and "freezer(ro)" in h.describe()


V1_ALL = {c: f"/v1/{c}" for c in ("memory", "cpu", "cpuacct", "pids", "freezer")}


@pytest.mark.parametrize(("host", "cfg", "version"), [
    # This machine: v2 has no memory/cpu/pids, v1 has them all -> v1, even without limits.
    (Host("/u", frozenset({"hugetlb"}), v1=V1_ALL), CgroupConfig(), 1),
    (Host("/u", frozenset({"hugetlb"}), v1=V1_ALL), CgroupConfig(memory_limit=1 << 20), 1),
    # A modern host: everything in v2.
    (Host("/u", frozenset({"memory", "cpu", "pids"}), v1={}), CgroupConfig(pids_limit=3), 2),
    (Host("/u", frozenset({"memory", "cpu", "pids"}), v1=V1_ALL), CgroupConfig(), 2),
    # Split: v2 has memory only; a memory-only config still prefers the richer v1.
    (Host("/u", frozenset({"memory"}), v1=V1_ALL), CgroupConfig(memory_limit=1 << 20), 1),
    (Host("/u", frozenset({"memory"}), v1={"freezer": "/f"}),
     CgroupConfig(memory_limit=1 << 20), 2),
    # v2 only, no controllers: containment and kill still work.
    (Host("/u", frozenset()), CgroupConfig(), 2),
])
def test_version_choice(host: Host, cfg: CgroupConfig, version: int) -> None:
    assert host.choose(cfg) == (version, "")


def test_no_usable_version_says_why() -> None:
    version, why = Host("/u", frozenset(), v2_readonly=True).choose(CgroupConfig())
    assert version is None
    assert why == "cgroup v2 at /u is read-only; no cgroup v1 hierarchy is mounted"
    version, why = Host(v1={"freezer": "/f"}).choose(CgroupConfig(cpu_weight=5))
    assert why == "no cgroup v2 hierarchy is mounted; cgroup v1 lacks controller(s) cpu"


def test_create_refuses_without_touching_the_host() -> None:
    with pytest.raises(CgroupUnavailable, match=r"^no usable cgroup: no cgroup v2"):
        Cgroup.create("w", CgroupConfig(), instance="1-1", on=Host())
    with pytest.raises(CgroupUnavailable, match="cgroup v2 lacks controller"):
        Cgroup.create("w", CgroupConfig(pids_limit=2), instance="1-1", version=2,
                      on=Host("/u", frozenset()))
    for watcher, instance, parent in (("a/b", "1", "p"), ("..", "1", "p"), ("w", "", "p"),
                                      ("w", "1", "x/../../etc")):
        with pytest.raises(CgroupUnavailable, match="cannot name a cgroup"):
            Cgroup.create(watcher, CgroupConfig(parent=parent), instance=instance, on=Host())


def test_split_parent() -> None:
    assert split_parent("/system.slice/ringleader/") == ["system.slice", "ringleader"]
    assert split_parent("") == []
    assert isinstance(split_parent("a/../b"), str)


def test_limits_to_kernel_values() -> None:
    cfg = CgroupConfig(memory_limit=64 << 20, cpu_quota=0.2, cpu_weight=50, pids_limit=20)
    assert v2_settings(cfg) == [
        ("memory", "memory.max", str(64 << 20)), ("cpu", "cpu.max", "20000 100000"),
        ("cpu", "cpu.weight", "50"), ("pids", "pids.max", "20"),
    ]
    assert v1_settings(cfg) == [
        ("memory", "memory.limit_in_bytes", str(64 << 20)),
        ("cpu", "cpu.cfs_period_us", "100000"), ("cpu", "cpu.cfs_quota_us", "20000"),
        ("cpu", "cpu.shares", "512"), ("pids", "pids.max", "20"),
    ]
    # Unset limits go back to the defaults, so that a live `set` can lift one.
    assert [v for _, _, v in v2_settings(CgroupConfig())] == ["max", "max 100000", "100", "max"]
    assert [v for _, _, v in v1_settings(CgroupConfig())] == ["-1", "100000", "-1", "1024",
                                                              "max"]


def test_cpu_mappings() -> None:
    assert [weight_to_shares(w) for w in (1, 100, 200, 10_000)] == [10, 1024, 2048, 102_400]
    assert cfs_quota_us(0.001) == 1000  # the kernel's minimum
    assert cfs_quota_us(2.5) == 250_000


def test_parse_keyed() -> None:
    text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\nweird line here\n"
    assert parse_keyed(text) == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}


def test_join_script_writes_its_pid_then_execs(tmp_path: Path) -> None:
    # Plain files stand in for cgroup.procs: the script is shell, not kernel, logic.
    a, b = tmp_path / "a dir'x", tmp_path / "b"
    a.mkdir()
    files = [str(a / "cgroup.procs"), str(b)]
    argv = ["/bin/sh", "-c", join_script(files), "name", "sh", "-c", 'echo "$$ [$0]"', "x y"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    out, _ = p.communicate()
    assert out == f"{p.pid} [x y]\n"  # same pid: exec, not a child
    assert [Path(f).read_text() for f in files] == [f"{p.pid}\n"] * 2


def test_join_failure_stops_before_exec(tmp_path: Path) -> None:
    script = join_script([str(tmp_path / "missing" / "cgroup.procs")])
    out = subprocess.run(["/bin/sh", "-c", script, "ringleader-cgroup", "echo", "ran"],
                         capture_output=True, text=True, check=False)
    assert (out.returncode, out.stdout) == (126, "")
    assert out.stderr.startswith("ringleader-cgroup:")


def test_drop_identity_runs_setpriv_after_joining(tmp_path: Path) -> None:
    script = join_script([str(tmp_path / "procs")], ["/usr/bin/setpriv", "--reuid=1", "--"])
    assert script.index("echo $$") < script.index("setpriv")
    assert script.endswith('exec /usr/bin/setpriv --reuid=1 -- "$@"')

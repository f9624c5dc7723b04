"""Issue 8 items 1 and 5: the state file is a way into a root controller.

Item 1: another user plants a state file (the default one sits next to the control socket,
which the README allows in a sticky world-writable folder such as /tmp), and the root
controller runs the watcher it names, as root. Item 5: restoring state must never raise:
invalid entries are skipped with a warning, unusable files are ignored with a warning.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from .conftest import (
    DEADLINE,
    NOBODY,
    StartController,
    limit_memory,
    needs_root,
    plant,
    toml_str,
    write_config,
)

GOOD = """
[watchers.good]
cmd = "sleep 600"
[watchers.good.stdout_stream]
kind = "null"
"""


def evil_state(config: Path, marker: Path) -> str:
    """A state file that adds a watcher writing its uid to `marker`: recorded for `config`
    (the attacker sees its path in `ps`)."""
    return json.dumps({
        "version": 1,
        "source": str(config),
        "added": {"evil": {"cmd": f"sh -c 'id -u > {marker}; exec sleep 600'"}},
    })


@needs_root
def test_state_file_planted_by_other_user_is_ignored(
        tmp_path: Path, sticky_dir: Path, start_controller: StartController) -> None:
    """The socket lives in a sticky world-writable folder, as the README allows; the state
    file defaulted to that folder. Whatever the new default location, a state file there
    that another user wrote must never be restored: the evil watcher must not exist and
    its command must never run."""
    socket = sticky_dir / "ringleader.sock"
    config = write_config(tmp_path, f"[ringleader]\nendpoint = {toml_str('unix:' + str(socket))}"
                          f"\n{GOOD}")
    marker = sticky_dir / "pwned"
    plant(sticky_dir / "ringleader.state", evil_state(config, marker))

    ctl = start_controller(config, endpoint=f"unix:{socket}")
    ctl.wait_active("good")
    assert "evil" not in ctl.watchers(), "the planted watcher was restored"
    assert not marker.exists(), f"the planted command ran as uid {marker.read_text().strip()}"


@needs_root
def test_default_state_and_audit_files_stay_out_of_a_shared_socket_folder(
        tmp_path: Path, sticky_dir: Path, start_controller: StartController) -> None:
    """Design choice (the issue leaves it open): the default state file and audit log live
    next to the config file (the operator's folder), like `up`'s pid file and log, never in
    the socket's folder when that one is shared. After an audited, recorded change and a
    clean quit, nothing but (at most) the socket is left in the shared folder."""
    socket = sticky_dir / "ringleader.sock"
    config = write_config(tmp_path, f"[ringleader]\nendpoint = {toml_str('unix:' + str(socket))}"
                          f"\n{GOOD}")
    ctl = start_controller(config, endpoint=f"unix:{socket}")
    ctl.wait_active("good")
    assert ctl.cli("incr", "good").returncode == 0
    assert ctl.cli("quit").returncode == 0
    assert ctl.proc.wait(DEADLINE) == 0
    left = sorted(p.name for p in sticky_dir.iterdir() if not p.is_socket())
    assert left == [], f"files the root controller wrote in a shared folder: {left}"


def _state_with_added(config: Path, name: str) -> str:
    return json.dumps({"version": 1, "source": str(config),
                       "added": {name: {"cmd": "sleep 600"}}})


@needs_root
@pytest.mark.parametrize("how", [
    pytest.param("owned_by_other_user"),
    pytest.param("writable_by_others"),
    pytest.param("symlink"),
])
def test_untrusted_state_file_is_ignored_with_a_warning(
        how: str, tmp_path: Path, public_dir: Path, start_controller: StartController) -> None:
    """Even where the operator named the state file, it is used only if it is a regular
    file (not a symlink), owned by the controller's user, not writable by group or others.
    Otherwise it is ignored with a warning naming it, and the controller starts from the
    config file alone."""
    statefile = public_dir / "ringleader.state"
    config = write_config(tmp_path, f"[ringleader]\nstatefile = {toml_str(str(statefile))}"
                          f"\n{GOOD}")
    content = _state_with_added(config, "planted")
    if how == "owned_by_other_user":
        statefile.write_text(content)
        os.chmod(statefile, 0o600)
        os.chown(statefile, NOBODY, NOBODY)
    elif how == "writable_by_others":
        statefile.write_text(content)
        os.chmod(statefile, 0o666)
    else:
        elsewhere = public_dir / "other.json"
        elsewhere.write_text(content)
        os.chmod(elsewhere, 0o600)
        os.symlink(elsewhere, statefile)
    ctl = start_controller(config)
    ctl.wait_active("good")
    assert "planted" not in ctl.watchers()
    assert str(statefile) in ctl.log_text(), "no warning naming the ignored state file"


# -- item 5: restoring never raises -----------------------------------------------------------

def test_state_restore_skips_invalid_entries_with_a_warning(
        tmp_path: Path, start_controller: StartController) -> None:
    """A state file written by an older, laxer controller (or edited by hand) holds entries
    the validator refuses now: each is skipped with a warning naming it, the valid ones
    are restored, the controller starts."""
    statefile = tmp_path / "ringleader.state"
    config = write_config(tmp_path, f"[ringleader]\nstatefile = {toml_str(str(statefile))}"
                          f"\n{GOOD}")
    statefile.write_text(json.dumps({
        "version": 1, "source": str(config),
        "added": {
            "unclosed_quote": {"cmd": 'sleep "600'},
            "huge_uid": {"cmd": "sleep 600", "uid": 4294967296},
            "nul_in_cmd": {"cmd": "sleep 600\u0000"},
            "kept": {"cmd": "sleep 600"},
        }}))
    os.chmod(statefile, 0o600)
    ctl = start_controller(config)
    ctl.wait_active("good", "kept")
    names = set(ctl.watchers())
    assert not names & {"unclosed_quote", "huge_uid", "nul_in_cmd"}
    log = ctl.log_text()
    assert "Traceback" not in log, log
    for name in ("unclosed_quote", "huge_uid", "nul_in_cmd"):
        assert name in log, f"no warning naming the skipped entry {name}"


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _char_device(path: Path) -> None:
    # a private node of /dev/zero (major 1, minor 5): endless zeros
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except PermissionError:
        pytest.skip("cannot make a device node here")


def _invalid_utf8(path: Path) -> None:
    path.write_bytes(b'{"version": 1, "source": "\xff\xfe"}')
    os.chmod(path, 0o600)


def _deeply_nested(path: Path) -> None:
    path.write_bytes(b'{"version": 1, "added": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    os.chmod(path, 0o600)


def _oversized(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse: costs no disk, only whoever reads it whole
    os.chmod(path, 0o600)


@pytest.mark.parametrize("make", [
    pytest.param(_fifo, id="fifo"),
    pytest.param(_char_device, id="char_device"),
    pytest.param(_invalid_utf8, id="invalid_utf8"),
    pytest.param(_deeply_nested, id="deeply_nested"),
    pytest.param(_oversized, id="oversized"),
])
def test_unusable_state_file_is_ignored_with_a_warning(
        make: object, tmp_path: Path, start_controller: StartController) -> None:
    """The controller starts from the config file alone, in bounded time and memory, and
    says which state file it ignored. Oversized: read at most a cap (the fixer's choice,
    far below 512 MiB), so the controller's peak memory stays below that with a 1 GiB
    file."""
    statefile = tmp_path / "ringleader.state"
    assert callable(make)
    make(statefile)
    config = write_config(tmp_path, f"[ringleader]\nstatefile = {toml_str(str(statefile))}"
                          f"\n{GOOD}")
    ctl = start_controller(config, preexec_fn=limit_memory())
    ctl.wait_active("good", timeout=10)
    assert str(statefile) in ctl.log_text(), "no warning naming the ignored state file"
    assert "Traceback" not in ctl.log_text()
    with open(f"/proc/{ctl.proc.pid}/status") as f:
        peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    assert peak_kib < 512 * 1024, f"peak memory {peak_kib} KiB: the file was read whole"

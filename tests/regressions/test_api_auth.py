"""Issue 8 items 14, 15 and 16: who gets in.

Item 14: five bad tokens from any local user locked valid tokens out of the TCP listener
for a minute (failures were counted per source address): a valid credential must still get
in. Item 15: a client certificate whose subject holds two CNs matched on the last one:
ambiguous subjects are refused. Item 16: `allowed_groups` looked only at the peer's
primary gid; supplementary groups count too, and `unix_role` is documented.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .conftest import (
    VALID_TOKEN,
    StartController,
    Tls,
    as_nobody,
    needs_root,
    toml_str,
    write_config,
)

SLEEPER = """
[watchers.sleeper]
cmd = "sleep 600"
[watchers.sleeper.stdout_stream]
kind = "null"
"""
REPO = Path(__file__).resolve().parents[2]


def test_bad_tokens_from_one_address_do_not_lock_out_a_valid_token(
        tmp_path: Path, tls: Tls, start_controller: StartController) -> None:
    """Every local user shares 127.0.0.1: an attacker's failures must not refuse the
    operator. The bad ones may be slowed down (429 for the bad credential), the valid one
    gets 200."""
    config = write_config(tmp_path, "[ringleader]\n" + tls.section() + SLEEPER)
    ctl = start_controller(config)
    ctl.wait_active()
    for _ in range(6):
        assert tls.get("/v1/status", token="rl_wrong").status in (401, 429)
    answer = tls.get("/v1/status", token=VALID_TOKEN)
    assert answer.status == 200, (answer.status, answer.body)


def test_client_certificate_with_two_common_names_is_refused(
        tmp_path: Path, tls: Tls, start_controller: StartController) -> None:
    """/CN=mallory/CN=alice must not get alice's role: an ambiguous subject is refused
    (401 or 403), while alice's own certificate still works."""
    tls.client_cert("mallory_alice", "/CN=mallory/CN=alice")
    roles = '[[ringleader.client_certs]]\ncn = "alice"\nrole = "admin"\n'
    config = write_config(tmp_path, "[ringleader]\n" + tls.section(client_ca=True, roles=roles)
                          + SLEEPER)
    ctl = start_controller(config)
    ctl.wait_active()
    assert tls.get("/v1/status", client="alice").status == 200
    answer = tls.get("/v1/status", client="mallory_alice")
    assert answer.status in (401, 403), (answer.status, answer.body)


@needs_root
def test_allowed_group_as_supplementary_group_gets_in(
        public_dir: Path, start_controller: StartController) -> None:
    """uid/gid 65534 with 4242 among its supplementary groups, `allowed_groups = [4242]`:
    `status` answers (the group, not the primary gid, is what the operator allowed)."""
    socket = public_dir / "ringleader.sock"
    config = write_config(public_dir, f"[ringleader]\nendpoint = {toml_str('unix:' + str(socket))}"
                          "\nallowed_groups = [4242]\nunix_role = \"read\"\n" + SLEEPER)
    ctl = start_controller(config, endpoint=f"unix:{socket}")
    ctl.wait_active()
    done = as_nobody(sys.executable, "-m", "ringleader", "status", "-e", f"unix:{socket}",
                     groups="4242")
    assert done.returncode == 0, done.stderr
    assert "sleeper" in done.stdout


@needs_root
def test_allowed_group_as_primary_group_gets_in(
        public_dir: Path, start_controller: StartController) -> None:
    """Guard for the fix: the primary gid keeps working (passes today)."""
    socket = public_dir / "ringleader.sock"
    config = write_config(public_dir, f"[ringleader]\nendpoint = {toml_str('unix:' + str(socket))}"
                          "\nallowed_groups = [65534]\nunix_role = \"read\"\n" + SLEEPER)
    ctl = start_controller(config, endpoint=f"unix:{socket}")
    ctl.wait_active()
    done = as_nobody(sys.executable, "-m", "ringleader", "status", "-e", f"unix:{socket}")
    assert done.returncode == 0, done.stderr


def test_readme_documents_unix_role() -> None:
    assert "unix_role" in (REPO / "README.md").read_text()

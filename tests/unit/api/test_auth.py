"""Authentication decisions: unix peers, tokens, client certificates and the failure limiter,
with a fake clock (no sleeps)."""

from __future__ import annotations

import hmac
import os
import pwd

import pytest

from ringleader.api.auth import (
    Authenticator,
    AuthError,
    FailureLimiter,
    hash_token,
    new_token,
)
from ringleader.api.http import Identity, Peer
from ringleader.config.model import (
    ClientCertConfig,
    ControllerConfig,
    TcpConfig,
    TokenConfig,
)

OWN = 1000
CI_TOKEN = new_token()
ADMIN_TOKEN = new_token()
TCP = TcpConfig(listen="127.0.0.1:0", tls_cert="c", tls_key="k", client_ca="ca")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def unix(uid: int, gid: int | None = None, groups: tuple[int, ...] | None = None) -> Peer:
    return Peer("unix", uid, uid if gid is None else gid, 4321, "unix:/r.sock", None,
                groups=groups)


def tcp(ip: str = "10.0.0.1", cn: str | None = None, *names: str) -> Peer:
    return Peer("tcp", None, None, None, f"{ip}:{40000}", cn,
                cert_names=names or ((cn,) if cn else ()))


def config(**overrides: object) -> ControllerConfig:
    base: dict[str, object] = {
        "tcp": TCP,
        "tokens": [TokenConfig(name="ci", role="operate", hash=hash_token(CI_TOKEN)),
                   TokenConfig(name="boss", role="admin", hash=hash_token(ADMIN_TOKEN))],
        "client_certs": [ClientCertConfig(cn="alice", role="read")],
    }
    return ControllerConfig(**{**base, **overrides})  # type: ignore[arg-type]


def refused(auth: Authenticator, peer: Peer, authorization: str | None = None) -> AuthError:
    with pytest.raises(AuthError) as info:
        auth.identify(peer, authorization)
    return info.value


def test_tokens_are_random_urlsafe_and_hashed_as_sha256() -> None:
    token = new_token()
    assert len(token) >= 43 and token != new_token()
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    digest = hash_token(token)
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    assert hash_token(token) == digest != hash_token(token + "x")


def test_unix_default_allows_own_uid_and_root_as_admin() -> None:
    auth = Authenticator(own_uid=OWN)
    root_name = pwd.getpwuid(0).pw_name
    assert auth.identify(unix(0), None) == Identity(f"uid:0({root_name})", "admin")
    assert auth.identify(unix(OWN), None).role == "admin"
    assert auth.identify(unix(OWN), None).name.startswith("uid:1000")
    err = refused(auth, unix(2000))
    assert err.code == "forbidden" and "uid 2000" in err.detail
    assert not auth.unix_socket_shared


def test_unix_role_and_allowed_uids_and_groups() -> None:
    auth = Authenticator(ControllerConfig(allowed_uids=[2000], allowed_groups=[3000],
                                          unix_role="operate"), own_uid=OWN)
    assert auth.identify(unix(2000), None).role == "operate"
    assert auth.identify(unix(2500, gid=3000), None).role == "operate"  # primary group
    assert refused(auth, unix(2500, gid=2500)).code == "forbidden"
    assert auth.unix_socket_shared


def test_a_supplementary_group_is_allowed_as_the_primary_one() -> None:
    auth = Authenticator(ControllerConfig(allowed_groups=[3000]), own_uid=OWN)
    assert auth.admits_unix(unix(2500, groups=(100, 3000)))
    assert auth.identify(unix(2500, groups=(100, 3000)), None).role == "admin"
    assert refused(auth, unix(2500, groups=(100, 3001))).code == "forbidden"
    assert refused(auth, unix(2500, groups=None)).code == "forbidden"  # kernel cannot tell
    # the cached identity is per (uid, gid, groups): other groups are checked afresh
    assert refused(auth, unix(2500, groups=())).code == "forbidden"


def test_group_members_are_resolved_at_startup() -> None:
    import grp

    for group in grp.getgrall():
        members = [pwd.getpwnam(m).pw_uid for m in group.gr_mem if _user_exists(m)]
        if members:
            break
    else:
        pytest.skip("no group with listed members on this system")
    auth = Authenticator(ControllerConfig(allowed_groups=[group.gr_gid]), own_uid=OWN)
    assert auth.identify(unix(members[0], gid=999_999), None).role == "admin"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_unix_ignores_bearer_tokens_peer_credentials_decide() -> None:
    auth = Authenticator(config(), own_uid=OWN)
    assert auth.identify(unix(OWN), "Bearer nonsense").role == "admin"
    assert refused(auth, unix(2000), f"Bearer {ADMIN_TOKEN}").code == "forbidden"


def test_tcp_tokens_give_their_role() -> None:
    auth = Authenticator(config(), own_uid=OWN)
    assert auth.identify(tcp(), f"Bearer {CI_TOKEN}") == Identity("token:ci", "operate")
    assert auth.identify(tcp(), f"bearer  {ADMIN_TOKEN} ") == Identity("token:boss", "admin")


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", f"Token {CI_TOKEN}",
    "Bearer wrong", f"Bearer {CI_TOKEN}x",
])
def test_tcp_without_a_valid_token_is_unauthorized(authorization: str | None) -> None:
    err = refused(Authenticator(config(), own_uid=OWN), tcp(), authorization)
    assert err.code == "unauthorized"


def test_tcp_client_certificates_by_cn() -> None:
    auth = Authenticator(config(), own_uid=OWN)
    assert auth.identify(tcp(cn="alice"), None) == Identity("cert:alice", "read")
    err = refused(auth, tcp(cn="mallory"), f"Bearer {ADMIN_TOKEN}")
    assert err.code == "forbidden" and '"mallory"' in err.detail


def test_a_certificate_with_two_common_names_is_refused() -> None:
    """/CN=mallory/CN=alice is neither mallory nor alice, not even with a valid token."""
    auth = Authenticator(config(), own_uid=OWN)
    for names in (("mallory", "alice"), ("alice", "alice")):
        err = refused(auth, tcp("10.0.0.1", None, *names), f"Bearer {ADMIN_TOKEN}")
        assert err.code == "forbidden" and "2 common names" in err.detail


def test_every_token_hash_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constant time: compare_digest against every configured hash, even after a match."""
    calls: list[bytes] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(a)
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)  # imported by auth when used
    auth = Authenticator(config(), own_uid=OWN)
    assert auth.identify(tcp(), f"Bearer {CI_TOKEN}").name == "token:ci"  # the first one
    assert len(calls) == 2
    calls.clear()
    refused(auth, tcp(), "Bearer wrong")
    assert len(calls) == 2


def test_five_failures_within_the_window_then_429_until_it_passes() -> None:
    clock = FakeClock()
    auth = Authenticator(config(), own_uid=OWN, clock=clock)
    for i in range(5):
        clock.now += 1
        assert refused(auth, tcp(), f"Bearer bad{i}").code == "unauthorized"
    err = refused(auth, tcp(), "Bearer bad5")
    assert err.code == "too_many_requests" and err.retry_after == 56
    # a valid credential from the same address is never refused (issue 8 item 14)
    assert auth.identify(tcp(), f"Bearer {CI_TOKEN}").name == "token:ci"
    assert auth.identify(tcp(cn="alice"), None).name == "cert:alice"
    assert refused(auth, tcp(ip="10.0.0.2"), "Bearer bad").code == "unauthorized"
    clock.now += 55.5
    assert refused(auth, tcp(), "Bearer bad").retry_after == 1
    clock.now += 0.5  # the first failure leaves the window
    assert refused(auth, tcp(), "Bearer bad").code == "unauthorized"


def test_failures_spread_over_more_than_the_window_never_block() -> None:
    clock = FakeClock()
    auth = Authenticator(config(), own_uid=OWN, clock=clock)
    for _ in range(20):
        clock.now += 15
        assert refused(auth, tcp(), "Bearer bad").code == "unauthorized"


def test_unix_failures_are_counted_per_uid() -> None:
    clock = FakeClock()
    auth = Authenticator(own_uid=OWN, clock=clock)
    for _ in range(5):
        assert refused(auth, unix(2000)).code == "forbidden"
    assert refused(auth, unix(2000)).code == "too_many_requests"
    assert refused(auth, unix(2001)).code == "forbidden"
    assert refused(auth, unix(2000, gid=3000)).code == "too_many_requests"  # same uid
    assert auth.identify(unix(OWN), None).role == "admin"


def test_limiter_memory_is_bounded() -> None:
    clock = FakeClock()
    limiter = FailureLimiter(max_failures=2, window=10, clock=clock, max_peers=3)
    for key in "abcde":
        limiter.record(key)
        limiter.record(key)
    assert limiter.retry_after("a") is None  # forgotten: the oldest peers went first
    assert limiter.retry_after("e") == 10
    clock.now += 10
    assert limiter.retry_after("e") is None


def test_own_uid_defaults_to_the_process() -> None:
    assert Authenticator().identify(unix(os.getuid()), None).role == "admin"

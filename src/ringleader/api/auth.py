"""Who may use the control API, and with which role.

- unix socket: the peer's uid/gid from SO_PEERCRED against the allowed users and groups (by
  default the controller's own user and root). Peer credentials are the whole check there: an
  Authorization header is ignored, so a client that always sends its token still works.
- TCP (always TLS): a verified client certificate, looked up by CN, or else a bearer token,
  compared by hash in constant time against every configured token.
- unix peers are allowed by uid, primary gid or any supplementary group (SO_PEERGROUPS;
  where the kernel cannot tell, the members listed in /etc/group at startup).
- Failures are counted per peer (uid on unix, IP on TCP): after `max_failures` within
  `window` seconds, further *failing* attempts get 429 until the window has passed. A
  valid credential is never refused for them.
- A client certificate whose subject holds more than one CN is refused (which is it?).
"""

from __future__ import annotations

import grp
import math
import os
import pwd
import time
from collections import deque
from collections.abc import Callable
from typing import final

from ringleader.api.http import AuthError, Identity, Peer
from ringleader.config.model import ControllerConfig

__all__ = ["AuthError", "Authenticator", "FailureLimiter", "hash_token", "new_token"]

Clock = Callable[[], float]


TOKEN_PREFIX = "rl_"


def new_token() -> str:
    """A new API token: 32 random bytes, URL-safe base64, after a prefix that keeps it from
    starting with '-' on a command line and lets secret scanners recognise it."""
    import secrets

    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """"sha256:<hex>", what the config stores instead of the token.

    A fast hash is right here: the tokens are 256 random bits, not passwords, so there is no
    dictionary to try and a slow KDF (bcrypt, argon2) would add no safety, only latency to
    every request. The config file leaking does not leak the token."""
    import hashlib  # here, not at the top: hashlib maps libcrypto, ~4 MB of the controller

    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@final
class FailureLimiter:
    """Counts authentication failures per peer key, with an injected monotonic clock."""

    def __init__(self, max_failures: int = 5, window: float = 60.0, *,
                 clock: Clock = time.monotonic, max_peers: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._max_peers = max_peers  # bounds memory when many addresses fail
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until *key* may try again, or None when it may try now."""
        times = self._failures.get(key)
        if times is None:
            return None
        now = self._clock()
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < self.max_failures:
            return None
        return max(1, math.ceil(times[0] + self.window - now))

    def record(self, key: str) -> None:
        now = self._clock()
        times = self._failures.get(key)
        if times is None:
            if len(self._failures) >= self._max_peers:
                self._prune(now)
            # only the last max_failures count: refused attempts are not recorded, so a
            # blocked peer gets in again once the window has passed
            times = self._failures[key] = deque(maxlen=self.max_failures)
        times.append(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if t[-1] <= now - self.window]:
            del self._failures[key]
        while len(self._failures) >= self._max_peers:  # still full: forget the oldest peer
            del self._failures[next(iter(self._failures))]


def _group_members(gids: frozenset[int]) -> set[int]:
    """uids listed as members of these groups, resolved once (at startup)."""
    uids: set[int] = set()
    for gid in gids:
        try:
            members = grp.getgrgid(gid).gr_mem
        except KeyError:
            continue
        for name in members:
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                pass
    return uids


def _uid_name(uid: int) -> str:
    try:
        return f"uid:{uid}({pwd.getpwuid(uid).pw_name})"
    except KeyError:
        return f"uid:{uid}"


@final
class Authenticator:
    """Decides the `Identity` of each request, or raises `AuthError`."""

    def __init__(self, config: ControllerConfig | None = None, *, clock: Clock = time.monotonic,
                 own_uid: int | None = None, limiter: FailureLimiter | None = None) -> None:
        config = config or ControllerConfig()
        self._own_uid = os.getuid() if own_uid is None else own_uid
        self.unix_gids = frozenset(config.allowed_groups)
        self.unix_uids = frozenset({self._own_uid, 0,
                                    *config.allowed_uids, *_group_members(self.unix_gids)})
        self._unix_role = config.unix_role
        self._tokens = [(bytes.fromhex(t.hash.removeprefix("sha256:")),
                         Identity(f"token:{t.name}", t.role)) for t in config.tokens]
        self._certs = {c.cn: Identity(f"cert:{c.cn}", c.role) for c in config.client_certs}
        # allowed (uid, gid, groups) -> identity, built on first use: no lookups per request
        self._unix_ids: dict[tuple[int | None, int | None, tuple[int, ...] | None],
                             Identity] = {}
        self.limiter = limiter or FailureLimiter(clock=clock)

    @property
    def owner_uids(self) -> frozenset[int]:
        """The controller's own user and root: the unix socket always keeps room for them."""
        return frozenset({self._own_uid, 0})

    @property
    def unix_socket_shared(self) -> bool:
        """Whether users other than the controller's own and root are allowed on the unix
        socket: it must then be connectable by them (mode 0666), peer credentials deciding."""
        return bool(self.unix_gids or self.unix_uids - {self._own_uid, 0})

    def identify(self, peer: Peer, authorization: str | None) -> Identity:
        """The identity of a valid credential, always: failures are counted per peer (uid,
        or IP), but only failures are ever refused for them (429, after max_failures within
        the window). Every local user shares 127.0.0.1, and an attacker's bad tokens must
        not lock the operator out; the tokens are 256 random bits, so answering a valid
        one helps no guessing."""
        if peer.transport == "unix" and peer.uid is not None:
            known = self._unix_ids.get((peer.uid, peer.gid, peer.groups))  # the hot path
            if known is not None:
                return known
            key = f"uid:{peer.uid}"
        else:
            key = peer.address.rpartition(":")[0]  # the IP: the port changes every time
        try:
            if peer.transport == "unix":
                return self._identify_unix(peer)
            return self._identify_tcp(peer, authorization)
        except AuthError:
            wait = self.limiter.retry_after(key)
            if wait is not None:
                raise AuthError("too_many_requests", f"too many failed attempts; retry in "
                                f"{wait} s", wait) from None
            self.limiter.record(key)
            raise

    def admits_unix(self, peer: Peer) -> bool:
        """Whether a unix peer's credentials let it in (nothing counted, nothing cached)."""
        return peer.uid is not None and (
            peer.uid in self.unix_uids or peer.gid in self.unix_gids
            or not self.unix_gids.isdisjoint(peer.groups or ()))

    def _identify_unix(self, peer: Peer) -> Identity:
        uid = peer.uid
        if uid is None:
            raise AuthError("forbidden", "the peer's credentials are unknown")
        if not self.admits_unix(peer):
            raise AuthError("forbidden", f"uid {uid} may not use this socket (allowed: the "
                            "controller's user, root, allowed_uids and allowed_groups)")
        identity = Identity(_uid_name(uid), self._unix_role)
        self._unix_ids[uid, peer.gid, peer.groups] = identity
        return identity

    def _identify_tcp(self, peer: Peer, authorization: str | None) -> Identity:
        if len(peer.cert_names) > 1:
            raise AuthError("forbidden", "client certificate subject has "
                            f"{len(peer.cert_names)} common names "
                            f"({', '.join(peer.cert_names)}): ambiguous, refused")
        if peer.cert_subject is not None:  # verified against client_ca by the TLS layer
            identity = self._certs.get(peer.cert_subject)
            if identity is None:
                raise AuthError("forbidden", f'client certificate CN "{peer.cert_subject}" '
                                "is not listed in [[ringleader.client_certs]]")
            return identity
        if authorization is None:
            raise AuthError("unauthorized", "credentials required: a bearer token or a "
                            "client certificate")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("unauthorized", "expected Authorization: Bearer TOKEN")
        import hashlib
        import hmac

        digest = hashlib.sha256(token.encode()).digest()
        found: Identity | None = None
        for expected, identity in self._tokens:  # every hash compared: no early exit
            if hmac.compare_digest(expected, digest):
                found = identity
        if found is None:
            raise AuthError("unauthorized", "invalid token")
        return found

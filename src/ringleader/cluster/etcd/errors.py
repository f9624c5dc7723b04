"""What can go wrong talking to etcd, as a small hierarchy with one clear line each.

The agent only needs to tell four cases apart: etcd cannot be reached right now (keep
running, retry: ``EtcdUnavailable`` and its two kinds), etcd refuses who we are
(``EtcdAuthError``: retrying will not help until the configuration changes), the revision
asked for is gone (``EtcdCompacted``: re-read everything) and a lease is gone
(``EtcdLeaseNotFound``: register again). Anything else etcd refuses is a plain ``EtcdError``
carrying etcd's own message.
"""

from __future__ import annotations

from ringleader.errors import RingleaderError


class EtcdError(RingleaderError):
    """etcd refused a request; the message is etcd's reason, without a traceback."""


class EtcdUnavailable(EtcdError):
    """No endpoint answered in time: transient, retry later."""


class EtcdUnreachable(EtcdUnavailable):
    """No endpoint could be connected to (refused, reset, no route, no leader)."""


class EtcdTimeout(EtcdUnavailable):
    """An endpoint took the request but gave no answer within the call's timeout."""


class EtcdAuthError(EtcdError):
    """Wrong user or password, a missing permission on a key, or a TLS certificate that
    does not verify: retrying will not help until the configuration changes."""


class EtcdCompacted(EtcdError):
    """The revision asked for was compacted away; the caller must read the keys again."""

    def __init__(self, message: str, compact_revision: int) -> None:
        super().__init__(message)
        self.compact_revision = compact_revision


class EtcdLeaseNotFound(EtcdError):
    """The lease expired or was revoked."""


# gRPC status codes the gateway reports (google.golang.org/grpc/codes).
GRPC_INVALID_ARGUMENT = 3
GRPC_DEADLINE_EXCEEDED = 4
GRPC_NOT_FOUND = 5
GRPC_PERMISSION_DENIED = 7
GRPC_FAILED_PRECONDITION = 9
GRPC_OUT_OF_RANGE = 11
GRPC_UNAVAILABLE = 14
GRPC_UNAUTHENTICATED = 16

# Messages etcd sends (etcdserver/api/v3rpc/rpctypes); stable across 3.4 and 3.5.
TOKEN_INVALID = "invalid auth token"
AUTH_NOT_ENABLED = "authentication is not enabled"
_AUTH_MESSAGES = ("authentication failed", "permission denied", "user name is empty",
                  "user name not found", "auth: revision in header is old",
                  "role name not found")
# A member that cannot serve now: another member may (leader lost, overloaded, stopping).
_TRY_ELSEWHERE = ("no leader", "leader changed", "request timed out", "too many requests",
                  "server stopped", "not capable", "timed out", "unhealthy cluster")


def is_try_elsewhere(code: int, message: str) -> bool:
    """True for the answers of a member that cannot serve now but whose peers may."""
    if code in (GRPC_UNAVAILABLE, GRPC_DEADLINE_EXCEEDED):
        return True
    return any(text in message for text in _TRY_ELSEWHERE)


def server_error(code: int, message: str) -> EtcdError:
    """The exception for an error etcd answered (not for a member to skip: see
    ``is_try_elsewhere``)."""
    text = message.removeprefix("etcdserver: ").strip() or f"gRPC code {code}"
    if code == GRPC_OUT_OF_RANGE or "compacted" in text:
        return EtcdCompacted(f"etcd: {text}", 0)
    if code == GRPC_NOT_FOUND and "lease" in text:
        return EtcdLeaseNotFound(f"etcd: {text}")
    if code in (GRPC_PERMISSION_DENIED, GRPC_UNAUTHENTICATED) or any(
            m in text for m in _AUTH_MESSAGES):
        if "user name is empty" in text:
            text = "etcd has authentication enabled: configure a user and password"
            return EtcdAuthError(text)
        return EtcdAuthError(f"etcd: {text}")
    return EtcdError(f"etcd: {text}")


class TryElsewhere(Exception):
    """Internal: this endpoint cannot serve the call now; another may."""


class TokenInvalid(Exception):
    """Internal: etcd no longer accepts our auth token; authenticate again."""


def raise_for(code: int, message: str) -> None:
    """Raise what an error answer of etcd means to the client."""
    if TOKEN_INVALID in message:
        raise TokenInvalid()
    if is_try_elsewhere(code, message):
        raise TryElsewhere(message.removeprefix("etcdserver: "))
    raise server_error(code, message)

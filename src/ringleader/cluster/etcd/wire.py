"""The JSON shapes of etcd's v3 gateway (grpc-gateway over etcdserverpb), as msgspec Structs.

Facts probed on etcd 3.4.23: keys and values are base64 (msgspec's ``bytes``), 64-bit
integers arrive as strings (decoded with ``strict=False``), fields at their proto3 default
(0, false, empty) are omitted both ways, so requests are encoded with ``omit_defaults``.
A unary error is ``{"error": str, "message": str, "code": grpc_code}`` with an HTTP error
status; a streaming call (watch, lease keepalive) answers newline-separated
``{"result": ...}`` messages and reports errors in-band as
``{"error": {"grpc_code": N, "message": str, ...}}``.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import msgspec
from msgspec import field

T = TypeVar("T")
CompareTarget = Literal["VERSION", "CREATE", "MOD", "VALUE", "LEASE"]
CompareResult = Literal["EQUAL", "GREATER", "LESS", "NOT_EQUAL"]


# -- requests ----------------------------------------------------------------------------
class RangeRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    key: bytes
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False


class PutRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    key: bytes
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False


class DeleteRangeRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    key: bytes
    range_end: bytes = b""
    prev_kv: bool = False


class Compare(msgspec.Struct, omit_defaults=True, kw_only=True):
    """One condition of a transaction: ``target`` of ``key`` compared with the value of the
    matching field (e.g. target CREATE compares ``create_revision``)."""

    key: bytes
    target: CompareTarget = "VERSION"
    result: CompareResult = "EQUAL"
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0
    range_end: bytes = b""


class RequestOp(msgspec.Struct, omit_defaults=True, kw_only=True):
    request_range: RangeRequest | None = None
    request_put: PutRequest | None = None
    request_delete_range: DeleteRangeRequest | None = None


class TxnRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    compare: list[Compare] = []
    success: list[RequestOp] = []
    failure: list[RequestOp] = []


class LeaseGrantRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    ttl: int = field(name="TTL")
    id: int = field(default=0, name="ID")


class LeaseIdRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: int = field(name="ID")


class Empty(msgspec.Struct, omit_defaults=True, kw_only=True):
    pass


class AuthenticateRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    name: str
    password: str


class WatchCreateRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    key: bytes
    range_end: bytes = b""
    start_revision: int = 0
    progress_notify: bool = False
    prev_kv: bool = False


class WatchRequest(msgspec.Struct, omit_defaults=True, kw_only=True):
    create_request: WatchCreateRequest


# -- responses ---------------------------------------------------------------------------
class ResponseHeader(msgspec.Struct, kw_only=True, frozen=True):
    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


class HeaderResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()


class KeyValue(msgspec.Struct, kw_only=True, frozen=True):
    """One key as stored: its value and revisions (create/mod), version and lease."""

    key: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


class RangeResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    kvs: list[KeyValue] = []
    more: bool = False
    count: int = 0


class PutResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    prev_kv: KeyValue | None = None


class DeleteRangeResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    deleted: int = 0
    prev_kvs: list[KeyValue] = []


class ResponseOp(msgspec.Struct, kw_only=True, frozen=True):
    response_range: RangeResponse | None = None
    response_put: PutResponse | None = None
    response_delete_range: DeleteRangeResponse | None = None


class TxnResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    succeeded: bool = False
    responses: list[ResponseOp] = []


class LeaseGrantResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    id: int = field(default=0, name="ID")
    ttl: int = field(default=0, name="TTL")
    error: str = ""


class LeaseKeepAliveResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    id: int = field(default=0, name="ID")
    ttl: int = field(default=0, name="TTL")  # 0: the lease is gone


class AuthenticateResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    token: str = ""


class Member(msgspec.Struct, kw_only=True, frozen=True):
    id: int = field(default=0, name="ID")
    name: str = ""
    client_urls: list[str] = field(default_factory=list, name="clientURLs")


class MemberListResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    members: list[Member] = []


class Event(msgspec.Struct, kw_only=True, frozen=True):
    kv: KeyValue
    type: Literal["PUT", "DELETE"] = "PUT"
    prev_kv: KeyValue | None = None


class WatchResponse(msgspec.Struct, kw_only=True, frozen=True):
    header: ResponseHeader = ResponseHeader()
    watch_id: int = 0
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    events: list[Event] = []


class UnaryError(msgspec.Struct, kw_only=True, frozen=True):
    error: str = ""
    message: str = ""
    code: int = 0


class StreamError(msgspec.Struct, kw_only=True, frozen=True):
    grpc_code: int = 0
    message: str = ""


class KeepAliveMessage(msgspec.Struct, kw_only=True, frozen=True):
    result: LeaseKeepAliveResponse | None = None
    error: StreamError | None = None


class WatchMessage(msgspec.Struct, kw_only=True, frozen=True):
    result: WatchResponse | None = None
    error: StreamError | None = None


def error_of(status: int, body: bytes) -> tuple[int, str]:
    """(gRPC code, message) of a unary error answer, or what came instead."""
    try:
        err = decode(body, UnaryError)
        return err.code, err.message or err.error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return 0, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"


def encode(request: msgspec.Struct) -> bytes:
    return msgspec.json.encode(request)


def decode(data: bytes, kind: type[T]) -> T:
    """Decode an answer; etcd's int64-as-string needs the lax (``strict=False``) mode."""
    return msgspec.json.decode(data, type=kind, strict=False)

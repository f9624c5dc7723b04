"""The web dashboard's request and answer Structs (``schema.TYPES`` lists their
operations): the one-time link, and the cluster overview the page shows."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Role = Literal["read", "operate", "admin"]


class _Struct(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class DashboardRequest(_Struct, frozen=True, kw_only=True):
    role: Annotated[Role | None, Meta(description="the role of the session the link opens: "
                                      "the caller's own (the default) or a lower one")] = None


class DashboardLink(_Struct, frozen=True, kw_only=True):
    url: Annotated[str, Meta(description="open it once, within expires_in seconds: the "
                             "token is in the #fragment, which browsers never send")]
    role: Role
    expires_in: int


class ClusterNodeView(_Struct, frozen=True, kw_only=True):
    name: str
    health: Literal["healthy", "draining", "unreachable", "disconnected", "no-api"]
    labels: dict[str, str] = {}
    detail: str = ""
    connected: bool = True  # its lease is alive in etcd (this node: its session answers)
    scheduler: bool = False  # the elected scheduler


class ClusterCell(_Struct, frozen=True, kw_only=True):
    running: int | None  # None: only that node knows (etcd holds what is assigned)
    desired: int
    state: str | None = None
    problem: str | None = None  # why it does not run here as assigned


class ClusterJobView(_Struct, frozen=True, kw_only=True):
    name: str
    placement: str  # "count=3", "per_node=1", ...
    nodes: dict[str, ClusterCell] = {}
    desired: int = 0  # the processes asked for in all
    assigned: int = 0  # the processes the scheduler assigned
    pending: str | None = None  # why not all are assigned


class ClusterOverview(_Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Gathered server-side by this node from etcd; ``enabled`` is false on a controller
    that is not a cluster node."""

    enabled: bool
    node: str | None = None
    scheduler: str | None = None
    nodes: list[ClusterNodeView] = []
    jobs: list[ClusterJobView] = []
    problems: list[str] = []  # keys under the prefix that could not be read

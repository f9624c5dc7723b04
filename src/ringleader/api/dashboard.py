"""The web dashboard's state on a controller, and its operations in the route table.

One `Dashboard` per controller, shared by the listeners that serve the pages (the loopback
listener ``ringleader dashboard`` opens, the TLS listener's login): the sessions, the
static files and the stream hub, each made at its first use. A controller nobody looks at
imports nothing of ``ringleader.dashboard`` and holds none of it (`bench/dashboard.py`
measures the resident memory with and without a page open).

Operations (``op_<name>``, bound by ``ControlApp``; they get the request too):

- ``dashboard``: mint a one-time token for the caller's role or a lower one, and answer the
  URL to open: over the unix socket, on the loopback listener (opened on demand); over
  TLS, on the TLS listener, by the name the caller reached it with;
- ``stream``: the multiplexed live stream (``api.stream_hub``);
- ``cluster_overview``, ``cluster_drain``, ``cluster_undrain``: done by this node
  (`ClusterSource`, the daemon's ``ClusterNode`` with a [cluster] table), never by the page
  from several origins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, final

from ringleader.api.app import ApiError
from ringleader.api.audit import AuditLog
from ringleader.api.commands import Commands, Query
from ringleader.api.messages import FramedStream, Request
from ringleader.api.routes import ROLE_RANK
from ringleader.api.schema import ErrorCode, Ok
from ringleader.api.schema_dashboard import ClusterOverview, DashboardLink, DashboardRequest
from ringleader.api.stream_hub import StreamHub
from ringleader.config.model import DashboardConfig
from ringleader.errors import BadArgument, NotFound

if TYPE_CHECKING:
    from ringleader.api.browser_gate import Gate
    from ringleader.dashboard.assets import AssetTable
    from ringleader.dashboard.session import Sessions

__all__ = ["ClusterSource", "Dashboard"]


class ClusterSource(Protocol):
    """What the dashboard asks of a cluster node (its agent, with a [cluster] table)."""

    async def overview(self) -> ClusterOverview: ...

    async def drain(self, node: str, by: str) -> None:
        """``by``: who asks (the drain's reason names them)."""
        ...

    async def undrain(self, node: str) -> None: ...


@final
class Dashboard:
    def __init__(self, commands: Commands, config: DashboardConfig | None = None, *,
                 audit: AuditLog | None = None, cluster: ClusterSource | None = None) -> None:
        self.commands = commands
        self.config = config or DashboardConfig()
        self.audit = audit
        self.cluster = cluster
        self._sessions: Sessions | None = None
        self._assets: AssetTable | None = None
        self._assets_lock = asyncio.Lock()
        self.hub = StreamHub(commands)
        # Set by the API server: opens the loopback listener once and answers its gate;
        # the TLS listener's gate, when it serves the dashboard.
        self.open_loopback: Callable[[], Awaitable[Gate]] | None = None
        self.tls_gate: Gate | None = None

    @property
    def sessions(self) -> Sessions:
        if self._sessions is None:
            from ringleader.dashboard.session import Sessions

            self._sessions = Sessions(lifetime=self.config.session_lifetime,
                                      idle_timeout=self.config.idle_timeout)
        return self._sessions

    @property
    def loaded(self) -> bool:
        """Whether anything of the dashboard was made (sessions, pages, a stream)."""
        return self._sessions is not None or self._assets is not None or self.hub.running

    async def assets(self) -> AssetTable:
        """The static files, read and hashed in a worker thread at the first page."""
        if self._assets is None:
            async with self._assets_lock:
                if self._assets is None:
                    from ringleader.dashboard.assets import load_assets

                    self._assets = await asyncio.to_thread(load_assets)
        return self._assets

    def close(self) -> None:
        self.hub.close()

    # -- operations ---------------------------------------------------------------------

    async def op_dashboard(self, body: DashboardRequest, *, query: Query,
                           request: Request) -> DashboardLink:
        who = request.identity
        if request.browser:
            raise ApiError(ErrorCode.FORBIDDEN, "one-time links are for the console "
                           "(`ringleader dashboard`), not for a browser session")
        role = body.role or who.role
        if ROLE_RANK[role] > ROLE_RANK[who.role]:
            raise ApiError(ErrorCode.FORBIDDEN, f"{who.name} has the {who.role} role: it "
                           f"cannot open a session with the {role} role")
        if request.peer.transport == "unix":
            if self.open_loopback is None:
                raise NotFound("this controller serves no dashboard")
            base = _base(await self.open_loopback(), None)
        elif self.tls_gate is None or not self.tls_gate.hosts:
            raise NotFound("the TLS listener serves no dashboard: set [ringleader.tcp] "
                           "dashboard_hosts")
        else:
            base = _base(self.tls_gate, request.headers.get("host"))
        token = self.sessions.issue_token(role, who.name)
        return DashboardLink(url=f"{base}/ui/#token={token}", role=role,  # type: ignore[arg-type]
                             expires_in=int(self.sessions.token_ttl))

    async def op_stream(self, *, query: Query, request: Request) -> FramedStream:
        from ringleader.dashboard.stream import StreamRequestError, parse_stream_request

        try:
            wanted = parse_stream_request(query, request.headers.get("last-event-id"))
        except StreamRequestError as exc:
            raise BadArgument(str(exc)) from None
        alive = None
        if request.session is not None:
            sid, sessions = request.session.sid, self.sessions
            alive = lambda: sessions.is_open(sid)  # noqa: E731
        return FramedStream(self.hub.follow(wanted, alive))

    async def op_cluster_overview(self, *, query: Query, request: Request) -> ClusterOverview:
        if self.cluster is None:
            return ClusterOverview(enabled=False)
        return await self.cluster.overview()

    async def op_cluster_drain(self, name: str, *, query: Query, request: Request) -> Ok:
        if self.cluster is None:
            raise NotFound("this controller is not a cluster node: there is no node to drain")
        await self.cluster.drain(name, request.identity.name)
        return Ok(detail=f"node {name!r} drained: its cluster work moves to other nodes")

    async def op_cluster_undrain(self, name: str, *, query: Query, request: Request) -> Ok:
        if self.cluster is None:
            raise NotFound("this controller is not a cluster node: there is no node to "
                           "undrain")
        await self.cluster.undrain(name)
        return Ok(detail=f"node {name!r} undrained: it may get cluster work again")


def _base(gate: Gate, host: str | None) -> str:
    """The origin of a listener, by the name the caller used when it is one of the
    listener's, else by its first name."""
    if host is not None and host.lower() in gate.origins.hosts:
        return f"{gate.scheme}://{host.lower()}"
    first = gate.hosts[0]
    return f"{gate.scheme}://{first}:{gate.port}"

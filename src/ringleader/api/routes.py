"""The control API's route table: plain data, stdlib only.

The console imports this (never msgspec or the server) to build requests; the server
binds a handler to each route's `op`; `schema.TYPES` gives each op its Structs.
"""

from __future__ import annotations

API_PREFIX = "/v1"
ROLE_RANK: dict[str, int] = {"read": 0, "operate": 1, "admin": 2}


class Route:
    """One route. A plain class, not a NamedTuple: typing costs the console ~4 ms."""

    __slots__ = ("audited", "method", "op", "path", "query", "role", "stream", "summary",
                 "twin_of")

    def __init__(self, op: str, method: str, path: str, role: str, summary: str,
                 query: tuple[str, ...] = (), audited: bool = False,
                 stream: bool = False, twin_of: str = "") -> None:
        self.op = op  # operation id: the server's handler name and the client's method name
        self.method = method
        self.path = path  # with a {name} placeholder where a watcher is named
        self.role = role  # read, operate or admin
        self.summary = summary
        self.query = query  # accepted query parameters
        self.audited = audited  # mutating: written to the audit log
        self.stream = stream  # answers with Server-Sent Events
        # The same operation under another method (browsers send only POST).
        self.twin_of = twin_of

    def __repr__(self) -> str:
        return f"Route({self.op!r}, {self.method!r}, {self.path!r})"


W = API_PREFIX + "/watchers/{name}"

ROUTES: tuple[Route, ...] = (
    Route("status", "GET", API_PREFIX + "/status", "read", "Controller and watcher states"),
    Route("list", "GET", API_PREFIX + "/watchers", "read", "Watcher names"),
    Route("add", "POST", API_PREFIX + "/watchers", "admin", "Add a watcher", audited=True),
    Route("get_watcher", "GET", W, "read", "One watcher's state and processes"),
    Route("rm", "DELETE", W, "admin", "Stop and remove a watcher", audited=True),
    Route("start", "POST", W + "/start", "operate", "Start a watcher (?wid=N: one process)",
          query=("wid",), audited=True),
    Route("stop", "POST", W + "/stop", "operate",
          "Stop a watcher gracefully (?wid=N: one process)", query=("wid",), audited=True),
    Route("restart", "POST", W + "/restart", "operate",
          "Stop then start a watcher (?wid=N: one process)", query=("wid",), audited=True),
    Route(
        "reload",
        "POST",
        W + "/reload",
        "operate",
        "Replace a watcher's processes one at a time",
        audited=True,
    ),
    Route(
        "start_all", "POST", API_PREFIX + "/start", "operate", "Start every watcher", audited=True
    ),
    Route("stop_all", "POST", API_PREFIX + "/stop", "operate", "Stop every watcher", audited=True),
    Route(
        "restart_all",
        "POST",
        API_PREFIX + "/restart",
        "operate",
        "Restart every watcher",
        audited=True,
    ),
    Route(
        "reload_all",
        "POST",
        API_PREFIX + "/reload",
        "operate",
        "Reload every watcher, one process at a time",
        audited=True,
    ),
    Route("incr", "POST", W + "/incr", "operate", "Add processes", audited=True),
    Route("decr", "POST", W + "/decr", "operate", "Remove processes", audited=True),
    Route("numprocesses", "GET", W + "/numprocesses", "read", "How many processes"),
    Route("signal", "POST", W + "/signal", "operate", "Send a signal", audited=True),
    Route(
        "options",
        "GET",
        W + "/options",
        "read",
        "A watcher's options (secrets redacted); ?key=K (repeatable) selects some",
        query=("key",),
    ),
    Route("set", "PATCH", W + "/options", "admin", "Change options of a watcher", audited=True),
    Route(
        "stats",
        "GET",
        API_PREFIX + "/stats",
        "read",
        "CPU, memory, fds per process",
        query=("watcher",),
    ),
    Route(
        "stats_stream",
        "GET",
        API_PREFIX + "/stats/stream",
        "read",
        "Stats every interval",
        query=("watcher", "interval"),
        stream=True,
    ),
    Route(
        "logs",
        "GET",
        API_PREFIX + "/logs",
        "read",
        "Recent output lines; ?stream=stdout|stderr, ?wid=N, ?since=UNIX_TIME filter them",
        query=("watcher", "lines", "stream", "wid", "since"),
    ),
    Route(
        "logs_stream",
        "GET",
        API_PREFIX + "/logs/stream",
        "read",
        "Follow output lines (the same filters as logs)",
        query=("watcher", "lines", "stream", "wid", "since"),
        stream=True,
    ),
    Route(
        "events",
        "GET",
        API_PREFIX + "/events",
        "read",
        "Events; ?topic=T (repeatable prefix filter)",
        query=("topic",),
        stream=True,
    ),
    Route("sockets", "GET", API_PREFIX + "/sockets", "read", "Listening sockets"),
    Route("controller_options", "GET", API_PREFIX + "/controller/options", "read",
          "The controller's own options (circusctl globaloptions); tokens by name only"),
    Route("dstats", "GET", API_PREFIX + "/controller/stats", "read",
          "The controller process's own CPU, memory, fds (circusctl dstats)"),
    Route(
        "reloadconfig",
        "POST",
        API_PREFIX + "/reloadconfig",
        "admin",
        "Re-read the config file and apply the differences",
        audited=True,
    ),
    Route(
        "quit",
        "POST",
        API_PREFIX + "/quit",
        "admin",
        "Stop every watcher and the controller",
        audited=True,
    ),
    Route("openapi", "GET", API_PREFIX + "/openapi.json", "read", "This API's OpenAPI document"),
    # The web dashboard's (PROTOCOL.md next to ringleader.dashboard); the pages and the
    # session routes (/ui/, /v1/session) are the browser listeners' own, not in this table.
    Route(
        "dashboard",
        "POST",
        API_PREFIX + "/dashboard",
        "read",
        "A one-time sign-in URL of the web dashboard, for the caller's role or a lower one "
        "asked for; over the unix socket, on a loopback listener opened on demand",
        audited=True,
    ),
    Route(
        "stream",
        "GET",
        API_PREFIX + "/stream",
        "read",
        "One multiplexed live stream: ?topics=status,stats,events,logs, ?watcher, ?stream, "
        "?backlog, ?interval, ?last_event_id (or the Last-Event-ID header) to resume",
        query=("topics", "watcher", "stream", "backlog", "interval", "last_event_id"),
        stream=True,
    ),
    Route("set_post", "POST", W + "/options", "admin", "set, as a POST", audited=True,
          twin_of="set"),
    Route("rm_post", "POST", W + "/remove", "admin", "rm, as a POST", audited=True,
          twin_of="rm"),
    Route(
        "cluster_overview",
        "GET",
        API_PREFIX + "/cluster/overview",
        "read",
        "Nodes and jobs of the cluster, gathered by this node ({enabled: false} when it is "
        "not a cluster node)",
    ),
    Route(
        "cluster_drain",
        "POST",
        API_PREFIX + "/cluster/nodes/{name}/drain",
        "admin",
        "Drain a node of the cluster: its cluster work moves elsewhere",
        audited=True,
    ),
    Route(
        "cluster_undrain",
        "POST",
        API_PREFIX + "/cluster/nodes/{name}/undrain",
        "admin",
        "Undrain a node of the cluster: it may get cluster work again",
        audited=True,
    ),
    Route("metrics", "GET", "/metrics", "read", "Prometheus metrics"),
)

ROUTES_BY_OP: dict[str, Route] = {r.op: r for r in ROUTES}

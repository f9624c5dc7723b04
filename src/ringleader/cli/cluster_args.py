"""The arguments of `ringleader cluster ACTION ...` (argparse only: `ringleader help` and
the man page build every command's parser, and must stay fast).

The options are accepted before the action (`ringleader cluster --json status`) and after
it (`ringleader cluster status --json`); given after, they win.
"""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    Arg = tuple[tuple[str, ...], dict[str, Any]]

ETCD_HELP = ("etcd client URLs, comma-separated (default: $RINGLEADER_ETCD, or the [cluster] "
             "table of -c CONFIG)")
CLUSTER_OPTIONS: tuple[Arg, ...] = (
    (("--etcd",), {"metavar": "URLS", "help": ETCD_HELP}),
    (("--etcd-cafile",), {"metavar": "PATH", "help": "CA verifying etcd's certificate"}),
    (("--etcd-certfile",), {"metavar": "PATH", "help": "client certificate for etcd"}),
    (("--etcd-keyfile",), {"metavar": "PATH", "help": "its key"}),
    (("--etcd-user",), {"metavar": "USER", "help": "etcd user (the password comes from "
                                                  "$RINGLEADER_ETCD_PASSWORD)"}),
    (("--cluster",), {"metavar": "NAME", "dest": "cluster_name",
                      "help": "the cluster's name: its keys are under /ringleader/NAME "
                              "(default: default, or -c CONFIG's)"}),
    (("--prefix",), {"metavar": "PREFIX", "help": "the cluster's key prefix (instead of "
                                                  "--cluster)"}),
)


def _add_options(p: argparse.ArgumentParser, console: Sequence[Callable[..., None]], *,
                 after: bool) -> None:
    """``console``: the console's own options (Option.add of cli.commands), taken as they
    are so that their spellings and help stay one."""
    g = p.add_argument_group("cluster options")
    extra: dict[str, object] = {"default": argparse.SUPPRESS} if after else {}
    for flags, kwargs in CLUSTER_OPTIONS:
        g.add_argument(*flags, **{**kwargs, **extra})
    for add in console:
        add(g, **extra)


def add_arguments(p: argparse.ArgumentParser,
                  console: Sequence[Callable[..., None]]) -> None:
    p.description = (
        "Drive the controllers of many hosts, coordinated through etcd: desired state "
        "(apply, scale, rm, drain) is written to etcd; live commands (status, restart, "
        "signal, reload, logs, events) go to each node's TLS API concurrently, each within "
        "--timeout (default 5 s; reload: 300 s per node). Exit 1 names the nodes that "
        "failed; 3: etcd unreachable; 4: status found a job short or a node unhealthy.")
    _add_options(p, console, after=False)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    sub.required = True

    def action(name: str, text: str, *args: Arg) -> None:
        a = sub.add_parser(name, help=text, description=text[:1].upper() + text[1:] + ".")
        for flags, kwargs in args:
            a.add_argument(*flags, **kwargs)
        _add_options(a, console, after=True)

    job: Arg = (("job",), {"metavar": "JOB", "help": "job name"})
    node: Arg = (("node",), {"metavar": "NODE", "help": "node name"})
    action("nodes", "the live nodes: labels, API address, version, lease age")
    action("status", "jobs x nodes (desired and running), node health, pending jobs")
    action("apply", "validate a jobs file, print its difference with etcd, write it",
           (("file",), {"metavar": "FILE", "help": "TOML file of [jobs.NAME] tables"}),
           (("--dry-run",), {"action": "store_true", "help": "print the difference only"}),
           (("--prune",), {"action": "store_true",
                           "help": "also remove the stored jobs the file does not name"}))
    action("rm", "remove a job: every node stops its processes", job)
    action("scale", "set a job's count (or per_node)", job,
           (("count",), {"metavar": "N", "type": int, "help": "processes"}))
    action("reload", "rolling zero-downtime reload, node by node; stops at the first "
           "node that fails", job)
    action("restart", "restart a job's processes on every node at once", job)
    action("signal", "send a signal to a job's processes on every node", job,
           (("signal",), {"metavar": "SIG", "help": "signal name (TERM, SIGHUP) or number"}))
    action("logs", "a job's recent output on every node (-f: follow), as node/job.wid |",
           job, (("-f", "--follow"), {"action": "store_true", "help": "keep printing"}),
           (("-n", "--lines"), {"type": int, "metavar": "LINES",
                                "help": "recent lines per node (default 100; with -f 0)"}))
    action("events", "follow every node's events, as node/watcher.wid |",
           (("--topic",), {"action": "append", "metavar": "T",
                           "help": "only topics starting with T (repeatable)"}))
    action("drain", "move a node's cluster work elsewhere (its local watchers stay)", node,
           (("--reason",), {"default": "", "help": "shown by nodes and status"}))
    action("undrain", "let a node take cluster work again", node)

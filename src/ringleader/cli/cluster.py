"""`ringleader cluster ACTION`: the cluster console, over ``ringleader.cluster.Cluster``.

Imported only when this command runs: the plain console never loads the cluster, etcd's
client or msgspec. Exit codes as the console's: 0 ok, 1 refused or failed (the nodes that
failed are named), 2 usage or config error (a jobs file names the job and field), 3 etcd
unreachable, 4 `status` found a job short or a node unhealthy, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from ringleader.cli import cluster_format as fmt
from ringleader.cli.common import (
    EXIT_DEGRADED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    UsageError,
    error,
    json_error,
    load_config_file,
    use_color,
)
from ringleader.cluster import (
    Cluster,
    EtcdAuthError,
    EtcdError,
    EtcdUnavailable,
    FanOut,
    NodeCredentials,
    NodeError,
    load_jobs_file,
)
from ringleader.cluster.control import RELOAD_TIMEOUT
from ringleader.config.cluster import EtcdSettings
from ringleader.config.secrets import REDACTED
from ringleader.errors import ConfigError, RingleaderError

NODE_TIMEOUT = 5.0


class Failed(Exception):
    """The action failed: one line, and the exit code."""

    def __init__(self, code: str, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code


def etcd_settings(args: argparse.Namespace) -> tuple[EtcdSettings, str]:
    """How to reach etcd and the key prefix: --etcd (or $RINGLEADER_ETCD) with the
    --etcd-* options, else -c CONFIG's [cluster] table."""
    urls = getattr(args, "etcd", None) or (None if args.config else
                                           os.environ.get("RINGLEADER_ETCD"))
    name = getattr(args, "cluster_name", None)
    prefix = getattr(args, "prefix", None)
    if urls:
        raw: dict[str, Any] = {
            "endpoints": [u.strip() for u in urls.split(",") if u.strip()],
            "ca_file": getattr(args, "etcd_cafile", None),
            "cert_file": getattr(args, "etcd_certfile", None),
            "key_file": getattr(args, "etcd_keyfile", None)}
        user = getattr(args, "etcd_user", None)
        if user:
            raw |= {"user": user, "password": os.environ.get("RINGLEADER_ETCD_PASSWORD")}
            if raw["password"] is None:
                raise UsageError("--etcd-user: set the password in $RINGLEADER_ETCD_PASSWORD")
        try:
            settings = msgspec.convert({k: v for k, v in raw.items() if v is not None},
                                       EtcdSettings)
        except msgspec.ValidationError as exc:
            raise UsageError(f"--etcd: {exc}") from None
        return settings, prefix or f"/ringleader/{name or 'default'}"
    if args.config:
        config = load_config_file(args.config)
        if config.cluster is None:
            raise UsageError(f"{args.config}: no [cluster] table (the node config that "
                             "says how to reach etcd)")
        default = config.cluster.key_prefix
        return config.cluster.etcd, prefix or (f"/ringleader/{name}" if name else default)
    raise UsageError("where is etcd? give --etcd URLS, -c CONFIG (a node's config) or "
                     "$RINGLEADER_ETCD")


def credentials(args: argparse.Namespace) -> NodeCredentials:
    timeout = args.timeout or (RELOAD_TIMEOUT if args.action == "reload" else NODE_TIMEOUT)
    if timeout <= 0:
        raise UsageError("--timeout: expected a number of seconds > 0")
    return NodeCredentials(token=args.token or os.environ.get("RINGLEADER_TOKEN") or None,
                           cafile=args.cafile, certfile=args.certfile, keyfile=args.keyfile,
                           timeout=timeout)


def signal_name(text: str) -> str:
    """SIG as the nodes take it (``SIGHUP``), checked here: a typo fails once, not once
    per node."""
    import signal

    try:
        number = int(text) if text.isdigit() else int(signal.Signals[
            text.upper() if text.upper().startswith("SIG") else "SIG" + text.upper()])
        return signal.Signals(number).name
    except (KeyError, ValueError):
        raise UsageError(f"SIG: no such signal: {text}") from None


def out(args: argparse.Namespace, data: Any, human: Callable[[Any], str]) -> None:
    if args.json:
        sys.stdout.write(msgspec.json.encode(data).decode() + "\n")
    else:
        text = human(data)
        if text:
            print(text)


def _failures(result: FanOut, what: str) -> int:
    for exc in result.failed.values():
        error(str(exc))
    if result.failed:
        raise Failed("nodes_failed", f"{what} failed on {len(result.failed)} node(s): "
                     f"{', '.join(sorted(result.failed))}")
    return EXIT_OK


# -- the actions ------------------------------------------------------------------------

async def do_nodes(args: argparse.Namespace, cluster: Cluster) -> int:
    snap = await cluster.snapshot()
    data = [{"name": name, "labels": rec.labels, "api": rec.api, "version": rec.version,
             "started": rec.started, "registered": rec.registered or None,
             "drained": name in snap.drains,
             "scheduler": snap.scheduler is not None and snap.scheduler.node == name,
             "capacity": msgspec.to_builtins(rec.capacity)}
            for name, rec in sorted(snap.nodes.items())]
    out(args, data, lambda d: fmt.nodes(d, time.time()))
    return EXIT_OK


async def do_status(args: argparse.Namespace, cluster: Cluster) -> int:
    view = await cluster.status()
    data = view.to_dict()
    out(args, data, lambda d: fmt.status(d, color=use_color(args.color, sys.stdout)))
    for node, why in sorted(view.failed.items()):
        if not (why.startswith("advertises no API") and not args.json):
            error(f"node {node}: {why}")
    unreachable = sorted(n.name for n in view.nodes if n.health == "unreachable")
    if unreachable:
        raise Failed("nodes_failed", f"no answer from node(s): {', '.join(unreachable)}")
    return EXIT_DEGRADED if view.degraded else EXIT_OK


async def do_apply(args: argparse.Namespace, cluster: Cluster) -> int:
    jobs = load_jobs_file(args.file)
    changes, revision = await cluster.apply(jobs, dry_run=args.dry_run, prune=args.prune)
    data = {"dry_run": args.dry_run, "revision": revision, "changes": [
        {"name": c.name, "kind": c.kind, "fields": [
            {"path": f.path, "secret": f.secret,
             "old": REDACTED if f.secret and f.old is not None else f.old,
             "new": REDACTED if f.secret and f.new is not None else f.new}
            for f in c.fields]} for c in changes]}
    out(args, data, lambda d: fmt.diff(d["changes"]) + (
        "\n(dry run: nothing written)" if d["dry_run"] and d["changes"] else ""))
    return EXIT_OK


async def do_rm(args: argparse.Namespace, cluster: Cluster) -> int:
    await cluster.remove(args.job)
    out(args, {"removed": args.job}, lambda d: f"job {d['removed']} removed")
    return EXIT_OK


async def do_scale(args: argparse.Namespace, cluster: Cluster) -> int:
    if args.count < 0:
        raise UsageError("N: the number of processes cannot be negative")
    job = await cluster.scale(args.job, args.count)
    field = "per_node" if job.per_node is not None else "count"
    out(args, {"job": args.job, field: args.count},
        lambda d: f"job {args.job}: {field} = {args.count}")
    return EXIT_OK


async def do_reload(args: argparse.Namespace, cluster: Cluster) -> int:
    rollout = await cluster.reload(args.job, timeout=cluster.nodes_api.credentials.timeout)
    data = {"done": rollout.done, "skipped": rollout.skipped,
            "failed": None if rollout.failed is None else
            {"node": rollout.failed.node, "reason": rollout.failed.reason}}
    out(args, data, lambda d: "\n".join(f"{n}: reloaded" for n in d["done"]))
    if rollout.failed is not None:
        left = f"; left as they were: {', '.join(rollout.skipped)}" if rollout.skipped else ""
        raise Failed("nodes_failed", f"reload stopped at node {rollout.failed.node}: "
                     f"{rollout.failed.reason}{left}")
    if not rollout.done:
        print(f"job {args.job} runs on no node", file=sys.stderr)
    return EXIT_OK


async def do_restart(args: argparse.Namespace, cluster: Cluster) -> int:
    result = await cluster.restart(args.job)
    out(args, {"done": sorted(result.answers), "failed": {n: e.reason for n, e in
                                                          result.failed.items()}},
        lambda d: "\n".join(f"{n}: restarted" for n in d["done"]))
    return _failures(result, "restart")


async def do_signal(args: argparse.Namespace, cluster: Cluster) -> int:
    result = await cluster.signal(args.job, signal_name(args.signal))
    out(args, {"signalled": {n: a.get("signalled", 0) for n, a in result.answers.items()},
               "failed": {n: e.reason for n, e in result.failed.items()}},
        lambda d: "\n".join(f"{n}: {c} process(es) signalled"
                            for n, c in sorted(d["signalled"].items())))
    return _failures(result, "signal")


async def do_logs(args: argparse.Namespace, cluster: Cluster) -> int:
    if args.lines is not None and args.lines < 0:
        raise UsageError("-n/--lines: expected a number of lines >= 0")
    failed: list[str] = []
    if not args.follow:
        items, result = await cluster.logs(args.job, lines=100 if args.lines is None
                                           else args.lines)
        for item in items:
            _print_item(args, item.node, "log", item.data)
        return _failures(result, "logs")
    async for item in cluster.follow_logs(args.job, lines=args.lines or 0):
        if item.kind == "error":
            failed.append(item.node)
            error(str(item.data))
        else:
            _print_item(args, item.node, item.kind, item.data)
    if failed:
        raise Failed("nodes_failed", f"logs ended on node(s): {', '.join(sorted(failed))}")
    return EXIT_OK


async def do_events(args: argparse.Namespace, cluster: Cluster) -> int:
    failed: list[str] = []
    async for item in cluster.events(args.topic or ()):
        if item.kind == "error":
            failed.append(item.node)
            error(str(item.data))
        else:
            _print_item(args, item.node, item.kind, item.data)
    if failed:
        raise Failed("nodes_failed", f"events ended on node(s): {', '.join(sorted(failed))}")
    return EXIT_OK


def _print_item(args: argparse.Namespace, node: str, kind: str, data: Any) -> None:
    if args.json:
        line = msgspec.json.encode({"node": node, "kind": kind, "data": data}).decode()
    elif kind == "log":
        line = fmt.log_item(node, data)
    else:
        line = fmt.event_item(node, data, color=use_color(args.color, sys.stdout))
    print(line, flush=True)


async def do_drain(args: argparse.Namespace, cluster: Cluster) -> int:
    await cluster.drain(args.node, args.reason)
    out(args, {"drained": args.node}, lambda d: f"node {d['drained']} drained: its cluster "
        "work moves to the other nodes")
    return EXIT_OK


async def do_undrain(args: argparse.Namespace, cluster: Cluster) -> int:
    await cluster.undrain(args.node)
    out(args, {"undrained": args.node},
        lambda d: f"node {d['undrained']} may take cluster work again")
    return EXIT_OK


ACTIONS: dict[str, Callable[[argparse.Namespace, Cluster], Awaitable[int]]] = {
    "nodes": do_nodes, "status": do_status, "apply": do_apply, "rm": do_rm,
    "scale": do_scale, "reload": do_reload, "restart": do_restart, "signal": do_signal,
    "logs": do_logs, "events": do_events, "drain": do_drain, "undrain": do_undrain}


async def _run(args: argparse.Namespace) -> int:
    etcd, prefix = etcd_settings(args)
    async with Cluster(etcd, prefix=prefix, credentials=credentials(args)) as cluster:
        try:
            return await ACTIONS[args.action](args, cluster)
        except EtcdAuthError as exc:
            raise Failed("etcd_refused", str(exc)) from None
        except EtcdUnavailable as exc:
            raise Failed("unreachable", str(exc), EXIT_UNREACHABLE) from None
        except (EtcdError, NodeError) as exc:
            raise Failed("failed", str(exc)) from None


def cmd_cluster(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        for problem in exc.problems:
            error(problem)
        if args.json:
            json_error("config_invalid", "; ".join(exc.problems), EXIT_USAGE)
        return EXIT_USAGE
    except Failed as exc:
        return _fail(args, exc.code, str(exc), exc.exit_code)
    except RingleaderError as exc:  # NotFound, Conflict, LimitExceeded: refused
        code = type(exc).__name__.lower()
        return _fail(args, {"notfound": "not_found", "limitexceeded": "limit_exceeded"}.get(
            code, code), str(exc), EXIT_FAILED)


def _fail(args: argparse.Namespace, code: str, message: str, exit_code: int) -> int:
    error(message)
    if args.json:
        json_error(code, message, exit_code)
    return exit_code

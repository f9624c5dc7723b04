"""Jobs: the cluster's desired state, one per ``jobs/<job>`` key.

A job is a watcher definition plus its placement. The watcher part is kept as the options
were written (``cmd``, ``env``, streams, features...) and validated by the very function
that validates a local watcher given as a dict (``config.load.watcher_from_dict``), on the
console when it is applied and again on each node that runs it, where node-local things
(user names, paths) are resolved. How many processes comes from the placement, never from
``numprocesses``:

- ``count = N``: N processes in all, spread evenly over the matching nodes; or
  ``per_node = K``: K on every matching node (exactly one of the two);
- ``constraints``: labels a node must have, each equal to a value or in a set of values
  (``{zone = "a", disk = ["ssd", "nvme"]}``);
- ``spread_by``: a label (e.g. ``zone``) whose values share the count evenly first;
- ``max_per_node``: at most this many on one node;
- ``stop_after_disconnect``: seconds after which a node cut off from etcd stops the job's
  processes, for work that must never run twice for long (else it keeps them running).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ringleader.config.load import watcher_from_dict
from ringleader.config.model import WatcherConfig
from ringleader.config.secrets import redact_env
from ringleader.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
LABEL_RE = re.compile(r"^[A-Za-z0-9_.\-/]{1,63}$")
PLACEMENT_FIELDS = ("count", "per_node", "constraints", "spread_by", "max_per_node",
                    "stop_after_disconnect")
# Watcher options a job may not carry, and why.
REFUSED_OPTIONS = {
    "name": "the job's name is its table's name",
    "numprocesses": "the placement sets it: count or per_node",
    "singleton": "use max_per_node = 1 (and count = 1 for one in the whole cluster)",
    "autoscale": "the placement decides how many run on each node",
}

# Users and groups are each node's: a name is resolved where the job runs (a node without
# it reports the job refused there), so the console only checks that it looks like one.
NODE_LOCAL_IDS = ("uid", "gid")
ID_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,31}\$?$")

NonNeg = Annotated[int, Meta(ge=0)]


class Job(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One job: ``options`` of its watcher plus placement (see the module's docstring)."""

    name: Annotated[str, Meta(pattern=NAME_RE.pattern)]
    options: dict[str, Any]
    count: NonNeg | None = None
    per_node: NonNeg | None = None
    constraints: dict[str, list[str]] = {}
    spread_by: str | None = None
    max_per_node: Annotated[int, Meta(ge=1)] | None = None
    stop_after_disconnect: Annotated[float, Meta(gt=0)] | None = None

    def watcher_config(self, numprocesses: int = 1) -> WatcherConfig:
        """The local watcher running ``numprocesses`` of this job; ConfigError if this
        host refuses it (an unknown user, say)."""
        return watcher_from_dict({**self.options, "name": self.name,
                                  "numprocesses": numprocesses}, where=f"job {self.name}")

    def mismatch(self, labels: dict[str, str]) -> str | None:
        """Why a node with ``labels`` cannot run this job, or None when it can."""
        for label, accepted in self.constraints.items():
            value = labels.get(label)
            if value is None:
                return f"no label {label}"
            if value not in accepted:
                want = accepted[0] if len(accepted) == 1 else "{" + ", ".join(accepted) + "}"
                return f"{label}={value}, not {want}"
        if self.spread_by and self.spread_by not in labels:
            return f"no label {self.spread_by} (spread_by)"
        return None

    def redacted(self) -> dict[str, Any]:
        """The job as a dict for display: env values with secret-looking names masked."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        env = data["options"].get("env")
        if isinstance(env, dict):
            data["options"]["env"] = redact_env(env)
        return data


def _show(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _placement(table: dict[str, Any], prefix: str, problems: list[str]) -> dict[str, Any]:
    """The placement fields of a job table, checked; problems appended."""
    out: dict[str, Any] = {}

    def bad(field: str, expected: str) -> None:
        problems.append(f"{prefix} {field}: expected {expected}, got {_show(table[field])}")

    for field, minimum in (("count", 0), ("per_node", 0), ("max_per_node", 1)):
        if field in table:
            value = table[field]
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                bad(field, f"an integer >= {minimum}")
            else:
                out[field] = value
    if "stop_after_disconnect" in table:
        value = table["stop_after_disconnect"]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            bad("stop_after_disconnect", "a number of seconds > 0")
        else:
            out["stop_after_disconnect"] = float(value)
    if "spread_by" in table:
        value = table["spread_by"]
        if not isinstance(value, str) or not LABEL_RE.match(value):
            bad("spread_by", "a label name")
        else:
            out["spread_by"] = value
    if "constraints" in table:
        out["constraints"] = _constraints(table["constraints"], prefix, problems)
    if ("count" in table) == ("per_node" in table):
        problems.append(f"{prefix} count: expected exactly one of count (processes in all) "
                        "and per_node (processes on each matching node)")
    if "per_node" in table and "spread_by" in table:
        problems.append(f"{prefix} spread_by: only for a job with count (per_node runs on "
                        "every matching node)")
    if (isinstance(out.get("per_node"), int) and isinstance(out.get("max_per_node"), int)
            and out["per_node"] > out["max_per_node"]):
        problems.append(f"{prefix} per_node: {out['per_node']} is more than max_per_node "
                        f"{out['max_per_node']}")
    return out


def _constraints(raw: Any, prefix: str, problems: list[str]) -> dict[str, list[str]]:
    where = f"{prefix} constraints"
    if not isinstance(raw, dict):
        problems.append(f'{where}: expected a table of labels such as {{zone = "a"}}, got '
                        f"{_show(raw)}")
        return {}
    out: dict[str, list[str]] = {}
    for label, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not LABEL_RE.match(str(label)):
            problems.append(f"{where}.{label}: not a label name ([A-Za-z0-9_.-/])")
        elif not values or not all(isinstance(v, str) for v in values):
            problems.append(f"{where}.{label}: expected a value or a non-empty list of "
                            f"values (strings), got {_show(value)}")
        else:
            out[label] = list(dict.fromkeys(values))
    return out


def _portable(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` as this host can check them: a user or group name that looks like one
    stands for a number (the nodes resolve it; this host may not know it)."""
    out = dict(options)
    for key in NODE_LOCAL_IDS:
        value = out.get(key)
        if isinstance(value, str) and ID_NAME_RE.match(value.strip()):
            out[key] = 0
    return out


def job_from_dict(name: str, table: Any, *, where: str = "") -> Job:
    """A job from its table (``[jobs.NAME]``): watcher options and placement side by
    side. ConfigError lists every problem, one line each: ``WHERE [jobs.NAME] field: ...``."""
    prefix = f"{where} [jobs.{name}]".strip()
    if not isinstance(table, dict):
        raise ConfigError([f"{prefix}: expected a table of options, got {_show(table)}"])
    problems: list[str] = []
    if not NAME_RE.match(name):
        problems.append(f"{prefix}: the job name must be 1-128 characters of "
                        "A-Z a-z 0-9 _ . -")
    placement = _placement(table, prefix, problems)
    options = {k: v for k, v in table.items() if k not in PLACEMENT_FIELDS}
    for key, why in REFUSED_OPTIONS.items():
        if key in options:
            problems.append(f"{prefix} {key}: not in a job: {why}")
            del options[key]
    if "cmd" not in options:
        problems.append(f"{prefix} cmd: missing (the command to run)")
    try:  # a stand-in name and cmd when those are wrong, to report every other problem
        watcher_from_dict({"cmd": "true", **_portable(options),
                           "name": name if NAME_RE.match(name) else "job"}, where=prefix)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return Job(name=name, options=options, **placement)


def encode_job(job: Job) -> bytes:
    return msgspec.json.encode(job)


def decode_job(data: bytes, name: str) -> Job:
    """A stored job with its placement checked as on apply (its watcher options are
    checked where they are used: ``watcher_config``); ConfigError naming the job."""
    try:
        job = msgspec.json.decode(data, type=Job)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError([f"stored job {name}: {exc}"]) from None
    problems = [] if job.name == name else [f"stored job {name}: its value names {job.name}"]
    present = {f: getattr(job, f) for f in PLACEMENT_FIELDS
               if getattr(job, f) is not None and f != "constraints"}
    _placement(present, f"stored job {name}:", problems)
    if problems:
        raise ConfigError(problems)
    return job

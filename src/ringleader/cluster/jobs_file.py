"""A jobs file (TOML, ``[jobs.NAME]`` tables) -> jobs, and the difference between two sets
of jobs (what ``cluster apply --dry-run`` prints before anything is written).

```toml
[jobs.web]
cmd = "python -m myapp --fd $(ringleader.sockets.web)"
use_sockets = true
count = 6
spread_by = "zone"
constraints = { disk = ["ssd", "nvme"] }

[jobs.web.env]
APP_MODE = "production"
API_TOKEN = "..."            # shown as *** in every diff and log
```
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from ringleader.cluster.jobs import Job, job_from_dict
from ringleader.config.secrets import is_secret
from ringleader.errors import ConfigError

MAX_FILE_BYTES = 4 << 20


def jobs_from_toml(data: Mapping[str, Any], *, where: str) -> dict[str, Job]:
    """The jobs of a parsed jobs file; ConfigError lists every problem of every job."""
    problems: list[str] = []
    for key in data:
        if key != "jobs":
            problems.append(f"{where} [{key}]: unknown table (expected [jobs.NAME] tables)")
    tables = data.get("jobs", {})
    if not isinstance(tables, dict):
        raise ConfigError([*problems, f"{where} jobs: expected [jobs.NAME] tables"])
    jobs: dict[str, Job] = {}
    for name, table in tables.items():
        try:
            jobs[name] = job_from_dict(name, table, where=where)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return jobs


def load_jobs_file(path: str | os.PathLike[str]) -> dict[str, Job]:
    """Read and validate a jobs file; ConfigError (``FILE: [jobs.NAME] field: ...``)."""
    display = os.fspath(path)
    try:  # O_NONBLOCK: a FIFO in its place must not hang the command
        fd = os.open(display, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ConfigError([f"{display}: not a regular file"])
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{display}: cannot read: {(exc.strerror or str(exc)).lower()}"]
                          ) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([f"{display}: larger than {MAX_FILE_BYTES} bytes"])
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{display}: not UTF-8 text (at byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{display}: TOML syntax: {exc}"]) from None
    return jobs_from_toml(data, where=f"{display}:")


@dataclass(frozen=True)
class FieldChange:
    path: str  # "count", "options.env.APP_MODE", ...
    old: Any  # None when added
    new: Any  # None when removed
    secret: bool = False  # show that it changed, never the values


@dataclass(frozen=True)
class JobChange:
    name: str
    kind: Literal["add", "change", "remove"]
    fields: list[FieldChange] = field(default_factory=list)


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else str(k), out)
    else:
        out[path] = value


def _fields(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {}
    data = msgspec.to_builtins(job)
    del data["name"]
    _flatten({k: v for k, v in data.items() if v is not None and v != {}}, "", out)
    return out


def _is_secret(path: str) -> bool:
    return path.startswith("options.env.") and is_secret(path[12:])


def diff_jobs(stored: Mapping[str, Job], new: Mapping[str, Job], *,
              remove_missing: bool = False) -> list[JobChange]:
    """What applying ``new`` over ``stored`` changes, job by job (sorted by name). Jobs only
    in ``stored`` are removals when ``remove_missing``, else untouched."""
    changes: list[JobChange] = []
    for name in sorted(set(stored) | set(new)):
        old_job, new_job = stored.get(name), new.get(name)
        if new_job is None:
            if remove_missing:
                changes.append(JobChange(name, "remove"))
            continue
        before = _fields(old_job) if old_job is not None else {}
        after = _fields(new_job)
        fields = [FieldChange(p, before.get(p), after.get(p), _is_secret(p))
                  for p in sorted(set(before) | set(after)) if before.get(p) != after.get(p)]
        if old_job is None:
            changes.append(JobChange(name, "add", fields))
        elif fields:
            changes.append(JobChange(name, "change", fields))
    return changes


def format_diff(changes: list[JobChange]) -> list[str]:
    """Readable lines: ``+ job web``, ``  count: 4 -> 6``; secret values never shown."""
    lines: list[str] = []
    signs = {"add": "+", "change": "~", "remove": "-"}
    for change in changes:
        lines.append(f"{signs[change.kind]} job {change.name}")
        for f in change.fields:
            if f.secret:
                lines.append(f"    {f.path}: {'set' if f.old is None else 'changed'} (secret)"
                             if f.new is not None else f"    {f.path}: removed (secret)")
            elif f.old is None:
                lines.append(f"    {f.path}: {f.new!r}")
            elif f.new is None:
                lines.append(f"    {f.path}: removed (was {f.old!r})")
            else:
                lines.append(f"    {f.path}: {f.old!r} -> {f.new!r}")
    return lines

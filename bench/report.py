"""Render the figures of one run as Markdown: raw values per tool, then Ringleader's ratios."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Plan

Value = float | int | str | None
Results = dict[str, dict[str, Value]]  # tool name -> figure key -> value

BASELINES = ["supervisord", "circus", "floor"]


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    better: str  # "lower" or "higher"; "" when a ratio means nothing
    target: str = ""
    floor_key: str = ""  # the floor's figure to compare with, when not its own `key`


def figures(plan: Plan) -> list[Figure]:
    """The rows of the table, in order."""
    small, big, kills = plan.small, plan.big, plan.kills
    idle_small, idle_big = plan.idle_small_s, plan.idle_big_s
    mib = plan.capture_blocks * 64 // 1024
    size = f"{mib // 1024} GiB" if mib % 1024 == 0 else f"{mib} MiB"
    http = plan.http_workers
    return [
        Figure(
            "self_last_small",
            f"{small} workers up, self-timed (circus-style config), median of 3",
            "s",
            "lower",
            "≤ 1.4x floor",
        ),
        Figure(
            "self_first_small",
            "first worker started, self-timed, median of 3",
            "s",
            "lower",
        ),
        Figure("up_small", f"bring-up, {small} workers, median of 3", "s", "lower"),
        Figure("stop_small", f"graceful stop, {small} workers", "s", "lower"),
        Figure(
            "cpu_small", f"idle CPU, {small} workers, {idle_small:g} s", "CPU-s", "lower", "≈ 0"
        ),
        Figure(
            "rss_small",
            f"RSS controller+helpers, {small} workers",
            "MB",
            "lower",
            "below both peers",
        ),
        Figure("rss_ctl_small", f"RSS controller alone, {small} workers", "MB", "lower"),
        Figure("up_big", f"bring-up, {big} workers", "s", "lower"),
        Figure("stop_big", f"graceful stop, {big} workers", "s", "lower"),
        Figure("cpu_big", f"idle CPU, {big} workers, {idle_big:g} s", "CPU-s", "lower", "≈ 0"),
        Figure(
            "rss_big", f"RSS controller+helpers, {big} workers", "MB", "lower", "below both peers"
        ),
        Figure("rss_ctl_big", f"RSS controller alone, {big} workers", "MB", "lower"),
        Figure("api_big_p50", f"API `status`, {big} workers, p50 of {plan.big_api_calls}", "ms",
               "lower"),
        Figure("up_huge", f"bring-up, {plan.huge} workers (Ringleader, floor)", "s", ""),
        Figure("stop_huge", f"graceful stop, {plan.huge} workers", "s", ""),
        Figure("cpu_huge", f"idle CPU, {plan.huge} workers, {plan.idle_huge_s:g} s", "CPU-s",
               "", "≈ 0"),
        Figure("rss_huge", f"RSS controller+helpers, {plan.huge} workers", "MB", ""),
        Figure("rss_ctl_huge", f"RSS controller alone, {plan.huge} workers", "MB", ""),
        Figure("api_huge_p50", f"API `status`, {plan.huge} workers, p50 of "
               f"{plan.big_api_calls}", "ms", ""),
        Figure("respawn_p50", f"respawn after SIGKILL, p50 of {kills} (raw)", "ms", "lower"),
        Figure(
            "respawn_net_p50",
            "respawn after SIGKILL, p50 minus the floor's p50",
            "ms",
            "lower",
            "< 2 ms",
        ),
        Figure("respawn_p95", f"respawn after SIGKILL, p95 of {kills} (raw)", "ms", "lower"),
        Figure(
            "respawn_self_p50",
            f"respawn after SIGKILL, self-timed (kill → the new worker's own start), p50 of "
            f"{kills}",
            "ms",
            "lower",
            "≤ 2 ms",
        ),
        Figure(
            "respawn_self_net_p50",
            "respawn, self-timed, p50 minus the floor's p50",
            "ms",
            "lower",
            "≤ 1 ms",
        ),
        Figure("respawn_self_p95", f"respawn, self-timed, p95 of {kills}", "ms", "lower"),
        Figure("scan_p50", "one /proc scan of the tree while polling, p50", "ms", ""),
        Figure("popen_p50", "one `subprocess.Popen` spawn, p50", "ms", ""),
        Figure(
            "capture_s",
            f"capture {size} of text: producer start → file complete, median of 3",
            "s",
            "lower",
        ),
        Figure("capture_mbps", "capture throughput", "MB/s", "higher", "≥ 0.8x floor"),
        Figure("capture_lost", "capture loss (expected - in file), worst of 3", "bytes", "", "0"),
        Figure("capture_sha", "capture sha256 matches", "", "", "yes"),
        Figure("binary_sha", "1 MiB of bytes 0-255 captured unchanged", "", "", "yes"),
        Figure(
            "api_p50",
            f"API `status`, {plan.control_workers} workers, p50 of {plan.api_calls} calls",
            "ms",
            "lower",
            "≤ 0.25 ms",
        ),
        Figure("api_p95", f"API `status`, p95 of {plan.api_calls} calls", "ms", "lower"),
        Figure(
            "cli_p50",
            f"console `status` (floor: `python -c pass`), median of {plan.cli_runs}",
            "ms",
            "lower",
            "≤ 40 ms, ≤ 2x floor",
        ),
        Figure(
            "cli_c_p50",
            f"console `status -c CONFIG` (floor: `python -c pass`), median of {plan.cli_runs}",
            "ms",
            "lower",
            "≤ 40 ms, ≤ 2x floor",
            floor_key="cli_p50",
        ),
        Figure(
            "reload_served",
            f"reload of {http} HTTP workers under load: requests served",
            "",
            "",
        ),
        Figure("reload_failed", "reload under load: requests failed", "", "", "0"),
        Figure("reload_replaced", "reload under load: workers replaced", "", ""),
        Figure("reload_s", "reload under load: console command duration", "s", ""),
        Figure("reload_p99_ms", "reload under load: request time, p99", "ms", "lower"),
        Figure("reload_slowest_ms", "reload under load: slowest request", "ms", "lower"),
        Figure("reload_rate", "reload under load: requests per second", "req/s", ""),
    ]


def render(
    results: Results,
    rows: list[Figure],
    tools: list[str],
    header: dict[str, str],
    notes: dict[str, list[str]],
) -> str:
    """The whole RESULTS.md text."""
    out = ["# Ringleader vs supervisord vs circus: benchmark results", ""]
    out += [f"- **{key}**: {value}" for key, value in header.items()]
    out += ["", "## Raw figures", "", *_raw_table(results, rows, tools)]
    if "ringleader" in tools:
        out += ["", "## Ratios (Ringleader / other)", "", *_ratio_table(results, rows, tools)]
    out += ["", "## Notes", ""]
    for tool in tools:
        out += [f"- **{tool}**: {note}" for note in notes.get(tool, [])]
    return "\n".join(out) + "\n"


def machine_header(command: str, versions: dict[str, str]) -> dict[str, str]:
    """Date, machine and versions lines."""
    header = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "machine": (
            f"{os.cpu_count()} CPUs, Linux {platform.release()}, "
            f"Python {sys.version.split()[0]} (bench)"
        ),
        "command": f"`{command}`",
    }
    header.update({f"version {tool}": text for tool, text in versions.items()})
    return header


def _raw_table(results: Results, rows: list[Figure], tools: list[str]) -> list[str]:
    lines = ["| figure | unit | " + " | ".join(tools) + " |"]
    lines.append("|---|---|" + "---:|" * len(tools))
    for row in rows:
        cells = [_fmt(results.get(tool, {}).get(row.key)) for tool in tools]
        if all(cell == "—" for cell in cells):
            continue
        lines.append(f"| {row.label} | {row.unit} | " + " | ".join(cells) + " |")
    return lines


def _ratio_table(results: Results, rows: list[Figure], tools: list[str]) -> list[str]:
    others = [tool for tool in BASELINES if tool in tools]
    lines = ["| figure | better | " + " | ".join(f"RL / {t}" for t in others) + " | target |"]
    lines.append("|---|---|" + "---:|" * len(others) + "---|")
    ours = results.get("ringleader", {})
    for row in rows:
        if not row.better:
            continue
        cells = [_ratio(ours.get(row.key),
                        results.get(t, {}).get(row.floor_key if t == "floor" and row.floor_key
                                               else row.key))
                 for t in others]
        if all(cell == "—" for cell in cells):
            continue
        lines.append(f"| {row.label} | {row.better} | " + " | ".join(cells) + f" | {row.target} |")
    return lines


def _ratio(ours: Value, theirs: Value) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float):
        return "—"
    if theirs == 0:
        return "—"
    return f"{ours / theirs:.3g}x"


def _fmt(value: Value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return value

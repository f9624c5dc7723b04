"""Benchmark Ringleader against supervisord, circus and a plain-Python floor, in one run.

    python bench/run.py [--quick] [--only NAME[,NAME]] [--out bench/RESULTS.md]

See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import resource
import shlex
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import producer
from control import api_latency, cli_once
from measure import (
    BenchError,
    Capture,
    Running,
    bring_up,
    capture,
    idle,
    launched,
    popen_spawn_times,
    reap_orphans,
    respawn_latencies,
    respawn_self_timed,
    self_timed_bring_up,
)
from peers import (
    ALL_TOOLS,
    BENCH_DIR,
    Floor,
    Ringleader,
    Scenario,
    Tool,
    build_stamp,
    tools_named,
)
from reloading import reload_under_load
from report import Results, figures, machine_header, render

PR_SET_CHILD_SUBREAPER = 36
WANTED_NOFILE = 65536
BINARY_BLOCKS = 16  # 1 MiB
CAPTURE_RUNS = 3  # the median time is reported
UP_ROUNDS = 3  # bring-ups of the small size; the median is reported
CLUSTER_MARK = "<!-- cluster:start -->"  # bench/cluster.py writes from here on


@dataclass(frozen=True)
class Plan:
    """Sizes and durations of one run."""

    small: int = 200
    big: int = 2000
    huge: int = 10_000  # Ringleader (and the floor) only: one controller's scale
    idle_small_s: float = 30.0
    idle_big_s: float = 30.0
    idle_huge_s: float = 30.0
    big_api_calls: int = 50  # `status` at 2,000 and 10,000 workers (big answers)
    floor_idle_s: float = 3.0
    respawn_workers: int = 200
    kills: int = 50
    capture_blocks: int = 16384  # x 64 KiB = 1 GiB
    control_workers: int = 10
    api_warmup: int = 20
    api_calls: int = 200
    cli_runs: int = 30  # after one untimed run per tool
    http_workers: int = 4
    load_threads: int = 2
    max_requests: int = 20_000

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            big=500,
            idle_small_s=5.0,
            idle_big_s=5.0,
            huge=1000,
            idle_huge_s=5.0,
            big_api_calls=10,
            floor_idle_s=2.0,
            kills=20,
            capture_blocks=3200,  # 200 MiB
            cli_runs=10,
        )


class Bench:
    """Runs the phases tool by tool and collects figures and notes."""

    def __init__(self, plan: Plan, tools: list[Tool], workroot: Path) -> None:
        self.plan = plan
        self.tools = tools
        self.workroot = workroot
        self.results: Results = {tool.name: {} for tool in tools}
        self.notes: dict[str, list[str]] = {tool.name: [] for tool in tools}
        # Repeated figures, reduced to their median by finish().
        self.samples: dict[str, dict[str, list[float]]] = {tool.name: {} for tool in tools}
        self.captures: dict[str, list[Capture]] = {tool.name: [] for tool in tools}

    def run_all(self, phases: set[str] | None = None) -> None:
        """Every phase (or those named), each tool in turn within a phase; repeated phases
        alternate tools."""
        plan = self.plan
        if phases is not None:
            self._only_phases(phases)
            self._finish()
            return
        self._self_timed_rounds()
        for _ in range(UP_ROUNDS - 1):
            self._phase("bring-up", lambda t: self._bring_up_only(t, plan.small))
        self._phase("idle", lambda t: self._up_and_idle(t, plan.small, plan.idle_small_s, "small"))
        self._phase("respawn", self._respawn)
        self._phase("self-timed respawn", self._respawn_self_timed)
        for _ in range(CAPTURE_RUNS):
            self._phase("capture", self._capture_once)
        self._phase("binary capture", self._binary_capture)
        _log("control latency: all tools side by side")
        self._control()
        self._phase("reload", self._reload)
        self._phase("idle-big", lambda t: self._up_and_idle(t, plan.big, plan.idle_big_s, "big"))
        self._scale()
        self._finish()

    def _only_phases(self, phases: set[str]) -> None:
        plan = self.plan
        named: dict[str, Callable[[], None]] = {
            "selftimed": self._self_timed_rounds,
            "bringup": lambda: self._rounds(
                "bring-up", lambda t: self._bring_up_only(t, plan.small), UP_ROUNDS
            ),
            "respawn": lambda: self._phase("respawn", self._respawn),
            "respawnself": lambda: self._phase("self-timed respawn", self._respawn_self_timed),
            "control": self._control,
            "big": lambda: self._phase(
                "idle-big", lambda t: self._up_and_idle(t, plan.big, plan.idle_big_s, "big")
            ),
            "scale": self._scale,
        }
        unknown = phases - named.keys()
        if unknown:
            raise SystemExit(f"unknown phase(s): {', '.join(sorted(unknown))}")
        for name, body in named.items():
            if name in phases:
                body()

    def _self_timed_rounds(self) -> None:
        small = self.plan.small
        self._rounds("self-timed bring-up", lambda t: self._self_timed(t, small), UP_ROUNDS)

    def _rounds(self, name: str, body: Callable[[Tool], None], rounds: int) -> None:
        for _ in range(rounds):
            self._phase(name, body)

    def _phase(self, name: str, body: Callable[[Tool], None]) -> None:
        for tool in self.tools:
            self._phase_one(name, tool, body)

    def _phase_one(self, name: str, tool: Tool, body: Callable[[Tool], None]) -> None:
        _log(f"{name}: {tool.name}")
        started = time.perf_counter()
        try:
            body(tool)
        except Exception as exc:  # one tool failing must not stop the others
            self.notes[tool.name].append(f"{name} failed: {type(exc).__name__}: {exc}")
            _log(f"  FAILED: {exc}")
        _log(f"  done in {time.perf_counter() - started:.1f} s")

    def _up_and_idle(self, tool: Tool, count: int, window: float, size: str) -> None:
        figs = self.results[tool.name]
        if isinstance(tool, Floor):
            window = self.plan.floor_idle_s
            self.notes[tool.name].append(
                f"idle window at {count} workers: {window:g} s (blocked in os.wait(): 0 CPU by "
                "construction)"
            )
        with launched(tool, Scenario(sleepers=count), self.workroot) as running:
            up = bring_up(running, count, timeout=max(60.0, count * 0.1))
            self._sample(tool, f"up_{size}", up)
            _log(f"  {count} up in {up:.3f} s; idle {window:g} s")
            result = idle(running, window)
            endpoint = tool.api_endpoint(running.workdir)
            if size != "small" and endpoint:  # `status` with every process in the answer
                try:
                    api = api_latency(tool, endpoint, 3, self.plan.big_api_calls)
                    figs[f"api_{size}_p50"] = api.p50 * 1000
                    self.notes[tool.name].append(
                        f"API `status` at {count} workers: {api.answer_chars} characters")
                except Exception as exc:
                    self.notes[tool.name].append(f"API status at {count} workers failed: {exc}")
        figs[f"cpu_{size}"] = result.cpu_s
        figs[f"rss_{size}"] = result.rss_total_mb
        figs[f"rss_ctl_{size}"] = result.rss_controller_mb
        figs[f"stop_{size}"] = running.stop_s
        self._note_stop(tool, running, f"{count} workers")
        self.notes[tool.name].append(f"processes counted at {count} workers: {result.helpers}")
        if result.workers_after != count:
            self.notes[tool.name].append(
                f"{result.workers_after} workers (not {count}) at the end of the idle window"
            )

    def _scale(self) -> None:
        """One controller at `huge` workers (Ringleader; the floor for reference): its peers
        are measured at `big` in the idle-big phase of the same run."""
        plan = self.plan
        for tool in self.tools:
            if isinstance(tool, (Ringleader, Floor)):
                self._phase_one(
                    f"scale {plan.huge}", tool,
                    lambda t: self._up_and_idle(t, plan.huge, plan.idle_huge_s, "huge"))

    def _respawn(self, tool: Tool) -> None:
        figs = self.results[tool.name]
        count, kills = self.plan.respawn_workers, self.plan.kills
        scenario = Scenario(sleepers=count, fast_respawn=True)
        with launched(tool, scenario, self.workroot) as running:
            bring_up(running, count, timeout=max(60.0, count * 0.1))
            result = respawn_latencies(running, count, kills)
        samples = result.latencies
        figs["respawn_p50"] = statistics.median(samples) * 1000
        figs["respawn_p95"] = _p95(samples) * 1000
        figs["scan_p50"] = statistics.median(result.scans) * 1000
        self._note_stop(tool, running, f"{count} workers (respawn)")
        if isinstance(tool, Floor):
            figs["popen_p50"] = statistics.median(popen_spawn_times(kills)) * 1000

    def _self_timed(self, tool: Tool, count: int) -> None:
        """Bring-up as the workers see it: a circus-style config (Ringleader reads circus's
        circus.ini), each worker noting its own start (stamp.c)."""
        stamps = Path(tempfile.mkdtemp(prefix="stamps-", dir=self.workroot)) / "stamps"
        scenario = Scenario(sleepers=count, stamp_file=stamps, circus_style=True)
        with launched(tool, scenario, self.workroot) as running:
            result = self_timed_bring_up(running, count, stamps, timeout=max(60.0, count * 0.1))
        self._sample(tool, "self_last_small", result.last_s)
        self._sample(tool, "self_first_small", result.first_s)
        _log(f"  first worker at {result.first_s:.3f} s, all {count} at {result.last_s:.3f} s")

    def _respawn_self_timed(self, tool: Tool) -> None:
        """Respawn as the workers see it: SIGKILL to the replacement's own start stamp."""
        figs = self.results[tool.name]
        count, kills = self.plan.respawn_workers, self.plan.kills
        stamps = Path(tempfile.mkdtemp(prefix="stamps-", dir=self.workroot)) / "stamps"
        scenario = Scenario(sleepers=count, fast_respawn=True, stamp_file=stamps,
                            circus_style=True)
        with launched(tool, scenario, self.workroot) as running:
            self_timed_bring_up(running, count, stamps, timeout=max(60.0, count * 0.1))
            time.sleep(1.0)  # older than every tool's "died young" threshold
            samples = respawn_self_timed(running, count, kills, stamps)
        figs["respawn_self_p50"] = statistics.median(samples) * 1000
        figs["respawn_self_p95"] = _p95(samples) * 1000
        _log(f"  p50 {figs['respawn_self_p50']:.2f} ms")

    def _bring_up_only(self, tool: Tool, count: int) -> None:
        with launched(tool, Scenario(sleepers=count), self.workroot) as running:
            up = bring_up(running, count, timeout=max(60.0, count * 0.1))
        self._sample(tool, "up_small", up)
        _log(f"  {count} up in {up:.3f} s")

    def _capture_once(self, tool: Tool) -> None:
        result = capture(tool, self.workroot, self.plan.capture_blocks, binary=False)
        self.captures[tool.name].append(result)
        if result.seconds is not None:
            _log(f"  {result.mb_per_s:.0f} MB/s")

    def _binary_capture(self, tool: Tool) -> None:
        result = capture(tool, self.workroot, BINARY_BLOCKS, binary=True)
        self.results[tool.name]["binary_sha"] = result.sha_ok

    def _control(self) -> None:
        """API and console ``status`` latency, every controller up at once with a few sleepers."""
        plan = self.plan
        with contextlib.ExitStack() as stack:
            up: list[tuple[Tool, Running | None]] = []
            for tool in self.tools:
                if isinstance(tool, Floor):  # no controller: `python -c pass` for reference
                    up.append((tool, None))
                    continue
                try:
                    scenario = Scenario(sleepers=plan.control_workers)
                    running = stack.enter_context(launched(tool, scenario, self.workroot))
                    bring_up(running, plan.control_workers, timeout=60.0)
                    up.append((tool, running))
                except Exception as exc:
                    self.notes[tool.name].append(f"control: start failed: {exc}")
            time.sleep(1.0)  # let supervisord mark its programs RUNNING, circus settle
            for tool, running in up:
                endpoint = running and tool.api_endpoint(running.workdir)
                if not endpoint:
                    continue
                _log(f"  API status: {tool.name}")
                try:
                    api = api_latency(tool, endpoint, plan.api_warmup, plan.api_calls)
                except Exception as exc:
                    self.notes[tool.name].append(f"control API failed: {exc}")
                    continue
                self.results[tool.name]["api_p50"] = api.p50 * 1000
                self.results[tool.name]["api_p95"] = api.p95 * 1000
                self.notes[tool.name].append(
                    f"API `status` answer: {api.answer_chars} characters as JSON"
                )
            _log(f"  console status: {plan.cli_runs} rounds")
            # "cli": as each tool's console is usually run; "cli_c": found from the config
            # file (`status -c CONFIG`), where the tool has such an option
            times: dict[tuple[str, str], list[float]] = {}
            failures: dict[str, str] = {}
            for round_no in range(plan.cli_runs + 1):
                for tool, running in up:
                    workdir = running.workdir if running else self.workroot
                    commands = {"cli": tool.cli_status(workdir),
                                "cli_c": tool.cli_status_config(workdir)}
                    for key, argv in commands.items():
                        if argv is None:
                            continue
                        seconds, status, err = cli_once(argv)
                        if status != 0:
                            failures[tool.name] = (f"{' '.join(argv[1:])}: exit status "
                                                   f"{status}: {err}")
                        elif round_no > 0:  # the first round warms the page cache
                            times.setdefault((tool.name, key), []).append(seconds)
            for (name, key), samples in times.items():
                self.results[name][f"{key}_p50"] = statistics.median(samples) * 1000
            for tool, _ in up:
                if tool.name in failures:
                    self.notes[tool.name].append(f"console status failed: {failures[tool.name]}")

    def _reload(self, tool: Tool) -> None:
        figs = self.results[tool.name]
        if tool.cli_reload(self.workroot, "web") is None:
            if not isinstance(tool, Floor):
                self.notes[tool.name].append(
                    "reload: not measured: it cannot hand a listening socket to its workers"
                )
            return
        plan = self.plan
        try:
            run = reload_under_load(
                tool, self.workroot, plan.http_workers, plan.load_threads, plan.max_requests
            )
        except BenchError as exc:
            figs["reload_served"] = "not supported yet" if isinstance(tool, Ringleader) else None
            self.notes[tool.name].append(f"reload: {exc}")
            return
        figs["reload_served"] = run.served
        figs["reload_failed"] = run.failed
        figs["reload_s"] = run.reload_s
        figs["reload_replaced"] = run.replaced
        figs["reload_rate"] = (run.served + run.failed) / run.load_s
        figs["reload_slowest_ms"] = run.slowest_s * 1000
        figs["reload_p99_ms"] = run.p99_s * 1000
        _log(f"  served {run.served}, failed {run.failed}, reload {run.reload_s:.2f} s")
        if run.errors:
            errors = ", ".join(f"{name} x{n}" for name, n in run.errors.most_common())
            self.notes[tool.name].append(f"reload: failed requests: {errors}")
        if run.capped:
            self.notes[tool.name].append(
                f"reload: the load stopped at its cap of {plan.max_requests} requests"
            )

    def _sample(self, tool: Tool, key: str, value: float) -> None:
        self.samples[tool.name].setdefault(key, []).append(value)

    def _finish(self) -> None:
        """Reduce repeated figures to their medians."""
        for tool in self.tools:
            figs = self.results[tool.name]
            for key, values in self.samples[tool.name].items():
                figs[key] = statistics.median(values)
            runs = self.captures[tool.name]
            if runs:
                self._finish_capture(tool, runs)
        floor = self.results.get("floor", {}).get("respawn_p50")
        for tool in self.tools:
            ours = self.results[tool.name].get("respawn_p50")
            if isinstance(floor, float) and isinstance(ours, float) and tool.name != "floor":
                self.results[tool.name]["respawn_net_p50"] = ours - floor
        floor = self.results.get("floor", {}).get("respawn_self_p50")
        for tool in self.tools:
            ours = self.results[tool.name].get("respawn_self_p50")
            if isinstance(floor, float) and isinstance(ours, float) and tool.name != "floor":
                self.results[tool.name]["respawn_self_net_p50"] = ours - floor

    def _finish_capture(self, tool: Tool, runs: list[Capture]) -> None:
        figs = self.results[tool.name]
        times = [run.seconds for run in runs if run.seconds is not None]
        if len(times) == len(runs):
            median = statistics.median(times)
            figs["capture_s"] = median
            figs["capture_mbps"] = self.plan.capture_blocks * producer.BLOCK / median / 1e6
        else:
            self.notes[tool.name].append(
                f"capture: no time in {len(runs) - len(times)} of {len(runs)} runs (the file "
                "never reached the full size, or the producer was not seen); controller log: "
                + next(run.log_tail for run in runs if run.seconds is None)
            )
        figs["capture_lost"] = max((run.lost_bytes for run in runs), key=abs)
        figs["capture_sha"] = all(run.sha_ok for run in runs)

    def _note_stop(self, tool: Tool, running: Running, what: str) -> None:
        for line in running.stop_notes:
            self.notes[tool.name].append(f"stop with {what}: {line}")


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare_process() -> None:
    """Adopt orphans (child subreaper), raise the fd limit, turn SIGTERM into Ctrl-C."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        _log("warning: could not become a child subreaper; orphans go to init")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (WANTED_NOFILE, max(hard, WANTED_NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows, 500 big workers")
    parser.add_argument(
        "--only",
        help="comma-separated tools to run: " + ", ".join(t.name for t in ALL_TOOLS),
    )
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument(
        "--phases",
        help="comma-separated phases to run alone (selftimed, bringup, respawn, control, big, "
        "scale); default: the whole run",
    )
    return parser.parse_args(argv)


KEPT = ("\n<!-- sections below are other benchmarks' (bench/soak.py, bench/dashboard.py): "
        "run.py keeps them -->\n")


def kept_sections(out: Path) -> str:
    """What other benchmarks wrote after the KEPT marker (bench/soak.py, bench/dashboard.py)
    or bench/cluster.py's (CLUSTER_MARK) in the previous RESULTS.md, whichever comes first."""
    try:
        previous = out.read_text()
    except FileNotFoundError:
        return ""
    found = [at for at in (previous.find(KEPT), previous.find(CLUSTER_MARK)) if at >= 0]
    return "\n" + previous[min(found):].lstrip("\n") if found else ""


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    tools = tools_named(args.only.split(",") if args.only else None)
    prepare_process()
    for tool in tools:
        tool.ensure_installed()
    build_stamp()
    versions = {tool.name: tool.versions() for tool in tools}
    workroot = BENCH_DIR / ".work" / "latest"
    shutil.rmtree(workroot, ignore_errors=True)
    workroot.mkdir(parents=True)
    bench = Bench(plan, tools, workroot)
    load_before = _loadavg()
    started = time.perf_counter()
    try:
        bench.run_all(set(args.phases.split(",")) if args.phases else None)
    except KeyboardInterrupt:
        _log("interrupted: every controller started has been stopped")
        return 130
    finally:
        reap_orphans()
    total = time.perf_counter() - started
    command = "python " + " ".join(shlex.quote(a) for a in ["bench/run.py", *argv])
    header = machine_header(command, versions)
    header["duration"] = f"{total:.0f} s"
    header["load average (1/5/15 min)"] = f"{load_before} at start, {_loadavg()} at end"
    for tool in tools:
        bench.notes[tool.name].insert(0, f"configured: {tool.settings()}")
    rows = figures(plan)
    text = render(bench.results, rows, [t.name for t in tools], header, bench.notes)
    args.out.write_text(text + kept_sections(args.out))
    _log(f"wrote {args.out} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

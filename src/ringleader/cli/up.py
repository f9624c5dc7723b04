"""`ringleader up`: start `ringleader run CONFIG` as a background daemon.

`up` returns only once the daemon answers on its endpoint and every process of the
watchers it means to run is ready, so `ringleader up && ringleader status` is reliable. A
watcher that fails is reported at once (exit 1) and the daemon keeps running the others;
if the daemon itself dies or never answers, the end of its log says why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import NamedTuple

from ringleader.api.client import ApiError, Client, Unreachable
from ringleader.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    UsageError,
    config_endpoint,
    config_path,
    error,
    find_config,
    format_argv,
    load_config_file,
    make_client,
)
from ringleader.trusted_files import UntrustedFile, make_private_dirs, open_trusted

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any


DEFAULT_LOG = "ringleader.log"
DEFAULT_PIDFILE = "ringleader.pid"
READY_POLL = 0.05  # seconds between two readiness checks of the starting daemon
PROBE_TIMEOUT = 5.0  # the most one status call may take
TAIL_LINES = 15


def tail(path: str, offset: int, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines written to `path` after `offset` (a regular file of ours)."""
    try:
        fd = open_trusted(path, "r", shared_dir_ok=True)
    except UntrustedFile:
        return []
    try:
        with open(fd, "rb") as f:
            f.seek(max(offset, os.fstat(f.fileno()).st_size - 64 * 1024))
            data = f.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # the controller stops its watchers gracefully on SIGTERM
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # its own session: take whatever is left with it
        proc.wait()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _report(message: str, logs: dict[str, int]) -> None:
    """The error line, then what each log (path -> offset at start) got meanwhile."""
    print(f"error: {message}", file=sys.stderr)
    for log, offset in logs.items():
        lines = tail(log, offset)
        if lines:
            print(f"last lines of {log}:", file=sys.stderr)
            for line in lines:
                print(f"  {line}", file=sys.stderr)


def _default_files(source: str) -> tuple[str, str]:
    """The daemon's log and pid file: next to the config, or for a system config (under
    /etc) in /var/log/ringleader and /run/ringleader (made 0750 and 0700 if missing)."""
    from ringleader.config import places

    if not places.is_system_config(source):
        base = os.path.dirname(source)
        return os.path.join(base, DEFAULT_LOG), os.path.join(base, DEFAULT_PIDFILE)
    for folder in (places.LOG_DIR, places.RUN_DIR):
        try:
            make_private_dirs(folder, places.DIR_MODES[folder])
        except UntrustedFile as exc:
            raise UsageError(f"{exc.path}: {exc}") from None
    return (places.system_file(source, places.LOG_DIR, ".log"),
            places.system_file(source, places.RUN_DIR, ".pid"))


def cmd_up(args: argparse.Namespace) -> int:
    from ringleader.errors import ConfigError

    path = config_path(args, "up") or find_config()
    assert path is not None  # find_config() raises when none is found
    try:
        config = load_config_file(path, args)
    except ConfigError as exc:
        for problem in exc.problems:
            error(problem)
        return EXIT_USAGE
    source = os.path.abspath(config.source or path)
    endpoint = args.endpoint or config_endpoint(config.controller.endpoint, source)
    log_default, pid_default = _default_files(source)
    log = os.path.abspath(args.log_output or log_default)
    pidfile = os.path.abspath(args.pidfile or config.controller.pidfile or pid_default)
    timeout = args.timeout or 30.0
    deadline = time.monotonic() + timeout  # one deadline for everything `up` waits for

    with make_client(args, endpoint, min(timeout, PROBE_TIMEOUT)) as client:
        try:
            found = client.call("status")
        except Unreachable as exc:
            if exc.reason == "timed out":  # something accepted, nothing answered
                print(f"error: the endpoint {endpoint} is held by a controller that does not "
                      "answer (stopped, or overloaded?): not starting another one",
                      file=sys.stderr)
                return EXIT_FAILED
        except ApiError as exc:
            print(f"error: a controller already answers at {endpoint} ({exc})", file=sys.stderr)
            return EXIT_FAILED
        else:
            pid = found.get("controller", {}).get("pid", "?")
            print(f"error: a controller already answers at {endpoint} (pid {pid})",
                  file=sys.stderr)
            return EXIT_FAILED

        try:
            fd = open_trusted(log, "a", create=True, perm=0o600, devices=True,
                              shared_dir_ok=True)
        except UntrustedFile as exc:
            raise UsageError(f"cannot open the log {log}: {exc}") from None
        out = open(fd, "ab")  # noqa: SIM115 - handed to the daemon, closed below
        logs = {log: out.seek(0, os.SEEK_END)}
        # the controller's own log may go to a file of its own: the reason is there then
        own = config.controller.logoutput
        if own not in ("", "-") and os.path.abspath(own) != log:
            logs[os.path.abspath(own)] = _size(own)
        argv = [sys.executable, "-m", "ringleader", "run",
                *(["--procfile", source] if args.procfile else [source]),
                "--pidfile", pidfile, *format_argv(args)]
        if own in ("", "-"):
            # The controller opens its log itself, so that it can reopen it (SIGUSR1) and
            # rotate it; its stdout and stderr (this same file) follow.
            argv += ["--log-output", log]
        if args.log_format:
            argv += ["--log-format", args.log_format]
        if not args.worker_output:
            argv.append("--no-worker-output")
        with out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        status = _wait_ready(proc, client, deadline)
        if isinstance(status, Trouble):
            # The controller answers: it keeps running what is healthy (circus skips a
            # bad watcher too); the failed ones are named, with their last output.
            _report_trouble(status, client, timeout)
            print(f"the controller keeps running the other watchers: pid {proc.pid}, "
                  f"endpoint {endpoint}, log {log}", file=sys.stderr)
            proc.returncode = 0  # detached, as below
            return EXIT_FAILED

    if isinstance(status, str):
        if proc.returncode is None:
            _stop(proc)
            status += "; it was stopped"
        _report(status, logs)
        return EXIT_USAGE if proc.returncode == EXIT_USAGE else EXIT_FAILED
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(f"ringleader started: pid {proc.pid}, endpoint {endpoint}, log {log}")
    # detached: the daemon outlives us and init reaps it; do not let Popen warn about it
    proc.returncode = 0
    return EXIT_OK


class Trouble(NamedTuple):
    """Watchers that failed (or were not ready in time) while the controller answers."""

    watchers: list[dict[str, Any]]
    timed_out: bool


def assess(status: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """What `up` makes of a status (pure): ("ready", []), ("failed", the watchers that
    failed: `failed`, `flapping`, or refused at start) or ("waiting", those not ready
    yet). Only watchers the controller means to run count (a watcher the state file
    keeps stopped does not); one is ready when all its processes run, or ended and are
    not respawned (`exited`: a one-shot job, supervisord's expected exit)."""
    starting = bool(status.get("controller", {}).get("starting", False))
    failed, waiting = [], []
    for w in status.get("watchers", []):
        if w.get("desired", "running") != "running":
            continue
        state = w.get("state")
        if state in ("failed", "flapping") or (state == "stopped" and w.get("detail")):
            failed.append(w)
        elif state != "active" or _done(w) < w.get("numprocesses", 0):
            waiting.append(w)
    if failed:
        return "failed", failed
    if waiting or starting:
        return "waiting", waiting
    return "ready", []


def _done(w: dict[str, Any]) -> int:
    """Processes that run, or that ended and are not respawned."""
    ended: int = sum(p.get("state") == "exited" for p in w.get("processes", []))
    running: int = w.get("running", 0)
    return running + ended


def _report_trouble(trouble: Trouble, client: Client, timeout: float) -> None:
    """One error line per watcher (its state and why), then its last output lines."""
    from ringleader.cli.format import log_line

    client.timeout = PROBE_TIMEOUT  # the wait's deadline may have shrunk it to nothing
    for w in trouble.watchers:
        name, state = w["name"], w.get("state", "?")
        if trouble.timed_out and state not in ("failed", "flapping", "stopped"):
            why = (f"not ready after {timeout:g}s: {w.get('running', 0)} of "
                   f"{w.get('numprocesses', 0)} processes running")
        else:
            why = state if state != "stopped" else "not started"
        detail = w.get("detail") or _last_exits(w)
        print(f"error: watcher {name} {why}" + (f": {detail}" if detail else ""),
              file=sys.stderr)
        try:
            lines = client.call("logs", query={"watcher": name, "lines": str(TAIL_LINES)})
        except (Unreachable, ApiError):
            continue
        if lines.get("lines"):
            print(f"last output of {name}:", file=sys.stderr)
            for line in lines["lines"]:
                print(f"  {log_line(line)}", file=sys.stderr)


def _last_exits(w: dict[str, Any]) -> str:
    exits = [str(c) for p in w.get("processes", []) for c in p.get("exit_history", [])[-3:]]
    return f"last exits: {', '.join(exits)}" if exits else ""


def _wait_ready(proc: subprocess.Popen[bytes], client: Client,
                deadline: float) -> dict[str, Any] | Trouble | str:
    """The status once ready; the watchers in trouble (the controller answers); else why
    the controller itself did not come up (a str). On a terminal, a progress line."""
    progress = Progress(sys.stderr)
    try:
        return _poll_ready(proc, client, deadline, progress)
    finally:
        progress.done()
class Progress:
    """One line on a terminal, rewritten in place: `starting: web 2/4 ready, db 1/1`."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.shown = False
        self.enabled = stream.isatty()

    def show(self, status: dict[str, Any]) -> None:
        if not self.enabled:
            return
        parts = [f"{w['name']} {w.get('running', 0)}/{w.get('numprocesses', 0)}"
                 for w in status.get("watchers", [])]
        self.stream.write("\r\x1b[Kstarting: " + ", ".join(parts) + " ready")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def _poll_ready(proc: subprocess.Popen[bytes], client: Client, deadline: float,
                progress: Progress) -> dict[str, Any] | Trouble | str:
    waiting: list[dict[str, Any]] | None = None  # None: the API never answered
    while True:
        code = proc.poll()
        if code is not None:
            return f"the controller exited with status {code} while starting"
        left = deadline - time.monotonic()
        if left <= 0:
            return _too_late(waiting)
        try:
            client.close()  # fresh each time: the socket may have appeared meanwhile
            client.timeout = min(PROBE_TIMEOUT, left)  # never past the deadline
            status: dict[str, Any] = client.call("status")
        except (Unreachable, ApiError):
            pass
        else:
            progress.show(status)
            verdict, watchers = assess(status)
            if verdict == "ready":
                return status
            if verdict == "failed":
                return Trouble(watchers, timed_out=False)
            waiting = watchers
        if time.monotonic() > deadline:
            return _too_late(waiting)
        time.sleep(READY_POLL)


def _too_late(waiting: list[dict[str, Any]] | None) -> Trouble | str:
    """At the deadline: the watchers still not ready (the controller answers), else why
    the controller itself is not (None: its API never answered)."""
    if waiting is None:
        return "the controller was not ready in time (waiting for the control API)"
    if not waiting:
        return "the controller was not ready in time (still starting its watchers)"
    return Trouble(waiting, timed_out=True)

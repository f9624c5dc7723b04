"""`ringleader run`: the controller in the foreground (its engine is imported here, when
it runs), with the pidfile it keeps while it runs."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys

from ringleader.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    UsageError,
    config_path,
    find_config,
    format_options,
    load_config_file,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ringleader.config.model import Config


class PidFile:
    """Writes our pid to `path` (atomically) for the duration of a `with`; removes it after,
    unless another process has written its own pid there meanwhile.

    Written through ``trusted_files.write_atomically`` (a fresh temporary file with a
    random name, renamed over the pid file): the folder may be shared, so nothing another
    user planted there (a symbolic link at a predictable name) is ever written through."""

    def __init__(self, path: str | None) -> None:
        self.path = os.path.abspath(path) if path else None
        self.pid = os.getpid()

    def write(self) -> None:
        """Raises OSError when it cannot be written."""
        if self.path:
            from ringleader.trusted_files import write_atomically

            write_atomically(self.path, f"{self.pid}\n".encode(), perm=0o644)

    def remove(self) -> None:
        if self.path and read_pidfile(self.path) == self.pid:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def __enter__(self) -> PidFile:
        self.write()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def read_pidfile(path: str) -> int | None:
    """The pid in `path`, if it is a small regular file of ours (never a FIFO that would
    block, never through a symbolic link)."""
    from ringleader.trusted_files import UntrustedFile, read_trusted

    try:
        return int(read_trusted(path, limit=64, shared_dir_ok=True).strip())
    except (UntrustedFile, ValueError):
        return None


def _load_for_run(args: argparse.Namespace) -> Config:
    from ringleader.config.load import config_from_dicts

    if args.cmd and (args.config or args.procfile):
        raise UsageError("ringleader run: give either a CONFIG file or --cmd, not both")
    if args.cmd:
        if args.numprocesses < 0:
            raise UsageError("ringleader run: -n must be 0 or more")
        watcher = {"cmd": args.cmd, "numprocesses": args.numprocesses, "copy_env": True,
                   "shell": args.shell}
        if args.name:
            watcher["name"] = args.name
        return config_from_dicts([watcher])
    path = config_path(args, "run") or find_config()
    assert path is not None  # find_config() raises when none is found
    return load_config_file(path, args)


def cmd_run(args: argparse.Namespace) -> int:
    # Start-up allocates much and frees little: the collector's passes over it were ~4% of
    # the time to the first spawn. The daemon turns it back on (and freezes what start-up
    # made, so that no later pass walks it) once the workers are started.
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    from ringleader.config.runnable import check_runnable
    from ringleader.errors import ConfigError, RingleaderError
    from ringleader.logs import setup_logging
    from ringleader.trusted_files import UntrustedFile

    try:
        config = _load_for_run(args)
        problems = check_runnable(config)  # the same checks as `check`
        if problems:
            raise ConfigError(problems)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        became = _prepare_process(config)
    except RingleaderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    level = args.log_level or config.controller.loglevel
    output = args.log_output or config.controller.logoutput
    ctl = config.controller
    try:
        setup_logging(level, output, fmt=args.log_format or ctl.log_format,
                      max_bytes=ctl.log_max_bytes, backups=ctl.log_backups)
    except (OSError, UntrustedFile) as exc:
        why = (exc.strerror or exc) if isinstance(exc, OSError) else exc
        print(f"error: cannot open the log output {output}: {why}", file=sys.stderr)
        return EXIT_USAGE
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if became:
        import logging

        logging.getLogger("ringleader.daemon").info("%s", became)
    _skip_ssl_if_unneeded(config)
    from ringleader.daemon import run

    pidfile = PidFile(args.pidfile or config.controller.pidfile)
    try:
        pidfile.write()
    except OSError as exc:
        print(f"error: cannot write the pidfile {pidfile.path}: {exc.strerror}",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        color = {"always": True, "never": False}.get(args.color or "auto")
        reload = None
        if config.source:  # SIGHUP and reloadconfig read it as `run` did
            from functools import partial

            from ringleader.config.load import load_config

            reload = partial(load_config, config.source, **format_options(args))
        # -1: no console, the workers' console streams go to the log buffer only
        console_fd = -1 if args.no_worker_output else 1
        return run(config, init=args.init, console_color=color, reload=reload,
                   console_fd=console_fd)
    except RingleaderError as exc:  # e.g. more processes than max_processes
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # e.g. the socket's directory cannot be made: one line, no trace
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        pidfile.remove()


def _prepare_process(config: Config) -> str | None:
    """The controller's umask (circus), limits and user (supervisord), before it opens any
    file of its own: its log, pid, state and audit files then belong to that user."""
    from ringleader.proc.identity import drop_privileges, raise_minimum

    ctl = config.controller
    if ctl.umask is not None:
        os.umask(ctl.umask)
    import resource

    if ctl.minfds is not None:
        raise_minimum(resource.RLIMIT_NOFILE, "open files", "minfds", ctl.minfds)
    if ctl.minprocs is not None:
        raise_minimum(resource.RLIMIT_NPROC, "processes", "minprocs", ctl.minprocs)
    return drop_privileges(ctl.user) if ctl.user is not None else None


def _skip_ssl_if_unneeded(config: Config) -> None:
    """asyncio imports ssl, which maps libssl and libcrypto: about 4 MB of the controller's
    memory (a sixth). A controller without a TLS listener, Python hooks (user code may want
    ssl) or https health checks never uses it, so it is kept out. A cluster node may need
    it any time (https etcd, jobs with hooks or https health checks come from etcd)."""
    if "asyncio" in sys.modules or config.controller.tcp is not None or config.cluster:
        return
    for w in config.watchers:
        if any(h.kind == "python" for h in w.hooks.values()):
            return
        if w.health is not None and (w.health.url or "").startswith("https:"):
            return
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]

"""How a child is started: a SpawnSpec built purely from the watcher's config, and the
one function that turns it into an OS process.

The spawn path is hot (every start and respawn), so what can be computed once per
watcher is (``SpawnTemplate``), and the per-process work is substitution plus the
system call. ``subprocess.Popen`` is used because CPython 3.11 starts the child with
vfork() + exec when no ``preexec_fn`` and no uid/gid change is asked for: the
controller's memory is never copied. rlimits need a ``preexec_fn`` (a real fork), so
only watchers that set them pay for it.
"""

from __future__ import annotations

import os
import pwd
import resource
import shlex
import subprocess
import sys
from collections.abc import Mapping

import msgspec

from ringleader.config.model import WatcherConfig
from ringleader.config.substitute import expand
from ringleader.errors import SpawnError

_RLIMIT_INFINITY = -1
_ACTIVATION_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
                    "WATCHDOG_USEC", "WATCHDOG_PID")


class SpawnSpec(msgspec.Struct, frozen=True):
    """Everything needed to start one process; pure data (a Struct: cheaper to define and
    to build than a dataclass, and it is built at every spawn)."""

    argv: tuple[str, ...]
    executable: str | None
    env: dict[str, str]
    cwd: str | None
    uid: int | None
    gid: int | None
    extra_groups: tuple[int, ...] | None
    umask: int
    rlimits: tuple[tuple[int, int], ...]
    close_stdin: bool
    pass_fds: tuple[int, ...] = ()
    stdin_fd: int | None = None  # a socket as stdin (stdin_socket), else close_stdin says
    # The program before any trampoline (sockets, cgroup) wrapped it: checked up front, as
    # a wrapper would exec fine and only then fail to find it.
    program: str | None = None


class SpawnTemplate(msgspec.Struct, frozen=True):
    """The per-watcher part of a SpawnSpec; ``for_wid`` fills in the per-process part."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None
    uid: int | None
    gid: int | None
    extra_groups: tuple[int, ...] | None
    umask: int
    rlimits: tuple[tuple[int, int], ...]
    close_stdin: bool
    needs_expand: bool
    wid_offset: int = 0  # $(ringleader.wid) of slot 1 is 1 + wid_offset (wid_start - 1)
    port_base: int | None = None  # PORT of slot 1
    executable: str | None = None  # run this, argv[0] being only a name (circus)

    def for_wid(self, wid: int, sockets: Mapping[str, int] | None = None) -> SpawnSpec:
        argv = self.argv
        env = self.env
        number = wid + self.wid_offset
        if self.needs_expand:
            env = {k: expand(v, wid=number, env=self.env, sockets=sockets)
                   for k, v in env.items()}
            argv = tuple(expand(a, wid=number, env=env, sockets=sockets) for a in argv)
        env = dict(env)
        env["RINGLEADER_WID"] = str(number)
        if self.port_base is not None:  # foreman: base + the instance's index
            env["PORT"] = str(self.port_base + wid - 1)
        program = self.executable or argv[0]
        return SpawnSpec(
            argv=argv,
            executable=_resolve(program, env) or self.executable,
            env=env,
            cwd=self.cwd,
            uid=self.uid,
            gid=self.gid,
            extra_groups=self.extra_groups,
            umask=self.umask,
            rlimits=self.rlimits,
            close_stdin=self.close_stdin,
        )


def build_template(cfg: WatcherConfig, base_env: Mapping[str, str] | None = None) -> SpawnTemplate:
    """Build the per-watcher spawn template. `base_env` is the controller's environment."""
    parent_env = os.environ if base_env is None else base_env
    env: dict[str, str] = dict(parent_env) if cfg.copy_env else {}
    if cfg.copy_path:
        env["PATH"] = parent_env.get("PATH", os.defpath)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    for inherited in _ACTIVATION_VARS:
        # Meant for the controller (run by systemd), never for its children.
        env.pop(inherited, None)
    if cfg.virtualenv:
        _virtualenv(env, cfg.virtualenv, cfg.virtualenv_py_ver, parent_env)
    env.update(cfg.env)
    extra_groups: tuple[int, ...] | None = None
    if cfg.uid is not None:
        try:
            user = pwd.getpwuid(cfg.uid)
        except KeyError:
            user = None
        if user is not None:
            # Like login: the user's supplementary groups, and HOME/USER unless set.
            gid = cfg.gid if cfg.gid is not None else user.pw_gid
            extra_groups = tuple(os.getgrouplist(user.pw_name, gid))
            env.setdefault("HOME", user.pw_dir)
            env.setdefault("USER", user.pw_name)
            env.setdefault("LOGNAME", user.pw_name)
        else:
            extra_groups = ()
    if cfg.shell:
        argv: tuple[str, ...] = ("/bin/sh", "-c", " ".join([cfg.cmd, *map(shlex.quote, cfg.args)]))
    else:
        argv = (*shlex.split(cfg.cmd), *cfg.args)
    needs_expand = any("$(" in a for a in argv) or any("$(" in v for v in env.values())
    rlimits = tuple(
        (getattr(resource, f"RLIMIT_{name.upper()}"), value) for name, value in cfg.rlimits.items()
    )
    return SpawnTemplate(
        argv=argv,
        env=env,
        cwd=cfg.working_dir,
        uid=cfg.uid,
        gid=cfg.gid,
        extra_groups=extra_groups,
        umask=cfg.umask if cfg.umask is not None else -1,
        rlimits=rlimits,
        close_stdin=cfg.close_child_stdin,
        needs_expand=needs_expand,
        wid_offset=cfg.wid_start - 1,
        port_base=cfg.port_base,
        executable=cfg.executable,
    )


def _virtualenv(env: dict[str, str], venv: str, py_ver: str | None,
                parent_env: Mapping[str, str]) -> None:
    """circus's virtualenv: its bin/ first in PATH, its site-packages (of Python `py_ver`,
    else whichever it has) in PYTHONPATH, VIRTUAL_ENV set."""
    env["VIRTUAL_ENV"] = venv
    path = env.get("PATH") or parent_env.get("PATH", os.defpath)
    env["PATH"] = os.pathsep.join([os.path.join(venv, "bin"), path])
    lib = os.path.join(venv, "lib")
    try:
        versions = sorted(d for d in os.listdir(lib) if d.startswith("python"))
    except OSError:
        versions = []
    if py_ver is not None:
        versions = [f"python{py_ver}"]
    sites = [p for v in versions if os.path.isdir(p := os.path.join(lib, v, "site-packages"))]
    if sites:
        env["PYTHONPATH"] = os.pathsep.join([*sites, *filter(None, [env.get("PYTHONPATH")])])


def _resolve(program: str, env: Mapping[str, str]) -> str | None:
    """Find a bare program name in the child's PATH, else in the controller's: a config
    without copy_env still runs `python worker.py` as its author meant."""
    if os.sep in program:
        return None
    path = env.get("PATH") or os.environ.get("PATH", os.defpath)
    # Not shutil.which: importing shutil loads bz2 and lzma, memory the controller keeps.
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or os.curdir, program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def _runnable(program: str, env: Mapping[str, str], cwd: str | None) -> bool:
    if os.sep not in program:
        return _resolve(program, env) is not None
    path = program if os.path.isabs(program) or cwd is None else os.path.join(cwd, program)
    return os.access(path, os.X_OK) and not os.path.isdir(path)


def _limit(value: int) -> int:
    return resource.RLIM_INFINITY if value == _RLIMIT_INFINITY else value


def _apply_rlimits(rlimits: tuple[tuple[int, int], ...]) -> None:
    # Runs in the forked child before exec: keep it minimal.
    for which, value in rlimits:
        resource.setrlimit(which, (_limit(value), _limit(value)))


def spawn(spec: SpawnSpec, stdout: int | None, stderr: int | None) -> subprocess.Popen[bytes]:
    """Start the process in a new session (its own process group). `stdout`/`stderr` are
    fds to give the child (None: /dev/null). Raises SpawnError with a one-line reason."""
    preexec = None
    if spec.rlimits:
        rlimits = spec.rlimits

        def preexec() -> None:
            _apply_rlimits(rlimits)

    program = spec.executable or spec.argv[0]
    if spec.program is not None and not _runnable(spec.program, spec.env, spec.cwd):
        raise SpawnError(f"cannot run {spec.program!r}: not found or not executable")
    try:
        return subprocess.Popen(
            spec.argv,
            executable=program,
            stdin=spec.stdin_fd if spec.stdin_fd is not None
            else subprocess.DEVNULL if spec.close_stdin else None,
            stdout=subprocess.DEVNULL if stdout is None else stdout,
            stderr=subprocess.DEVNULL if stderr is None else stderr,
            cwd=spec.cwd,
            env=spec.env,
            start_new_session=True,
            pass_fds=spec.pass_fds,
            user=spec.uid,
            group=spec.gid,
            extra_groups=spec.extra_groups,
            umask=spec.umask,
            preexec_fn=preexec,
        )
    except FileNotFoundError as exc:
        missing = spec.cwd if spec.cwd and not os.path.isdir(spec.cwd) else program
        raise SpawnError(f"cannot run {spec.argv[0]!r}: {missing}: not found") from exc
    except PermissionError as exc:
        raise SpawnError(f"cannot run {spec.argv[0]!r}: permission denied") from exc
    except (OSError, subprocess.SubprocessError, ValueError, OverflowError, TypeError) as exc:
        # Validation keeps these out (ids in range, no NUL); a belt, not the check.
        raise SpawnError(f"cannot run {spec.argv[0]!r}: {exc}") from exc

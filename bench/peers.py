"""The four contenders: how to install each, configure it for a scenario and start it.

Each tool writes its own config file for a :class:`Scenario` into a fresh work directory and
returns the command line that runs the controller in the foreground.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".venvs"
PRODUCER = BENCH_DIR / "producer.py"

# Pinned peer versions. circus 0.19.0 declares no upper bound on pyzmq/tornado; these are
# the versions it was checked with on Python 3.11.
SUPERVISOR_PINS = ["supervisor==4.3.0"]
CIRCUS_PINS = ["circus==0.19.0", "pyzmq==27.3.0", "tornado==6.6.1", "psutil==7.2.2"]

# Options every peer gets for the sleepers, chosen for each tool's fastest respawn.
SUPERVISOR_RESPAWN_OPTS = "startsecs=0, autorestart=true, startretries=100"
CIRCUS_RESPAWN_CHECK_DELAY = 0.1
CIRCUS_DEFAULT_CHECK_DELAY = 5.0  # the default when circusd reads a config file


@dataclass(frozen=True)
class Scenario:
    """What the controller must run.

    ``sleepers`` workers of ``sleep 3600`` (output discarded), and optionally one ``writer``
    (``python producer.py MODE BLOCKS``, from ``writer_args``) whose stdout is captured to
    ``capture_file``. ``fast_respawn`` asks
    for the tool's quickest respawn settings rather than its defaults.
    """

    sleepers: int = 0
    writer_args: tuple[str, ...] = ()
    capture_file: Path | None = None
    fast_respawn: bool = False
    http_workers: int = 0  # workers of ``httpworker.py`` behind one shared socket, "web"
    http_port: int = 0
    # The sleepers run ``stamp.sh STAMP_FILE``: each appends its own start time to the file,
    # then execs ``sleep 3600`` (the self-timed bring-up).
    stamp_file: Path | None = None
    # Ringleader reads the circus.ini written for circus (a circus user's switch), not TOML.
    circus_style: bool = False


def sleep_argv() -> list[str]:
    """The worker command, with an absolute path so no tool pays for a PATH search."""
    return [shutil.which("sleep") or "/bin/sleep", "3600"]


STAMP_SOURCE = BENCH_DIR / "stamp.c"
STAMP = BENCH_DIR / ".work" / "bin" / "stamp"


def build_stamp() -> None:
    """Compile stamp.c (a worker that notes its own start, then sleeps) with the system's cc."""
    if STAMP.exists() and STAMP.stat().st_mtime >= STAMP_SOURCE.stat().st_mtime:
        return
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("the self-timed bring-up needs a C compiler (cc) for bench/stamp.c")
    subprocess.run([cc, "-O2", "-o", str(STAMP), str(STAMP_SOURCE)], check=True)


def sleeper_argv(scenario: Scenario) -> list[str]:
    """The sleepers' command: ``sleep 3600``, or ``stamp FILE`` when they time themselves."""
    if scenario.stamp_file is not None:
        return [str(STAMP), str(scenario.stamp_file)]
    return sleep_argv()


def producer_argv(scenario: Scenario) -> list[str]:
    """The writer command."""
    return [sys.executable, str(PRODUCER), *scenario.writer_args]


def http_worker_argv(fd_ref: str) -> list[str]:
    """The HTTP worker command; ``fd_ref`` is the tool's reference to the inherited socket fd."""
    return [sys.executable, str(BENCH_DIR / "httpworker.py"), fd_ref]


class Tool:
    """A contender. Subclasses write a config and return the controller's command line."""

    name = ""

    def ensure_installed(self) -> None:
        """Install what the tool needs when missing."""

    def versions(self) -> str:
        """A one-line description of the versions used."""
        raise NotImplementedError

    def command(self, workdir: Path, scenario: Scenario) -> list[str]:
        """Write the config for ``scenario`` under ``workdir``; return the controller argv."""
        raise NotImplementedError

    def settings(self) -> str:
        """What was configured, for the report."""
        raise NotImplementedError

    def python(self) -> Path:
        """The interpreter of the tool's client library (and of the tool itself)."""
        return Path(sys.executable)

    def api_endpoint(self, workdir: Path) -> str | None:
        """The control endpoint of a controller started in ``workdir``; None: no API."""
        return None

    def cli_status(self, workdir: Path) -> list[str]:
        """The tool's own console command that prints the status of every watcher."""
        raise NotImplementedError

    def cli_status_config(self, workdir: Path) -> list[str] | None:
        """The console's `status`, finding the controller from its config file; None: the
        console has no such option."""
        return None

    def cli_reload(self, workdir: Path, name: str) -> list[str] | None:
        """The console command of a graceful reload of watcher ``name``; None: none."""
        return None


class Floor(Tool):
    """A minimal Popen loop + ``os.wait()`` respawner (bench/floor.py); capture is ``| cat``."""

    name = "floor"

    def versions(self) -> str:
        return f"Python {sys.version.split()[0]} subprocess.Popen, /bin/sh + cat"

    def command(self, workdir: Path, scenario: Scenario) -> list[str]:
        if scenario.capture_file is not None:
            producer = " ".join(producer_argv(scenario))
            return ["/bin/sh", "-c", f"{producer} | cat > {scenario.capture_file}"]
        return [
            sys.executable, str(BENCH_DIR / "floor.py"), str(scenario.sleepers),
            *sleeper_argv(scenario),
        ]

    def settings(self) -> str:
        return (
            "`floor.py N sleep 3600`: Nx `subprocess.Popen`, then `os.wait()` and Popen a "
            "replacement; capture: `sh -c 'producer | cat > FILE'`"
        )

    def cli_status(self, workdir: Path) -> list[str]:
        return [sys.executable, "-c", "pass"]


class Ringleader(Tool):
    """The project's own controller, run from the project's venv."""

    name = "ringleader"

    def versions(self) -> str:
        try:
            version = importlib.metadata.version("ringleader")
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        return f"ringleader {version} (git {_git_head()}), Python {sys.version.split()[0]}"

    def ensure_installed(self) -> None:
        """Compile the project's bytecode, as pip does for the peers (the venv is editable)."""
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(REPO_DIR / "src" / "ringleader")],
            env=env,
            check=True,
        )

    def command(self, workdir: Path, scenario: Scenario) -> list[str]:
        if scenario.circus_style:
            config = workdir / "circus.ini"
            config.write_text(Circus().config_text(workdir, scenario))
        else:
            config = workdir / "ringleader.toml"
            config.write_text(self._config(scenario))
        return [str(self._exe()), "run", str(config)]

    def api_endpoint(self, workdir: Path) -> str | None:
        if (workdir / "circus.ini").exists():  # its ipc:// endpoint is Ringleader's socket
            return f"unix:{workdir / 'circus.sock'}"
        return f"unix:{workdir / 'ringleader.sock'}"

    def cli_status(self, workdir: Path) -> list[str]:
        return [str(self._exe()), "status", "-e", f"unix:{workdir / 'ringleader.sock'}"]

    def cli_status_config(self, workdir: Path) -> list[str] | None:
        return [str(self._exe()), "status", "-c", str(workdir / "ringleader.toml")]

    def cli_reload(self, workdir: Path, name: str) -> list[str] | None:
        return [str(self._exe()), "reload", name, "-e", f"unix:{workdir / 'ringleader.sock'}"]

    def _exe(self) -> Path:
        return Path(sys.executable).with_name("ringleader")

    def settings(self) -> str:
        return (
            'TOML: sleepers `graceful_timeout = 5`, `stdout_stream.kind = "null"`, '
            '`stderr_stream.kind = "null"` (defaults otherwise, respawn on); writer '
            '`respawn = false`, `stdout_stream.kind = "file"`, `max_bytes = 0`; the self-timed '
            "figures: the circus.ini written for circus"
        )

    def _config(self, scenario: Scenario) -> str:
        lines = ["[ringleader]", 'loglevel = "warning"', 'endpoint = "unix:ringleader.sock"']
        if scenario.sleepers:
            lines += [
                "[watchers.sleepers]",
                f"cmd = {_toml_str(' '.join(sleeper_argv(scenario)))}",
                f"numprocesses = {scenario.sleepers}",
                "warmup_delay = 0",
                "graceful_timeout = 5",
                "[watchers.sleepers.stdout_stream]",
                'kind = "null"',
                "[watchers.sleepers.stderr_stream]",
                'kind = "null"',
            ]
        if scenario.http_workers:
            lines += [
                "[watchers.web]",
                f"cmd = {_toml_str(' '.join(http_worker_argv('$(circus.sockets.web)')))}",
                f"numprocesses = {scenario.http_workers}",
                "use_sockets = true",
                "warmup_delay = 0",
                "graceful_timeout = 10",
                "[sockets.web]",
                'host = "127.0.0.1"',
                f"port = {scenario.http_port}",
            ]
        if scenario.capture_file is not None:
            lines += [
                "[watchers.writer]",
                f"cmd = {_toml_str(' '.join(producer_argv(scenario)))}",
                "numprocesses = 1",
                "respawn = false",
                "[watchers.writer.stdout_stream]",
                'kind = "file"',
                f"filename = {_toml_str(str(scenario.capture_file))}",
                "max_bytes = 0",
            ]
        return "\n".join(lines) + "\n"


class _VenvTool(Tool):
    """A peer installed from PyPI into its own venv under bench/.venvs/."""

    pins: ClassVar[list[str]] = []
    probe = ""  # a script that exists in the venv once the install is done

    @property
    def venv(self) -> Path:
        return VENVS_DIR / self.name

    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def ensure_installed(self) -> None:
        if self._installed_pins() == sorted(self.pins):
            return
        if not (self.venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        pip = [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, *self.pins], check=True)

    def versions(self) -> str:
        python = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return ", ".join(self._installed_pins()) + f", Python {python}"

    def _installed_pins(self) -> list[str]:
        python = self.venv / "bin" / "python"
        if not python.exists() or not (self.venv / "bin" / self.probe).exists():
            return []
        names = {pin.split("==")[0].lower() for pin in self.pins}
        out = subprocess.run(
            [str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=False
        ).stdout
        return sorted(line for line in out.splitlines() if line.split("==")[0].lower() in names)


class Supervisord(_VenvTool):
    name = "supervisord"
    pins = SUPERVISOR_PINS
    probe = "supervisord"

    @property
    def venv(self) -> Path:
        return VENVS_DIR / "supervisor"

    def command(self, workdir: Path, scenario: Scenario) -> list[str]:
        config = workdir / "supervisord.conf"
        config.write_text(self._config(workdir, scenario))
        return [str(self.venv / "bin" / "supervisord"), "-c", str(config)]

    def settings(self) -> str:
        return (
            f"sleepers: `{SUPERVISOR_RESPAWN_OPTS}`, `stdout_logfile=NONE`, "
            "`stderr_logfile=NONE`, `stopwaitsecs=5`; writer: `startsecs=0`, "
            "`autorestart=false`, `stdout_logfile=FILE`, `stdout_logfile_maxbytes=0`; "
            "`nodaemon=true`, `minfds=16384`, `loglevel=warn`; `[unix_http_server]` on a "
            "socket in the work dir (its control API, as for the other tools)"
        )

    def api_endpoint(self, workdir: Path) -> str | None:
        return f"unix://{workdir / 'supervisor.sock'}"

    def cli_status(self, workdir: Path) -> list[str]:
        return [
            str(self.venv / "bin" / "supervisorctl"),
            "-c",
            str(workdir / "supervisord.conf"),
            "status",
        ]

    def cli_status_config(self, workdir: Path) -> list[str] | None:
        return self.cli_status(workdir)  # supervisorctl -c supervisord.conf: its usual way

    def _config(self, workdir: Path, scenario: Scenario) -> str:
        text = f"""[supervisord]
nodaemon=true
logfile={workdir}/supervisord.log
logfile_maxbytes=0
pidfile={workdir}/supervisord.pid
loglevel=warn
minfds=16384
minprocs=4096

[unix_http_server]
file={workdir}/supervisor.sock
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{workdir}/supervisor.sock
"""
        if os.geteuid() == 0:
            text += "user=root\n"
        if scenario.sleepers:
            text += f"""
[program:sleepers]
command={" ".join(sleeper_argv(scenario))}
numprocs={scenario.sleepers}
process_name=%(program_name)s_%(process_num)d
startsecs=0
startretries=100
autorestart=true
stopwaitsecs=5
stdout_logfile=NONE
stderr_logfile=NONE
"""
        if scenario.capture_file is not None:
            text += f"""
[program:writer]
command={" ".join(producer_argv(scenario))}
startsecs=0
autorestart=false
stdout_logfile={scenario.capture_file}
stdout_logfile_maxbytes=0
stdout_logfile_backups=0
stderr_logfile=NONE
"""
        return text


class Circus(_VenvTool):
    name = "circus"
    pins = CIRCUS_PINS
    probe = "circusd"

    def command(self, workdir: Path, scenario: Scenario) -> list[str]:
        config = workdir / "circus.ini"
        config.write_text(self.config_text(workdir, scenario))
        return [str(self.venv / "bin" / "circusd"), str(config)]

    def settings(self) -> str:
        return (
            f"`check_delay = {CIRCUS_DEFAULT_CHECK_DELAY}` (its config-file default) except "
            f"`check_delay = {CIRCUS_RESPAWN_CHECK_DELAY}` for the respawn figure; sleepers: "
            "`warmup_delay = 0`, `respawn = True`, `graceful_timeout = 5`, no stream (children "
            "inherit circusd's stdout, sent to a file by the bench); writer: `respawn = False`, "
            "`stdout_stream.class = FileStream`, `stdout_stream.max_bytes = 0`; "
            "`loglevel = warning`, ipc:// endpoints in the work dir; the reload benchmark: "
            "`[socket:web]`, watcher `use_sockets = True`, `graceful_timeout = 10`, "
            "`circusctl reload web` (graceful, not sequential: its defaults)"
        )

    def api_endpoint(self, workdir: Path) -> str | None:
        return f"ipc://{workdir}/circus.sock"

    def cli_status(self, workdir: Path) -> list[str]:
        return [
            str(self.venv / "bin" / "circusctl"),
            "--endpoint",
            f"ipc://{workdir}/circus.sock",
            "status",
        ]

    def cli_reload(self, workdir: Path, name: str) -> list[str] | None:
        return [
            str(self.venv / "bin" / "circusctl"),
            "--endpoint",
            f"ipc://{workdir}/circus.sock",
            "reload",
            name,
        ]

    def config_text(self, workdir: Path, scenario: Scenario) -> str:
        """circus.ini for ``scenario`` (Ringleader reads it too when ``circus_style``)."""
        delay = CIRCUS_RESPAWN_CHECK_DELAY if scenario.fast_respawn else CIRCUS_DEFAULT_CHECK_DELAY
        text = f"""[circus]
check_delay = {delay}
endpoint = ipc://{workdir}/circus.sock
pubsub_endpoint = ipc://{workdir}/circus-pub.sock
statsd = False
loglevel = warning
logoutput = {workdir}/circusd.log
"""
        if scenario.sleepers:
            sleep_cmd, *sleep_args = sleeper_argv(scenario)
            text += f"""
[watcher:sleepers]
cmd = {sleep_cmd}
args = {" ".join(sleep_args)}
numprocesses = {scenario.sleepers}
warmup_delay = 0
respawn = True
graceful_timeout = 5
"""
        if scenario.http_workers:
            py, *args = http_worker_argv("$(circus.sockets.web)")
            text += f"""
[socket:web]
host = 127.0.0.1
port = {scenario.http_port}

[watcher:web]
cmd = {py}
args = {" ".join(args)}
numprocesses = {scenario.http_workers}
use_sockets = True
warmup_delay = 0
graceful_timeout = 10
"""
        if scenario.capture_file is not None:
            py, *args = producer_argv(scenario)
            text += f"""
[watcher:writer]
cmd = {py}
args = {" ".join(args)}
numprocesses = 1
respawn = False
stdout_stream.class = FileStream
stdout_stream.filename = {scenario.capture_file}
stdout_stream.max_bytes = 0
"""
        return text


ALL_TOOLS: list[Tool] = [Ringleader(), Supervisord(), Circus(), Floor()]


def tools_named(names: list[str] | None) -> list[Tool]:
    """The tools to run, in report order."""
    if not names:
        return ALL_TOOLS
    unknown = set(names) - {tool.name for tool in ALL_TOOLS}
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(sorted(unknown))}")
    return [tool for tool in ALL_TOOLS if tool.name in names]


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _git_head() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    head = out.stdout.strip() or "?"
    dirty = subprocess.run(
        ["git", "-C", str(REPO_DIR), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head} + uncommitted changes in src/" if dirty else head


def child_env() -> dict[str, str]:
    """The environment controllers and consoles start with: the bench's, minus Python tweaks.

    ``PYTHONDONTWRITEBYTECODE`` is removed so that Python tools run from bytecode like any
    installed package (this environment sets it, which made the editable Ringleader recompile
    its modules at every start).
    """
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env

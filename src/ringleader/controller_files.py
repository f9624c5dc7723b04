"""Where the controller keeps its own files (control socket, state file, audit log) and the
runtime changes of a previous run it lays over the config at start.

Out of `daemon` so that the program's module keeps to signals, the API and the run loop.
"""

from __future__ import annotations

import logging
import os

from ringleader.api.audit import AuditLog
from ringleader.config import places
from ringleader.config.model import Config
from ringleader.errors import ConfigError
from ringleader.state.file import StateWriter, load_state
from ringleader.state.merge import Restored, resolve
from ringleader.state.recorder import StateRecorder
from ringleader.trusted_files import UntrustedFile, default_location, make_private_dirs

log = logging.getLogger("ringleader.daemon")

SOCKET_NAME = "ringleader.sock"
AUDIT_NAME = "ringleader-audit.log"
STATE_NAME = "ringleader.state"


def socket_path(config: Config) -> str:
    """The control socket: the configured endpoint, else next to the config file (or in
    the current directory when there is none)."""
    endpoint = config.controller.endpoint
    if endpoint:
        return endpoint.removeprefix("unix:")
    if config.source:
        return places.default_socket(config.source)  # /run/ringleader for a system config
    return os.path.join(os.getcwd(), SOCKET_NAME)


def controller_file(named: str | None, config: Config, socket: str,
                    name: str) -> tuple[str, bool]:
    """Where the state file or the audit log goes, and whether the operator named it: as
    named, else next to the config file (the operator's folder, like `up`'s pid file and
    log), never in the socket's folder, which may be shared (/tmp); without a config file,
    or when others can write to its folder: the private runtime folder. A system config's
    (under /etc): /var/lib/ringleader (state) or /var/log/ringleader (audit log)."""
    if named:
        return named, True
    if config.source and places.is_system_config(config.source):
        folder = places.LOG_DIR if name == AUDIT_NAME else places.STATE_DIR
        suffix = "-audit.log" if name == AUDIT_NAME else ".state"
        return places.system_file(config.source, folder, suffix), False
    anchor = os.path.dirname(config.source) if config.source else None
    return default_location(anchor, name, key=config.source or socket), False


def open_audit(config: Config, socket: str) -> AuditLog:
    path, named = controller_file(config.controller.audit_log, config, socket, AUDIT_NAME)
    try:
        if not named and os.path.dirname(path) == places.LOG_DIR:
            make_private_dirs(places.LOG_DIR, places.DIR_MODES[places.LOG_DIR])
        return AuditLog(path, shared_dir_ok=named, required=config.controller.audit_required)
    except UntrustedFile as exc:
        where = "" if exc.path == path else f"{exc.path}: "
        raise ConfigError([f"audit log {path}: {where}{exc}"]) from None


class KeptState:
    """The state file and what it restored (``restored.config`` is the config to run).
    A plain class: a dataclass costs ~1.5 ms to define on the start path."""

    __slots__ = ("named", "path", "recorder", "restored", "writer")

    def __init__(self, path: str, named: bool, restored: Restored, recorder: StateRecorder,
                 writer: StateWriter) -> None:
        self.path = path
        self.named = named  # the operator named the file (it may then be in a shared folder)
        self.restored = restored
        self.recorder = recorder
        self.writer = writer


def restore_state(config: Config, socket: str) -> KeptState:
    """Load the state file and lay its runtime changes over `config`; an unusable state is
    ignored with a warning (the controller starts from the config file alone)."""
    path, named = controller_file(config.controller.statefile, config, socket, STATE_NAME)
    try:
        make_private_dirs(os.path.dirname(os.path.abspath(path)))
    except UntrustedFile as exc:
        log.warning("state file %s: %s: %s (runtime changes will not be kept)",
                    path, exc.path, exc)
    state = load_state(path, shared_dir_ok=named)
    restored = Restored(config, [], {})
    if state is not None:
        try:
            restored = resolve(config, state)
        except Exception as exc:  # a belt: restoring state must never stop a start
            log.warning("state file %s: cannot apply it (%s): ignored", path, exc)
            state = None
    for note in restored.notes:
        if note.startswith("ignored"):
            log.warning("state file %s: %s", path, note)
        else:
            log.info("state file %s: %s", path, note)
    recorder = StateRecorder(config, state, restored)
    writer = StateWriter(path, recorder, shared_dir_ok=named)
    return KeptState(path, named, restored, recorder, writer)

"""The one small hierarchy of Ringleader's domain errors."""

from __future__ import annotations


class RingleaderError(Exception):
    """Base of every error Ringleader raises on purpose."""


class ConfigError(RingleaderError, ValueError):
    """A configuration was refused. Each problem is one line naming file, section/field and
    what was expected. A ValueError too: for the library, a bad option value is one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BadArgument(RingleaderError, ValueError):
    """An argument has a wrong value (a signal that does not exist, a pid that is not one of
    the watcher's, a query parameter out of range)."""


class NotRunning(RingleaderError, RuntimeError):
    """The arbiter is not running: not started yet, or stopped."""


class InvalidTransition(RingleaderError):
    """A process state change that the state table does not allow."""


class NotFound(RingleaderError):
    """No watcher (or process) by that name."""


class AlreadyExists(RingleaderError):
    """A watcher by that name already exists."""


class Conflict(RingleaderError):
    """Another mutation on the same object is in progress."""


class ClusterOwned(RingleaderError):
    """A local change of a watcher that a cluster job owns: it is changed through
    ``ringleader cluster``, never locally."""


class LimitExceeded(RingleaderError):
    """The change would take the controller past its max_processes."""


class NotReady(RingleaderError):
    """Processes did not become ready: not in `ready_timeout`, or they died or were given
    up on while starting. They stay in the hands of their respawn policy."""


class ReloadFailed(NotReady):
    """A reload's new processes did not become ready; the old ones were kept."""


class HookFailed(RingleaderError):
    """A before_* hook failed and its action was cancelled."""


class SpawnError(RingleaderError):
    """A process could not be started (command not found, permission denied, ...)."""

"""Watcher hooks: a Python callable (circus-compatible) or a shell command, run around a
watcher's actions (``before_start``, ``after_spawn``, ...).

Python hooks are called as circus calls them, with keyword arguments::

    def hook(watcher, arbiter, hook_name, **kwargs) -> bool | None: ...

``watcher`` is a read-only ``HookContext`` (``name``, ``pids``, ``numprocesses``, ``env``),
not the engine's Watcher; ``arbiter`` is None. The other keyword arguments are those circus
gives each hook: ``pid`` (after_spawn, before/after_signal, extended_stats), ``signum``
(before/after_signal), ``process_pid``/``time``/``exit_code``/``process_status``
(before/after_reap), ``stats`` (extended_stats); plus whatever else the engine passes.
A hook fails when it raises, times out, or returns False (circus treats any falsy value
as a failure; None is a success here, so that a hook need not end with ``return True``).

Sync callables run in a daemon thread of their own, so a slow hook never blocks the
event loop; coroutine functions are awaited on the loop. Both are bounded by the hook's
``timeout``. A coroutine is cancelled on timeout, but a thread cannot be: a sync hook
that hangs is abandoned and its thread may linger until it returns (being a daemon
thread, it never keeps the controller from exiting).

Shell hooks run ``/bin/sh -c TARGET`` in a session of their own, with the context in
``RINGLEADER_*`` environment variables (circus has no shell hooks, hence no ``CIRCUS_*``
equivalents); their output (the last 64 KiB) is logged when they fail; on timeout their
whole process group is killed; they are always reaped. Exit status 0 is a success.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ringleader.config.features import HookConfig, HookName
from ringleader.features.hook_import import Resolved, import_hook
from ringleader.lifecycle.views import WatcherView
from ringleader.proc.command import run_command
from ringleader.proc.signals import signal_name

log = logging.getLogger("ringleader.hooks")

# Hooks whose failure never cancels anything: the action already happened, or it is a
# stop / a reap, which nothing may refuse. They are still reported.
NEVER_ABORT: frozenset[str] = frozenset({
    "after_start", "after_spawn", "after_stop", "after_signal", "after_reap",
    "before_stop", "before_reap", "extended_stats",
})
# Context keys that go to the HookContext facade rather than to keyword arguments.
_FACADE_KEYS = frozenset({"pids", "numprocesses", "env", "options"})
_OUTPUT_LOGGED = 4096  # bytes of a failed shell hook's output put in the log line


@dataclass(frozen=True, slots=True)
class HookContext:
    """What a Python hook sees of its watcher (circus passes its Watcher; the attributes
    hooks commonly read are kept). Read-only."""

    name: str
    pids: tuple[int, ...] = ()
    numprocesses: int = 0
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # the free-form options of its section (circus keeps unknown watcher options for hooks)
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def watcher_context(watcher: WatcherView, env: Mapping[str, str] | None = None,
                    **extra: object) -> dict[str, object]:
    """The context of a hook call for `watcher`, plus per-hook values (``pid=``,
    ``signum=``, ``exit_code=`` ...). `env` is the processes' environment (e.g. the
    watcher's ``template.env``)."""
    return {"pids": tuple(watcher.pids()), "numprocesses": watcher.numprocesses,
            "env": dict(env or {}), "options": dict(watcher.config.extra), **extra}


class _HookError(Exception):
    """A hook failed; the message says why, in one line."""


class HookRunner:
    """Runs the hooks of one watcher. ``run`` returns whether the action may go on."""

    def __init__(self, watcher_name: str, hooks: Mapping[str, HookConfig],
                 search: Sequence[str] = ()) -> None:
        """`search`: the folders Python hooks are looked for in before sys.path (see
        hook_import.search_path)."""
        self.watcher_name = watcher_name
        self.hooks = dict(hooks)
        self.search = tuple(search)
        self._resolved: dict[str, Resolved] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.hooks

    # -- resolution ---------------------------------------------------------------------

    def check(self) -> list[str]:
        """Import every Python hook now; one line per hook that cannot be found (for a
        warning at load time rather than a failure at first use). Blocking: imports."""
        problems = []
        for name, cfg in self.hooks.items():
            if cfg.kind == "python":
                resolved = self._resolve(cfg.target)
                if resolved.func is None:
                    problems.append(f"hook {name} of watcher {self.watcher_name}: "
                                    f"{resolved.error}")
        return problems

    def _resolve(self, target: str) -> Resolved:
        cached = self._resolved.get(target)
        if cached is None:
            cached = self._resolved[target] = import_hook(target, self.search)
        return cached

    async def _resolve_async(self, target: str) -> Resolved:
        cached = self._resolved.get(target)
        if cached is None:
            # An import reads files and runs module code: not on the event loop.
            cached = await asyncio.to_thread(import_hook, target, self.search)
            self._resolved.setdefault(target, cached)
        return cached

    # -- running ------------------------------------------------------------------------

    async def run(self, name: HookName, context: Mapping[str, object]) -> bool:
        """Run hook `name` if configured. True if the action may go on: always after a
        success, and after a failure unless the hook is a before_* hook (of an action that
        may be refused) with ``abort_on_failure``."""
        cfg = self.hooks.get(name)
        if cfg is None:
            return True
        try:
            await self._call(name, cfg, context)
        except _HookError as exc:
            go_on = name in NEVER_ABORT or not cfg.abort_on_failure
            log.log(logging.WARNING if go_on else logging.ERROR,
                    "hook %s of watcher %s failed: %s%s", name, self.watcher_name, exc,
                    "" if go_on else f" (the {name[7:]} is cancelled)")
            return go_on
        return True

    async def extended_stats(self, context: Mapping[str, object]) -> dict[str, Any] | None:
        """Extra stats from the ``extended_stats`` hook, or None (no hook, or it failed).
        A Python hook gets ``pid`` and ``stats`` (a copy of ``context["stats"]``) and
        either returns a dict or, as in circus, adds to ``stats`` in place; a shell hook
        prints a JSON object. The caller merges the result into the process's stats."""
        cfg = self.hooks.get("extended_stats")
        if cfg is None:
            return None
        stats = dict(_as_mapping(context.get("stats")))
        try:
            result = await self._call("extended_stats", cfg, {**context, "stats": stats})
        except _HookError as exc:
            log.warning("hook extended_stats of watcher %s failed: %s", self.watcher_name, exc)
            return None
        if cfg.kind == "shell":
            try:
                parsed = json.loads(result) if isinstance(result, str) else None
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                log.warning("hook extended_stats of watcher %s: its output is not a JSON "
                            "object", self.watcher_name)
                return None
            return parsed
        return dict(result) if isinstance(result, Mapping) else stats

    async def _call(self, name: str, cfg: HookConfig, context: Mapping[str, object]) -> Any:
        if cfg.kind == "shell":
            return await self._call_shell(name, cfg, context)
        return await self._call_python(name, cfg, context)

    async def _call_python(self, name: str, cfg: HookConfig,
                           context: Mapping[str, object]) -> Any:
        resolved = await self._resolve_async(cfg.target)
        func = resolved.func
        if func is None:
            raise _HookError(resolved.error)
        kwargs = self._kwargs(name, context)
        try:
            async with asyncio.timeout(cfg.timeout):
                if _is_async(func):
                    result = await func(**kwargs)
                else:
                    result = await _in_thread(func, kwargs, f"hook {name} of "
                                              f"{self.watcher_name}")
                    if inspect.isawaitable(result):
                        result = await result
        except TimeoutError:
            how = "abandoned; its thread may linger" if not _is_async(func) else "cancelled"
            raise _HookError(f"{cfg.target} did not return within {cfg.timeout:g}s "
                             f"({how})") from None
        except Exception as exc:
            log.debug("hook %s of watcher %s raised", name, self.watcher_name, exc_info=True)
            raise _HookError(f"{cfg.target} raised {type(exc).__name__}: {exc}") from exc
        if result is False:
            raise _HookError(f"{cfg.target} returned False")
        return result

    def _kwargs(self, name: str, context: Mapping[str, object]) -> dict[str, Any]:
        env = _as_mapping(context.get("env"))
        pids = context.get("pids")
        numprocesses = context.get("numprocesses")
        facade = HookContext(
            name=self.watcher_name,
            pids=tuple(pids) if isinstance(pids, Sequence) else (),
            numprocesses=numprocesses if isinstance(numprocesses, int) else 0,
            env=MappingProxyType({str(k): str(v) for k, v in env.items()}),
            options=MappingProxyType({str(k): str(v) for k, v in
                                      _as_mapping(context.get("options")).items()}),
        )
        kwargs: dict[str, Any] = {k: v for k, v in context.items() if k not in _FACADE_KEYS}
        if name in ("before_reap", "after_reap"):  # circus's names for these two
            if "pid" in kwargs:
                kwargs.setdefault("process_pid", kwargs["pid"])
            kwargs.setdefault("time", time.time())
            if name == "after_reap":
                kwargs.setdefault("process_status", None)
        kwargs.update(watcher=facade, arbiter=None, hook_name=name)
        return kwargs

    async def _call_shell(self, name: str, cfg: HookConfig,
                          context: Mapping[str, object]) -> str:
        env = {**os.environ, **{str(k): str(v) for k, v in _as_mapping(context.get("env"))
                                .items()}}
        env.update(self.shell_env(name, context))
        result = await run_command(["/bin/sh", "-c", cfg.target], env=env,
                                   timeout=cfg.timeout)
        output = result.output.decode(errors="replace")
        if result.ok:
            return output
        if result.timed_out:
            why = f"{cfg.target!r} did not end within {cfg.timeout:g}s (killed)"
        elif result.error:
            why = result.error
        elif result.returncode is not None and result.returncode < 0:
            why = f"{cfg.target!r} killed by {signal_name(-result.returncode)}"
        else:
            why = f"{cfg.target!r} exited with code {result.returncode}"
        if output.strip():
            shown = output[-_OUTPUT_LOGGED:].rstrip()
            cut = "...(earlier output left out)\n" if (result.truncated or
                                                        len(output) > _OUTPUT_LOGGED) else ""
            why += f"; output:\n{cut}{shown}"
        raise _HookError(why)

    def shell_env(self, name: str, context: Mapping[str, object]) -> dict[str, str]:
        """The RINGLEADER_* variables a shell hook gets: HOOK, WATCHER, PIDS (space
        separated), NUMPROCESSES, SIGNAL (number) and SIGNAL_NAME, and each other scalar
        context value by its upper-cased key (PID, WID, EXIT_CODE, ...); dicts and lists
        (e.g. STATS) as JSON."""
        out = {"RINGLEADER_HOOK": name, "RINGLEADER_WATCHER": self.watcher_name}
        for key, value in context.items():
            if key == "env" or value is None:
                continue
            if key == "pids" and isinstance(value, Sequence) and not isinstance(value, str):
                out["RINGLEADER_PIDS"] = " ".join(str(p) for p in value)
            elif key == "signum" and isinstance(value, int):
                out["RINGLEADER_SIGNAL"] = str(int(value))
                out["RINGLEADER_SIGNAL_NAME"] = signal_name(int(value))
            elif isinstance(value, bool):
                out[f"RINGLEADER_{key.upper()}"] = "1" if value else "0"
            elif isinstance(value, str | int | float):
                out[f"RINGLEADER_{key.upper()}"] = str(value)
            else:
                try:
                    out[f"RINGLEADER_{key.upper()}"] = json.dumps(value, default=str)
                except (TypeError, ValueError):
                    continue
        return out


# -- helpers ----------------------------------------------------------------------------


def _as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_async(func: Callable[..., Any]) -> bool:
    # Also an object whose __call__ is a coroutine function.
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        type(func).__call__)


def _in_thread(func: Callable[..., Any], kwargs: dict[str, Any],
               thread_name: str) -> asyncio.Future[Any]:
    """Call `func(**kwargs)` in a new daemon thread; its result as a future of the loop.
    Cancelling the future abandons the thread (it runs to its end unobserved). A daemon
    thread rather than an executor: executors are joined at exit, so a hung hook would
    keep the controller from ever exiting."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return  # timed out meanwhile: nobody waits any more
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = ctx.run(func, **kwargs)
        except Exception as exc:
            error = exc
        except BaseException as exc:  # SystemExit & co. must not reach the loop as such
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:
            pass  # the loop is closed: the controller is gone

    threading.Thread(target=target, name=thread_name, daemon=True).start()
    return future

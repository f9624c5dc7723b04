"""One process slot of a watcher (``web.3``): its OS process, pipes and lifecycle.

A slot outlives the OS processes it runs: a respawn is the same slot going back to
STARTING with a new pid. ``_transition`` is the only writer of ``state``; it checks the
move against ``states.TRANSITIONS`` and publishes a ProcessStateChanged event.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable

from ringleader.config.features import HookName
from ringleader.config.substitute import expand
from ringleader.engine.child_io import ChildPipes, launch
from ringleader.engine.liveness import Liveness
from ringleader.engine.owner import Owner
from ringleader.engine.services import Services
from ringleader.errors import InvalidTransition, RingleaderError, SpawnError
from ringleader.lifecycle.events import ProcessExited, ProcessSpawned, ProcessStateChanged
from ringleader.lifecycle.states import ALIVE, ProcessState, is_allowed
from ringleader.output.streams import Pump
from ringleader.policy.respawn import Decision
from ringleader.policy.slot import SlotPolicy
from ringleader.proc.groups import end_group, signal_group
from ringleader.proc.reaper import decode_status
from ringleader.proc.signals import signal_name

log = logging.getLogger("ringleader.process")
PS = ProcessState


class Process:
    __slots__ = (
        "_exited", "_group_end", "_liveness", "_owner", "_policy", "_pumps", "_services",
        "_stop_deadline", "_timer", "exit_code", "exit_history", "exit_signal",
        "pid", "reason", "restarts", "retired", "started_at", "state", "status_text", "wid",
    )

    def __init__(self, owner: Owner, wid: int, services: Services) -> None:
        self._owner = owner
        self._services = services
        self.wid = wid
        self.state = PS.STOPPED
        self.pid: int | None = None
        self.started_at = 0.0  # monotonic
        self.restarts = 0
        self.exit_code: int | None = None
        self.exit_signal: int | None = None
        # Recent exit codes of this slot, negative when killed by that signal.
        self.exit_history: collections.deque[int] = collections.deque(maxlen=10)
        self._pumps: list[Pump] = []
        self._exited: asyncio.Future[None] | None = None
        self._timer: asyncio.Handle | None = None
        self._policy = SlotPolicy(owner.config)
        self.reason = ""  # why the slot is in its state (shown by status)
        self.status_text = ""  # the process's own word on its state (sd_notify STATUS=)
        self._liveness = Liveness(services.loop, on_hung=self._hung, on_old=self._recycle)
        # A retired slot object (replaced by a reload) is never respawned.
        self.retired = False
        # A stop: when its graceful_timeout ends (loop clock), and the task ending what
        # the worker left in its process group.
        self._stop_deadline = 0.0
        self._group_end: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        """``web.3``, or the watcher's process_name for this slot (``web_02``)."""
        cfg = self._owner.config
        if cfg.process_name is None:
            return f"{self._owner.name}.{self.wid}"
        return expand(cfg.process_name, wid=self.number)

    @property
    def number(self) -> int:
        """What $(ringleader.wid) gives this slot: its wid, counted from wid_start."""
        return self._owner.config.wid_start + self.wid - 1

    @property
    def log_fields(self) -> dict[str, object]:
        """The controller's log lines about this process carry these (`--log-format json`)."""
        return {"watcher": self._owner.name, "wid": self.wid}

    @property
    def is_alive(self) -> bool:
        return self.state in ALIVE

    def uptime(self) -> float:
        return self._services.clock() - self.started_at if self.is_alive else 0.0

    def retry_in(self) -> float | None:
        """Seconds to a parked slot's delayed retry (backoff, flapping; call_soon's: none)."""
        t = self._timer if self.state in (PS.BACKOFF, PS.FLAPPING) else None
        return t.when() - self._services.loop.time() if isinstance(t, asyncio.TimerHandle) else None

    def _transition(self, new: ProcessState, reason: str = "") -> None:
        old = self.state
        if not is_allowed(old, new):
            raise InvalidTransition(f"{self.name}: {old.value} -> {new.value} ({reason})")
        self.state = new
        self.reason = reason
        self._services.bus.publish(ProcessStateChanged(
            watcher=self._owner.name, wid=self.wid, pid=self.pid,
            old=old.value, new=new.value, reason=reason,
        ))

    # -- starting -------------------------------------------------------------------

    def spawn(self) -> bool:
        """Start the OS process now. On failure the slot goes to BACKOFF and retries."""
        return self._announce(self._launch())

    def _launch(self) -> tuple[int, ChildPipes] | str:
        """The OS process started and watched, nothing said of it yet (``_announce``); or
        why it could not be started."""
        self._cancel_timer()
        try:
            spec = self._owner.spec_for(self.wid)
        except RingleaderError as exc:  # e.g. setpriv missing for a cgroup with a uid
            return str(exc)
        listener = self._owner.listener_pool() is not None
        try:
            return launch(spec, self._owner.config, self._services, self._on_exit,
                          listener=listener)
        except SpawnError as exc:
            return str(exc)

    def _announce(self, launched: tuple[int, ChildPipes] | str) -> bool:
        """Take a launched process into the slot (state, pumps, events, timers), or follow
        the respawn policy about a failed launch."""
        if isinstance(launched, str):
            failure = self._policy.after_spawn_failure(self._owner.config,
                                                       self._services.clock())
            self._follow(failure, launched, level=logging.ERROR)
            return False
        pid, pipes = launched
        cfg = self._owner.config
        services = self._services
        self.pid = pid
        self.started_at = services.clock()
        self.exit_code = self.exit_signal = None
        self._exited = services.loop.create_future()
        listener = self._owner.listener_pool()
        if listener is not None:
            pipes.hand_to(listener, self.wid, pid)
        self._pumps = pipes.open_pumps(services.hub, cfg, watcher=self._owner.name,
                                       wid=self.wid, number=self.number, pid=pid)
        log.info("%s spawned pid %d", self.name, pid, extra=self.log_fields)
        services.bus.publish(ProcessSpawned(watcher=self._owner.name, wid=self.wid, pid=pid))
        self._owner.hook_in_background("after_spawn", pid=pid, wid=self.wid)
        self._transition(PS.STARTING, f"pid {pid}")
        if cfg.readiness != "warmup":
            # Ready when it says so (sd_notify) or passes its health check: mark_ready.
            if cfg.ready_timeout > 0:
                self._timer = services.loop.call_later(cfg.ready_timeout, self._not_ready, pid)
        elif max(cfg.warmup_delay, cfg.start_secs) > 0:
            # running once warm, and (start_secs) once it has stayed up that long
            self._timer = services.loop.call_later(max(cfg.warmup_delay, cfg.start_secs),
                                                   self._warm)
        else:
            self._transition(PS.RUNNING)
        self.status_text = ""
        self._liveness.arm(cfg, pid)
        return True

    def _warm(self) -> None:
        self._timer = None
        self.mark_ready("warm-up done")

    def _not_ready(self, pid: int) -> None:
        self._timer = None
        if self.pid == pid and self.state is PS.STARTING:
            timeout = self._owner.config.ready_timeout
            log.warning("%s pid %d not ready after %.1fs: restarting it", self.name, pid, timeout)
            # A failed start for the respawn policy (backoff, flapping, giving up).
            self._services.loop.create_task(self._restart_for(
                pid, f"not ready after {timeout:g}s",
                lambda: self._policy.after_not_ready(self._services.clock())))

    def _hung(self, pid: int) -> None:
        if self.pid != pid or self.state not in (PS.STARTING, PS.RUNNING):
            return
        timeout = self._owner.config.watchdog_sec
        log.error("%s pid %d sent no WATCHDOG=1 for %gs: hung, restarting", self.name, pid,
                  timeout)
        self.send_signal(signal.SIGABRT)
        clock = self._services.clock
        uptime = clock() - self.started_at
        # A death for the respawn policy: one that hangs young keeps backing off.
        self._services.loop.create_task(self._restart_for(
            pid, f"watchdog timeout ({timeout:g}s)",
            lambda: self._policy.after_hang(clock(), uptime, signal.SIGABRT)))

    def on_notify(self, fields: dict[str, str]) -> None:
        """An sd_notify message from this process (or one of its descendants)."""
        if "STATUS" in fields:
            self.status_text = fields["STATUS"][:256]
        if fields.get("READY") == "1":
            self.mark_ready("sd_notify READY=1")
        if fields.get("WATCHDOG") == "1" and self.is_alive and self.pid is not None:
            self._liveness.feed(self._owner.config.watchdog_sec, self.pid)

    def mark_ready(self, reason: str) -> bool:
        """STARTING -> RUNNING (readiness told by the warm-up, sd_notify READY=1 or a
        first passing health check). False if the process was not starting."""
        if self.state is not PS.STARTING:
            return False
        self._cancel_timer()
        self._policy.started()
        self._transition(PS.RUNNING, reason)
        return True

    def _recycle(self, pid: int) -> None:
        if self.pid == pid and self.state is PS.RUNNING:
            log.info("%s pid %d reached max_age: recycling", self.name, pid)
            self._services.loop.create_task(self._restart_for(pid, "max_age reached"))

    async def _restart_for(self, pid: int, reason: str,
                           failure: Callable[[], Decision] | None = None) -> None:
        """Stop process `pid`, then spawn again: at once (a recycle), or as the respawn policy
        decides for a `failure` (counted in `restarts`); not if `pid` died meanwhile."""
        if self.pid != pid or not self.is_alive:
            return
        await self.stop(reason=reason)
        if not (self._wanted() and self.state is PS.STOPPED):
            return
        if failure is None:
            self.spawn()
        else:
            self._follow(failure(), reason)

    def _wanted(self) -> bool:
        return not self.retired and self._owner.wants(self.wid)

    # -- exit -----------------------------------------------------------------------

    def _on_exit(self, status: int) -> None:
        code, sig = decode_status(status)
        pid = self.pid
        assert pid is not None
        self.exit_code, self.exit_signal = code, sig
        self.exit_history.append(-sig if sig is not None else code if code is not None else 0)
        self._liveness.cancel()
        listener = self._owner.listener_pool()
        if listener is not None:
            listener.detach(self.wid)  # an event it had not answered is sent again
        services = self._services
        if services.guardian is not None:
            services.guardian.remove(pid)
        uptime = services.clock() - self.started_at
        expected = self.state is PS.STOPPING
        how = f"exit code {code}" if sig is None else f"signal {signal_name(sig)}"
        decision: Decision | None = None
        launched: tuple[int, ChildPipes] | str | None = None
        if not expected:
            self._cancel_timer()
            decision = self._policy.after_exit(
                self._owner.config, starting=self.state is PS.STARTING,
                now=services.clock(), uptime=uptime, code=code,
                sig=sig) if self._wanted() else None
            if decision is not None and decision.action == "respawn" and decision.delay <= 0:
                # The replacement starts first: what follows (log line, events, hooks)
                # is said in the same order, but no longer delays it.
                launched = self._launch()
        # exit_codes: the codes that are no trouble (supervisord's exitcodes; [0])
        usual = expected or (sig is None and code in self._owner.config.exit_codes)
        log.log(logging.INFO if usual else logging.WARNING,
                "%s pid %d exited with %s after %.3fs", self.name, pid, how, uptime,
                extra=self.log_fields)
        services.bus.publish(ProcessExited(
            watcher=self._owner.name, wid=self.wid, pid=pid, exit_code=code, signal=sig,
            uptime=uptime, expected=expected,
        ))
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(None)
        reaped = code if sig is None else -sig  # circus's convention for the reap hooks
        reap_hooks: tuple[HookName, ...] = ("before_reap", "after_reap")
        for hook in reap_hooks:
            self._owner.hook_in_background(hook, pid=pid, wid=self.wid, exit_code=reaped,
                                           expected=expected, uptime=round(uptime, 3))
        if expected:
            # The stop reaches the worker's whole process group: what it left behind
            # gets SIGTERM now, SIGKILL when the graceful timeout is over (stop awaits).
            if signal_group(pid, signal.SIGTERM):
                self._group_end = services.loop.create_task(
                    end_group(pid, self._stop_deadline, self.name))
            self._transition(PS.STOPPED, how)
        elif decision is None:
            # Ended on its own and not respawned: the watcher is stopping (its stop
            # signal not sent yet), the slot was scaled away or replaced, or respawn
            # (supervisord's autorestart) says no. (running -> stopped is no move of the
            # state table.)
            self._transition(PS.EXITED, how)
        else:
            self._follow(decision, how, launched=launched)

    def _follow(self, decision: Decision, why: str, level: int = logging.DEBUG, *,
                launched: tuple[int, ChildPipes] | str | None = None) -> None:
        """Carry out the respawn policy's decision about a death or a failed spawn
        (`launched`: the replacement already started for an immediate respawn)."""
        reason = f"{why}; {decision.reason}" if decision.reason else why
        loop = self._services.loop
        if decision.action == "give_up":
            self._transition(PS.FAILED, reason)
            log.error("%s: %s: given up (start it to try again)", self.name, reason,
                      extra=self.log_fields)
        elif decision.action == "flapping":
            self._transition(PS.FLAPPING, reason)
            log.warning("%s: flapping: %s", self.name, reason, extra=self.log_fields)
            self._timer = loop.call_later(decision.delay, self._respawn)
        else:  # the policy's reason says when ("respawn in 0.4s"): not said twice
            self._transition(PS.BACKOFF, reason)
            if decision.delay > 0:
                log.log(max(level, logging.WARNING), "%s: %s", self.name, reason)
                self._timer = loop.call_later(decision.delay, self._respawn)
            elif launched is not None:
                self.restarts += 1
                self._announce(launched)
            else:
                if level >= logging.ERROR:
                    log.error("%s: %s", self.name, reason)
                # On the loop's next turn, never from here: a spawn that fails at once
                # would otherwise recurse (spawn -> _follow -> _respawn -> spawn).
                self._timer = loop.call_soon(self._respawn)

    def _respawn(self) -> None:
        self._timer = None
        if self.state in (PS.BACKOFF, PS.FLAPPING) and self._wanted():
            self.restarts += 1
            self.spawn()

    # -- control --------------------------------------------------------------------

    def renew_policy(self) -> None:
        """The respawn policy options changed: follow them from now on."""
        self._policy.renew(self._owner.config)

    def start(self) -> bool:
        """Spawn unless already alive; clears any backoff streak (an explicit start)."""
        if self.is_alive:
            return True
        self._policy.reset()
        return self.spawn()

    def send_signal(self, signum: int, *, children: bool = False) -> bool:
        """Signal the process (or its whole process group). False if it is not alive."""
        if self.pid is None or not self.is_alive:
            return False
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if children else os.kill)(self.pid, signum)
        return True

    async def stop(self, reason: str = "stop requested") -> None:
        """Stop gracefully: stop signal, `graceful_timeout`, then SIGKILL. Idempotent."""
        self._cancel_timer()
        if not self.is_alive:
            if self.state is not PS.STOPPED:
                self._transition(PS.STOPPED, reason)
            if self._group_end is not None:  # another stop's cleanup still going on
                await asyncio.shield(self._group_end)
            return
        cfg = self._owner.config
        exited = self._exited
        assert exited is not None
        if self.state is not PS.STOPPING:
            self._stop_deadline = self._services.loop.time() + cfg.graceful_timeout
            self._transition(PS.STOPPING, reason)
            self.send_signal(cfg.stop_signal, children=cfg.stop_children)
        try:
            async with asyncio.timeout(cfg.graceful_timeout):
                await asyncio.shield(exited)
        except TimeoutError:
            log.warning("%s pid %s still alive after %.1fs: SIGKILL to its process group",
                        self.name, self.pid, cfg.graceful_timeout)
            self.send_signal(signal.SIGKILL, children=True)
            await asyncio.shield(exited)
        if self._group_end is not None:
            await asyncio.shield(self._group_end)

    async def wait_output(self) -> None:
        """Wait until everything the last OS process wrote has reached its sinks."""
        for pump in self._pumps:
            await pump.wait_closed()

    def close_output(self) -> None:
        for pump in self._pumps:
            pump.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

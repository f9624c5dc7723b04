"""Procfile (+ ``.env``) -> the native TOML document: ``translate_procfile(path, ...)``.

As honcho and foreman run it:
- each ``NAME: COMMAND`` line is a process type (NAME of ``[A-Za-z0-9_-]+``); blank lines and
  ``#`` comments are skipped, other lines are ignored (noted);
- COMMAND is a shell command line: it runs through ``/bin/sh -c`` (``shell = true``), so
  ``$PORT``, ``${PORT:-5000}``, pipes and redirections mean what they mean in the shell, and
  the environment the shell expands them from holds ``.env`` and ``PORT``;
- the ``.env`` next to the Procfile (or *env_file*) is added to the controller's environment;
- ``PORT`` is 5000 (or *port_base*, or ``PORT`` in ``.env``, which wins as in honcho) + 100 x
  the type's position in the Procfile + the instance's index (0 for the first);
- a formation (foreman's ``-m web=2,worker=1``; ``all=N`` for every type) says how many of
  each run; types it does not name run 0 times (foreman); without one, 1 of each;
- processes run in the Procfile's directory, are stopped with SIGTERM to their process group,
  then SIGKILL after 5 seconds (honcho and foreman both wait 5 s);
- each process is told its name (``web.1``) in ``PS`` (foreman) and ``HONCHO_PROCESS_NAME``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ringleader.config.dialects.files import UntrustedFile, read_config_text
from ringleader.config.dialects.translation import Findings, Translation
from ringleader.errors import ConfigError

__all__ = ["is_procfile", "parse_dotenv", "translate_procfile"]

_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+?)\s*$")
_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")
_FORMATION_ITEM = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=\s*(\d+)\s*$")
_NATIVE_DOLLAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Z]")  # see supervisord_program
_STOP_WAIT = 5.0
MAX_PORT = 65535


def is_procfile(path: str | os.PathLike[str]) -> bool:
    """Procfiles are recognised by name: ``Procfile`` or ``Procfile.*`` (``Procfile.dev``;
    not ``Procfile.toml`` or ``.ini``, which are what they say)."""
    name = os.path.basename(os.fspath(path))
    return name == "Procfile" or (name.startswith("Procfile.") and len(name) > 9
                                  and not name.endswith((".toml", ".ini")))


def _unquote(text: str, quote: str) -> tuple[str, str] | None:
    """The quoted value at the start of *text* and what follows it; None if unterminated."""
    out: list[str] = []
    i = 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out), text[i + 1:]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "nt":  # honcho turns \n and \t into the characters, in both quotes
                out.append("\n" if nxt == "n" else "\t")
                i += 2
                continue
            if quote == '"' and nxt in '"\\':
                out.append(nxt)
                i += 2
                continue
        out.append(ch)
        i += 1
    return None


def _unquoted(text: str) -> str:
    """Up to a ' #' comment, trailing blanks dropped; a backslash escapes the next char."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "#" and (i == 0 or text[i - 1] in " \t"):
            break
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out).rstrip()


def parse_dotenv(text: str, display: str, findings: Findings) -> dict[str, str]:
    """A ``.env`` file as honcho and foreman read it: ``KEY=value`` per line, optionally
    ``export KEY=value``; values unquoted (a `` #`` starts a comment), in single quotes
    (literal but for \\n and \\t) or in double quotes (also \\" and \\\\). A line that is none
    of these is noted and ignored, as they ignore it."""
    env: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _ENV_LINE.match(line)
        value: str | None = None
        if m:
            rest = m.group(2)
            if rest[:1] in ("'", '"'):
                quoted = _unquote(rest, rest[0])
                if quoted is not None and (not quoted[1].strip()
                                           or quoted[1].strip().startswith("#")):
                    value = quoted[0]
            else:
                value = _unquoted(rest)
        if m is None or value is None:
            findings.note(f"{display}:{lineno}", f"ignored: expected KEY=value, got "
                          f"{line[:60]!r}")
            continue
        env[m.group(1)] = value
    return env


def _formation(text: str, names: list[str], findings: Findings) -> dict[str, int]:
    """foreman's -m: "web=2,worker=1", "all=1,web=0"."""
    counts: dict[str, int] = {}
    every = 0
    for item in text.split(","):
        m = _FORMATION_ITEM.match(item)
        if not m:
            findings.error("formation", "", f"expected NAME=COUNT[,NAME=COUNT...] such as "
                           f"web=2,worker=1 (or all=N), got {item.strip()!r}")
            continue
        name, count = m.group(1), int(m.group(2))
        if name == "all":
            every = count
        elif name not in names:
            import difflib

            close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            findings.error("formation", "", f"no process type {name!r} in the Procfile"
                           f"{hint}; it has {', '.join(names)}")
        else:
            counts[name] = count
    return {name: counts.get(name, every) for name in names}


def _read(path: str, display: str, findings: Findings) -> str | None:
    try:
        return read_config_text(path)
    except UntrustedFile as exc:
        findings.problems.append(f"{display}: {exc}")
        return None


def translate_procfile(path: str | os.PathLike[str], *,
                       env_file: str | os.PathLike[str] | None = None,
                       formation: str | None = None, port_base: int = 5000) -> Translation:
    """Raises ConfigError listing every problem (file:line, what was expected)."""
    display = os.fspath(path)
    findings = Findings()
    if not 1 <= port_base <= MAX_PORT:
        raise ConfigError([f"port: expected a port number 1-{MAX_PORT}, got {port_base}"])
    text = _read(display, display, findings)
    if text is None:
        raise ConfigError(findings.problems)
    root = os.path.dirname(os.path.abspath(display))
    sources = [os.path.abspath(display)]
    types: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        m = _LINE.match(raw)
        if not m:
            findings.note(f"{display}:{lineno}", f"ignored: expected NAME: COMMAND (NAME of "
                          f"letters, digits, '_' and '-'), got {raw.strip()[:60]!r}")
        elif m.group(1) in types:
            findings.error(f"{display}:{lineno}", "", f"process type {m.group(1)!r} is "
                           "defined twice")
        else:
            types[m.group(1)] = m.group(2)
    if not types and not findings.problems:
        findings.error(display, "", "no process type (expected lines NAME: COMMAND)")
    env, env_display = _dotenv(display, root, env_file, findings, sources)
    base = port_base
    if "PORT" in env:  # honcho: the .env's PORT is the base, whatever else says
        env_port = env.pop("PORT")
        if not env_port.strip().isdigit():
            findings.error(env_display, "PORT", f"expected a port number, got {env_port!r}")
        else:
            base = int(env_port)
    counts = _formation(formation, list(types), findings) if formation is not None \
        else dict.fromkeys(types, 1)
    watchers: dict[str, Any] = {}
    for index, (name, command) in enumerate(types.items()):
        port = base + 100 * index
        count = counts[name]
        if port + max(count - 1, 0) > MAX_PORT:
            findings.error("port", "", f"{name}: PORT {port + max(count - 1, 0)} is past "
                           f"{MAX_PORT} (base {base} + 100 x {index} + instance)")
        w: dict[str, Any] = {"cmd": command, "shell": True}
        if count != 1:
            w["numprocesses"] = count
            w["port_base"] = port  # PORT = port_base + the instance's index, per process
        w.update(working_dir=root, copy_env=True, stop_children=True,
                 graceful_timeout=_STOP_WAIT)
        process_env = dict(env)
        if count == 1:
            process_env["PORT"] = str(port)
        for key in ("PS", "HONCHO_PROCESS_NAME"):  # foreman's and honcho's: web.1
            process_env.setdefault(key, f"{name}.$(ringleader.wid)")
        if process_env:
            w["env"] = process_env
        watchers[name] = w
    for key, value in env.items():
        if _NATIVE_DOLLAR.search(value):
            findings.note(env_display, f"{key}: the native loader expands "
                          "$NAME in env values; honcho and foreman pass it literally")
    chosen = env.get("PROCFILE")
    if chosen is not None and os.path.basename(chosen) != os.path.basename(display):
        findings.note(env_display, f"PROCFILE: honcho would read {chosen}; this "
                      f"translation is of {display}")
    if watchers:
        findings.note(display, "a process that exits is respawned; honcho and foreman "
                      "stop every process when one exits")
    findings.raise_if_any()
    return Translation({"watchers": watchers}, findings.notes, sources)


def _dotenv(display: str, root: str, env_file: str | os.PathLike[str] | None,
            findings: Findings, sources: list[str]) -> tuple[dict[str, str], str]:
    """The given env file (which must exist), or ``.env`` next to the Procfile if any; and
    the file's name as messages show it."""
    if env_file is None:
        path = os.path.join(root, ".env")
        shown = os.path.join(os.path.dirname(display), ".env")
        if not os.path.lexists(path):
            return {}, shown
    else:
        path = shown = os.fspath(env_file)
    text = _read(path, shown, findings)
    if text is None:
        return {}, shown
    sources.append(os.path.abspath(path))
    return parse_dotenv(text, shown, findings), shown

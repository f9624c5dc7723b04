"""supervisord.conf -> the native TOML document: ``translate_supervisord(path)``.

Sections: ``[supervisord]`` -> ``[ringleader]``; ``[unix_http_server]`` -> the control
socket; ``[inet_http_server]`` is refused (never a plaintext TCP control port);
``[program:x]``, ``[eventlistener:x]``, ``[fcgi-program:x]`` -> ``[watchers.x]``
(supervisord_program); ``[group:x]`` -> ``[groups.x]``; ``[include]`` is read
(supervisord_ini). Client-side sections (``[supervisorctl]``, ``[ctlplugin:x]``) and
XML-RPC plugins are noted and dropped.

supervisord's ``priority`` (lower starts first, default 999) becomes the native one (higher
starts first, default 0) as ``999 - priority``: the order is kept and the default maps to
the default.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Mapping
from typing import Any

from ringleader.config.dialects.supervisord_ini import Section, read_files
from ringleader.config.dialects.supervisord_program import (
    Context,
    note_literal_dollars,
    translate_program,
)
from ringleader.config.dialects.supervisord_values import (
    Invalid,
    expand,
    to_byte_size,
    to_env_pairs,
    to_int,
    to_names,
    to_octal,
)
from ringleader.config.dialects.translation import NATIVE_NAME, Findings, Translation

__all__ = ["looks_like_supervisord", "translate_supervisord"]

_HINT = re.compile(r"^[ \t]*\[(supervisord|program:[^\]\n]+)\][ \t]*([;#].*)?$", re.M)
_ENV_NAME = re.compile(r"^[\w.\-]+\Z")  # what $(ringleader.env.X) can name
_PROGRAMS = ("program", "eventlistener", "fcgi-program")
_KINDS = (*_PROGRAMS, "group", "rpcinterface", "ctlplugin")
_PLAIN = ("supervisord", "unix_http_server", "inet_http_server", "supervisorctl")
_SERVER = ("supervisord", "unix_http_server", "inet_http_server")  # translated on their own
_MAIN_RPC = ("supervisor.rpcinterface_factory", "supervisor.rpcinterface:make_main_rpcinterface")
SUPERVISORD_OPTIONS = (
    "logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask",
    "nodaemon", "silent", "minfds", "minprocs", "nocleanup", "childlogdir", "user",
    "directory", "strip_ansi", "environment", "identifier",
)
_LOGLEVELS = {"critical": "critical", "error": "error", "warn": "warning",
              "warning": "warning", "info": "info", "debug": "debug", "trace": "debug",
              "blather": "debug"}
_DROPPED = {
    "nodaemon": "`ringleader run` stays in the foreground, `ringleader up` daemonizes",
    "silent": "the controller logs where logoutput says",
    "identifier": "there is no XML-RPC interface to identify",
    "nocleanup": "AUTO log files are not temporary files here",
    "strip_ansi": "output is passed through unchanged",
}


def looks_like_supervisord(text: str) -> bool:
    """True when *text* has a ``[supervisord]`` or ``[program:x]`` section."""
    return bool(_HINT.search(text))


def translate_supervisord(path: str | os.PathLike[str]) -> Translation:
    """Raises ConfigError listing every problem, one line each (file, section, option)."""
    display = os.fspath(path)
    findings = Findings()
    host = platform.node()
    environ = dict(os.environ)  # the controller's environment when the file is loaded
    read = read_files(display, display, host, environ.get, findings)
    findings.raise_if_any()
    sections = read.sections
    doc: dict[str, Any] = {}
    main = sections.get("supervisord")
    if main is None:
        findings.note(f"{display}", "no [supervisord] section: supervisord would refuse "
                      "this file; translated anyway")
        main = Section("supervisord", display)
    controller, file_env, childlogdir, directory = _controller(main, environ, findings)
    server = sections.get("unix_http_server")
    if server is not None:
        controller.update(_unix_server(server, environ, findings))
    if "inet_http_server" in sections:
        _refuse_inet(sections["inet_http_server"], findings)
    if controller:
        doc["ringleader"] = controller
    groups, group_of = _groups(sections, environ, findings)
    watchers: dict[str, Any] = {}
    sockets: dict[str, Any] = {}
    auto_console = False
    for s in sections.values():
        kind, _, name = s.name.partition(":")
        if kind in _PROGRAMS and name:
            if name in watchers:
                findings.error(s.where, "", f"{name!r} is also the name of another program "
                               "or event listener")
                continue
            ctx = Context(where=s.where, here=_here(s), host=host,
                          group=group_of.get(name, name), file_env=file_env[0],
                          file_env_names=file_env[1],
                          env_ref=_env_ref(environ, "$(ringleader.env.{})"),
                          env_value_ref=_env_ref(environ, "${{{}}}"),
                          childlogdir=childlogdir, directory=directory)
            tables = translate_program(kind, name, s.options, ctx, findings)
            watchers[name] = tables.watcher
            if tables.socket is not None:
                sockets[name] = tables.socket
            auto_console |= tables.auto_console
        elif s.name not in _SERVER and not (kind == "group" and name):
            _other_section(s, kind, name, findings)
    if watchers:
        doc["watchers"] = watchers
    if sockets:
        doc["sockets"] = sockets
    if groups:
        doc["groups"] = groups
    if auto_console:
        findings.note(display, "AUTO log files (supervisord's default for stdout_logfile "
                      "and stderr_logfile) become the controller's output, which "
                      "`ringleader logs` shows; set childlogdir in [supervisord] for one "
                      "file per process there")
    findings.raise_if_any()
    return Translation(doc, findings.notes, read.sources)


def _here(s: Section) -> str:
    return os.path.dirname(os.path.abspath(s.display))


def _env_ref(environ: Mapping[str, str], template: str) -> Callable[[str], str | None]:
    """%(ENV_X)s of the controller's environment: a native reference resolved when the
    document is loaded (so that `convert` keeps it portable), or the value itself when X
    is not a name a reference can hold; None when X is not set."""

    def ref(name: str) -> str | None:
        if name not in environ:
            return None
        return template.format(name) if _ENV_NAME.match(name) else environ[name]

    return ref


def _get(s: Section, option: str, names: Mapping[str, str | int], environ: Mapping[str, str],
         findings: Findings, template: str = "$(ringleader.env.{})") -> str | None:
    raw = s.options.get(option)
    if raw is None:
        return None
    try:
        return expand(raw, names, _env_ref(environ, template))
    except Invalid as exc:
        findings.error(s.where, option, str(exc))
        return None


def _controller(s: Section, environ: Mapping[str, str], findings: Findings
                ) -> tuple[dict[str, Any], tuple[dict[str, str], dict[str, str]], str | None,
                           str | None]:
    """([ringleader] table, environment for every program (as env values, and as
    %(ENV_X)s gives it in other options), childlogdir, directory)."""
    names = {"here": _here(s), "host_node_name": platform.node()}
    out: dict[str, Any] = {}
    target = ("ringleader",)
    for option in s.options:
        if option not in SUPERVISORD_OPTIONS and not findings.unknown(
                s.where, option, list(SUPERVISORD_OPTIONS)):
            findings.note(f"{s.where} {option}", "not a supervisord option, ignored", target)

    def get(option: str) -> str | None:
        return _get(s, option, names, environ, findings)

    def parsed(option: str, parse: Callable[[str], Any]) -> Any:
        text = get(option)
        try:
            return None if text is None else parse(text)
        except Invalid as exc:
            findings.error(s.where, option, str(exc))
            return None

    for option, native in (("logfile", "logoutput"), ("pidfile", "pidfile"), ("user", "user")):
        text = get(option)
        if text is not None and text.strip():
            out[native] = text.strip()
    level = get("loglevel")
    if level is not None:
        if level.strip().lower() not in _LOGLEVELS:
            findings.error(s.where, "loglevel", f"expected one of critical, error, warn, info, "
                           f"debug, trace, blather, got {level.strip()!r}")
        else:
            out["loglevel"] = _LOGLEVELS[level.strip().lower()]
            if level.strip().lower() in ("trace", "blather"):
                findings.note(f"{s.where} loglevel", f"{level.strip()} is debug here", target)
    umask = parsed("umask", to_octal)
    if umask is not None:
        out["umask"] = f"{umask:03o}"
    # the controller's log rotates as supervisord's (0 bytes or 0 backups: never)
    for option, native, parse in (("logfile_maxbytes", "log_max_bytes", to_byte_size),
                                  ("logfile_backups", "log_backups",
                                   lambda t: to_int(t, minimum=0))):
        value = parsed(option, parse)
        if value is not None:
            out[native] = value
    for option in ("minfds", "minprocs"):
        value = parsed(option, lambda t: to_int(t, minimum=1))
        if value is not None:
            out[option] = value
    for option, why in _DROPPED.items():
        if option in s.options:
            findings.note(f"{s.where} {option}", f"dropped: {why}", target)
    # as env values ($VAR refs), and as %(ENV_X)s puts them in other options; reported once
    envs = [_env(s, names, environ, findings, "${{{}}}"),
            _env(s, names, environ, Findings(), "$(ringleader.env.{})")]
    if "environment" in s.options:
        note_literal_dollars(s.options["environment"], s.where, findings, target)
    directory = get("directory")
    if directory:
        findings.note(f"{s.where} directory", "the working directory of every program "
                      "without one (supervisord changes into it when it daemonizes)", target)
    return out, (envs[0], envs[1]), get("childlogdir") or None, directory or None


def _env(s: Section, names: Mapping[str, str], environ: Mapping[str, str],
         findings: Findings, template: str) -> dict[str, str]:
    text = _get(s, "environment", names, environ, findings, template)
    try:
        return {} if text is None else to_env_pairs(text)
    except Invalid as exc:
        findings.error(s.where, "environment", str(exc))
        return {}


def _unix_server(s: Section, environ: Mapping[str, str], findings: Findings) -> dict[str, Any]:
    """file -> endpoint; chmod/chown -> who may connect (checked by peer credentials)."""
    out: dict[str, Any] = {}
    names = {"here": _here(s)}
    target = ("ringleader", "endpoint")
    for option in s.options:
        known = ["file", "chmod", "chown", "username", "password"]
        if option not in known and not findings.unknown(s.where, option, known):
            findings.note(f"{s.where} {option}", "not a supervisord option, ignored", target)
    path = (_get(s, "file", names, environ, findings) or "").strip()
    if not path:
        findings.error(s.where, "file", "missing (the path of the control socket)")
        return out
    full = os.path.abspath(os.path.expanduser(path))
    out["endpoint"] = "unix:" + full
    if not os.path.isabs(os.path.expanduser(path)):
        findings.note(f"{s.where} file", f"{path!r} is relative to the directory the "
                      f"controller starts in, as in supervisord: {full}", target)
    mode = 0o700
    chmod = _get(s, "chmod", {}, environ, findings)
    if chmod is not None:
        try:
            mode = to_octal(chmod)
        except Invalid as exc:
            findings.error(s.where, "chmod", str(exc))
    user, _, group = (_get(s, "chown", {}, environ, findings) or "").partition(":")
    if user.strip() and user.strip() not in ("root", "0") and mode & 0o600:
        out["allowed_uids"] = [user.strip()]
    if group.strip() and mode & 0o060:
        out["allowed_groups"] = [group.strip()]
    elif mode & 0o060:
        findings.note(f"{s.where} chmod", "group access without a chown group is not "
                      "carried over: list the group in allowed_groups", target)
    if mode & 0o006:
        findings.note(f"{s.where} chmod", "access for every user is not carried over: only "
                      "root, the controller's user, allowed_uids and allowed_groups may "
                      "connect (checked by peer credentials)", target)
    for option in ("username", "password"):
        if option in s.options:
            findings.note(f"{s.where} {option}", "dropped: the unix socket admits peers by "
                          "their uid and groups, not by HTTP basic authentication", target)
    return out


def _refuse_inet(s: Section, findings: Findings) -> None:
    port = s.options.get("port", "127.0.0.1:9001").strip()
    findings.error(s.where, "", f"refused: Ringleader never opens a plaintext TCP control "
                   f"port; remove it and configure the TLS listener instead ([ringleader.tcp] "
                   f'listen = "{port}", tls_cert, tls_key, and a token from `ringleader token '
                   "new`)")


def _groups(sections: Mapping[str, Section], environ: Mapping[str, str], findings: Findings
            ) -> tuple[dict[str, Any], dict[str, str]]:
    """[group:x] -> ({x: {watchers, priority}}, {program: x})."""
    groups: dict[str, Any] = {}
    group_of: dict[str, str] = {}
    for s in sections.values():
        kind, _, name = s.name.partition(":")
        if kind != "group" or not name:
            continue
        for option in s.options:
            if option not in ("programs", "priority") and not findings.unknown(
                    s.where, option, ["programs", "priority"]):
                findings.note(f"{s.where} {option}", "not a supervisord option, ignored",
                              ("groups", name))
        if not NATIVE_NAME.match(name):
            findings.error(s.where, "", f"the name {name!r} is not usable here (expected "
                           "letters, digits, '_', '.' and '-')")
        names = {"here": _here(s)}
        programs = to_names(_get(s, "programs", names, environ, findings) or "")
        if not programs:
            findings.error(s.where, "programs", "missing (the programs of the group)")
        for program in programs:
            if f"program:{program}" not in sections and \
                    f"fcgi-program:{program}" not in sections:
                findings.error(s.where, "programs", f"names unknown program {program!r}")
            elif program in group_of:
                findings.error(s.where, "programs", f"{program!r} is already in "
                               f"[group:{group_of[program]}]")
            else:
                group_of[program] = name
        group: dict[str, Any] = {"watchers": programs}
        priority_text = _get(s, "priority", names, environ, findings)
        try:
            priority = 999 if priority_text is None else to_int(priority_text)
        except Invalid as exc:
            findings.error(s.where, "priority", str(exc))
            priority = 999
        if 999 - priority:
            group["priority"] = 999 - priority
        groups[name] = group
    return groups, group_of


def _other_section(s: Section, kind: str, name: str, findings: Findings) -> None:
    if kind in _KINDS and not name:
        findings.error(s.where, "", f"a {kind} section needs a name: [{kind}:NAME]")
    elif s.name == "supervisorctl":
        findings.note(s.where, "client settings, ignored: the console finds the controller "
                      "with -c FILE or -e unix:PATH")
    elif kind == "rpcinterface":
        factory = s.options.get(_MAIN_RPC[0], "").strip()
        if factory != _MAIN_RPC[1]:
            findings.note(s.where, "dropped: XML-RPC interface plugins are not supported")
    elif kind == "ctlplugin":
        findings.note(s.where, "dropped: supervisorctl plugins are not supported")
    else:
        import difflib

        close = difflib.get_close_matches(kind, [*_KINDS, *_PLAIN, "include"], n=1,
                                          cutoff=0.75)
        if close and close[0] != kind:
            suffix = s.name[len(kind):]
            findings.error(s.where, "", f"unknown section (did you mean [{close[0]}{suffix}]?)")
        else:
            findings.note(s.where, "unknown section, ignored (as supervisord does)")

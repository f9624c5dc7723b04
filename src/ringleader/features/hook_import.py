"""Finding a Python hook (``pkg.module.func``) for a watcher.

A hook module is looked for where the watcher's own Python would look, whatever folder
the controller was started from and however (``ringleader run`` or ``python -m``): the
config file's folder, then the watcher's ``PYTHONPATH``, then the controller's
``sys.path`` (installed packages). The global ``sys.path`` is never changed: a top-level
module found in one of the watcher's folders is loaded from its spec, then imported as
usual (its submodules follow the package's ``__path__``). Module names are global to the
controller, as in any Python process: the first module loaded under a name serves every
watcher.

The controller may run as root: a module found in the watcher's folders is loaded only
if it, its folder and the search folder are owned by root or by the controller's user
and writable by no one else.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ringleader.config.model import WatcherConfig

# Loading a module from its spec bypasses the import system's per-module locks; this one
# lock serialises it, like the interpreter-wide sys.modules it guards.
_LOADING = threading.Lock()


@dataclass(frozen=True, slots=True)
class Resolved:
    func: Callable[..., Any] | None
    error: str = ""


def search_path(config_dir: str | None, env: Mapping[str, str],
                working_dir: str | None = None) -> tuple[str, ...]:
    """The folders a watcher's hooks are looked for in before `sys.path`: the config
    file's folder, then its PYTHONPATH (relative entries from its working_dir, else from
    the config's folder)."""
    folders: list[str] = []
    base = working_dir or config_dir or os.getcwd()
    if config_dir:
        folders.append(os.path.abspath(config_dir))
    for entry in env.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            folders.append(os.path.normpath(os.path.join(base, entry)))
    return tuple(dict.fromkeys(folders))


def _untrusted(path: str) -> str | None:
    """Why `path` may not be run by the controller, or None."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if st.st_uid not in (0, os.geteuid()):
        return f"{path} is owned by uid {st.st_uid}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{path} is writable by group or others"
    return None


def _load_top(name: str, folders: Iterable[str]) -> str | None:
    """Load top-level module `name` from `folders` if it is there (and not loaded yet);
    an error line, or None (loaded, or not there: sys.path is next)."""
    with _LOADING:
        if name in sys.modules:
            return None
        for folder in folders:
            spec = importlib.machinery.PathFinder.find_spec(name, [folder])
            if spec is None or spec.loader is None:
                continue
            origin = spec.origin if spec.has_location and spec.origin else None
            for path in (folder, *([os.path.dirname(origin), origin] if origin else [])):
                why = _untrusted(path)
                if why is not None:
                    return f"module {name!r} found in {folder} but not loaded: {why}"
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return None
    return None


def import_hook(target: str, folders: Iterable[str] = ()) -> Resolved:
    """`pkg.module.func` (or `pkg.module:func`, or `pkg.module.Class.method`): the longest
    importable module prefix, then attributes. Errors are one line naming the path."""
    module_path, sep, attrs = target.partition(":")
    if sep:
        candidates = [(module_path, attrs.split("."))]
    else:
        parts = target.split(".")
        candidates = [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    if not candidates or not all(candidates[0]):
        return Resolved(None, f"{target!r} is not a dotted path to a callable "
                              "(module.function)")
    folders = tuple(folders)
    for module_name, attr_names in candidates:
        try:
            refused = _load_top(module_name.partition(".")[0], folders)
            if refused is not None:
                return Resolved(None, f"cannot import {target!r}: {refused}")
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # Only "this very module does not exist" means: try a shorter prefix.
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue
            return Resolved(None, f"cannot import {target!r}: {type(exc).__name__}: {exc}")
        except (Exception, SystemExit) as exc:  # the module itself failed (SyntaxError...)
            return Resolved(None, f"cannot import {target!r}: {type(exc).__name__}: {exc}")
        try:
            for attr in attr_names:
                obj = getattr(obj, attr)
        except AttributeError:
            return Resolved(None, f"cannot import {target!r}: module {module_name!r} has "
                                  f"no attribute {'.'.join(attr_names)!r}")
        if not callable(obj):
            return Resolved(None, f"{target!r} is not callable")
        return Resolved(obj)
    where = f" (searched {', '.join(folders)}, then sys.path)" if folders else ""
    return Resolved(None, f"cannot import {target!r}: no module {candidates[-1][0]!r} "
                          f"found{where}")


def import_problems(watchers: Iterable[WatcherConfig], config_dir: str | None,
                    where: str = "") -> list[str]:
    """Import every Python hook of `watchers` as the controller would (`check` does, so
    that a hook that cannot be found is a config error, not a surprise at run time); one
    line per hook that fails. Runs the modules' top-level code."""
    problems = []
    prefix = f"{where}: " if where else ""
    for w in watchers:
        folders = search_path(config_dir, w.env, w.working_dir)
        for name, hook in w.hooks.items():
            if hook.kind == "python":
                found = import_hook(hook.target, folders)
                if found.func is None:
                    problems.append(f"{prefix}watcher {w.name}: hooks.{name}: {found.error}")
    return problems

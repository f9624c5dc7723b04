"""Finding Python hooks in a watcher's folders (the config's, its PYTHONPATH) with real
files, without touching sys.path, and refusing modules others could have written."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringleader.config.features import HookConfig
from ringleader.config.model import WatcherConfig
from ringleader.features.hook_import import import_hook, import_problems, search_path

_names = itertools.count(1)


@pytest.fixture
def modname() -> Iterator[str]:
    """A module name no other test uses; forgotten (with its submodules) afterwards."""
    name = f"rl_hook_import_{os.getpid()}_{next(_names)}"
    yield name
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def test_search_path_is_the_config_folder_then_pythonpath(tmp_path: Path) -> None:
    env = {"PYTHONPATH": f"/opt/lib{os.pathsep}rel{os.pathsep}{os.pathsep}/opt/lib"}
    assert search_path("/etc/app", env) == ("/etc/app", "/opt/lib", "/etc/app/rel")
    assert search_path("/etc/app", env, "/srv") == ("/etc/app", "/opt/lib", "/srv/rel")
    assert search_path(None, {}) == ()


def test_a_module_in_a_watcher_folder_is_found_without_changing_sys_path(
        tmp_path: Path, modname: str) -> None:
    folder = private_dir(tmp_path / "conf")
    (folder / f"{modname}.py").write_text("def ok(**kw):\n    return 'ok'\n")
    before = list(sys.path)
    found = import_hook(f"{modname}.ok", [str(folder)])
    assert found.func is not None and found.func() == "ok"
    assert sys.path == before


def test_a_package_and_its_submodules_are_found(tmp_path: Path, modname: str) -> None:
    pkg = private_dir(tmp_path / "lib" / modname)
    (pkg / "__init__.py").write_text("")
    (pkg / "hooks.py").write_text("def check(**kw):\n    return 42\n")
    found = import_hook(f"{modname}.hooks.check", [str(tmp_path / "lib")])
    assert found.func is not None and found.func() == 42


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_module_others_can_write_is_refused(tmp_path: Path, modname: str,
                                              what: str) -> None:
    folder = private_dir(tmp_path / "conf")
    module = folder / f"{modname}.py"
    module.write_text("raise SystemExit('must never run')\n")
    (module if what == "file" else folder).chmod(0o666 if what == "file" else 0o777)
    found = import_hook(f"{modname}.ok", [str(folder)])
    assert found.func is None
    assert "writable by group or others" in found.error and modname in found.error
    assert modname not in sys.modules


def test_a_missing_module_names_where_it_was_looked_for(tmp_path: Path) -> None:
    found = import_hook("rl_surely_missing_xyz.ok", [str(tmp_path)])
    assert found.func is None
    assert found.error == (f"cannot import 'rl_surely_missing_xyz.ok': no module "
                           f"'rl_surely_missing_xyz' found (searched {tmp_path}, then "
                           "sys.path)")


def test_import_problems_reports_each_hook_that_cannot_be_imported(
        tmp_path: Path, modname: str) -> None:
    folder = private_dir(tmp_path / "conf")
    (folder / f"{modname}.py").write_text("def ok(**kw):\n    return True\n")
    watchers = [
        WatcherConfig(name="a", cmd="sleep 1", hooks={
            "before_start": HookConfig(target=f"{modname}.ok"),
            "after_start": HookConfig(target=f"{modname}.nope"),
            "before_stop": HookConfig(target="exit 1", kind="shell")}),
        WatcherConfig(name="b", cmd="sleep 1", hooks={
            "before_start": HookConfig(target="rl_surely_missing_xyz.ok")}),
    ]
    problems = import_problems(watchers, str(folder), where="app.toml")
    assert problems == [
        f"app.toml: watcher a: hooks.after_start: cannot import '{modname}.nope': module "
        f"'{modname}' has no attribute 'nope'",
        "app.toml: watcher b: hooks.before_start: cannot import 'rl_surely_missing_xyz.ok'"
        f": no module 'rl_surely_missing_xyz' found (searched {folder}, then sys.path)",
    ]

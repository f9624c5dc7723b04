"""Any config file Ringleader reads -> the native TOML document and notes: what
``ringleader convert`` prints.

supervisord.conf and Procfiles are translated (their notes say what was dropped or changed
meaning); a circus INI or TOML file is loaded by the one loader and written back as the
native document, its warnings as notes next to the watcher they concern.
"""

from __future__ import annotations

import os
import re

from ringleader.config.dialects.translation import Note, Translation
from ringleader.config.load import load_config

__all__ = ["convert_file"]

_WHERE = re.compile(r"^(?P<where>.*?: \[(?P<kind>[a-z]+)[:.](?P<name>[^\]]+)\]) (?P<rest>.*)$",
                    re.S)
_TABLES = {"watcher": "watchers", "watchers": "watchers", "socket": "sockets",
           "sockets": "sockets"}


def convert_file(path: str, *, procfile: bool = False, env_file: str | None = None,
                 formation: str | None = None, port_base: int | None = None) -> Translation:
    """Raises ConfigError (every problem) when the file does not load."""
    from ringleader.config.dialects.procfile import is_procfile, translate_procfile

    if procfile or is_procfile(path):
        return translate_procfile(path, env_file=env_file, formation=formation,
                                  port_base=5000 if port_base is None else port_base)
    config = load_config(path, env_file=env_file, formation=formation, port_base=port_base)
    if _is_supervisord(path):
        from ringleader.config.dialects.supervisord import translate_supervisord

        return translate_supervisord(path)  # loaded above: the document is known to load
    from ringleader.config.dialects.native_document import document_from_config

    return Translation(document_from_config(config), [_note(w) for w in config.warnings],
                       [os.path.abspath(path)])


def _is_supervisord(path: str) -> bool:
    from ringleader.config.dialects.files import read_config_text
    from ringleader.config.dialects.supervisord import looks_like_supervisord
    from ringleader.config.load import is_native

    text = read_config_text(path)
    return not is_native(path, text) and looks_like_supervisord(text)


def _note(warning: str) -> Note:
    """A loader warning as a note next to the table it names."""
    m = _WHERE.match(warning)
    if m is None:
        return Note("", warning)
    table = _TABLES.get(m.group("kind"))
    target = (table, m.group("name")) if table else ()
    return Note(m.group("where"), m.group("rest"), target)

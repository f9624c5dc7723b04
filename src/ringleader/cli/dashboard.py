"""`ringleader dashboard [--open] [--role ROLE]`: a one-time link to the web dashboard.

The controller mints a token that opens one session (the caller's role, or a lower one)
within 5 minutes, and answers the URL with the token in its ``#fragment``, which browsers
never send to a server (no log, no Referer, no proxy sees it). Over the unix socket the
link is on a loopback listener the controller opens for it; over https, on the TLS
listener.

``--open`` does not put the link on a browser's command line, where every local user can
read it (/proc/PID/cmdline) and race to use it first: it writes a page that redirects to
it into a folder of the user's own (0700, the file 0600) and opens that file, as Jupyter
does. The page is overwritten by the next ``--open``; the token in it works once.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import tempfile

from ringleader.api.client import Client
from ringleader.cli.common import EXIT_OK, error

TYPE_CHECKING = False  # not typing's: importing typing costs ~5 ms of the console's start-up
if TYPE_CHECKING:
    import argparse

_REDIRECT = """<!doctype html>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0;url={url}">
<title>Ringleader dashboard</title>
<p>Opening the <a href="{url}">Ringleader dashboard</a>…</p>
"""


def cmd_dashboard(args: argparse.Namespace, client: Client) -> int:
    link = client.call("dashboard", body={"role": args.role} if args.role else {})
    url = link["url"]
    if args.json:
        print(json.dumps(link, indent=2))
    else:
        print(url)
        print(f"(a {link['role']} session; the link works once, within "
              f"{max(1, link['expires_in'] // 60)} minutes)", file=sys.stderr)
    if args.open:
        open_privately(url)
    return EXIT_OK


def open_privately(url: str) -> bool:
    """Open *url* in the web browser through a private redirect page (see the module's
    docstring); False (and a line on stderr) when no browser could be started."""
    import webbrowser

    try:
        page = _write_redirect(url)
    except OSError as exc:
        error(f"cannot write the page that opens the dashboard: {exc.strerror or exc}; "
              "open the link yourself")
        return False
    if not webbrowser.open("file://" + page):
        error("no web browser found: open the link yourself")
        return False
    return True


def _write_redirect(url: str) -> str:
    folder = _private_folder()
    path = os.path.join(folder, "dashboard.html")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_REDIRECT.format(url=url.replace("&", "&amp;").replace('"', "&quot;")))
    return path


def _private_folder() -> str:
    """$XDG_RUNTIME_DIR/ringleader, else TMPDIR/ringleader-UID: ours, 0700, no symlink
    (another user may have made the name first: then a fresh folder of our own)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = runtime if runtime and os.path.isabs(runtime) else tempfile.gettempdir()
    folder = os.path.join(base, "ringleader" if runtime else f"ringleader-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() \
            and stat.S_IMODE(info.st_mode) == 0o700:
        return folder
    return tempfile.mkdtemp(prefix="ringleader-")

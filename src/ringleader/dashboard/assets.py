"""The dashboard's static files as served: content-hashed names, long caching, no build step.

`load_assets()` reads the package data under ``static/`` and returns an `AssetTable`. It
does blocking file I/O, so the server calls it in a worker thread at the first ``/ui/``
request and keeps the table (nothing is read or imported before a page is asked for):

- every ``.js`` and ``.css`` file is served at ``/ui/assets/<dir/>name.<hash>.<ext>`` with
  ``Cache-Control: immutable``. The hash covers the file *after* its own imports were
  rewritten to hashed names, so changing a module renames every module that imports it
  (a Merkle tree, as bundlers do) and a browser never mixes two versions;
- ``index.html``, the one page, names ``style.css``, ``app.js``, ... plainly; they are
  rewritten to the hashed URLs, and the page itself is served at ``/ui/`` uncached, so a
  new version's page always names the new assets;
- vendored files (``vendor/``, listed with their sha256 in ``vendor/VENDOR``) are served
  byte for byte.

Our modules import each other only with relative string specifiers (``"./api.js"``), in
``import``/``export`` statements that start a line or in ``import()``; any other
specifier, or an import cycle, is an `AssetError` (a unit test loads the real tree, so a
mistake fails the tests, not a user).
"""

from __future__ import annotations

import gzip
import os
import posixpath
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import final

ASSET_PREFIX = "/ui/assets/"
PAGE_PATH = "/ui/"
PAGE_NAME = "index.html"
MAX_FILE_BYTES = 1 << 20  # the largest file, vendored uPlot, is 145 KB
HASH_CHARS = 12  # 48 bits: names need to differ between versions, not resist an attacker

CONTENT_TYPES: Mapping[str, str] = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
_VENDOR_DIR = "vendor/"
# A module specifier: of a static import or export (a statement at the start of a line,
# possibly over several lines), a side-effect import, or a dynamic import().
_IMPORT = re.compile(r"""(?m)(^(?:import|export)\b[^;"'`]*?\bfrom\s*|^import\s*|"""
                     r"""\bimport\(\s*)(["'])([^"'\n]*)\2""")
_PAGE_REF = re.compile(r"""\b(src|href)="([^"]*)\"""")
_CSS_REF = re.compile(r"""@import|url\(\s*(?!["']?data:)""")


class AssetError(Exception):
    """The static tree is not servable: the message names the file and the problem."""


@final
@dataclass(frozen=True, slots=True)
class Asset:
    """One servable file: its body, and its gzip form when that is smaller."""

    path: str  # the URL path
    body: bytes
    gzipped: bytes | None
    content_type: str
    immutable: bool  # a content-hashed name: cacheable for ever

    def encoded(self, accept_encoding: str | None) -> tuple[bytes, str | None]:
        """The body to send and its Content-Encoding (None: identity). Only static
        files are compressed, never answers that carry secrets (BREACH)."""
        if self.gzipped is not None and accepts_gzip(accept_encoding):
            return self.gzipped, "gzip"
        return self.body, None


@final
@dataclass(frozen=True, slots=True)
class AssetTable:
    page: Asset  # index.html, served at PAGE_PATH
    by_path: Mapping[str, Asset]  # every hashed asset by URL path
    urls: Mapping[str, str]  # logical name ("app.js") -> URL path

    def lookup(self, path: str) -> Asset | None:
        if path == PAGE_PATH:
            return self.page
        return self.by_path.get(path)


def static_root() -> Path:
    return Path(__file__).with_name("static")


def load_assets(root: Path | None = None) -> AssetTable:
    """Read and hash the static tree (blocking: call it in a worker thread)."""
    files = read_tree(root or static_root())
    if PAGE_NAME not in files:
        raise AssetError(f"the dashboard's static files have no {PAGE_NAME}")
    servable = {n: b for n, b in files.items()
                if posixpath.splitext(n)[1] in (".js", ".css")}
    urls, bodies = _hash_assets(servable)
    by_path = {}
    for name, url in urls.items():
        by_path[url] = _asset(url, bodies[name], posixpath.splitext(name)[1], immutable=True)
    page = _asset(PAGE_PATH, _rewrite_page(files[PAGE_NAME], urls), ".html", immutable=False)
    return AssetTable(page=page, by_path=by_path, urls=urls)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under *root* by its relative POSIX path. A symlink, a special
    file or an oversized file is an error: the tree ships with the code and holds none."""
    found: dict[str, bytes] = {}
    pending = [""]
    while pending:
        rel = pending.pop()
        directory = root / rel if rel else root
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise AssetError(f"cannot list {directory}: {exc.strerror}") from None
        for entry in entries:
            name = f"{rel}{entry.name}"
            if entry.is_symlink():
                raise AssetError(f"{root / name} is a symlink; the dashboard serves none")
            if entry.is_dir(follow_symlinks=False):
                pending.append(name + "/")
            else:
                found[name] = _read_file(root / name)
    return found


def _read_file(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise AssetError(f"cannot open {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AssetError(f"{path} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise AssetError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise AssetError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    return data


def content_digest(data: bytes) -> str:
    # BLAKE2 from CPython's own _blake2: hashlib would map libcrypto (about 4 MB)
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter without it
        from hashlib import blake2b
    return blake2b(data, digest_size=16).hexdigest()[:HASH_CHARS]


def hashed_name(name: str, data: bytes) -> str:
    stem, ext = posixpath.splitext(name)
    return f"{stem}.{content_digest(data)}{ext}"


def module_imports(name: str, source: str) -> list[str]:
    """The logical names a module imports (relative specifiers resolved)."""
    found = []
    for match in _IMPORT.finditer(source):
        found.append(_resolve(name, match.group(3)))
    return found


def _resolve(importer: str, specifier: str) -> str:
    if not specifier.startswith("./"):
        raise AssetError(f"{importer}: import {specifier!r} is not a relative path "
                         "starting with ./ (the dashboard imports only its own files)")
    return posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))


def _hash_assets(files: Mapping[str, bytes]) -> tuple[dict[str, str], dict[str, bytes]]:
    """Hash each file after rewriting its imports, dependencies first."""
    urls: dict[str, str] = {}
    bodies: dict[str, bytes] = {}
    visiting: list[str] = []  # the import chain being resolved: a repeat is a cycle

    def visit(name: str) -> None:
        if name in urls:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            raise AssetError(f"import cycle: {cycle}")
        visiting.append(name)
        body = files[name]
        if not name.startswith(_VENDOR_DIR):  # vendored files are served unmodified
            body = _rewrite_own(name, body, files, visit, urls)
        visiting.pop()
        urls[name] = ASSET_PREFIX + hashed_name(name, body)
        bodies[name] = body

    for name in sorted(files):
        visit(name)
    return urls, bodies


def _rewrite_own(name: str, body: bytes, files: Mapping[str, bytes],
                 visit: Callable[[str], None], urls: Mapping[str, str]) -> bytes:
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AssetError(f"{name} is not UTF-8: {exc}") from None
    if name.endswith(".css"):
        if _CSS_REF.search(source):
            raise AssetError(f"{name}: @import and url() of files are not supported "
                             "(only data: URLs)")
        return body

    def replace(match: re.Match[str]) -> str:
        target = _resolve(name, match.group(3))
        if target not in files or not target.endswith(".js"):
            raise AssetError(f"{name}: imports {match.group(3)!r}, which is not a module "
                             "of the dashboard")
        visit(target)
        url = urls[target].removeprefix(ASSET_PREFIX)
        relative = posixpath.relpath(url, posixpath.dirname(name) or ".")
        return f"{match.group(1)}{match.group(2)}./{relative}{match.group(2)}"

    return _IMPORT.sub(replace, source).encode("utf-8")


def _rewrite_page(page: bytes, urls: Mapping[str, str]) -> bytes:
    source = page.decode("utf-8")

    def replace(match: re.Match[str]) -> str:
        attribute, value = match.groups()
        if value.startswith(("data:", "#", "/", "https:", "http:")):
            return match.group(0)
        url = urls.get(value)
        if url is None:
            raise AssetError(f"{PAGE_NAME}: {attribute}={value!r} names no asset")
        return f'{attribute}="{url}"'

    return _PAGE_REF.sub(replace, source).encode("utf-8")


def _asset(path: str, body: bytes, ext: str, *, immutable: bool) -> Asset:
    packed = gzip.compress(body, compresslevel=9, mtime=0)
    return Asset(path=path, body=body, gzipped=packed if len(packed) < len(body) else None,
                 content_type=CONTENT_TYPES[ext], immutable=immutable)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether an Accept-Encoding header allows gzip (RFC 9110: q=0 means "not")."""
    if not accept_encoding:
        return False
    star: bool | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        allowed = _q_positive(params)
        coding = coding.strip().lower()
        if coding in ("gzip", "x-gzip"):
            return allowed
        if coding == "*":
            star = allowed
    return bool(star)


def _q_positive(params: str) -> bool:
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return float(value) > 0
            except ValueError:
                return False
    return True

"""The static tree as served: content-hashed names that change with what they import,
the page's references, file checks, gzip, and rules the page's code keeps (no HTML from
strings, no inline script or style)."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import pytest

from ringleader.dashboard.assets import (
    ASSET_PREFIX,
    MAX_FILE_BYTES,
    PAGE_PATH,
    AssetError,
    accepts_gzip,
    load_assets,
    module_imports,
    read_tree,
    static_root,
)

STATIC = static_root()
OWN_JS = sorted(p for p in STATIC.glob("*.js"))


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


MINIMAL = {
    "index.html": '<link rel="stylesheet" href="a.css"><script type="module" src="app.js">'
                  "</script>",
    "a.css": "body { color: red; }",
    "app.js": 'import { b } from "./b.js";\nconst v = await import("./vendor/v.js");\n',
    "b.js": 'export const b = 1;\n',
    "vendor/v.js": 'export default 2; // from "./not-rewritten.js"\n',
}


def test_the_real_tree_loads_and_every_reference_resolves() -> None:
    table = load_assets()
    page = table.page.body.decode()
    referenced = re.findall(r'(?:src|href)="(/ui/[^"]+)"', page)
    assert referenced and all(table.lookup(url) for url in referenced)
    assert 'src="app.js"' not in page
    for url, asset in table.by_path.items():
        assert re.fullmatch(r"/ui/assets/[\w./-]+\.[0-9a-f]{12}\.(js|css)", url), url
        if url.endswith(".js") and "/vendor/" not in url:
            for specifier in re.findall(r'(?m)(?:from |import\()"(\./[^"]+)"',
                                        asset.body.decode()):
                target = ASSET_PREFIX + os.path.normpath(
                    os.path.join(os.path.dirname(url.removeprefix(ASSET_PREFIX)), specifier))
                assert table.lookup(target), f"{url} imports {specifier}"
    assert table.lookup(PAGE_PATH) is table.page
    assert table.lookup("/ui/assets/app.js") is None  # only hashed names are served
    assert table.lookup("/ui/index.html") is None


def test_vendored_files_are_served_unmodified() -> None:
    table = load_assets()
    url = table.urls["vendor/uplot/uPlot.esm.js"]
    assert table.by_path[url].body == (STATIC / "vendor/uplot/uPlot.esm.js").read_bytes()


def test_a_change_renames_the_file_and_every_importer(tmp_path: Path) -> None:
    before = load_assets(tree(tmp_path, MINIMAL)).urls
    (tmp_path / "b.js").write_text("export const b = 2;\n")
    after = load_assets(tmp_path).urls
    assert after["b.js"] != before["b.js"]
    assert after["app.js"] != before["app.js"]  # its import names the new b
    assert after["a.css"] == before["a.css"]
    assert after["vendor/v.js"] == before["vendor/v.js"]


def test_imports_are_rewritten_relative_to_the_importer(tmp_path: Path) -> None:
    table = load_assets(tree(tmp_path, MINIMAL))
    app = table.by_path[table.urls["app.js"]].body.decode()
    b = table.urls["b.js"].removeprefix(ASSET_PREFIX)
    v = table.urls["vendor/v.js"].removeprefix(ASSET_PREFIX)
    assert f'from "./{b}"' in app and f'import("./{v}")' in app
    vendor = table.by_path[table.urls["vendor/v.js"]].body.decode()
    assert '"./not-rewritten.js"' in vendor


def test_the_page_is_rewritten(tmp_path: Path) -> None:
    table = load_assets(tree(tmp_path, MINIMAL))
    page = table.page.body.decode()
    assert f'href="{table.urls["a.css"]}"' in page and f'src="{table.urls["app.js"]}"' in page


@pytest.mark.parametrize(("files", "message"), [
    ({"app.js": 'import x from "lodash";\n'}, "is not a relative path starting with ./"),
    ({"app.js": 'import x from "/ui/b.js";\n'}, "is not a relative path"),
    ({"app.js": 'import x from "./missing.js";\n'}, "which is not a module of the dashboard"),
    ({"app.js": 'import x from "./a.css";\n'}, "which is not a module"),
    ({"b.js": 'import { a } from "./app.js";\nexport const b = 1;\n'}, "import cycle: "),
    ({"index.html": '<script src="nope.js"></script>'}, "names no asset"),
    ({"a.css": "@import 'x.css';"}, "@import and url() of files"),
    ({"a.css": "body { background: url(x.png) }"}, "@import and url() of files"),
    ({"b.js": "\udcff"}, None),
])
def test_a_broken_tree_is_an_error(tmp_path: Path, files: dict[str, str],
                                   message: str | None) -> None:
    if message is None:  # not UTF-8
        tree(tmp_path, MINIMAL)
        (tmp_path / "b.js").write_bytes(b"\xff\xfe")
        message = "is not UTF-8"
    else:
        tree(tmp_path, {**MINIMAL, **files})
    with pytest.raises(AssetError, match=re.escape(message)):
        load_assets(tmp_path)


def test_a_cycle_names_its_path(tmp_path: Path) -> None:
    tree(tmp_path, {**MINIMAL, "b.js": 'import { a } from "./c.js";\n',
                    "c.js": 'import { b } from "./b.js";\n'})
    with pytest.raises(AssetError, match=r"import cycle: (b\.js -> c\.js -> b\.js|"
                                         r"c\.js -> b\.js -> c\.js)"):
        load_assets(tmp_path)


def test_css_data_urls_are_allowed(tmp_path: Path) -> None:
    tree(tmp_path, {**MINIMAL, "a.css": 'i { background: url("data:image/png;base64,AA") }'})
    load_assets(tmp_path)


def test_no_page_no_tree(tmp_path: Path) -> None:
    tree(tmp_path, {"app.js": ""})
    with pytest.raises(AssetError, match=r"no index\.html"):
        load_assets(tmp_path)
    with pytest.raises(AssetError, match="cannot list"):
        read_tree(tmp_path / "missing")


def test_symlinks_and_special_files_are_refused(tmp_path: Path) -> None:
    tree(tmp_path, MINIMAL)
    (tmp_path / "evil.js").symlink_to("/etc/passwd")
    with pytest.raises(AssetError, match=r"evil\.js is a symlink"):
        read_tree(tmp_path)
    (tmp_path / "evil.js").unlink()
    (tmp_path / "linked").symlink_to(tmp_path / "vendor")
    with pytest.raises(AssetError, match="linked is a symlink"):
        read_tree(tmp_path)
    (tmp_path / "linked").unlink()
    os.mkfifo(tmp_path / "pipe.js")  # opened non-blocking: no hang, an error
    with pytest.raises(AssetError, match=r"pipe\.js is not a regular file"):
        read_tree(tmp_path)


def test_oversized_files_are_refused(tmp_path: Path) -> None:
    tree(tmp_path, MINIMAL)
    (tmp_path / "big.js").write_bytes(b" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(AssetError, match=r"big\.js is larger than"):
        read_tree(tmp_path)


def test_gzip_is_offered_when_accepted_and_smaller() -> None:
    table = load_assets()
    app = table.by_path[table.urls["app.js"]]
    assert app.gzipped is not None and gzip.decompress(app.gzipped) == app.body
    assert app.encoded("gzip, deflate, br") == (app.gzipped, "gzip")
    assert app.encoded(None) == (app.body, None)
    assert app.immutable and not table.page.immutable
    assert table.page.content_type == "text/html; charset=utf-8"
    assert app.content_type == "text/javascript; charset=utf-8"


@pytest.mark.parametrize(("header", "accepted"), [
    (None, False), ("", False), ("gzip", True), ("GZIP", True), ("deflate, gzip;q=0.5", True),
    ("gzip;q=0", False), ("gzip; q=0.0", False), ("*", True), ("*;q=0", False),
    ("br, *", True), ("gzip;q=0, *", False), ("x-gzip", True), ("identity", False),
    ("gzip;q=nonsense", False),
])
def test_accept_encoding(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_module_imports_lists_what_a_module_needs() -> None:
    source = (STATIC / "app.js").read_text()
    assert "api.js" in module_imports("app.js", source)
    assert module_imports("x.js", 'const s = "import from \\"./no.js\\"";') == []


# -- what the page's own code may not do -------------------------------------------------

FORBIDDEN_JS = [
    (r"\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|createContextualFragment",
     "HTML from strings"),
    (r"\beval\s*\(|new Function|setTimeout\(\s*[\"'`]|setInterval\(\s*[\"'`]", "code strings"),
    (r"setAttribute\(\s*[\"'](style|on\w+|src|srcdoc)[\"']", "style or script attributes"),
    (r"localStorage|sessionStorage|indexedDB|document\.cookie", "storage of secrets"),
    (r"https?://(?!www\.w3\.org/2000/svg\b)", "absolute URLs (nothing is fetched from outside)"),
    (r"console\.(log|error)", "console output"),
]


@pytest.mark.parametrize("path", OWN_JS, ids=lambda p: p.name)
def test_the_pages_code_builds_no_html_from_strings(path: Path) -> None:
    source = path.read_text()
    for pattern, what in FORBIDDEN_JS:
        found = re.search(pattern, source)
        assert found is None, f"{path.name} uses {what}: {found.group(0)!r}"


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", page) == ['<script type="module" src="app.js">']
    assert re.search(r"<style\b|\sstyle=|\son\w+=|javascript:", page) is None
    assert re.search(r"https?://", page) is None

"""The vendored files are exactly what VENDOR records (sha256), with their licence."""

from __future__ import annotations

import hashlib
import re

from ringleader.dashboard.assets import static_root

VENDOR = static_root() / "vendor"


def entries() -> tuple[dict[str, str], list[dict[str, str]]]:
    fields: dict[str, str] = {}
    files: list[dict[str, str]] = []
    for line in (VENDOR / "VENDOR").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, _, value = line.partition(": ")
        if key == "file":
            path, *attributes = value.split()
            files.append({"path": path, **dict(a.split("=", 1) for a in attributes)})
        else:
            fields[key] = value
    return fields, files


def test_every_vendored_file_matches_its_recorded_hash() -> None:
    fields, files = entries()
    assert fields["name"] == "uPlot" and fields["licence"].startswith("MIT")
    assert files
    for entry in files:
        data = (VENDOR / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


def test_every_file_under_vendor_is_recorded() -> None:
    _, files = entries()
    recorded = {e["path"] for e in files} | {"VENDOR"}
    present = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file()}
    assert present == recorded


def test_the_version_and_licence_match_the_files() -> None:
    fields, _ = entries()
    banner = (VENDOR / "uplot/uPlot.esm.js").read_text()[:400]
    assert re.search(rf"\(v{re.escape(fields['version'])}\)", banner)
    assert fields["version"] in fields["source"]
    licence = (VENDOR / "uplot/LICENSE").read_text()
    assert licence.startswith("The MIT License (MIT)")
    assert "Leon Sorokin" in licence

"""Console start-up: what `ringleader status` costs before it talks to a controller.

    .venv/bin/python bench/console_startup.py [--runs 30] [ARGS...]

Runs `python -X importtime -m ringleader status -e unix:/nonexistent` (or ARGS) `--runs`
times, with PYTHONDONTWRITEBYTECODE removed (so modules come from their .pyc, as installed),
and prints the median and minimum of: wall time of the whole process, the import time of
ringleader (cumulative, as -X importtime reports it) and the number of modules imported.
Also `python -c pass` as the floor. A benchmark, not a test: quote the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

DEFAULT = ["status", "-e", "unix:/nonexistent/ringleader.sock"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one(argv: list[str]) -> tuple[float, float, int]:
    """(wall seconds, ringleader's cumulative import µs, modules imported)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, env=_env(), check=False)
    wall = time.perf_counter() - start
    cumulative = 0.0
    modules = 0
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        if not self_us.strip().isdigit():
            continue  # the header line
        modules += 1
        # top-level entries (the name not indented) of our own package: their cumulative
        # times add up to what Ringleader's modules cost, stdlib imports they make included
        if name.startswith(" ringleader"):
            cumulative += float(cum_us)
    return wall, cumulative, modules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("args", nargs="*", default=DEFAULT)
    opts = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", "src/ringleader"], env=_env(),
                   check=False)
    argv = ["-m", "ringleader", *opts.args]
    rows = []
    for label, cmd in (("python -c pass", ["-c", "pass"]), ("ringleader " + " ".join(opts.args),
                                                            argv)):
        results = [one(cmd) for _ in range(opts.runs)]
        walls = [r[0] * 1000 for r in results]
        imports = [r[1] / 1000 for r in results]
        rows.append((label, statistics.median(walls), min(walls), statistics.median(imports),
                     results[0][2]))
    print(f"{'command':50} {'wall p50':>9} {'wall min':>9} {'rl import p50':>14} {'modules':>8}")
    for label, p50, low, imp, mods in rows:
        print(f"{label:50} {p50:8.1f}ms {low:8.1f}ms {imp:13.1f}ms {mods:8d}")


if __name__ == "__main__":
    main()

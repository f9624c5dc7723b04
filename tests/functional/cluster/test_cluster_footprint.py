"""A controller without [cluster] imports nothing of the cluster (its footprint and start
time stay those of a lone controller); with [cluster] it is a node, before etcd answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ringleader.testing import free_port, terminate, wait_until_sync

# Runs a real Daemon until its watchers are up, prints the cluster modules loaded, quits.
RUN = textwrap.dedent("""
    import asyncio, sys
    from ringleader.config.load import load_config
    from ringleader.daemon import Daemon

    async def main():
        daemon = Daemon(load_config(sys.argv[1]))
        task = asyncio.create_task(daemon.run())
        while not (daemon.arbiter.is_running and daemon.arbiter.watchers[0].pids()):
            await asyncio.sleep(0.01)
        print(" ".join(sorted(m for m in sys.modules if m.startswith("ringleader.cluster"))))
        daemon.quit()
        return await task

    sys.exit(asyncio.run(main()))
""")


def _loaded(tmp_path: Path, cluster: str) -> list[str]:
    config = tmp_path / "ringleader.toml"
    config.write_text(f'[ringleader]\nendpoint = "unix:{tmp_path}/rl.sock"\n'
                      f'[watchers.w]\ncmd = "sleep 60"\n{cluster}')
    proc = subprocess.run([sys.executable, "-c", RUN, str(config)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_a_lone_controller_never_imports_the_cluster(tmp_path: Path) -> None:
    assert _loaded(tmp_path, "") == []


def test_a_node_runs_its_watchers_before_etcd_answers(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path, f'[cluster]\netcd = ["http://127.0.0.1:{free_port()}"]\n'
                               'name = "n1"\n')
    assert "ringleader.cluster.agent" in loaded and "ringleader.cluster_node" in loaded


def test_a_node_without_a_tls_listener_reaches_https_etcd(tmp_path: Path) -> None:
    """`run` keeps ssl out of a lone controller without TLS; a node may need it any time."""
    config = tmp_path / "ringleader.toml"
    config.write_text(f'[ringleader]\nendpoint = "unix:{tmp_path}/rl.sock"\n'
                      f'[watchers.w]\ncmd = "sleep 60"\n[cluster]\n'
                      f'etcd = ["https://127.0.0.1:{free_port()}"]\nname = "n1"\n')
    with open(tmp_path / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ringleader", "run", str(config)],
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_sync(lambda: "cannot reach etcd" in (tmp_path / "log").read_text()
                        or proc.poll() is not None, timeout=20, what="the first etcd call")
        assert proc.poll() is None, (tmp_path / "log").read_text()
    finally:
        terminate(proc)
    assert "Traceback" not in (tmp_path / "log").read_text()

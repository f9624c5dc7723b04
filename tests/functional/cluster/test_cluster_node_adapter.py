"""The daemon's side of the agent's seam (``ringleader.cluster_node``) over a real arbiter
and real processes: adds, scales in place, replaces on a definition change, a stopped
watcher takes its new definition at its next start, removal; what the API shows and
refuses; a reloaded config file leaves cluster watchers alone."""

from __future__ import annotations

import msgspec
import pytest

from ringleader.cluster_node import ClusterNode
from ringleader.config.cluster import settings_from_dict
from ringleader.config.load import config_from_dicts, watcher_from_dict
from ringleader.config.model import WatcherConfig
from ringleader.engine.arbiter import Arbiter
from ringleader.errors import AlreadyExists, ClusterOwned, ConfigError, Conflict
from ringleader.testing import free_port, run_async, wait_until

SETTINGS = settings_from_dict({"etcd": [f"http://127.0.0.1:{free_port()}"], "name": "n1"})


def job(name: str, n: int, **options: object) -> WatcherConfig:
    return watcher_from_dict({"name": name, "cmd": "sleep 60", "numprocesses": n, **options})


def test_the_seam_over_a_real_arbiter() -> None:
    async def main() -> None:
        async with Arbiter([{"name": "local", "cmd": "sleep 60"}], use_guardian=False) as arb:
            node = ClusterNode(arb, SETTINGS)  # never started: etcd is not needed here
            await node.add_owned_watcher("web", job("web", 2))
            web = arb.watcher("web")
            await wait_until(lambda: len(web.pids()) == 2, what="2 processes")
            first = web.pids()
            owned = node.owned_watchers()
            assert list(owned) == ["web"] and owned["web"].job == "web"
            assert owned["web"].config == job("web", 2)  # as asked: no spurious change

            await node.update_owned_watcher(job("web", 3))  # only the count: in place
            await wait_until(lambda: len(web.pids()) == 3, what="3 processes")
            assert set(first) <= set(web.pids())
            second = web.pids()
            await node.update_owned_watcher(job("web", 3, env={"V": "2"}))  # replaced
            assert web.config.env == {"V": "2"} and not set(second) & set(web.pids())
            assert node.owned_watchers()["web"].config == job("web", 3, env={"V": "2"})

            await web.stop()  # an operator stopped it here: it takes the next definition
            await node.update_owned_watcher(job("web", 1, env={"V": "3"}))
            assert not web.is_active and web.config.env == {"V": "3"}
            assert web.numprocesses == 1

            with pytest.raises(AlreadyExists):  # a local watcher of that name
                await node.add_owned_watcher("local", job("local", 1))
            assert node.job_of("local") is None and node.job_of("web") == "web"
            with pytest.raises(ClusterOwned, match="ringleader cluster"):
                node.refuse_local_change("web", "remove")
            node.refuse_local_change("local", "remove")  # local: allowed

            # a reloaded file keeps cluster watchers as they run, and may not take a name
            file = config_from_dicts([{"name": "local", "cmd": "sleep 60"},
                                      {"name": "extra", "cmd": "sleep 60"}])
            plan = await arb.reload_config(node.keep_in_reload(file))
            assert [w.name for w in plan.added] == ["extra"] and plan.removed == ()
            assert arb.watcher("web").config.env == {"V": "3"}
            clash = config_from_dicts([{"name": "web", "cmd": "sleep 60"}])
            with pytest.raises(ConfigError, match="taken by cluster job web"):
                node.keep_in_reload(clash)

            await node.remove_owned_watcher("web")
            assert node.owned_watchers() == {} and "web" not in arb.statuses()
            await node.halt()  # stopping: the agent's further changes are refused
            with pytest.raises(Conflict, match="stopping"):
                await node.add_owned_watcher("web", job("web", 1))
            await node.stop()

    run_async(main(), timeout=60)


def test_status_shape() -> None:
    async def main() -> None:
        async with Arbiter([], use_guardian=False) as arb:
            node = ClusterNode(arb, SETTINGS)
            status = node.status()
            from ringleader.api.schema import ClusterInfo

            info = msgspec.convert(status, ClusterInfo)
            assert info.node == "n1" and not info.connected and info.jobs == {}
            await node.stop()

    run_async(main(), timeout=30)

"""The watch mirror against a real etcd, reached through a proxy the tests cut: resume from
the last revision (nothing lost, nothing twice), a full re-read after compaction, progress
notifications, refresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from etcd_harness import EtcdCluster, TcpProxy, call

from ringleader.cluster.etcd import EtcdClient, Mirror
from ringleader.cluster.etcd.mirror import Change
from ringleader.cluster.etcd.wire import PutRequest, RequestOp
from ringleader.config.cluster import EtcdSettings
from ringleader.testing import run_async, wait_until


def client(endpoint: str) -> EtcdClient:
    return EtcdClient(EtcdSettings(endpoints=[endpoint], discover_members=False, timeout=2.0))


@asynccontextmanager
async def mirrored(etcd: EtcdCluster, prefix: bytes
                   ) -> AsyncIterator[tuple[Mirror, EtcdClient, TcpProxy, list[Change]]]:
    """A mirror of ``prefix`` through a proxy, a direct client, the changes it reported."""
    proxy = TcpProxy(etcd.members[0].client_port)
    await proxy.start()
    seen: list[Change] = []
    async with client(proxy.url) as through, client(etcd.endpoints[0]) as direct:
        mirror = Mirror(through, prefix, prefix[:-1] + b"0", on_change=seen.extend,
                        max_delay=0.5)
        task = asyncio.create_task(mirror.run())
        try:
            yield mirror, direct, proxy, seen
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await proxy.stop()


def values(mirror: Mirror) -> dict[bytes, bytes]:
    return {k: kv.value for k, kv in mirror.items.items()}


async def until(predicate: Callable[[], bool], what: str) -> None:
    await wait_until(predicate, timeout=10, what=what)


def test_resume_after_a_cut_loses_nothing_and_repeats_nothing(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with mirrored(etcd, b"/m1/") as (mirror, direct, proxy, seen):
            await direct.put(b"/m1/a", b"1")
            await until(lambda: mirror.synced and values(mirror) == {b"/m1/a": b"1"},
                        "the first key")
            proxy.block()  # the watch breaks and cannot come back yet
            await until(lambda: not mirror.synced, "the mirror to notice")
            await direct.put(b"/m1/b", b"2")
            await direct.delete(b"/m1/a")
            rev = await direct.put(b"/m1/b", b"3")
            assert values(mirror) == {b"/m1/a": b"1"}  # cut off: unchanged (static)
            proxy.unblock()
            mirror.kick()
            await mirror.wait_revision(rev)
            assert values(mirror) == {b"/m1/b": b"3"}
            assert [(k, kv.value if kv else None) for k, kv in seen] == [
                (b"/m1/a", b"1"), (b"/m1/b", b"2"), (b"/m1/a", None), (b"/m1/b", b"3")]
            proxy.cut()  # a plain cut: back by itself
            await until(lambda: not mirror.synced, "the cut")
            rev = await direct.put(b"/m1/c", b"4")
            await mirror.wait_revision(rev)
            assert mirror.synced and values(mirror)[b"/m1/c"] == b"4"
            assert len(seen) == 5

    run_async(main())


def test_compaction_while_cut_off_means_a_full_read(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with mirrored(etcd, b"/m2/") as (mirror, direct, proxy, seen):
            await direct.put(b"/m2/keep", b"1")
            await direct.put(b"/m2/gone", b"1")
            await until(lambda: len(mirror.items) == 2, "both keys")
            proxy.block()
            await until(lambda: not mirror.synced, "the mirror to notice")
            await direct.delete(b"/m2/gone")
            await direct.put(b"/m2/new", b"2")
            rev = await direct.put(b"/m2/new", b"3")
            call(etcd.members[0], "/v3/kv/compaction", {"revision": rev})
            del seen[:]
            proxy.unblock()
            mirror.kick()
            await mirror.wait_revision(rev)
            assert values(mirror) == {b"/m2/keep": b"1", b"/m2/new": b"3"}
            # the consumer sees the difference, as if it had watched every event
            assert sorted((k, kv.value if kv else None) for k, kv in seen) == [
                (b"/m2/gone", None), (b"/m2/new", b"3")]

    run_async(main())


def test_progress_notifications_move_the_revision_on(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with mirrored(etcd, b"/m3/") as (mirror, direct, _, seen):
            await mirror.wait_revision(1)
            elsewhere = await direct.put(b"/other/key", b"x")  # not in the mirror's range
            # etcd here notifies progress every second: the quiet mirror catches up
            await asyncio.wait_for(mirror.wait_revision(elsewhere), 20)
            assert seen == []

    run_async(main())


def test_the_events_of_one_transaction_all_count(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with mirrored(etcd, b"/m5/") as (mirror, direct, _, seen):
            await mirror.wait_revision(1)
            puts = [RequestOp(request_put=PutRequest(key=f"/m5/{i}".encode(), value=b"v"))
                    for i in range(3)]
            response = await direct.txn([], puts)  # three events, one revision
            await mirror.wait_revision(response.header.revision)
            assert sorted(mirror.items) == [b"/m5/0", b"/m5/1", b"/m5/2"]
            assert len(seen) == 3

    run_async(main())


def test_refresh_brings_the_copy_up_to_date_at_once(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with mirrored(etcd, b"/m4/") as (mirror, direct, proxy, _):
            await mirror.wait_revision(1)
            proxy.block()
            await until(lambda: not mirror.synced, "the mirror to notice")
            rev = await direct.put(b"/m4/a", b"1")
            proxy.unblock()
            await mirror.refresh()  # without waiting for the watch to come back
            assert mirror.revision >= rev and values(mirror) == {b"/m4/a": b"1"}
            await mirror.refresh()  # idempotent
            assert values(mirror) == {b"/m4/a": b"1"}

    run_async(main())

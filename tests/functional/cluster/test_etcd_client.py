"""The etcd client against a real etcd: every call, errors, failover, TLS, auth."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest
from etcd_harness import AUTH_PREFIX, EtcdCluster, Tls, b64, call

from ringleader.cluster.etcd import (
    EtcdAuthError,
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdLeaseNotFound,
    EtcdTimeout,
    EtcdUnreachable,
)
from ringleader.cluster.etcd.wire import Compare, PutRequest, RangeRequest, RequestOp
from ringleader.config.cluster import EtcdSettings
from ringleader.testing import free_port, run_async, wait_until


def client(endpoints: list[str], **kw: object) -> EtcdClient:
    return EtcdClient(EtcdSettings(endpoints=endpoints, discover_members=False,
                                   **kw))  # type: ignore[arg-type]


def test_kv_calls_and_transactions(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd.endpoints) as c:
            rev = await c.put(b"/t1/a", b"1")
            kv = await c.get(b"/t1/a")
            assert kv is not None and kv.value == b"1" and kv.mod_revision == rev
            assert await c.get(b"/t1/none") is None
            for i in range(5):
                await c.put(f"/t1/p/{i}".encode(), str(i).encode())
            kvs, revision = await c.range_all(b"/t1/p/", b"/t1/p0", page=2)
            assert [kv.value for kv in kvs] == [b"0", b"1", b"2", b"3", b"4"]
            assert revision >= rev + 5
            old = await c.range(b"/t1/a", revision=rev)  # historical read
            assert old.kvs[0].value == b"1"
            # txn: create only where absent; the failure branch reads the holder
            create = [Compare(key=b"/t1/c", target="CREATE", create_revision=0)]
            put = [RequestOp(request_put=PutRequest(key=b"/t1/c", value=b"x"))]
            read = [RequestOp(request_range=RangeRequest(key=b"/t1/c"))]
            first = await c.txn(create, put, read)
            second = await c.txn(create, put, read)
            assert first.succeeded and not second.succeeded
            holder = second.responses[0].response_range
            assert holder is not None and holder.kvs[0].value == b"x"
            by_value = await c.txn([Compare(key=b"/t1/c", target="VALUE", value=b"x")], put)
            by_mod = await c.txn([Compare(key=b"/t1/c", target="MOD", mod_revision=1)], put)
            assert by_value.succeeded and not by_mod.succeeded
            assert await c.delete(b"/t1/p/", b"/t1/p0") == 5
            assert await c.delete(b"/t1/none") == 0
            members = await c.member_list()
            assert [m.client_urls for m in members] == [etcd.endpoints]

    run_async(main())


def test_leases_expire_keepalive_and_revoke(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd.endpoints) as c:
            lease = await c.lease_grant(2)
            await c.put(b"/t2/on-lease", b"1", lease=lease)
            assert await c.lease_keepalive(lease) == 2
            await c.lease_revoke(lease)
            assert await c.get(b"/t2/on-lease") is None
            assert await c.lease_keepalive(lease) == 0  # gone
            with pytest.raises(EtcdLeaseNotFound):
                await c.put(b"/t2/x", b"1", lease=lease)
            short = await c.lease_grant(2)
            await c.put(b"/t2/expires", b"1", lease=short)

            async def gone() -> bool:
                return await c.get(b"/t2/expires") is None

            deadline = time.monotonic() + 10
            while not await gone():  # no keepalive: etcd deletes the key after the ttl
                assert time.monotonic() < deadline, "lease never expired"
                await asyncio.sleep(0.1)
            assert await c.lease_keepalive(short) == 0

    run_async(main())


def test_compacted_revision_is_reported(etcd: EtcdCluster) -> None:
    async def main() -> None:
        async with client(etcd.endpoints) as c:
            first = await c.put(b"/t3/k", b"1")
            last = await c.put(b"/t3/k", b"2")
            call(etcd.members[0], "/v3/kv/compaction", {"revision": last})
            with pytest.raises(EtcdCompacted):
                await c.range(b"/t3/k", revision=first)
            watch = c.watch(b"/t3/k", start_revision=first)
            with pytest.raises(EtcdCompacted) as info:
                async for _ in watch:
                    pass
            assert info.value.compact_revision == last

    run_async(main())


def test_unreachable_and_timeout_are_one_clear_line(tmp_path: Path) -> None:
    silent = socket.socket()  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    dead = f"http://127.0.0.1:{free_port()}"

    async def main() -> None:
        async with client([dead]) as c:
            with pytest.raises(EtcdUnreachable) as unreachable:
                await c.get(b"/x")
        assert "cannot reach etcd" in str(unreachable.value)
        assert "\n" not in str(unreachable.value)
        async with client([f"http://127.0.0.1:{silent.getsockname()[1]}"],
                          timeout=0.5) as c:
            started = time.monotonic()
            with pytest.raises(EtcdTimeout) as timeout:
                await c.get(b"/x")
            assert time.monotonic() - started < 5  # bounded by the call's timeout
            with pytest.raises(EtcdTimeout, match="may or may not"):
                await c.txn([], [])
        assert "no answer within 0.5 s" in str(timeout.value)

    try:
        run_async(main())
    finally:
        silent.close()


def test_failover_to_the_next_endpoint(etcd: EtcdCluster) -> None:
    dead = f"http://127.0.0.1:{free_port()}"

    async def main() -> None:
        async with client([dead, *etcd.endpoints]) as c:
            await c.put(b"/t5/a", b"1")
            kv = await c.get(b"/t5/a")  # starts with the endpoint that answered last
            assert kv is not None and kv.value == b"1"

    run_async(main())


def test_three_members_survive_the_loss_of_the_one_in_use(etcd3: EtcdCluster) -> None:
    first = etcd3.members[0]

    async def main() -> None:
        # only the first member is configured: the others are learnt from the member list
        settings = EtcdSettings(endpoints=[first.client_url], timeout=5.0)
        async with EtcdClient(settings) as c:
            deadline = time.monotonic() + 10
            while True:  # a member's client URLs appear once it has published them
                await c.sync_members()
                if sorted(c.endpoints) == sorted(etcd3.endpoints):
                    break
                assert time.monotonic() < deadline, c.endpoints
                await asyncio.sleep(0.05)
            await c.put(b"/t6/a", b"1")
            first.kill()
            for i in range(5):  # every call still succeeds, through the others
                await c.put(b"/t6/a", str(i).encode())
            kv = await c.get(b"/t6/a")
            assert kv is not None and kv.value == b"4"
            etcd3.leader().kill()  # two of three gone: no quorum, calls fail in time
            started = time.monotonic()
            with pytest.raises((EtcdUnreachable, EtcdTimeout)):
                await c.put(b"/t6/a", b"x", timeout=2.0)
            assert time.monotonic() - started < 4

    run_async(main())


def test_tls_with_client_certificates(etcd_tls: EtcdCluster, pki: Tls) -> None:
    async def main() -> None:
        async with client(etcd_tls.endpoints, ca_file=pki.ca, cert_file=pki.client_cert,
                          key_file=pki.client_key) as c:
            await c.put(b"/t7/a", b"1")
            kv = await c.get(b"/t7/a")
            assert kv is not None and kv.value == b"1"
            watch = c.watch(b"/t7/a", start_revision=kv.mod_revision)
            first = await anext(watch)
            assert first.created
            await watch.aclose()
        async with client(etcd_tls.endpoints, ca_file=pki.ca) as c:  # no client certificate
            with pytest.raises(EtcdAuthError, match="TLS"):
                await c.get(b"/t7/a")

    run_async(main())


def test_tls_files_are_checked(tmp_path: Path, pki: Tls) -> None:
    link = tmp_path / "ca-link.pem"
    link.symlink_to(pki.ca)
    loose = tmp_path / "loose.key"
    loose.write_bytes(Path(pki.client_key).read_bytes())
    loose.chmod(0o644)
    endpoints = ["https://127.0.0.1:1"]
    with pytest.raises(EtcdAuthError, match="symbolic link"):
        client(endpoints, ca_file=str(link))
    with pytest.raises(EtcdAuthError, match="every user read"):
        client(endpoints, ca_file=pki.ca, cert_file=pki.client_cert, key_file=str(loose))
    with pytest.raises(EtcdAuthError, match="no such file"):
        client(endpoints, ca_file=str(tmp_path / "missing.pem"))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(EtcdAuthError, match="not a regular file"):
        client(endpoints, ca_file=str(tmp_path / "fifo"))


def test_auth_password_permissions_and_token_renewal(etcd_auth: EtcdCluster) -> None:
    endpoints = etcd_auth.endpoints

    async def main() -> None:
        async with client(endpoints) as c:
            with pytest.raises(EtcdAuthError, match="configure a user and password"):
                await c.get(b"/ringleader/x")
        async with client(endpoints, user="agent", password="wrong") as c:
            with pytest.raises(EtcdAuthError, match="authentication failed"):
                await c.get(b"/ringleader/x")
        async with client(endpoints, user="agent", password="agentpw") as c:
            await c.put(AUTH_PREFIX.encode() + b"a", b"1")
            with pytest.raises(EtcdAuthError, match="permission denied"):
                await c.put(b"/elsewhere", b"1")
            # simple tokens expire after --auth-token-ttl (2 s) unused, each use renewing
            # it: a token fetched now expires after the client's own, so once etcd refuses
            # it (probed slowly), the client's is stale too and the call must renew it
            member = etcd_auth.members[0]
            probe = {"key": b64(AUTH_PREFIX + "a")}
            token = str(call(member, "/v3/auth/authenticate",
                             {"name": "agent", "password": "agentpw"})["token"])
            await wait_until(lambda: "invalid auth token" in str(
                call(member, "/v3/kv/range", probe, token)), timeout=20, interval=2.5,
                what="the token to expire")
            kv = await c.get(AUTH_PREFIX.encode() + b"a")
            assert kv is not None and kv.value == b"1"
            with pytest.raises(EtcdAuthError, match="permission denied"):
                async for _ in c.watch(b"/elsewhere", start_revision=1):
                    pass

    run_async(main())


def test_errors_name_the_endpoint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected http"):
        EtcdSettings(endpoints=["ftp://x:1"])
    port = free_port()

    async def main() -> None:
        async with client([f"http://127.0.0.1:{port}"], timeout=0.3) as c:
            with pytest.raises(EtcdError) as info:
                await c.lease_grant(5)
        assert f"127.0.0.1:{port}" in str(info.value)

    run_async(main())

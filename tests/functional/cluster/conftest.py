"""Fixtures starting real etcd: one member (shared by a module), TLS, auth, three members."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_harness import AUTH_PREFIX, ETCD, EtcdCluster, Tls, make_tls


def _started(root: Path, size: int = 1, **kwargs: object) -> EtcdCluster:
    if not os.access(ETCD, os.X_OK):
        pytest.fail(f"{ETCD} not found: these tests need etcd (Debian: apt-get install "
                    "etcd-server)")
    for attempt in range(3):  # a free port can be taken between finding and binding it
        cluster = EtcdCluster(root / f"try{attempt}", size, **kwargs)  # type: ignore[arg-type]
        (root / f"try{attempt}").mkdir()
        try:
            cluster.start()
            return cluster
        except (RuntimeError, TimeoutError):
            cluster.stop()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One member for a whole module; tests keep to their own key prefix."""
    cluster = _started(tmp_path_factory.mktemp("etcd"))
    yield cluster
    cluster.stop()


@pytest.fixture
def etcd_own(tmp_path: Path) -> Iterator[EtcdCluster]:
    """One member for one test (which may kill and restart it)."""
    cluster = _started(tmp_path)
    yield cluster
    cluster.stop()


@pytest.fixture
def etcd3(tmp_path: Path) -> Iterator[EtcdCluster]:
    """Three members for one test."""
    cluster = _started(tmp_path, 3)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def etcd_tls(tmp_path_factory: pytest.TempPathFactory, pki: Tls) -> Iterator[EtcdCluster]:
    """One member serving https only, requiring client certificates."""
    cluster = _started(tmp_path_factory.mktemp("etcd-tls"), tls=pki)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def etcd_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One member with auth on: root, and user "agent" (password "agentpw") allowed only
    under /ringleader/. Simple tokens expire after 2 s idle, to test their renewal."""
    cluster = _started(tmp_path_factory.mktemp("etcd-auth"), extra=["--auth-token-ttl", "2"])
    cluster.enable_auth("agent", "agentpw", AUTH_PREFIX)
    yield cluster
    cluster.stop()

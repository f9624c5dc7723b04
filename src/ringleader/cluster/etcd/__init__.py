"""An asyncio etcd v3 client over the JSON gateway (h11), with a self-resuming mirror."""

from ringleader.cluster.etcd.client import EtcdClient
from ringleader.cluster.etcd.errors import (
    EtcdAuthError,
    EtcdCompacted,
    EtcdError,
    EtcdLeaseNotFound,
    EtcdTimeout,
    EtcdUnavailable,
    EtcdUnreachable,
)
from ringleader.cluster.etcd.mirror import Mirror
from ringleader.cluster.etcd.wire import KeyValue

__all__ = ["EtcdAuthError", "EtcdClient", "EtcdCompacted", "EtcdError", "EtcdLeaseNotFound",
           "EtcdTimeout", "EtcdUnavailable", "EtcdUnreachable", "KeyValue", "Mirror"]

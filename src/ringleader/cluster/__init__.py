"""Many hosts: Ringleader agents coordinated through etcd.

Imported only by a controller with a ``[cluster]`` table and by ``ringleader cluster``
commands: a single-host controller never pays for it.

- ``Cluster`` (with ``EtcdSettings`` and ``NodeCredentials``): the whole cluster from
  Python, async: what ``ringleader cluster ...`` does (``apply``, ``scale``, ``remove``,
  ``drain``/``undrain`` in etcd; ``status``, ``restart``, ``signal``, rolling ``reload``,
  ``logs``, ``follow_logs``, ``events`` through the nodes' TLS APIs);
- ``Agent`` (with ``ClusterSettings`` and a ``ClusterArbiter``): runs inside a controller;
- ``ClusterStore``: reads and writes of desired state, one transaction each;
- ``load_jobs_file`` / ``jobs_from_toml``, ``diff_jobs`` / ``format_diff``: jobs files;
- ``place``: the pure placement, also to explain why a job is pending;
- ``EtcdClient`` and its errors, for anything else.

The keys are laid out in ``ringleader.cluster.keys``.
"""

from ringleader.cluster.agent import Agent, AgentStatus, JobState
from ringleader.cluster.arbiter_port import ClusterArbiter, OwnedWatcher
from ringleader.cluster.control import Cluster, FanOut, Rollout, StreamItem
from ringleader.cluster.etcd import (
    EtcdAuthError,
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdTimeout,
    EtcdUnavailable,
    EtcdUnreachable,
)
from ringleader.cluster.jobs import Job, job_from_dict
from ringleader.cluster.jobs_file import diff_jobs, format_diff, jobs_from_toml, load_jobs_file
from ringleader.cluster.keys import Keys
from ringleader.cluster.node_api import NodeCredentials, NodeError
from ringleader.cluster.overview import JobCell, JobView, NodeView, Overview
from ringleader.cluster.placement import NodeInfo, Placement, place
from ringleader.cluster.snapshot import ClusterSnapshot
from ringleader.cluster.store import ClusterStore
from ringleader.config.cluster import ClusterSettings, EtcdSettings, settings_from_dict

__all__ = ["Agent", "AgentStatus", "Cluster", "ClusterArbiter", "ClusterSettings",
           "ClusterSnapshot", "ClusterStore", "EtcdAuthError", "EtcdClient", "EtcdCompacted",
           "EtcdError", "EtcdSettings", "EtcdTimeout", "EtcdUnavailable", "EtcdUnreachable",
           "FanOut", "Job", "JobCell", "JobState", "JobView", "Keys", "NodeCredentials",
           "NodeError", "NodeInfo", "NodeView", "Overview", "OwnedWatcher", "Placement",
           "Rollout", "StreamItem", "diff_jobs", "format_diff", "job_from_dict",
           "jobs_from_toml", "load_jobs_file", "place", "settings_from_dict"]

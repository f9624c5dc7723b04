"""Many hosts: Ringleader agents coordinated through etcd.

Imported only by a controller with a ``[cluster]`` table and by ``ringleader cluster``
commands: a single-host controller never pays for it. The names phase 2 (daemon, console,
library) uses:

- ``Agent`` (with ``ClusterSettings`` and a ``ClusterArbiter``): runs inside a controller;
- ``ClusterStore``: the console's and the library's reads and writes of desired state;
- ``load_jobs_file`` / ``jobs_from_toml``, ``diff_jobs`` / ``format_diff``: ``apply``;
- ``place``: the pure placement, also to explain why a job is pending;
- ``EtcdClient`` and its errors, for anything else.

The keys are laid out in ``ringleader.cluster.keys``.
"""

from ringleader.cluster.agent import Agent, AgentStatus, JobState
from ringleader.cluster.arbiter_port import ClusterArbiter, OwnedWatcher
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
from ringleader.cluster.placement import NodeInfo, Placement, place
from ringleader.cluster.snapshot import ClusterSnapshot
from ringleader.cluster.store import ClusterStore
from ringleader.config.cluster import ClusterSettings, EtcdSettings, settings_from_dict

__all__ = ["Agent", "AgentStatus", "ClusterArbiter", "ClusterSettings", "ClusterSnapshot",
           "ClusterStore", "EtcdAuthError", "EtcdClient", "EtcdCompacted", "EtcdError",
           "EtcdSettings", "EtcdTimeout", "EtcdUnavailable", "EtcdUnreachable", "Job",
           "JobState", "Keys", "NodeInfo", "OwnedWatcher", "Placement", "diff_jobs",
           "format_diff", "job_from_dict", "jobs_from_toml", "load_jobs_file", "place",
           "settings_from_dict"]

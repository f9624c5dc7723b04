"""What the control API asks of a cluster node (the daemon's ``cluster_node``, with a
``[cluster]`` table): a Protocol, so that the API never imports the cluster."""

from __future__ import annotations

from typing import Any, Protocol


class ClusterView(Protocol):
    """This controller as a cluster node (the daemon's, with a [cluster] table)."""

    def job_of(self, watcher: str) -> str | None:
        """The cluster job owning ``watcher``, or None for a local watcher."""
        ...

    def refuse_local_change(self, watcher: str, verb: str) -> None:
        """Raise ClusterOwned when a cluster job owns ``watcher``."""
        ...

    def status(self) -> dict[str, Any]:
        """Shaped as the API's ClusterInfo."""
        ...

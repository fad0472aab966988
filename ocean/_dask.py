"""The Dask cluster of an ensemble: local worker processes on loopback, one torch thread each.

The batched model runs many small tensor operations per step, so the batch is the parallelism
and each worker runs torch with one thread. Torch's thread count belongs to the whole process:
each worker process sets it once, when it starts (:class:`TorchThreads`), and no task changes
it. The local cluster listens on 127.0.0.1 only and serves its dashboard only when asked.
"""

from __future__ import annotations

import sys
from typing import Any

from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from ecocube.cube._cluster import DASHBOARD_ADDRESS, local_cluster
from ecocube.errors import ConfigurationError, InvalidInputError

__all__ = ["DASHBOARD_ADDRESS", "TorchThreads", "connect"]


class TorchThreads(WorkerPlugin):
    """Set torch's thread count of a worker process once, when the worker starts.

    Parameters
    ----------
    threads
        Torch intra-op threads of each worker (>= 1).
    """

    idempotent = True
    name = "ecocube-torch-threads"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def setup(self, worker: Any) -> None:
        """Called by each worker when the plugin is registered or the worker starts."""
        import torch

        torch.set_num_threads(self.threads)


def connect(
    scheduler: str | None, *, n_workers: int, timeout: float, dashboard: bool = False
) -> tuple[Client, LocalCluster | None]:
    """A client of the running ``scheduler``, or of a new local cluster of worker processes.

    Every worker runs torch with one thread (:class:`TorchThreads`). The local cluster has
    ``n_workers`` single-threaded worker processes; it binds every server (scheduler,
    workers, nannies) to 127.0.0.1, and serves the dashboard, on
    :data:`DASHBOARD_ADDRESS`, only with ``dashboard`` (its address is then printed to
    standard error).

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``"tcp://host:8786"``), or ``None`` for a local
        cluster.
    n_workers
        Worker processes of the local cluster.
    timeout
        Seconds to wait for ``scheduler`` to answer.
    dashboard
        Serve the local cluster's dashboard.

    Returns
    -------
    client, cluster
        The client and the local cluster (``None`` with ``scheduler``); close both.

    Raises
    ------
    InvalidInputError
        ``scheduler`` cannot be reached.
    ConfigurationError
        The local cluster's worker processes do not start (e.g. a script calls this at import
        time, without a ``__main__`` guard).
    """
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except OSError as err:
            raise InvalidInputError(
                f"scheduler={scheduler!r} could not be reached ({err}); start a scheduler "
                "there or leave --scheduler out to use a local cluster"
            ) from err
    else:
        try:
            # without the dashboard the scheduler still serves health routes: on a free port
            cluster = local_cluster(n_workers, processes=True, dashboard=dashboard)
        except RuntimeError as err:
            raise ConfigurationError(
                f"the local Dask cluster's worker processes did not start ({err}); each worker "
                "process imports the calling script: put the call under "
                '`if __name__ == "__main__":`, or pass the address of a running scheduler'
            ) from err
        client = Client(cluster)
        if dashboard:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
    try:
        client.register_plugin(TorchThreads(1))
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return client, cluster

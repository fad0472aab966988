"""Local Dask clusters that listen on the loopback interface only."""

from __future__ import annotations

from typing import Any

__all__ = ["DASHBOARD_ADDRESS", "local_cluster"]

#: Where a local cluster serves its dashboard when asked (another free port if taken).
DASHBOARD_ADDRESS = "127.0.0.1:8787"


def local_cluster(n_workers: int, *, processes: bool, dashboard: bool = False) -> Any:
    """A dask ``LocalCluster`` of single-threaded workers bound to 127.0.0.1.

    distributed starts an HTTP server on the scheduler and on every worker even without a
    dashboard (health and metrics routes), on all interfaces by default; here every server
    (scheduler, workers, nannies) binds to the loopback interface, and the scheduler serves the
    dashboard, on :data:`DASHBOARD_ADDRESS`, only when ``dashboard`` is true.

    Parameters
    ----------
    n_workers
        Number of workers (>= 1), each with one thread.
    processes
        Workers in their own processes (for GIL-bound work such as many small torch
        operations) or threads of this process (for I/O and numpy/dask work).
    dashboard
        Serve the dashboard.

    Returns
    -------
    distributed.LocalCluster
        The running cluster; close it when done.
    """
    from distributed import LocalCluster

    # worker threads talk to the scheduler in-process; only worker processes need a host
    where = {"host": "127.0.0.1"} if processes else {}
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=processes,
        **where,
        dashboard_address=DASHBOARD_ADDRESS if dashboard else "127.0.0.1:0",
        worker_dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": dashboard},
    )

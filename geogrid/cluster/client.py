"""Which ``dask.distributed`` cluster runs the work: a local one, or a scheduler's address."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from geogrid.errors import InvalidInputError

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["INSTALL_HINT", "client_for", "parse_scheduler"]

INSTALL_HINT = (
    "the cluster needs dask.distributed and dask-geopandas: pip install 'geogrid[cluster]'"
)
_LOCAL = re.compile(r"^local(?::(\d+))?$")


def parse_scheduler(scheduler: str | None) -> int | str:
    """The number of local workers (``local`` / ``local:N``), or a scheduler address.

    ``None`` and ``local`` mean one worker per core.

    Examples
    --------
    >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
    (2, 'tcp://10.0.0.5:8786')
    >>> parse_scheduler("local:0")
    Traceback (most recent call last):
    ...
    geogrid.errors.InvalidInputError: --scheduler local:0: give at least one worker, e.g. local:2
    """
    text = (scheduler or "local").strip()
    found = _LOCAL.match(text.lower())
    if found is None:
        if "://" not in text and ":" not in text:
            raise InvalidInputError(
                f"--scheduler {text!r}: write local, local:N (N worker processes here) or a "
                "scheduler address such as tcp://10.0.0.5:8786"
            )
        return text
    if found.group(1) is None:
        import os

        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    workers = int(found.group(1))
    if workers < 1:
        raise InvalidInputError(f"--scheduler {text}: give at least one worker, e.g. local:2")
    return workers


def client_for(scheduler: str | None = None, **options: Any) -> Client:
    """A ``distributed.Client`` for ``scheduler``.

    Parameters
    ----------
    scheduler
        ``"local"`` (one worker per core), ``"local:N"`` (a ``LocalCluster`` of N worker
        processes, one thread each) or the address of a running scheduler
        (``tcp://host:8786``). ``None``: ``"local"``.
    options
        Passed to ``LocalCluster`` (e.g. ``memory_limit``); ignored for an address.

    Returns
    -------
    distributed.Client
        Close it when done (``with client_for(...) as client:``); a local cluster made here
        is closed with it.
    """
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - the cluster extra is missing
        raise InvalidInputError(INSTALL_HINT) from exc
    target = parse_scheduler(scheduler)
    if isinstance(target, str):
        return Client(target)
    settings = {
        "processes": True,
        "threads_per_worker": 1,
        "dashboard_address": ":0",
    }  # any free port
    # a LocalCluster the client makes is closed with it (client.cluster reaches its workers)
    return Client(n_workers=target, **(settings | options))

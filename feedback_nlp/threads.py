"""How many threads the encoder, BLAS and the tokenizers use, set once per process (``FEEDBACK_NLP_THREADS``).

On a small machine shared with other CPU-bound work, pools sized for every core and spinning while they wait
fight the neighbours for the cores: a 30 ms request became 400 ms (issue 20). So the process sizes its pools
to the cores it may run on (``os.sched_getaffinity``, which follows taskset and cgroup cpusets, unlike
``os.cpu_count``), or to ``FEEDBACK_NLP_THREADS``; OpenMP threads sleep instead of spinning when idle
(``OMP_WAIT_POLICY=PASSIVE``); torch runs one inter-op thread (the encoder is one chain of operators); the
tokenizers do not start a pool of their own (our batches are small, and the pool forks badly).

The environment variables only take effect before torch, numpy's BLAS or the tokenizers are loaded, so
:func:`apply` is called first thing by the command line and the service, and again (idempotently) by the
encoder just before it imports torch. A value already in the environment is kept: an operator's
``OMP_NUM_THREADS`` wins over the default.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

logger = logging.getLogger(__name__)

_applied: int | None = None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def thread_count(configured: int | None = None) -> int:
    """``configured`` when given, else ``FEEDBACK_NLP_THREADS``, else ``OMP_NUM_THREADS`` (an operator's, or
    a Dask nanny's 1 for its single-threaded workers), else the usable cores."""
    if configured is not None:
        return max(1, configured)
    for name in ("FEEDBACK_NLP_THREADS", "OMP_NUM_THREADS"):
        raw = os.environ.get(name, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return usable_cores()


def apply(threads: int | None = None) -> int:
    """Size this process's thread pools to ``threads`` (see :func:`thread_count`); returns the count used.

    Sets the OpenMP, BLAS and tokenizers environment (where not already set) and, when torch is loaded,
    its intra-op and inter-op threads. Safe to call more than once; a later call with another count resizes
    torch's intra-op pool (the inter-op pool can only be sized before torch first runs work).
    """
    global _applied
    count = thread_count(threads)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(count))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if "torch" in sys.modules:
        _size_torch(count)
    _applied = count
    return count


def _size_torch(count: int) -> None:
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # torch has already run parallel work: its inter-op pool is fixed
            logger.debug("torch inter-op pool already started; %d threads", torch.get_num_interop_threads())


def applied() -> int | None:
    """The count the last :func:`apply` used (None before any)."""
    return _applied


def single_threaded_blas() -> Any:
    """Limit every BLAS library loaded so far (numpy's and scipy's OpenBLAS) to one thread, process-wide.

    For the service: its matrix products (the router, the nearest units, spaCy's layers in preparation and
    in the store's alignment parse) are small, and OpenBLAS threads busy-wait after each one; with two BLAS
    threads a one-item store write cost about three times the CPU of one (benchmarks/README.md, issue 20).
    ``model.score`` limits BLAS only while it runs, and only in its thread's view: the store writes ran
    beside it with the default. The encoder's own pool (torch's OpenMP) is not touched.

    Returns:
        the limiter: ``.restore_original_limits()`` undoes it.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")

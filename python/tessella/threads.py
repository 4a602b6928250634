"""One thread setting for torch, BLAS and OpenMP (faiss), applied once per process.

The engine applies it when it starts work (:func:`tessella.runner.task_for`), not
at import. The count is the environment variable ``TESSELLA_THREADS`` when set
(tests and benchmarks pin it; two processes sharing 2 cores run up to 8x faster
with 1 thread each), else the cores this process may use.
"""

from __future__ import annotations

import logging
import os

import torch
from threadpoolctl import threadpool_limits

from tessella.errors import InputError

logger = logging.getLogger(__name__)

#: The environment variable that sets the thread count.
ENV_VAR = "TESSELLA_THREADS"

_applied: int | None = None


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_count() -> int:
    """``TESSELLA_THREADS`` when set (a positive integer), else :func:`available_cores`."""
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return available_cores()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"{ENV_VAR} must be a positive integer, not {text!r}.")
    return count


def set_threads(count: int | None = None) -> int:
    """Set torch's intra-op threads and the BLAS/OpenMP thread pools (threadpoolctl)
    to ``count`` (default :func:`thread_count`); returns the count."""
    global _applied
    count = thread_count() if count is None else int(count)
    if count < 1:
        raise InputError(f"threads must be a positive integer, not {count}.")
    torch.set_num_threads(count)
    threadpool_limits(count)
    _applied = count
    logger.debug("threads: %d for torch and BLAS", count)
    return count


def apply_threads() -> int:
    """:func:`set_threads` the first time the engine starts work in this process;
    later calls keep what was set (returns the count in force)."""
    return _applied if _applied is not None else set_threads()

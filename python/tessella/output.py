"""Where a result's values live, and how a result is written out of core.

A memory budget decides where large output arrays live: :func:`allocate`
returns a plain array when the array fits in the budget, else an ``np.memmap``
(:class:`SpilledArray`: the pages it writes leave the process's resident memory
at once, kept by the file and the system's page cache) on a temporary file
(next to the result file when ``out=`` is given, in the
system's temporary folder otherwise). The budget is a share
(:data:`BUDGET_SHARE`) of the memory available when the array is made; the
environment variable ``TESSELLA_MEMORY_BUDGET`` sets it instead, in bytes or
with a unit (``"8GB"``, ``"500MB"``).

:func:`write_h5ad` writes a result to ``.h5ad`` block by block of cells: obs,
var, obsm and uns with anndata's writer, ``X`` filled a block of rows at a time,
so the values are never copied whole (from a memmap they are never held whole).

What was decided goes to the log (``logging.info``) and, inside
:func:`output_scope` (which the public functions open), to the scope's notes,
which end in ``uns["tessella"]["notes"]`` when values left memory.
"""

from __future__ import annotations

import contextvars
import logging
import mmap
import os
import re
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anndata as ad
import h5py
import numpy as np

from tessella.errors import InputError

logger = logging.getLogger(__name__)

ENV_VAR = "TESSELLA_MEMORY_BUDGET"
#: Share of the available memory one output array may take before it goes to disk.
BUDGET_SHARE = 0.25
#: With ``out=`` the result goes to disk anyway: an output array above this many
#: bytes is memory-mapped next to the file (unless ``TESSELLA_MEMORY_BUDGET`` is set).
OUT_OF_CORE_BYTES = 256 * 2**20
#: Bytes of ``X`` written per block by :func:`write_h5ad`.
BLOCK_BYTES = 64 * 2**20
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30,
          "GB": 2**30, "T": 2**40, "TB": 2**40}


@dataclass
class OutputScope:
    """What one public call decided about its outputs.

    Attributes
    ----------
    directory
        Folder of the temporary files of memory-mapped arrays (None: the system's).
    notes
        Lines for ``uns["tessella"]["notes"]``.
    storage
        ``"memory"``, or ``"memory-mapped"`` once an output array went to disk.
    """

    directory: Path | None = None
    notes: list[str] = field(default_factory=list)
    storage: str = "memory"

    def note(self, text: str) -> None:
        """Add a line to the notes, once."""
        if text not in self.notes:
            self.notes.append(text)


_SCOPE: contextvars.ContextVar[OutputScope | None] = contextvars.ContextVar(
    "tessella_output_scope", default=None)


@contextmanager
def output_scope(out: str | Path | None = None) -> Iterator[OutputScope]:
    """Collect, within the block, what :func:`allocate` decided and the notes
    :func:`note` makes; memory-mapped arrays go next to ``out`` when it is given."""
    scope = OutputScope(directory=None if out is None else Path(out).absolute().parent)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def note(text: str) -> None:
    """A line for the result's notes, when a public call is collecting them."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.note(text)


def parse_bytes(text: str) -> int:
    """``"1000"``, ``"2.5GB"``, ``"512 MB"``, ``"1g"`` as a number of bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).upper() if match else ""
    if match is None or unit not in _UNITS:
        raise InputError(f"{ENV_VAR} must be a number of bytes, optionally with a unit "
                         f"(KB, MB, GB, TB), e.g. 8GB; got {text!r}.")
    return int(float(match.group(1)) * _UNITS[unit])


def available_memory() -> int:
    """Bytes of memory available now (psutil when installed, else the system's count)."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:  # Linux: MemAvailable counts reclaimable caches, unlike free pages
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30  # no way to ask: assume a small machine


def memory_budget(writing_out: bool = False) -> int:
    """Bytes an output array may take in memory: ``TESSELLA_MEMORY_BUDGET`` when set,
    else :data:`BUDGET_SHARE` of the available memory, at most
    :data:`OUT_OF_CORE_BYTES` when ``writing_out`` (the result goes to a file anyway)."""
    text = os.environ.get(ENV_VAR, "").strip()
    if text:
        return parse_bytes(text)
    share = int(available_memory() * BUDGET_SHARE)
    return min(share, OUT_OF_CORE_BYTES) if writing_out else share


def gigabytes(n_bytes: float) -> str:
    """A size for people: ``"1.25 GB"``, ``"3.4 MB"``, ``"200 B"``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{int(n_bytes)} B"


def allocate(shape: tuple[int, ...], dtype: np.dtype | type = np.float32,
             fill: float | None = None, what: str = "output values") -> np.ndarray:
    """An array of ``shape``: in memory when it fits the budget
    (:func:`memory_budget`; within an :func:`output_scope` writing to ``out``, at
    most :data:`OUT_OF_CORE_BYTES` unless the budget is set), else memory-mapped
    on a temporary file.

    The file lies next to the result file of the current :func:`output_scope`
    (else in the system's temporary folder) and is removed at once (POSIX: the
    mapping keeps it until the array is freed) or when the array is freed.
    ``fill`` sets every value (block by block for a memory-mapped array).
    """
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    n_bytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    scope = _SCOPE.get()
    budget = memory_budget(writing_out=scope is not None and scope.directory is not None)
    size = f"{' x '.join(map(str, shape))} {dtype.name}, {gigabytes(n_bytes)}"
    if n_bytes <= budget or n_bytes == 0:
        logger.info("%s (%s) held in memory (budget %s)", what, size, gigabytes(budget))
        array = np.empty(shape, dtype=dtype)
        if fill is not None:
            array.fill(fill)
        return array
    folder = scope.directory if scope is not None and scope.directory is not None else None
    handle, path = tempfile.mkstemp(prefix=".tessella-", suffix=".dat", dir=folder)
    os.close(handle)
    array = SpilledArray(path, dtype=dtype, mode="w+", shape=shape)
    _remove_when_unused(array, path)
    message = (f"{what} ({size}) exceed the memory budget ({gigabytes(budget)}; "
               f"{ENV_VAR} sets it): memory-mapped on a temporary file in "
               f"{Path(path).parent}.")
    logger.info(message)
    if scope is not None:
        scope.storage = "memory-mapped"
        scope.note(message)
    if fill is not None:
        step = _block_rows(shape, dtype)
        for start in range(0, shape[0], step):
            array[start:start + step] = fill
    return array


class SpilledArray(np.memmap):
    """A memory-mapped output array whose written pages leave this process's resident
    memory (:func:`release` after every assignment).

    Pages of a shared file mapping count in a process's resident set (RSS) while
    mapped, so a result memory-mapped "out of core" still grew the peak RSS by its
    whole size as it was filled. Dropping the mapping of written pages keeps their
    data (in the file and the page cache, which the system writes back and
    reclaims), so RSS holds only the block being written.
    """

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        release(self)


def release(array: np.ndarray) -> None:
    """Drop the resident pages of a memory-mapped array from this process (its data
    stays in the file; a later read maps them again). No-op for other arrays and
    where the system has no ``madvise``."""
    mapping = getattr(array, "_mmap", None)
    if mapping is None or not hasattr(mmap, "MADV_DONTNEED"):
        return
    try:
        mapping.madvise(mmap.MADV_DONTNEED)
    except (AttributeError, OSError, ValueError):  # closed, or not supported here
        pass


def _remove_when_unused(array: np.memmap, path: str) -> None:
    """Remove the file now where the system allows it (the mapping keeps the data),
    else when ``array`` is freed."""
    try:
        os.remove(path)
    except OSError:  # Windows: a mapped file cannot be removed
        weakref.finalize(array, _remove_quietly, path)


def _remove_quietly(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def _block_rows(shape: tuple[int, ...], dtype: np.dtype) -> int:
    row_bytes = int(np.prod(shape[1:], dtype=np.float64)) * np.dtype(dtype).itemsize
    return max(1, BLOCK_BYTES // max(row_bytes, 1))


def check_out(out: str | Path | None) -> None:
    """Refuse, before any work, an ``out=`` that is not an ``.h5ad`` path in a folder
    that exists."""
    if out is None:
        return
    if not str(out).lower().endswith(".h5ad"):
        raise InputError(f"out must be the path of an .h5ad file, got {str(out)!r}.")
    if not Path(out).absolute().parent.is_dir():
        raise InputError(f"cannot write {out}: its folder {Path(out).parent} does not exist.")


def write_h5ad(path: str | Path, shell: ad.AnnData, values: np.ndarray) -> None:
    """Write ``shell`` (an AnnData without ``X``: obs, var, obsm, uns) to ``path``
    with ``values`` (cells x genes) as ``X``, a block of cells at a time.

    The file is written beside ``path`` and moved onto it when complete, so a
    failed write leaves no partial result, and ``path`` may be an input still open.
    A file the system refuses to write (permissions, a full disk) raises
    :class:`~tessella.errors.InputError` naming the path."""
    if shell.X is not None:
        raise ValueError("write_h5ad takes the values apart from the AnnData shell.")
    if tuple(values.shape) != (shell.n_obs, shell.n_vars):
        raise ValueError(f"values are {values.shape}, the result {shell.shape}.")
    dtype = np.dtype(np.float32)
    step = _block_rows(values.shape, dtype)
    path = Path(path)
    partial = path.with_name(f".{path.name}.tessella-partial")
    try:
        shell.write_h5ad(partial)  # obs, var, obsm, uns: anndata's element writers
        with h5py.File(partial, "a") as file:
            chunks = ((min(step, values.shape[0]), values.shape[1])
                      if values.shape[0] and values.shape[1] else None)
            dataset = file.create_dataset("X", shape=values.shape, dtype=dtype, chunks=chunks)
            dataset.attrs["encoding-type"] = "array"
            dataset.attrs["encoding-version"] = "0.2.0"
            for start in range(0, values.shape[0], step):
                dataset[start:start + step] = np.asarray(values[start:start + step],
                                                         dtype=dtype)
                release(values)  # a memory-mapped result: the block read leaves RSS
        os.replace(partial, path)
    except OSError as err:
        _remove_quietly(str(partial))
        raise InputError(f"could not write {path}: {err}") from err
    logger.info("wrote %s block by block (%s of values, %d cells a block)", path,
                gigabytes(values.size * dtype.itemsize), step)

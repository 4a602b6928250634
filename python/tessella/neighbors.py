"""Nearest reference cells by cosine similarity: one search, several backends.

Points are unit rows, so cosine similarity is an inner product. A reference is
indexed once (:class:`NeighbourIndex`) and queried block by block, whatever the
backend (the ``neighbors`` hyper-parameter of knn, spage, auto and graph):

- "exact": numpy; each block of query cells is compared with every reference
  cell, the block chosen so its similarity matrix stays near 100 MB. Memory
  grows with the block and the reference, not with the number of query cells.
- "faiss": faiss-cpu ``IndexFlatIP``, the same exact inner products tiled by
  faiss (the same neighbours as "exact" up to ties and float rounding).
- "hnsw": faiss ``IndexHNSWFlat`` on inner products, an approximate graph search.
  Recall of the 50 nearest (``bench/neighbors.py``, 30 dimensions): 0.99 to
  0.96 from 50k to 200k reference cells on a hard synthetic mixture, 1.0 on the
  simulator's cells, 0.999 on osmFISH's reference. Building costs about as much
  as searching 20k queries exactly; a query then costs little more as the
  reference grows.
- "auto": "exact" below :data:`FAISS_FROM` reference cells, "faiss" up to
  :data:`HNSW_FROM`, "hnsw" from there (measured on 2 CPU cores, see
  ``bench/neighbors.py``); on a CUDA device, "torch": the exact search in
  torch on the GPU, block by block (the same neighbours up to ties).

faiss is an engine dependency but optional at run time: without it, every
backend falls back to "exact" with a logged note. faiss uses as many threads as
torch (:mod:`tessella.threads`); its HNSW index is built on one thread, so that
the same data gives the same graph (a parallel build depends on timing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from tessella.params import NEIGHBOR_BACKENDS

logger = logging.getLogger(__name__)

#: Similarities held at once by the exact search (query cells x reference cells).
MAX_SIMILARITIES = 25_000_000
#: "auto" uses faiss's flat (exact) index from this many reference cells (2 cores,
#: 30 dimensions, k = 50: 2.3x faster than numpy at 10k, 1.5x at 2k).
FAISS_FROM = 10_000
#: "auto" uses an HNSW index from this many reference cells (at 50k its search is
#: 1.7x faster than faiss flat; the 7 s build pays off from about 30k queries).
HNSW_FROM = 50_000
#: HNSW graph: links per node, candidates kept while building, and while searching
#: (at least this many, and 4 per neighbour asked for).
HNSW_M = 48
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 384

__all__ = ["NEIGHBOR_BACKENDS", "NeighbourIndex", "block_size_for", "nearest",
           "neighbour_mean", "neighbour_weights", "unit_rows", "weight_matrix"]


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length one (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def block_size_for(n_reference: int, most: int) -> int:
    """Query cells per block of the exact search for a reference of ``n_reference``
    cells."""
    return int(np.clip(MAX_SIMILARITIES // max(n_reference, 1), 64, most))


def nearest(points: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar reference rows for each point (both unit rows), by exact
    numpy search over all of ``reference`` at once.

    Returns indices and cosine similarities, each ``points x k``, most similar first.
    """
    k = min(k, len(reference))
    similarity = points @ reference.T
    index = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(similarity, index, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1), np.take_along_axis(top, order, axis=1)


def _faiss():
    """The faiss module, or None when it is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _on_gpu(device: torch.device | str | None) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def resolve_backend(neighbors: str, n_reference: int,
                    device: torch.device | str | None = None) -> str:
    """The backend that searches a reference of ``n_reference`` cells: "auto" by
    size ("torch" on a CUDA ``device``), and "exact" (with a logged note) where
    faiss is not installed."""
    if neighbors not in NEIGHBOR_BACKENDS:
        raise ValueError(f"neighbors must be one of {', '.join(NEIGHBOR_BACKENDS)}, "
                         f"not {neighbors!r}.")
    if neighbors == "auto" and _on_gpu(device):
        return "torch"
    if neighbors == "auto":
        neighbors = ("exact" if n_reference < FAISS_FROM else
                     "faiss" if n_reference < HNSW_FROM else "hnsw")
    if neighbors != "exact" and _faiss() is None:
        logger.info("neighbors=%r needs faiss (pip install faiss-cpu); searching exactly "
                    "with numpy instead.", neighbors)
        return "exact"
    return neighbors


class NeighbourIndex:
    """A reference (unit rows) indexed once for cosine search with one backend.

    Parameters
    ----------
    reference
        Reference points, unit rows (cells x dimensions).
    neighbors
        "auto", "exact", "faiss" or "hnsw" (see the module's docstring).
    device
        Where the search may run: with "auto", a CUDA device searches in torch.

    Attributes
    ----------
    backend
        The backend in use ("auto" resolved; "exact" where faiss is missing).
    """

    def __init__(self, reference: np.ndarray, neighbors: str = "auto",
                 device: torch.device | str | None = None) -> None:
        self.reference = reference
        self.backend = resolve_backend(neighbors, len(reference), device)
        self._index = None
        if self.backend == "torch":
            self._index = torch.as_tensor(np.asarray(reference, dtype=np.float32),
                                          device=device)
        elif self.backend != "exact":
            self._index = self._build()

    def __len__(self) -> int:
        return len(self.reference)

    def _build(self):
        faiss = _faiss()
        points = np.ascontiguousarray(self.reference, dtype=np.float32)
        dimensions = points.shape[1]
        if self.backend == "faiss":
            index = faiss.IndexFlatIP(dimensions)
            index.add(points)
            return index
        index = faiss.IndexHNSWFlat(dimensions, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # a parallel build depends on timing
        try:
            index.add(points)
        finally:
            faiss.omp_set_num_threads(threads)
        return index

    def step(self, most: int) -> int:
        """Query cells per block of :meth:`search` (at most ``most``): the exact search
        bounds its similarity matrix, faiss tiles its own."""
        if self.backend in ("exact", "torch"):
            return block_size_for(len(self), most)
        return max(1, most)

    def search(self, points: np.ndarray, k: int,
               block_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar reference rows for each point (unit rows), block by block.

        Returns indices (int64) and cosine similarities, each ``points x k``, most
        similar first; ``k`` is capped at the number of reference rows.
        """
        k = min(k, len(self))
        index = np.empty((len(points), k), dtype=np.int64)
        similarity = np.empty((len(points), k), dtype=np.result_type(points, self.reference))
        step = self.step(block_size)
        for start in range(0, len(points), step):
            block = points[start:start + step]
            index[start:start + step], similarity[start:start + step] = self._block(block, k)
        return index, similarity

    def _block(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            return nearest(points, self.reference, k)
        if self.backend == "torch":
            queries = torch.as_tensor(np.asarray(points, dtype=np.float32),
                                      device=self._index.device)
            similarity, index = torch.topk(queries @ self._index.T, k, dim=1)
            return index.cpu().numpy(), similarity.cpu().numpy()
        faiss = _faiss()
        faiss.omp_set_num_threads(torch.get_num_threads())
        queries = np.ascontiguousarray(points, dtype=np.float32)
        if self.backend == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, 4 * k))
            similarity, index = self._index.search(queries, k, params=params)
        else:
            similarity, index = self._index.search(queries, k)
        missing = (index < 0).any(axis=1)  # HNSW found fewer than k: search those exactly
        if missing.any():
            index[missing], similarity[missing] = nearest(points[missing], self.reference, k)
        return index, similarity

    def mean(self, points: np.ndarray, values: np.ndarray | sp.spmatrix, k: int,
             weigh: Callable[[np.ndarray], np.ndarray] | None = None,
             block_size: int = 4096) -> np.ndarray:
        """For each point (unit rows), the mean of ``values`` (reference rows x columns,
        dense or sparse) over its ``k`` most similar reference rows, weighted by
        ``weigh`` of their similarities (default :func:`neighbour_weights`)."""
        weigh = neighbour_weights if weigh is None else weigh
        index, similarity = self.search(points, k, block_size)
        return weight_matrix(index, weigh(similarity), len(self)) @ values


def neighbour_weights(similarity: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Weights from the similarities of the k neighbours (rows sum to one), for a
    numpy array or a torch tensor (on any device), returned as the same kind.

    Closer neighbours weigh more: ``w = s - min(s) + eps`` within each row, so the
    farthest of the k neighbours still counts a little.
    """
    if isinstance(similarity, np.ndarray):
        return neighbour_weights(torch.from_numpy(similarity)).numpy()
    shifted = similarity - similarity.amin(dim=1, keepdim=True) + 1e-3
    return shifted / shifted.sum(dim=1, keepdim=True)


def weight_matrix(index: np.ndarray, weights: np.ndarray, n_reference: int) -> sp.csr_matrix:
    """Sparse (query x reference) matrix of neighbour weights."""
    rows = np.repeat(np.arange(len(index)), index.shape[1])
    return sp.csr_matrix((weights.ravel(), (rows, index.ravel())),
                         shape=(len(index), n_reference))


def neighbour_mean(points: np.ndarray, reference: np.ndarray, values: np.ndarray, k: int,
                   weigh: Callable[[np.ndarray], np.ndarray] = neighbour_weights,
                   neighbors: str = "auto", block_size: int = 4096,
                   device: torch.device | str | None = None) -> np.ndarray:
    """For each point (unit rows), the mean of ``values`` (reference rows x columns)
    over its ``k`` most similar reference rows, weighted by ``weigh`` of their
    similarities: :meth:`NeighbourIndex.mean` on a one-off index."""
    index = NeighbourIndex(reference, neighbors, device)
    return index.mean(points, values, k, weigh, block_size)

"""Nearest reference cells by cosine similarity, searched block by block.

Exact search: each block of query cells is compared with every reference cell,
with the block size chosen so a block's similarity matrix stays near 100 MB.
Memory grows with the block and the reference, not with the number of query
cells, so a million-cell slide streams through.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

#: Similarities held at once (query cells x reference cells).
MAX_SIMILARITIES = 25_000_000


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length one (zero rows stay zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def block_size_for(n_reference: int, most: int) -> int:
    """Query cells per block for a reference of ``n_reference`` cells."""
    return int(np.clip(MAX_SIMILARITIES // max(n_reference, 1), 64, most))


def nearest(points: np.ndarray, reference: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar reference rows for each point (both unit rows).

    Returns indices and cosine similarities, each ``points x k``, most similar first.
    """
    k = min(k, len(reference))
    similarity = points @ reference.T
    index = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(similarity, index, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1), np.take_along_axis(top, order, axis=1)


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
                   weigh: Callable[[np.ndarray], np.ndarray] = neighbour_weights) -> np.ndarray:
    """For each point (unit rows), the mean of ``values`` (reference rows x columns)
    over its ``k`` most similar reference rows, weighted by ``weigh`` of their
    similarities."""
    index, similarity = nearest(points, reference, k)
    return weight_matrix(index, weigh(similarity), len(reference)) @ values

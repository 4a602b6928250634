"""Averaging each cell's prediction with those of its most similar cells.

Similar means close in expression over the measured genes (cosine of the
log-normalised values centred per gene, so genes weigh by their spread), not
close in space: cells next to each other on a slide often differ in type,
cells alike in expression share one. The search is the shared neighbour
search (:mod:`tessella.neighbors`, any backend), the cells indexed once and
queried block by block. With many measured genes the cells are compared on
their first principal components (:func:`principal_points`, as scanpy's
neighbours run on a PCA): an index over a million cells in 50 dimensions
instead of 300 or 1,000 is built and searched several times faster.
"""

from __future__ import annotations

import numpy as np
import torch

from tessella.models.pca import principal_axes
from tessella.neighbors import NeighbourIndex, unit_rows, weight_matrix

#: Principal components cells are compared on (:func:`principal_points`).
SEARCH_COMPONENTS = 50
#: Cells the principal axes are fitted on (drawn with the seed when there are more).
AXES_CELLS = 20_000
#: Cells projected at a time.
BLOCK = 65_536


def similar_cells(values: np.ndarray, k: int, block_size: int, neighbors: str = "auto",
                  device: torch.device | None = None) -> np.ndarray:
    """Indices of each cell's ``k`` most similar cells (itself included), most similar
    first, for log-normalised ``values`` (cells x genes), searched with the
    ``neighbors`` backend (on ``device`` where it is CUDA and the backend "auto")."""
    points = unit_rows(values - values.mean(axis=0)).astype(np.float32)
    index, _ = NeighbourIndex(points, neighbors, device).search(points, k, block_size)
    return index


def smooth(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each row replaced by the mean of the rows ``index`` names for it (a sparse
    product: memory grows with cells x k, not cells x k x genes)."""
    weights = np.full(index.shape, 1.0 / index.shape[1], dtype=np.float32)
    return np.asarray(weight_matrix(index, weights, len(values)) @ values, dtype=np.float32)


def principal_points(values: np.ndarray, n_components: int = SEARCH_COMPONENTS,
                     seed: int = 0, max_cells: int = AXES_CELLS) -> np.ndarray:
    """Points for :func:`similar_cells`: ``values`` (cells x genes, log-normalised)
    centred per gene and projected on their first ``n_components`` principal axes
    (fitted on at most ``max_cells`` cells drawn with ``seed``), block by block, as
    float32; with ``n_components`` genes or fewer, ``values`` as they are (the
    search is then the one on all genes)."""
    if values.shape[1] <= n_components:
        return values
    centre = values.mean(axis=0)
    rows = (np.arange(len(values)) if len(values) <= max_cells else
            np.sort(np.random.default_rng(seed).choice(len(values), max_cells, replace=False)))
    axes = principal_axes(values[rows], n_components)
    points = np.empty((len(values), axes.shape[1]), dtype=np.float32)
    for start in range(0, len(values), BLOCK):
        points[start:start + BLOCK] = (values[start:start + BLOCK] - centre) @ axes
    return points

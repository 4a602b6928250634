"""Averaging each cell's prediction with those of its most similar cells.

Similar means close in expression over the measured genes (cosine of the
log-normalised values centred per gene, so genes weigh by their spread), not
close in space: cells next to each other on a slide often differ in type,
cells alike in expression share one. The search is the shared neighbour
search (:mod:`tessella.neighbors`, any backend), the cells indexed once and
queried block by block.
"""

from __future__ import annotations

import numpy as np
import torch

from tessella.neighbors import NeighbourIndex, unit_rows, weight_matrix


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

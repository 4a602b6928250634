"""Averaging each cell's prediction with those of its most similar cells.

Similar means close in expression over the measured genes (cosine of the
log-normalised values centred per gene, so genes weigh by their spread), not
close in space: cells next to each other on a slide often differ in type,
cells alike in expression share one. The search is the shared exact
neighbour search, block by block.
"""

from __future__ import annotations

import numpy as np

from tessella.neighbors import block_size_for, nearest, unit_rows


def similar_cells(values: np.ndarray, k: int, block_size: int) -> np.ndarray:
    """Indices of each cell's ``k`` most similar cells (itself included), most similar
    first, for log-normalised ``values`` (cells x genes)."""
    points = unit_rows(values - values.mean(axis=0)).astype(np.float32)
    k = min(k, len(points))
    index = np.empty((len(points), k), dtype=np.int64)
    step = block_size_for(len(points), block_size)
    for start in range(0, len(points), step):
        index[start:start + step], _ = nearest(points[start:start + step], points, k)
    return index


def smooth(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each row replaced by the mean of the rows ``index`` names for it."""
    out = np.empty_like(values)
    for start in range(0, len(values), 4096):
        out[start:start + 4096] = values[index[start:start + 4096]].mean(axis=1)
    return out

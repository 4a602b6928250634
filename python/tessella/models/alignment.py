"""Putting each data set's shared genes on a scale of its own (platform alignment).

An :class:`Aligner` maps one data set's genes to per-gene z-scores, or to
per-gene normal scores (:mod:`tessella.data.normal_scores`, which also align
the shape of each gene's distribution) standardised again. Each data set gets
its own aligner, fitted on at most ``max_cells`` of its cells, so a reference
and a panel measured on different platforms meet on one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tessella.data.normal_scores import NormalScores, fit_normal_scores
from tessella.data.normalize import NormalizedView, column_moments, sample_cells

#: The scales an aligner offers.
SCALES: tuple[str, ...] = ("zscore", "normal")


@dataclass(frozen=True)
class Aligner:
    """Maps one data set's genes to standardised, aligned features.

    Attributes
    ----------
    normal
        Normal-score maps of the genes (None for z-scores).
    mean, std
        Standardisation applied after the map.
    """

    normal: NormalScores | None
    mean: np.ndarray
    std: np.ndarray

    def mapped(self, values: np.ndarray) -> np.ndarray:
        """The map alone (normal scores, or the values as they are)."""
        return values if self.normal is None else self.normal.transform(values)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return ((self.mapped(values) - self.mean) / self.std).astype(np.float32)



def fit_aligner(data: NormalizedView | np.ndarray, scale: str, seed: int,
                max_cells: int) -> Aligner:
    """Fit the alignment of ``data``'s genes from at most ``max_cells`` cells."""
    sample = sample_cells(data, max_cells, seed)
    normal = fit_normal_scores(sample) if scale == "normal" else None
    mapped = sample if normal is None else normal.transform(sample)
    mean, std = column_moments(mapped.astype(np.float64))
    return Aligner(normal, mean.astype(np.float32), std.astype(np.float32))

"""Ridge regression from the shared genes: the linear baseline every table shows.

``ridge`` is the five-line baseline a reviewer would write: on the reference,
regress each target gene's log-normalised expression on the log-normalised
shared genes (centred, unscaled, ``alpha`` as in scikit-learn's ``Ridge``),
then apply the coefficients to the spatial cells' shared genes as they are.
``ridge_normal`` first maps each data set's shared genes to per-gene normal
scores (:mod:`tessella.data.normal_scores`), which aligns the two platforms'
distributions gene by gene. Both stream the reference once
(:func:`~tessella.models.linear.reference_moments`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tessella.data.normal_scores import NormalScores, fit_normal_scores
from tessella.data.task import ImputationTask
from tessella.models.fitted import FittedImputer
from tessella.models.interface import Prediction
from tessella.models.linear import reference_moments, ridge_coefficients
from tessella.models.placement import locate_fitted, place_predictions
from tessella.models.registry import register
from tessella.params import ImputerParams, bounded


@dataclass
class RidgeParams(ImputerParams):
    """Hyper-parameters of ``ridge``.

    Attributes
    ----------
    alpha
        Ridge penalty on the coefficients (scikit-learn's ``alpha``).
    scale
        Features as "log" (log-normalised, as they are) or "normal" (per-gene
        normal scores of each data set).
    block_size
        Spatial cells per block of prediction.
    """

    alpha: float = bounded(1.0, low=0.0)
    scale: str = bounded("log", choices=("log", "normal"))
    block_size: int = bounded(4096, low=1)


@dataclass
class NormalRidgeParams(RidgeParams):
    """Hyper-parameters of ``ridge_normal`` (``ridge`` on normal scores).

    Attributes
    ----------
    scale
        Features as "normal" (per-gene normal scores of each data set) or "log".
    """

    scale: str = "normal"


@register
class RidgeImputer(FittedImputer):
    """Ridge regression of target genes on the shared genes, fitted on the reference."""

    name = "ridge"
    summary = "ridge regression from the shared genes, log-normalised (linear baseline)"
    params_class = RidgeParams
    requires_reference = True

    def _normal_scores(self, data: Any) -> NormalScores | None:
        return fit_normal_scores(data, self.params.seed) if self.params.scale == "normal" else None

    def fit(self, task: ImputationTask) -> RidgeImputer:
        shared, predictable = task.shared_in_reference, task.in_reference
        scores = self._normal_scores(task.reference_genes(shared))
        view = task.reference_genes(np.concatenate([shared, predictable]))
        moments = reference_moments(view, len(shared),
                                    None if scores is None else scores.transform)
        coef, intercept = ridge_coefficients(moments, self.params.alpha)
        self.fitted = {
            "shared_genes": [task.output_genes[i] for i in shared],
            "output_genes": [task.output_genes[i] for i in predictable],
            "coef": coef.astype(np.float32),
            "intercept": intercept.astype(np.float32),
        }
        return self

    def predict(self, task: ImputationTask) -> Prediction:
        self.require_fitted()
        genes = locate_fitted(task, self.fitted["shared_genes"], self.fitted["output_genes"],
                              self.name)
        query = task.measured(genes.shared)
        scores = self._normal_scores(query)
        coef = self.fitted["coef"][:, genes.wanted]
        intercept = self.fitted["intercept"][genes.wanted]
        predicted = np.empty((query.n_obs, coef.shape[1]), dtype=np.float32)
        for start, stop, block in query.blocks(self.params.block_size):
            features = block if scores is None else scores.transform(block)
            predicted[start:stop] = features @ coef + intercept
        return Prediction(values=place_predictions(task, genes, predicted, self.name))


@register
class NormalRidgeImputer(RidgeImputer):
    """``ridge`` on per-gene normal scores of each data set."""

    name = "ridge_normal"
    summary = "ridge regression from the shared genes on per-gene normal scores (baseline)"
    params_class = NormalRidgeParams

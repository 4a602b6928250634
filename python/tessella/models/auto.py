"""tessella's default: correlation transfer, smoothed over similar spatial cells, with
its settings chosen by an inner cross-validation over the measured genes.

Three steps, each measured against ridge regression, SpaGE-style neighbours and
the deep methods on osmFISH + Allen SSp and on the breast-cancer pair:

1. **Platform alignment.** Each data set's shared genes are put on one scale of
   its own: per-gene z-scores, or per-gene normal scores
   (:mod:`tessella.data.normal_scores`), which also align the shape of each
   gene's distribution.
2. **Correlation transfer.** A target gene is predicted as the sum of the
   aligned shared genes weighted by their correlation with it in the reference
   (:class:`~tessella.models.linear.CorrelationTransfer`: the first PLS
   component, the limit of a ridge fit as its penalty grows). A ridge fit also
   inverts the reference's covariance among the shared genes, which differs
   between platforms; on both dev pairs, the stronger the penalty, the better
   the held-out genes were predicted, up to this limit.
3. **Smoothing over similar spatial cells.** Each cell's prediction is averaged
   with those of its ``neighbours`` most similar spatial cells (cosine over the
   aligned shared genes; the cell itself included). Neighbours in expression
   space share a type, so averaging removes the measurement noise the shared
   genes carry into the prediction (neighbours in *space* do not share a type,
   and smoothing over them lowered accuracy).

**Inner cross-validation.** The scale and the number of neighbours are chosen
on the measured genes alone: they are split into ``inner_folds`` groups, each
group is predicted from the others exactly as above, and scored against its
measured values with the benchmark's own correlation code. The setting with
the best mean of median Pearson and median Spearman wins. Genes held out by a
benchmark never enter (the task only holds measured genes). The inner
cross-validation reads at most ``inner_cells`` cells of each data set.

``reliability`` of an imputed gene is its in-sample reference correlation scaled
by the ratio of the spatial to the reference correlations the inner
cross-validation measured on the measured genes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tessella.columns import pearson_columns, spearman_columns
from tessella.data.normal_scores import NormalScores, fit_normal_scores
from tessella.data.normalize import NormalizedView, column_moments
from tessella.data.task import ImputationTask
from tessella.models.base import (
    Imputer,
    ImputerParams,
    Prediction,
    fitted_from_state,
    fitted_to_state,
    locate_fitted,
    place_predictions,
    register,
)
from tessella.models.linear import (
    CorrelationTransfer,
    correlation_transfer,
    moments_of,
    reference_moments,
)
from tessella.models.params import bounded
from tessella.neighbors import block_size_for, nearest, unit_rows

logger = logging.getLogger(__name__)

#: Scales tried by the inner cross-validation when ``scale="auto"``.
SCALES: tuple[str, ...] = ("zscore", "normal")
#: Neighbour counts tried when ``neighbours`` is None (1: no smoothing).
NEIGHBOURS: tuple[int, ...] = (1, 5, 15, 30, 50)


@dataclass
class AutoParams(ImputerParams):
    """Hyper-parameters of ``auto``.

    Attributes
    ----------
    scale
        How each data set's shared genes are aligned: "zscore", "normal" (normal
        scores), or "auto" (chosen by the inner cross-validation).
    neighbours
        Similar spatial cells each prediction is averaged over (1: none); None
        chooses among 1, 5, 15, 30 and 50 by the inner cross-validation.
    inner_folds
        Groups of measured genes in the inner cross-validation.
    inner_cells
        Most cells of each data set the inner cross-validation reads (sampled).
    block_size
        Most spatial cells per block of the neighbour search.
    """

    scale: str = bounded("auto", choices=("auto", *SCALES))
    neighbours: int | None = bounded(None, low=1)
    inner_folds: int = bounded(5, low=2)
    inner_cells: int = bounded(20_000, low=50)
    block_size: int = bounded(4096, low=1)


@dataclass(frozen=True)
class Aligner:
    """Maps one data set's shared genes to standardised, aligned features.

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

    def columns(self, positions: np.ndarray) -> Aligner:
        """The aligner of some of the genes."""
        normal = None if self.normal is None else replace(
            self.normal, knots=self.normal.knots[:, positions])
        return Aligner(normal, self.mean[positions], self.std[positions])


def fit_aligner(data: NormalizedView | np.ndarray, scale: str, seed: int,
                max_cells: int) -> Aligner:
    """Fit the alignment of ``data``'s genes from at most ``max_cells`` cells."""
    sample = _sample(data, max_cells, seed)
    normal = fit_normal_scores(sample) if scale == "normal" else None
    mapped = sample if normal is None else normal.transform(sample)
    mean, std = column_moments(mapped.astype(np.float64))
    return Aligner(normal, mean.astype(np.float32), std.astype(np.float32))


def _sample(data: NormalizedView | np.ndarray, max_cells: int, seed: int) -> np.ndarray:
    n_obs = data.n_obs if isinstance(data, NormalizedView) else len(data)
    if n_obs <= max_cells:
        return data.to_array() if isinstance(data, NormalizedView) else data
    cells = np.sort(np.random.default_rng(seed).choice(n_obs, max_cells, replace=False))
    return data.rows(cells) if isinstance(data, NormalizedView) else data[cells]


def smoothing_neighbours(points: np.ndarray, k: int, block_size: int) -> np.ndarray:
    """Indices of each cell's ``k`` most similar cells (itself included), most similar
    first; ``points`` are unit rows."""
    k = min(k, len(points))
    index = np.empty((len(points), k), dtype=np.int64)
    step = block_size_for(len(points), block_size)
    for start in range(0, len(points), step):
        index[start:start + step], _ = nearest(points[start:start + step], points, k)
    return index


def _similar_cells(values: np.ndarray, k: int, block_size: int) -> np.ndarray:
    """:func:`smoothing_neighbours` by cosine over log-normalised values centred per gene
    (genes weigh by their spread, so the informative ones lead)."""
    return smoothing_neighbours(unit_rows(values - values.mean(axis=0)), k, block_size)


def smooth(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Each row replaced by the mean of the rows ``index`` names for it."""
    out = np.empty_like(values)
    for start in range(0, len(values), 4096):
        out[start:start + 4096] = values[index[start:start + 4096]].mean(axis=1)
    return out


@dataclass(frozen=True)
class Setting:
    """One candidate of the inner cross-validation and what it scored."""

    scale: str
    neighbours: int
    pearson: float = np.nan
    spearman: float = np.nan
    ratio: float = 1.0

    @property
    def score(self) -> float:
        return float(np.nanmean([self.pearson, self.spearman]))


def inner_cross_validation(reference: np.ndarray, spatial: np.ndarray,
                           scales: tuple[str, ...], neighbours: tuple[int, ...],
                           folds: int, seed: int, block_size: int) -> list[Setting]:
    """Score each (scale, neighbours) by predicting groups of shared genes from the rest.

    ``reference`` and ``spatial`` hold the same shared genes (log-normalised) for a
    sample of cells of each data set.
    """
    n_genes = reference.shape[1]
    groups = np.array_split(np.random.default_rng(seed).permutation(n_genes),
                            min(folds, n_genes))
    graphs = [_similar_cells(spatial[:, np.setdiff1d(np.arange(n_genes), held)],
                             max(neighbours), block_size) for held in groups]
    results = []
    for scale in scales:
        ref_mapped = fit_aligner(reference, scale, seed, len(reference)).mapped(reference)
        sp_z = fit_aligner(spatial, scale, seed, len(spatial))(spatial)
        pearson = {k: [] for k in neighbours}
        spearman = {k: [] for k in neighbours}
        fits, observed = [], []
        for held, index in zip(groups, graphs):
            kept = np.setdiff1d(np.arange(n_genes), held)
            transfer = correlation_transfer(moments_of(ref_mapped[:, kept], reference[:, held]))
            predicted = transfer.predict(sp_z[:, kept])
            truth = spatial[:, held]
            for k in neighbours:
                smoothed = predicted if k == 1 else smooth(predicted, index[:, :k])
                pearson[k].append(pearson_columns(truth, smoothed))
                spearman[k].append(spearman_columns(truth, smoothed))
            fits.append(transfer.fit)
            observed.append(pearson[neighbours[0]][-1])
        ratio = _reliability_ratio(np.concatenate(fits), np.concatenate(observed))
        for k in neighbours:
            results.append(Setting(scale, k, float(np.nanmedian(np.concatenate(pearson[k]))),
                                   float(np.nanmedian(np.concatenate(spearman[k]))), ratio))
    return results


def _reliability_ratio(reference_fit: np.ndarray, spatial_pearson: np.ndarray) -> float:
    """How much of the reference correlation carries over to the spatial data."""
    denominator = np.nanmedian(reference_fit)
    if not np.isfinite(denominator) or denominator <= 0:
        return 0.0
    return float(np.clip(np.nanmedian(spatial_pearson) / denominator, 0.0, 1.0))


@register
class AutoImputer(Imputer):
    """Correlation transfer smoothed over similar spatial cells, settings chosen by an
    inner cross-validation over the measured genes."""

    name = "auto"
    summary = ("correlation transfer + smoothing over similar cells, tuned by inner "
               "cross-validation on the measured genes (the default)")
    params_class = AutoParams
    requires_reference = True

    def __init__(self, params: AutoParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        self.fitted: dict[str, Any] = {}
        self.settings: list[Setting] = []

    def fit(self, task: ImputationTask) -> AutoImputer:
        shared = task.shared_in_reference
        predictable = task.in_reference
        chosen = self._choose(task, shared)
        ref_aligner = fit_aligner(task.reference_genes(shared), chosen.scale, self.params.seed,
                                  self.params.inner_cells)
        view = task.reference_genes(np.concatenate([shared, predictable]))
        moments = reference_moments(view, len(shared), ref_aligner.mapped)
        transfer = correlation_transfer(moments)
        self.fitted = {
            "shared_genes": [task.output_genes[i] for i in shared],
            "output_genes": [task.output_genes[i] for i in predictable],
            "weights": transfer.weights.astype(np.float32), "slope": transfer.slope,
            "intercept": transfer.intercept, "fit": transfer.fit,
            "scale": chosen.scale, "neighbours": chosen.neighbours, "ratio": chosen.ratio,
        }
        return self

    def _choose(self, task: ImputationTask, shared: np.ndarray) -> Setting:
        p = self.params
        scales = SCALES if p.scale == "auto" else (p.scale,)
        neighbours = NEIGHBOURS if p.neighbours is None else (p.neighbours,)
        if len(scales) * len(neighbours) == 1 or len(shared) < 2:
            return Setting(scales[0], neighbours[min(2, len(neighbours) - 1)])
        reference = _sample(task.reference_genes(shared), p.inner_cells, p.seed)
        spatial = _sample(task.measured(shared), p.inner_cells, p.seed)
        self.settings = inner_cross_validation(reference, spatial, scales, neighbours,
                                               p.inner_folds, p.seed, p.block_size)
        best = max(self.settings, key=lambda s: s.score)
        logger.info("auto: scale=%s, neighbours=%d (inner median Pearson %.3f, Spearman %.3f)",
                    best.scale, best.neighbours, best.pearson, best.spearman)
        return best

    def predict(self, task: ImputationTask) -> Prediction:
        if not self.fitted:
            raise RuntimeError("call fit() before predict().")
        genes = locate_fitted(task, self.fitted["shared_genes"], self.fitted["output_genes"],
                              self.name)
        fitted = self.fitted
        wanted = CorrelationTransfer(fitted["weights"][:, genes.wanted],
                                     *(fitted[key][genes.wanted]
                                       for key in ("slope", "intercept", "fit")))
        query = task.measured(genes.shared)
        aligner = fit_aligner(query, fitted["scale"], self.params.seed, self.params.inner_cells)
        predicted = np.empty((query.n_obs, int(genes.wanted.sum())), dtype=np.float32)
        for start, stop, block in query.blocks(self.params.block_size):
            predicted[start:stop] = wanted.predict(aligner(block))
        if fitted["neighbours"] > 1:
            index = _similar_cells(query.to_array(), fitted["neighbours"], self.params.block_size)
            predicted = smooth(predicted, index)
        values = place_predictions(task, genes, predicted, self.name)
        reliability = np.full(len(task.output_genes), np.nan, dtype=np.float32)
        reliability[genes.columns[genes.wanted]] = wanted.fit * fitted["ratio"]
        return Prediction(values=values, reliability=reliability)

    def state(self) -> dict[str, Any]:
        return fitted_to_state(self.fitted)

    def load_state(self, state: dict[str, Any]) -> None:
        self.fitted = fitted_from_state(state)

"""Agreement between an imputed expression matrix and a held-out truth.

All matrices are ``(cells, genes)`` arrays on the log-normalised scale. Scores are computed
per gene (over cells) by :func:`score_genes` and per cell (over genes) by :func:`score_cells`;
the scalar functions (:func:`pearson`, :func:`ssim`, ...) score two 1-D vectors and share
the same column-wise implementation, so both paths give identical numbers.

Conventions
-----------
- A correlation involving a constant vector (zero variance in either input) is NaN, never
  0: a constant prediction carries no ranking information, and reporting 0 would silently
  mix "undefined" with "uncorrelated". The cosine of a zero vector is NaN for the same reason.
- A NaN anywhere in a vector makes every score of that vector NaN.
- ``mse`` and ``rmse`` are computed on the values as given. Li et al. (2022, Nature Methods)
  z-score each gene before the RMSE; we do not, so the error stays in log-expression units.
- ``ssim`` and ``js`` follow Li et al. (2022); see :func:`ssim` and :func:`js`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from tessella.columns import (
    as_matrix,
    cosine_columns,
    nan_columns,
    pearson_columns,
    spearman_columns,
)

logger = logging.getLogger(__name__)

METRICS: tuple[str, ...] = ("pearson", "spearman", "cosine", "rmse", "ssim", "js")
CELL_METRICS: tuple[str, ...] = ("pearson", "spearman", "cosine", "mse", "rmse")
GENE_METRICS: tuple[str, ...] = ("pearson", "spearman", "cosine", "mse", "rmse", "ssim", "js")
HIGHER_IS_BETTER: dict[str, bool] = {
    "pearson": True,
    "spearman": True,
    "cosine": True,
    "mse": False,
    "rmse": False,
    "ssim": True,
    "js": False,
    "ari": True,
    "ami": True,
    "nmi": True,
    "homogeneity": True,
    "completeness": True,
    "fmi": True,
    "asw": True,
}

Metric = Callable[..., float]

_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2


# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------


def _pair(truth: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two matrices of equal shape and return them as float64 arrays."""
    t = as_matrix(truth, "truth")
    p = as_matrix(predicted, "predicted")
    if t.shape != p.shape:
        raise ValueError(f"truth {t.shape} and predicted {p.shape} differ in shape")
    return t, p


def _vectors(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate two 1-D vectors of equal length and return them as single-column matrices."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"expected two 1-D vectors, got shapes {x.shape} and {y.shape}")
    if x.shape != y.shape:
        raise ValueError(f"vectors differ in length: {x.shape[0]} and {y.shape[0]}")
    return x[:, None], y[:, None]


# ---------------------------------------------------------------------------------------------
# column-wise kernels: each scores column j of ``a`` against column j of ``b``
# ---------------------------------------------------------------------------------------------


def _mse_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean squared error per column."""
    diff = a - b
    return np.einsum("ij,ij->j", diff, diff) / max(a.shape[0], 1)


def _scale_by_max(x: np.ndarray) -> np.ndarray:
    """Clip negatives to 0 and divide each column by its maximum (all-zero columns stay 0)."""
    clipped = np.clip(x, 0.0, None)
    peak = clipped.max(axis=0) if x.shape[0] else np.zeros(x.shape[1])
    scale = np.where(peak > 0, peak, 1.0)
    return clipped / scale


def _ssim_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Global SSIM per column after max-scaling each column to [0, 1]."""
    x = _scale_by_max(a)
    y = _scale_by_max(b)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    n = max(x.shape[0], 1)
    vx = np.einsum("ij,ij->j", xc, xc) / n
    vy = np.einsum("ij,ij->j", yc, yc) / n
    cov = np.einsum("ij,ij->j", xc, yc) / n
    num = (2 * mx * my + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mx**2 + my**2 + _SSIM_C1) * (vx + vy + _SSIM_C2)
    s = num / den
    s[nan_columns(a, b)] = np.nan
    return s


def _distribution_columns(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip negatives and normalise columns to sum 1; also return the mask of zero-sum columns."""
    clipped = np.clip(x, 0.0, None)
    total = clipped.sum(axis=0)
    empty = ~(total > 0)
    return clipped / np.where(empty, 1.0, total), empty


def _js_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2) per column between the normalised columns."""
    p, p_empty = _distribution_columns(a)
    q, q_empty = _distribution_columns(b)
    m = 0.5 * (p + q)
    kl_pm = rel_entr(p, m).sum(axis=0)
    kl_qm = rel_entr(q, m).sum(axis=0)
    d = np.clip(0.5 * (kl_pm + kl_qm) / np.log(2.0), 0.0, 1.0)
    d[p_empty | q_empty | nan_columns(a, b)] = np.nan
    return d


_KERNELS = {
    "pearson": pearson_columns,
    "spearman": spearman_columns,
    "cosine": cosine_columns,
    "mse": _mse_columns,
    "ssim": _ssim_columns,
    "js": _js_columns,
}


def _score_columns(a: np.ndarray, b: np.ndarray, metrics: Sequence[str]) -> dict[str, np.ndarray]:
    """Apply the requested column kernels; ``rmse`` reuses the ``mse`` result."""
    out: dict[str, np.ndarray] = {}
    for name in metrics:
        if name == "rmse":
            out[name] = np.sqrt(out["mse"] if "mse" in out else _mse_columns(a, b))
        else:
            out[name] = _KERNELS[name](a, b)
    return out


# ---------------------------------------------------------------------------------------------
# scalar metrics on two vectors
# ---------------------------------------------------------------------------------------------


def _scores_two_vectors(value: str, nan_if: str = "") -> Callable[[Metric], Metric]:
    """Complete a scalar metric's docstring with the sections all of them share: the
    parameters, and the float returned (``value``), NaN when either vector ``nan_if``
    or contains NaN."""
    undefined = f"{nan_if} or contains NaN" if nan_if else "contains NaN"

    def document(metric: Metric) -> Metric:
        metric.__doc__ = (
            f"{inspect.cleandoc(metric.__doc__ or '')}\n\n"
            "Parameters\n----------\n"
            "a, b : numpy.ndarray\n"
            "    1-D vectors of equal length (for example truth and prediction for one gene).\n\n"
            f"Returns\n-------\nfloat\n    {value}; NaN if either vector {undefined}.\n"
        )
        return metric

    return document


@_scores_two_vectors("Correlation in [-1, 1]", nan_if="is constant")
def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two vectors."""
    return float(pearson_columns(*_vectors(a, b))[0])


@_scores_two_vectors("Correlation in [-1, 1]", nan_if="is constant")
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two vectors (ties get average ranks)."""
    return float(spearman_columns(*_vectors(a, b))[0])


@_scores_two_vectors("Similarity in [-1, 1]", nan_if="is all zeros")
def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (not centred)."""
    return float(cosine_columns(*_vectors(a, b))[0])


@_scores_two_vectors("``mean((a - b) ** 2)``")
def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error between two vectors, on the values as given."""
    return float(_mse_columns(*_vectors(a, b))[0])


@_scores_two_vectors("``sqrt(mean((a - b) ** 2))``")
def rmse(a: np.ndarray, b: np.ndarray) -> float:
    """Root mean squared error between two vectors, on the values as given.

    Li et al. (2022) z-score each gene before computing the RMSE; this function does not,
    so the error is in the units of the input (log-normalised expression).
    """
    return float(np.sqrt(_mse_columns(*_vectors(a, b))[0]))


@_scores_two_vectors("1 for identical vectors (up to scale), lower for less similar ones")
def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Global structural similarity of two vectors, as in Li et al. (2022).

    Negative values are clipped to 0, then each vector is divided by its own maximum (a
    vector whose maximum is 0 stays all zeros), so both lie in [0, 1] (data range 1). With
    population means ``mu``, variances ``var`` and covariance ``cov``::

        ((2 mu_a mu_b + C1) (2 cov + C2)) / ((mu_a^2 + mu_b^2 + C1) (var_a + var_b + C2))

    where ``C1 = 0.01**2`` and ``C2 = 0.03**2``.
    """
    return float(_ssim_columns(*_vectors(a, b))[0])


@_scores_two_vectors("Divergence in [0, 1]", nan_if="sums to 0 after clipping")
def js(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon divergence between two vectors seen as distributions over cells.

    Negative values are clipped to 0 and each vector is divided by its sum. The divergence
    uses base-2 logarithms, so it lies in [0, 1] (0 for proportional vectors). It is
    symmetric in ``a`` and ``b``.
    """
    return float(_js_columns(*_vectors(a, b))[0])


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


def score_genes(truth: np.ndarray, predicted: np.ndarray, genes: Sequence[str]) -> pd.DataFrame:
    """Score a prediction gene by gene (each gene's vector over cells).

    Parameters
    ----------
    truth : numpy.ndarray
        Held-out expression, shape ``(cells, genes)``.
    predicted : numpy.ndarray
        Predicted expression, same shape; NaN entries make that gene's scores NaN.
    genes : sequence of str
        Gene names, one per column.

    Returns
    -------
    pandas.DataFrame
        One row per gene with columns ``gene, pearson, spearman, cosine, mse, rmse, ssim, js``.
    """
    t, p = _pair(truth, predicted)
    names = list(genes)
    if len(names) != t.shape[1]:
        raise ValueError(f"{len(names)} gene names for {t.shape[1]} columns")
    scores = _score_columns(t, p, GENE_METRICS)
    table = pd.DataFrame(scores, columns=list(GENE_METRICS))
    table.insert(0, "gene", names)
    return table


def score_cells(truth: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Score a prediction cell by cell (each cell's vector over genes).

    Parameters
    ----------
    truth, predicted : numpy.ndarray
        Held-out and predicted expression, both of shape ``(cells, genes)``; a NaN entry
        makes that cell's scores NaN.

    Returns
    -------
    pandas.DataFrame
        One row per cell (index = cell position) with columns
        ``pearson, spearman, cosine, mse, rmse``.
    """
    t, p = _pair(truth, predicted)
    scores = _score_columns(t.T, p.T, CELL_METRICS)
    return pd.DataFrame(scores, columns=list(CELL_METRICS), index=pd.RangeIndex(t.shape[0]))


# ---------------------------------------------------------------------------------------------
# aggregate ranking
# ---------------------------------------------------------------------------------------------


def _rank_medians(medians: pd.Series, higher_is_better: bool) -> pd.Series:
    """Rank groups so the best median gets the highest rank; NaN ranks lowest, ties averaged."""
    oriented = medians if higher_is_better else -medians
    return oriented.rank(method="average", ascending=True, na_option="top")


def rank_score(
    table: pd.DataFrame,
    group: str = "method",
    by: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> pd.Series:
    """Accuracy score (AS): the mean rank of each group over metrics and contexts.

    For every combination of the ``by`` columns (for example each dataset) and every metric,
    the groups (for example methods) are ranked by their median metric value over the rows of
    that combination (for example over genes). The best median gets the highest rank, equal
    to the number of groups, the worst gets 1; ties share the average rank; a NaN median
    (including a group with no rows in that combination) ranks below all others. The AS of a
    group is the mean of its ranks over all metrics and ``by`` combinations, so higher is
    better. Whether a metric is better high or low is read from :data:`HIGHER_IS_BETTER`.

    Parameters
    ----------
    table : pandas.DataFrame
        Long table of scores with a ``group`` column, the ``by`` columns and metric columns.
    group : str
        Column naming the compared entities.
    by : sequence of str, optional
        Columns defining separate contexts; ``None`` treats the whole table as one.
    metrics : sequence of str, optional
        Metric columns to use; defaults to the names in :data:`METRICS` present in ``table``.

    Returns
    -------
    pandas.Series
        AS per group, named ``"AS"``, sorted from best to worst.
    """
    by_cols = list(by) if by else []
    chosen = [m for m in METRICS if m in table.columns] if metrics is None else list(metrics)
    _check_rank_inputs(table, group, by_cols, chosen)
    groups = pd.Index(pd.unique(table[group]), name=group)
    contexts = table.groupby(by_cols, sort=False, dropna=False) if by_cols else [(None, table)]
    ranks = []
    for _, sub in contexts:
        medians = sub.groupby(group, sort=False)[chosen].median().reindex(groups)
        for metric in chosen:
            ranks.append(_rank_medians(medians[metric], HIGHER_IS_BETTER[metric]))
    score = pd.concat(ranks, axis=1).mean(axis=1)
    return score.rename("AS").sort_values(ascending=False, kind="mergesort")


def _check_rank_inputs(
    table: pd.DataFrame, group: str, by: list[str], metrics: list[str]
) -> None:
    """Raise a clear error for missing columns or metrics of unknown direction."""
    missing = [c for c in [group, *by, *metrics] if c not in table.columns]
    if missing:
        raise KeyError(f"columns not in table: {missing}")
    unknown = [m for m in metrics if m not in HIGHER_IS_BETTER]
    if unknown:
        raise ValueError(f"no known direction (higher/lower is better) for metrics {unknown}")
    if not metrics:
        raise ValueError("no metric columns to rank")

"""Moments of a reference streamed once, and the linear maps built from them.

``ridge`` and ``auto`` both need, over the reference cells, the means and
spreads of the genes they read (features) and of the genes they predict
(targets), the features' Gram matrix and the feature x target cross-products.
:func:`reference_moments` reads the reference block by block and accumulates
them in float64, so memory grows with genes, not with cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tessella.data.normalize import NormalizedView, usable_spread

FeatureMap = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Moments:
    """Centred second moments of features (x) and targets (y) over the same cells.

    Attributes
    ----------
    n
        Number of cells.
    mean_x, std_x, mean_y, std_y
        Per-gene means and standard deviations (1 where a gene is constant).
    xx
        Centred Gram matrix of the features, ``sum (x - mean_x)(x - mean_x)^T``.
    xy
        Centred cross-products, features x targets.
    """

    n: int
    mean_x: np.ndarray
    std_x: np.ndarray
    mean_y: np.ndarray
    std_y: np.ndarray
    xx: np.ndarray
    xy: np.ndarray

    def correlations(self) -> np.ndarray:
        """Pearson correlation of each feature with each target (features x targets)."""
        return self.xy / (self.n * np.outer(self.std_x, self.std_y))

    def feature_correlations(self) -> np.ndarray:
        """Correlation matrix of the features."""
        return self.xx / (self.n * np.outer(self.std_x, self.std_x))


def moments_of(x: np.ndarray, y: np.ndarray) -> Moments:
    """:class:`Moments` of in-memory features and targets (cells x genes each)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    return Moments(len(x), mean_x, usable_spread(xc.std(axis=0)), mean_y,
                   usable_spread(yc.std(axis=0)), xc.T @ xc, xc.T @ yc)


def reference_moments(view: NormalizedView, n_features: int,
                      features: FeatureMap | None = None,
                      targets: FeatureMap | None = None) -> Moments:
    """Stream :class:`Moments` from a view whose first ``n_features`` columns are the
    features and the rest the targets; ``features`` and ``targets`` map each block's
    columns first (e.g. to normal scores)."""
    n = 0
    sums: list[np.ndarray] = []
    for _, _, block in view.blocks():
        x, y = block[:, :n_features], block[:, n_features:]
        x = (x if features is None else features(x)).astype(np.float64)
        y = (y if targets is None else targets(y)).astype(np.float64)
        parts = [x.sum(axis=0), y.sum(axis=0), (y * y).sum(axis=0), x.T @ x, x.T @ y]
        sums = parts if not sums else [a + b for a, b in zip(sums, parts)]
        n += len(block)
    sum_x, sum_y, sum_yy, gram, cross = sums
    mean_x, mean_y = sum_x / n, sum_y / n
    xx = gram - n * np.outer(mean_x, mean_x)
    var_y = np.maximum(sum_yy / n - mean_y**2, 0.0)
    return Moments(n, mean_x, usable_spread(np.sqrt(np.maximum(np.diag(xx) / n, 0.0))),
                   mean_y, usable_spread(np.sqrt(var_y)), xx, cross - n * np.outer(mean_x, mean_y))


def ridge_coefficients(moments: Moments, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of targets on centred, unscaled features (scikit-learn's
    ``Ridge(alpha)`` with an intercept): coefficients (features x targets) and intercepts."""
    gram = moments.xx + alpha * np.eye(len(moments.xx))
    coef = np.linalg.lstsq(gram, moments.xy, rcond=None)[0]  # alpha = 0 may be singular
    return coef, moments.mean_y - moments.mean_x @ coef


@dataclass(frozen=True)
class LinearMap:
    """Targets as a linear function of standardised features.

    Attributes
    ----------
    coef
        Features x targets, applied to features standardised per data set.
    intercept
        Per-target value at the features' mean (the reference mean).
    fit
        Per-target correlation of the prediction with the target on the reference
        (in-sample, an upper bound of what transfers to another platform).
    """

    coef: np.ndarray
    intercept: np.ndarray
    fit: np.ndarray

    def predict(self, z: np.ndarray) -> np.ndarray:
        """Targets for standardised features ``z`` (cells x features), float32."""
        return z @ self.coef + self.intercept

    def columns(self, wanted: np.ndarray) -> LinearMap:
        """The map of some targets."""
        return LinearMap(self.coef[:, wanted], self.intercept[wanted], self.fit[wanted])


def correlation_transfer(moments: Moments) -> LinearMap:
    """Each target from the standardised features weighted by their reference
    correlation with it, scaled by least squares on the reference.

    ``z @ correlations`` is the first partial-least-squares component of each target
    (the limit of ridge regression on standardised features as its penalty grows):
    it keeps only the reference's feature-target correlations, not the feature
    covariances a ridge fit inverts, which differ between platforms. The slope is
    never negative, so the in-sample fit is the score's correlation with the target.
    """
    weights = moments.correlations()
    covariance = moments.xy / (moments.n * moments.std_x[:, None])  # cov(z_x, y)
    score_cov = np.einsum("fg,fg->g", weights, covariance)
    score_var = np.einsum("fg,fh,hg->g", weights, moments.feature_correlations(), weights)
    usable = score_var > 1e-12
    slope = np.where(usable, score_cov / np.where(usable, score_var, 1.0), 0.0)
    fit = np.where(usable, score_cov / np.sqrt(np.where(usable, score_var, 1.0)) / moments.std_y,
                   0.0)
    return LinearMap((weights * slope).astype(np.float32), moments.mean_y.astype(np.float32),
                     fit.astype(np.float32))

"""Normal scores: rank-based, ties share one score, inverse maps back; z-scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from tessella.data.normal_scores import fit_normal_scores
from tessella.data.normalize import NormalizedView, standardise


def _view(values: np.ndarray) -> NormalizedView:
    return NormalizedView(values, np.arange(values.shape[1]), None)


def test_scores_follow_ranks_and_ties_share_a_score():
    rng = np.random.default_rng(0)
    values = np.column_stack([rng.lognormal(size=5000),
                              np.where(rng.random(5000) < 0.4, 0.0, rng.gamma(2.0, size=5000))])
    values = values.astype(np.float32)
    scores = fit_normal_scores(_view(values)).transform(values)
    expected = norm.ppf(rankdata(values, axis=0) / (len(values) + 1))
    for j in range(2):
        assert np.corrcoef(scores[:, j], expected[:, j])[0, 1] > 0.999
    zeros = values[:, 1] == 0
    assert np.ptp(scores[zeros, 1]) == 0
    assert abs(scores[zeros, 1][0] - norm.ppf(0.2)) < 0.02  # the middle of the lowest 40%
    assert abs(scores[:, 0].mean()) < 0.02 and abs(scores[:, 0].std() - 1) < 0.02


def test_inverse_maps_scores_back_to_values():
    values = np.random.default_rng(1).gamma(3.0, size=(4000, 3)).astype(np.float32)
    fitted = fit_normal_scores(_view(values))
    back = fitted.inverse(fitted.transform(values))
    inside = (values >= fitted.knots[0]) & (values <= fitted.knots[-1])  # tails are clipped
    assert inside.mean() > 0.99
    np.testing.assert_allclose(back[inside], values[inside], atol=0.05 * values.std())


def test_large_data_are_sampled():
    values = np.random.default_rng(2).normal(size=(3000, 2)).astype(np.float32)
    small = fit_normal_scores(_view(values), max_cells=1000)
    assert small.knots.shape == (1000, 2)
    assert abs(np.median(small.transform(values))) < 0.1
    from_array = fit_normal_scores(values, max_cells=1000)
    np.testing.assert_array_equal(from_array.knots, small.knots)  # same cells either way


def test_z_scores_of_a_constant_gene_are_zero():
    """A gene of one repeated value has a float spread of rounding noise (~1e-15, not
    0): it is constant all the same, so its z-scores are 0, not noise over noise."""
    rng = np.random.default_rng(3)
    values = np.column_stack([rng.normal(2.0, 0.5, size=300), np.full(300, 2.9)])
    assert values[:, 1].std() > 0  # the rounding noise this test is about
    for dtype in (np.float32, np.float64):
        z, mean, std = standardise(values, dtype=dtype)
        assert z.dtype == dtype
        np.testing.assert_array_equal(z[:, 1], 0.0)
        assert std[1] == 1.0 and mean[1] == pytest.approx(2.9)
        np.testing.assert_allclose(z[:, 0], (values[:, 0] - values[:, 0].mean())
                                   / values[:, 0].std(), rtol=1e-6)

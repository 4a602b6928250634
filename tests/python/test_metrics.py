"""Tests for tessella.evaluate.metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from tessella.evaluate.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    cosine,
    js,
    mse,
    pearson,
    rank_score,
    rmse,
    score_cells,
    score_genes,
    spearman,
    ssim,
)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _lognorm(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return np.log1p(rng.poisson(2.0, size=shape).astype(float))


def test_perfect_prediction(rng: np.random.Generator) -> None:
    x = _lognorm(rng, (200, 1))[:, 0]
    assert pearson(x, x) == pytest.approx(1.0)
    assert spearman(x, x) == pytest.approx(1.0)
    assert cosine(x, x) == pytest.approx(1.0)
    assert mse(x, x) == 0.0
    assert rmse(x, x) == 0.0
    assert ssim(x, x) == pytest.approx(1.0)
    assert js(x, x) == pytest.approx(0.0, abs=1e-12)


def test_constant_prediction_correlation_is_nan_not_zero(rng: np.random.Generator) -> None:
    x = _lognorm(rng, (100, 1))[:, 0]
    const = np.full_like(x, 0.7)
    assert math.isnan(pearson(x, const))
    assert math.isnan(spearman(x, const))
    assert math.isnan(pearson(const, x))
    assert np.isfinite(cosine(x, const))
    assert 0.0 < cosine(x, const) <= 1.0
    assert math.isnan(cosine(x, np.zeros_like(x)))


def test_constant_gene_in_table_is_nan(rng: np.random.Generator) -> None:
    truth = _lognorm(rng, (50, 3))
    pred = truth.copy()
    pred[:, 1] = 1.25
    table = score_genes(truth, pred, ["a", "b", "c"])
    assert table.loc[1, ["pearson", "spearman"]].isna().all()
    assert table.loc[[0, 2], "pearson"].tolist() == pytest.approx([1.0, 1.0])
    assert np.isfinite(table.loc[1, "cosine"])


def test_anticorrelated() -> None:
    x = np.arange(10.0)
    assert pearson(x, -x) == pytest.approx(-1.0)
    assert spearman(x, 10 - x) == pytest.approx(-1.0)


def test_simple_values() -> None:
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 2.0, 5.0])
    assert mse(a, b) == pytest.approx(4.0 / 3.0)
    assert rmse(a, b) == pytest.approx(math.sqrt(4.0 / 3.0))
    assert cosine(a, b) == pytest.approx(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_ssim_matches_formula_and_drops_with_noise(rng: np.random.Generator) -> None:
    x = _lognorm(rng, (500, 1))[:, 0]
    noisy = np.clip(x + rng.normal(0, 0.5, size=x.shape), 0, None)
    a, b = x / x.max(), noisy / noisy.max()
    c1, c2 = 0.01**2, 0.03**2
    cov = np.mean((a - a.mean()) * (b - b.mean()))
    expected = ((2 * a.mean() * b.mean() + c1) * (2 * cov + c2)) / (
        (a.mean() ** 2 + b.mean() ** 2 + c1) * (a.var() + b.var() + c2)
    )
    assert ssim(x, noisy) == pytest.approx(expected)
    assert ssim(x, noisy) < ssim(x, x) - 0.05
    much_noisier = np.clip(x + rng.normal(0, 2.0, size=x.shape), 0, None)
    assert ssim(x, much_noisier) < ssim(x, noisy)


def test_ssim_scale_invariant_and_clips_negatives() -> None:
    x = np.array([0.0, 1.0, 2.0, 4.0])
    assert ssim(x, 3 * x) == pytest.approx(1.0)
    assert ssim(x, np.array([-5.0, 1.0, 2.0, 4.0])) == pytest.approx(1.0)


def test_js_symmetric_bounded_and_matches_scipy(rng: np.random.Generator) -> None:
    a = _lognorm(rng, (300, 1))[:, 0]
    b = _lognorm(rng, (300, 1))[:, 0]
    d = js(a, b)
    assert 0.0 < d < 1.0
    assert js(b, a) == pytest.approx(d)
    assert d == pytest.approx(jensenshannon(a, b, base=2) ** 2)
    assert js(a, 5 * a) == pytest.approx(0.0, abs=1e-12)
    disjoint = js(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert disjoint == pytest.approx(1.0)
    assert math.isnan(js(a, np.zeros_like(a)))


def test_nan_prediction_gives_nan_scores(rng: np.random.Generator) -> None:
    truth = _lognorm(rng, (40, 2))
    pred = truth + 0.1
    pred[3, 0] = np.nan
    table = score_genes(truth, pred, ["g0", "g1"])
    assert table.loc[0, list(METRICS)].isna().all()
    assert table.loc[1, list(METRICS)].notna().all()


def test_score_genes_matches_scipy(rng: np.random.Generator) -> None:
    truth = _lognorm(rng, (300, 8))
    pred = truth + rng.normal(0, 0.8, size=truth.shape)
    genes = [f"g{i}" for i in range(8)]
    table = score_genes(truth, pred, genes)
    assert list(table.columns) == ["gene", "pearson", "spearman", "cosine", "mse", "rmse",
                                   "ssim", "js"]
    assert table["gene"].tolist() == genes
    ref_p = [stats.pearsonr(truth[:, j], pred[:, j])[0] for j in range(8)]
    ref_s = [stats.spearmanr(truth[:, j], pred[:, j])[0] for j in range(8)]
    assert np.allclose(table["pearson"], ref_p)
    assert np.allclose(table["spearman"], ref_s)
    for j in range(8):
        assert table.loc[j, "ssim"] == pytest.approx(ssim(truth[:, j], pred[:, j]))
        assert table.loc[j, "js"] == pytest.approx(js(truth[:, j], pred[:, j]))
        assert table.loc[j, "rmse"] == pytest.approx(rmse(truth[:, j], pred[:, j]))


def test_score_cells_matches_scipy(rng: np.random.Generator) -> None:
    truth = _lognorm(rng, (20, 30))
    pred = truth + rng.normal(0, 0.5, size=truth.shape)
    table = score_cells(truth, pred)
    assert list(table.columns) == ["pearson", "spearman", "cosine", "mse", "rmse"]
    assert table.index.tolist() == list(range(20))
    ref_p = [stats.pearsonr(truth[i], pred[i])[0] for i in range(20)]
    ref_s = [stats.spearmanr(truth[i], pred[i])[0] for i in range(20)]
    assert np.allclose(table["pearson"], ref_p)
    assert np.allclose(table["spearman"], ref_s)
    assert np.allclose(table["mse"], ((truth - pred) ** 2).mean(axis=1))


def test_score_genes_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        score_genes(np.zeros((3, 2)), np.zeros((3, 3)), ["a", "b"])
    with pytest.raises(ValueError):
        score_genes(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])


@pytest.mark.parametrize(
    ("metric", "undefined"),
    [(pearson, "is constant or contains NaN"), (spearman, "is constant or contains NaN"),
     (cosine, "is all zeros or contains NaN"), (mse, "contains NaN"), (rmse, "contains NaN"),
     (ssim, "contains NaN"), (js, "sums to 0 after clipping or contains NaN")],
)
def test_scalar_metrics_document_their_parameters_and_result(metric, undefined) -> None:
    """The sections the scalar metrics share are written once and reach each docstring."""
    doc = metric.__doc__
    assert "Parameters\n----------\na, b : numpy.ndarray\n    1-D vectors" in doc
    assert "Returns\n-------\nfloat\n" in doc
    assert doc.rstrip().endswith(f"NaN if either vector {undefined}.")


def test_higher_is_better_covers_metrics() -> None:
    assert set(METRICS) <= set(HIGHER_IS_BETTER)
    assert HIGHER_IS_BETTER["rmse"] is False and HIGHER_IS_BETTER["js"] is False
    assert HIGHER_IS_BETTER["ari"] is True and HIGHER_IS_BETTER["asw"] is True


def _table() -> pd.DataFrame:
    # Medians per (dataset, method):
    #   d1: pearson A=0.9, B=0.5, C=0.1 ; rmse A=0.2, B=0.2, C=0.5
    #   d2: pearson A=0.3, B=0.8, C=NaN ; rmse A=0.1, B=0.4, C=0.3
    rows = []
    values = {
        ("d1", "A"): ([0.8, 0.9, 1.0], [0.1, 0.2, 0.3]),
        ("d1", "B"): ([0.4, 0.5, 0.6], [0.2, 0.2, 0.2]),
        ("d1", "C"): ([0.0, 0.1, 0.2], [0.4, 0.5, 0.6]),
        ("d2", "A"): ([0.2, 0.3, 0.4], [0.0, 0.1, 0.2]),
        ("d2", "B"): ([0.7, 0.8, 0.9], [0.3, 0.4, 0.5]),
        ("d2", "C"): ([np.nan] * 3, [0.2, 0.3, 0.4]),
    }
    for (dataset, method), (pear, err) in values.items():
        for p, e in zip(pear, err, strict=True):
            rows.append({"dataset": dataset, "method": method, "pearson": p, "rmse": e})
    return pd.DataFrame(rows)


def test_rank_score_order_ties_and_nan() -> None:
    score = rank_score(_table(), by=["dataset"], metrics=["pearson", "rmse"])
    # d1 pearson: A3 B2 C1 ; d1 rmse (tie A/B best): A2.5 B2.5 C1
    # d2 pearson (C NaN lowest): B3 A2 C1 ; d2 rmse: A3 C2 B1
    expected = {"A": (3 + 2.5 + 2 + 3) / 4, "B": (2 + 2.5 + 3 + 1) / 4, "C": (1 + 1 + 1 + 2) / 4}
    assert score.name == "AS"
    assert score.index.tolist() == ["A", "B", "C"]
    assert score.to_dict() == pytest.approx(expected)


def test_rank_score_without_by_and_default_metrics() -> None:
    table = _table()
    table = table[table["dataset"] == "d1"].drop(columns="dataset")
    score = rank_score(table)
    assert score.to_dict() == pytest.approx({"A": 2.75, "B": 2.25, "C": 1.0})


def test_rank_score_missing_method_ranks_lowest() -> None:
    table = _table()
    table = table[~((table["dataset"] == "d1") & (table["method"] == "A"))]
    score = rank_score(table, by=["dataset"], metrics=["rmse"])
    # d1 rmse: A missing -> 1, B 3, C 2 ; d2 rmse: A3 C2 B1
    assert score.to_dict() == pytest.approx({"A": 2.0, "B": 2.0, "C": 2.0})


def test_rank_score_rejects_unknown_metric() -> None:
    table = _table().assign(weird=1.0)
    with pytest.raises(ValueError):
        rank_score(table, metrics=["weird"])
    with pytest.raises(KeyError):
        rank_score(table, metrics=["ssim"])

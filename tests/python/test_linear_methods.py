"""ridge, ridge_normal, spage and auto on small data: the numbers they rest on."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

import tessella
from tessella.data.normalize import normalized_view
from tessella.models.linear import correlation_transfer, moments_of, reference_moments
from tessella.models.spage import principal_vectors, spage_weights
from tessella.models.storage import load_model

QUIET = {"verbose": False}


def _log_normalised(counts: np.ndarray, columns: np.ndarray, target: float) -> np.ndarray:
    totals = counts[:, columns].sum(axis=1, keepdims=True)
    return np.log1p(counts / totals * target)


def test_streamed_moments_equal_in_memory_moments():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(1000, 12)).astype(np.float32) + 1
    view, _ = normalized_view(counts, np.arange(12), is_counts=True)
    values = view.to_array()
    streamed = reference_moments(view, 5)
    direct = moments_of(values[:, :5], values[:, 5:])
    for name in ("mean_x", "std_x", "mean_y", "std_y", "xx", "xy"):
        np.testing.assert_allclose(getattr(streamed, name), getattr(direct, name),
                                   rtol=1e-4, atol=1e-3)


def test_correlation_transfer_is_correlation_weighted_and_calibrated():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 6))
    y = x @ rng.normal(size=(6, 3)) + rng.normal(size=(2000, 3))
    moments = moments_of(x, y)
    transfer = correlation_transfer(moments)
    z = (x - x.mean(0)) / x.std(0)
    correlations = (z.T @ ((y - y.mean(0)) / y.std(0))) / len(x)
    score = z @ correlations
    predicted = transfer.predict(z.astype(np.float32))
    for g in range(3):  # the score, scaled by least squares on the reference
        slope = np.polyfit(score[:, g], y[:, g], 1)[0]
        np.testing.assert_allclose(transfer.coef[:, g], correlations[:, g] * slope, rtol=1e-4)
        assert transfer.fit[g] == pytest.approx(np.corrcoef(score[:, g], y[:, g])[0, 1],
                                                rel=1e-4)
        assert transfer.fit[g] == pytest.approx(np.corrcoef(predicted[:, g], y[:, g])[0, 1],
                                                rel=1e-4)
    np.testing.assert_allclose(predicted.mean(0), y.mean(0), atol=1e-4)


def test_ridge_equals_scikit_learn_ridge(sim):
    spatial, reference = sim.spatial[:, :20].copy(), sim.reference
    out = tessella.impute(spatial, reference, method="ridge", alpha=3.0, **QUIET)
    shared = np.arange(20)
    target = np.median(spatial.X.sum(1))
    x_ref = _log_normalised(reference.X, shared, target)
    x_sp = _log_normalised(spatial.X, shared, target)
    expected = Ridge(alpha=3.0).fit(x_ref[:, :20], x_ref[:, 20:]).predict(x_sp[:, :20])
    np.testing.assert_allclose(out.X[:, 20:], expected, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("method", ["ridge", "ridge_normal", "spage", "auto"])
def test_refined_measured_genes_follow_the_input_and_runs_repeat(sim, method):
    spatial = sim.spatial[:, :20].copy()
    first = tessella.impute(spatial, sim.reference, method=method, seed=2, **QUIET)
    again = tessella.impute(spatial, sim.reference, method=method, seed=2, **QUIET)
    counts = spatial.X
    measured = _log_normalised(counts, np.arange(20), np.median(counts.sum(1)))
    agreement = [np.corrcoef(first.X[:, g], measured[:, g])[0, 1] for g in range(20)]
    assert np.median(agreement) > 0.5
    assert first.n_vars == sim.reference.n_vars and np.isfinite(first.X).all()
    assert first.var["measured"].sum() == 20
    np.testing.assert_array_equal(first.X, again.X)


@pytest.mark.parametrize("method", ["ridge", "ridge_normal", "spage", "auto"])
def test_imputed_genes_follow_the_truth(sim, method):
    """Simulated held-out genes: each method's median gene-wise Spearman is well above 0."""
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=[method], folds=3, seed=0,
                                **QUIET)
    assert scores.attrs["summary"].loc[method, "spearman"] > 0.3


@pytest.mark.parametrize("method", ["ridge", "spage", "auto"])
def test_save_and_load_give_the_same_prediction(sim, tmp_path, method):
    spatial = sim.spatial[:, :20].copy()
    inputs = tessella.inputs.load_inputs([tessella.models.get_method(method)], spatial,
                                         sim.reference)
    task = tessella.runner.task_for(inputs, tessella.models.get_method(method))
    model = tessella.models.get_method(method)(**QUIET).fit(task)
    model.save(tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    np.testing.assert_array_equal(model.predict(task).values, loaded.predict(task).values)


def test_auto_chooses_its_setting_by_inner_cross_validation(sim):
    spatial = sim.spatial[:, :20].copy()
    inputs = tessella.inputs.load_inputs([tessella.models.get_method("auto")], spatial,
                                         sim.reference)
    task = tessella.runner.task_for(inputs, tessella.models.get_method("auto"))
    model = tessella.models.get_method("auto")(**QUIET).fit(task)
    assert len(model.settings) == 2 * 5  # two scales x five neighbour counts
    best = max(model.settings, key=lambda s: s.score)
    assert (model.fitted["scale"], model.fitted["smoothing"]) == (best.scale, best.smoothing)
    fixed = tessella.models.get_method("auto")(scale="zscore", smoothing=1, **QUIET).fit(task)
    assert fixed.settings == [] and fixed.fitted["smoothing"] == 1
    reliability = model.predict(task).reliability
    assert np.all((reliability >= 0) & (reliability <= 1))


def test_spage_weights_and_principal_vectors():
    weights = spage_weights(np.array([[0.9, 0.5, -0.2], [0.8, -0.5, -0.6]]))
    # distances 0.1, 0.5 (1.2 excluded): (1 - d / 0.6) / (2 - 1)
    np.testing.assert_allclose(weights[0], [1 - 0.1 / 0.6, 1 - 0.5 / 0.6, 0.0])
    np.testing.assert_allclose(weights[1], [1.0, 0.0, 0.0])  # a single close neighbour
    rng = np.random.default_rng(0)
    source = rng.normal(size=(300, 8)).astype(np.float32)
    vectors = principal_vectors(source, source.copy(), 4, 0.3)
    assert vectors.shape == (8, 4)  # identical data: every pair is similar
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(4), atol=1e-4)


def test_auto_with_two_shared_genes_does_not_smooth(sim):
    spatial = sim.spatial[:, :2].copy()
    out = tessella.impute(spatial, sim.reference, genes=["Gene010"], **QUIET)
    detected = ~out.obs["tessella_empty"].to_numpy()  # cells without counts get NaN
    assert out.uns["tessella"]["method"] == "auto" and np.isfinite(out.X[detected]).all()
    inputs = tessella.inputs.load_inputs([tessella.models.get_method("auto")], spatial,
                                         sim.reference)
    task = tessella.runner.task_for(inputs, tessella.models.get_method("auto"), genes=["Gene010"])
    model = tessella.models.get_method("auto")(**QUIET).fit(task)
    assert model.fitted["smoothing"] == 1
    assert {s.smoothing for s in model.settings} == {1}  # only the scale is chosen
    fixed = tessella.models.get_method("auto")(scale="normal", smoothing=5, **QUIET).fit(task)
    assert fixed.fitted["smoothing"] == 1  # too few genes to smooth over
    assert np.isnan(fixed.predict(task).reliability).all()  # nothing cross-validated


def test_ridge_without_penalty_survives_a_gene_the_reference_never_detects(sim):
    reference = sim.reference.copy()
    reference.X[:, 0] = 0
    out = tessella.impute(sim.spatial[:, :20].copy(), reference, method="ridge", alpha=0.0,
                          **QUIET)
    assert np.isfinite(out.X).all()


@pytest.mark.parametrize("method", ["ridge", "spage", "auto"])
def test_predict_before_fit_is_refused(sim, method):
    inputs = tessella.inputs.load_inputs([tessella.models.get_method(method)], sim.spatial,
                                         sim.reference)
    task = tessella.runner.task_for(inputs, tessella.models.get_method(method))
    with pytest.raises(RuntimeError, match="call fit"):
        tessella.models.get_method(method)(**QUIET).predict(task)

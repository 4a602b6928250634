"""Methods run outside the engine (Seurat from R, ...) scored by the same harness:
``benchmark_folds`` gives the folds, ``external=`` takes their predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import tessella
from tessella import parts
from tessella.evaluate.harness import _held_out_positions, benchmark_folds, fold_truth
from tessella.inputs import load_inputs
from tessella.models import get_method


def _inputs(sim):
    return load_inputs([get_method("knn")], sim.spatial, reference=sim.reference)


def _truths(sim, split):
    inputs = _inputs(sim)
    return [fold_truth(inputs, *_held_out_positions(inputs, held_out)) for held_out in split]


def test_benchmark_folds_are_the_folds_the_benchmark_uses(sim):
    split = benchmark_folds(_inputs(sim), ["knn"], folds=3, seed=4, external=["outside"])
    truths = _truths(sim, split)
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3, seed=4,
                                verbose=False, external={"outside": truths})
    for fold, held_out in enumerate(split):
        for method in ("knn", "outside"):
            rows = scores[(scores.method == method) & (scores.fold == fold)]
            assert list(rows.gene) == held_out


def test_external_truth_scores_one_and_enters_every_table(sim):
    split = benchmark_folds(_inputs(sim), ["knn"], folds=3, seed=0, external=["truth"])
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3,
                                verbose=False, clustering=True,
                                external={"truth": _truths(sim, split)},
                                external_seconds={"truth": 1.5})
    exact = scores[scores.method == "truth"]
    assert len(exact) == len(scores[scores.method == "knn"]) == sim.spatial.n_vars
    np.testing.assert_allclose(exact.pearson, 1.0, atol=1e-5)
    np.testing.assert_allclose(exact.rmse, 0.0, atol=1e-5)
    assert list(scores.attrs["summary"].index) == ["knn", "truth"]
    assert scores.attrs["seconds"]["truth"] == 1.5
    assert scores.attrs["seconds"]["knn"] > 0
    assert scores.attrs["clustering"].loc["truth", "ari"] == pytest.approx(1.0)
    assert scores.attrs["parameters"]["knn"]["k"] == 50
    assert "truth" not in scores.attrs["parameters"]


def test_external_only_and_data_frames_matched_by_gene(sim):
    split = benchmark_folds(_inputs(sim), [], folds=3, seed=0, external=["outside"])
    frames = [pd.DataFrame(t, columns=[g.upper() for g in held]).iloc[:, ::-1]
              for t, held in zip(_truths(sim, split), split)]
    scores = tessella.benchmark(sim.spatial, sim.reference, methods=[], folds=3,
                                verbose=False, external={"outside": frames})
    np.testing.assert_allclose(scores.pearson, 1.0, atol=1e-5)
    assert np.isnan(scores.attrs["seconds"]["outside"])


def test_external_predictions_of_the_wrong_shape_are_refused(sim):
    split = benchmark_folds(_inputs(sim), ["knn"], folds=3, seed=0, external=["bad"])
    truths = _truths(sim, split)
    wrong = [truths[0][:, 1:], *truths[1:]]
    with pytest.raises(ValueError, match=r"'bad', fold 0: prediction of shape .*expected cells"):
        tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3,
                           verbose=False, external={"bad": wrong})
    with pytest.raises(ValueError, match="2 prediction\\(s\\) for 3 folds"):
        tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3,
                           verbose=False, external={"bad": truths[:2]})
    with pytest.raises(ValueError, match="also an engine method"):
        tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3,
                           verbose=False, external={"knn": truths})
    lacking = pd.DataFrame(truths[0], columns=["x"] * truths[0].shape[1])
    with pytest.raises(ValueError, match="lacks held-out gene"):
        tessella.benchmark(sim.spatial, sim.reference, methods=["knn"], folds=3,
                           verbose=False, external={"bad": [lacking, *truths[1:]]})


def _parts(adata):
    return {"x": adata.X.T, "genes": list(adata.var_names), "cells": list(adata.obs_names)}


def test_parts_folds_and_external_round_trip(sim):
    options = {"methods": ["knn"], "folds": 3, "seed": 2, "external": ["seurat"]}
    got = parts.run_parts("folds", _parts(sim.spatial), _parts(sim.reference), None, options)
    split = benchmark_folds(_inputs(sim), ["knn"], folds=3, seed=2, external=["seurat"])
    assert got["folds"] == split
    assert got["reference_genes"] == got["spatial_genes"] == list(sim.spatial.var_names)
    assert got["spatial_is_counts"] and got["reference_is_counts"]
    counts = sim.spatial.X
    measured = [i for i, g in enumerate(sim.spatial.var_names) if g not in split[0]]
    assert got["target_sums"][0] == pytest.approx(np.median(counts[:, measured].sum(axis=1)))
    external = {"seurat": [{"x": t.T, "genes": held} for t, held in
                           zip(_truths(sim, split), split)]}
    result = parts.run_parts("benchmark", _parts(sim.spatial), _parts(sim.reference), None,
                             {"methods": ["knn"], "folds": 3, "seed": 2, "verbose": False,
                              "clustering": True, "external": external,
                              "flat": {"k": 7}})
    assert "error" not in result, result.get("error")
    assert result["summary"]["method"] == ["knn", "seurat"]
    assert result["clustering"]["method"] == ["knn", "seurat"]
    assert set(result["seconds"]) == {"knn", "seurat"}
    assert result["parameters"]["knn"]["k"] == 7


def test_flat_parameters_go_to_every_method_that_has_them():
    resolved = parts.resolve_params(["knn", "mean", "refine"], {"refine": {"max_epochs": 9}},
                                    {"max_epochs": 1, "k": 5})
    assert resolved["knn"] == {"k": 5}
    assert resolved["mean"] == {}
    assert resolved["refine"] == {"max_epochs": 9}
    with pytest.raises(ValueError, match="'max_epochs'"):
        parts.resolve_params(["knn", "mean"], None, {"max_epochs": 1})
    with pytest.raises(ValueError, match="'refine', which is not among"):
        parts.resolve_params(["knn"], {"refine": {"max_epochs": 1}}, None)
    refused = parts.run_parts("folds", {"x": np.ones((2, 3)), "genes": ["a", "b"],
                                        "cells": ["c1", "c2", "c3"]},
                              options={"methods": ["mean"], "flat": {"bogus": 1}})
    assert "'bogus'" in refused["error"]

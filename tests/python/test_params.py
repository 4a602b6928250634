"""Hyper-parameters: declared ranges refused by name, listed with defaults and meanings,
data-dependent caps noted, latent spaces returned."""

from __future__ import annotations

import dataclasses
import logging
import re

import numpy as np
import pytest

import tessella
from tessella.cli import main
from tessella.models import get_method
from tessella.params import bounded, check_ranges, declared_ranges, describe_params

#: Methods whose parameters this suite checks (others' methods have their own tests).
METHODS = ("knn", "mean", "graph", "refine", "diffusion", "auto", "ridge", "ridge_normal",
           "spage")

#: (method, parameter, bad value, the range the message must name).
OUT_OF_RANGE = [
    ("knn", "k", 0, ">= 1"),
    ("knn", "k", -1, ">= 1"),
    ("knn", "n_components", 0, ">= 1"),
    ("knn", "block_size", 0, ">= 1"),
    ("knn", "seed", -1, ">= 0"),
    ("mean", "seed", -3, ">= 0"),
    ("graph", "k", 0, ">= 1"),
    ("graph", "alpha", 1.5, "between 0 and 1"),
    ("graph", "latent", 0, ">= 1"),
    ("graph", "hidden", 0, ">= 1"),
    ("graph", "graph_edges", 0, ">= 1"),
    ("graph", "rounds", 0, ">= 1"),
    ("graph", "ae_epochs", 0, ">= 1"),
    ("graph", "cosine_weight", -1.0, ">= 0"),
    ("graph", "reliability_folds", 1, ">= 2"),
    ("graph", "max_epochs", 0, ">= 1"),
    ("graph", "batch_size", 0, ">= 1"),
    ("refine", "max_epochs", 0, ">= 1"),
    ("refine", "batch_size", 0, ">= 1"),
    ("refine", "lr", 0.0, ">= 1e-08"),
    ("refine", "weight_decay", -0.1, ">= 0"),
    ("refine", "val_fraction", 1.0, "between 0 and 0.9"),
    ("refine", "patience", 0, ">= 1"),
    ("refine", "precision", "16", "one of '32', 'bf16'"),
    ("refine", "latent", 0, ">= 1"),
    ("refine", "n_layers", 0, ">= 1"),
    ("refine", "gene_layers", 0, ">= 1"),
    ("refine", "kernel_power", -1.0, ">= 0"),
    ("refine", "output", "relu", "one of 'softplus', 'identity'"),
    ("refine", "corruption", "gauss", "one of 'none', 'poisson'"),
    ("refine", "mask_rate", 2.0, "between 0 and 1"),
    ("diffusion", "max_epochs", 0, ">= 1"),
    ("diffusion", "batch_size", 0, ">= 1"),
    ("diffusion", "width", 0, ">= 1"),
    ("diffusion", "heads", 0, ">= 1"),
    ("diffusion", "timesteps", 0, ">= 1"),
    ("diffusion", "sampling_steps", 0, ">= 1"),
    ("diffusion", "samples", 0, ">= 1"),
    ("diffusion", "kl_weight", -0.5, ">= 0"),
    ("auto", "smoothing", 0, ">= 1"),
    ("auto", "scale", "log", "one of 'auto', 'zscore', 'normal'"),
    ("auto", "inner_folds", 1, ">= 2"),
    ("ridge", "alpha", -1.0, ">= 0"),
    ("ridge", "scale", "zscore", "one of 'log', 'normal'"),
    ("spage", "k", 0, ">= 1"),
    ("spage", "min_similarity", 1.5, "between 0 and 1"),
]


@pytest.mark.parametrize(("method", "name", "value", "allowed"), OUT_OF_RANGE)
def test_out_of_range_values_are_refused_by_name(method, name, value, allowed):
    with pytest.raises(ValueError) as err:
        get_method(method)(**{name: value})
    assert str(err.value) == f"parameter {name!r} must be {allowed}, got {value!r}."


def _outside(limits, kind: str) -> list:
    """Values just outside a range (ints for int parameters)."""
    if limits.choices is not None:
        return ["not-a-choice"]
    step = 1 if kind.startswith("int") else max(abs(limits.low or 0.0), 1.0) * 0.5
    values = [] if limits.low is None else [limits.low - step]
    return values + ([] if limits.high is None else [limits.high + step])


@pytest.mark.parametrize("method", METHODS)
def test_every_declared_range_is_enforced(method):
    cls = get_method(method)
    kinds = {f.name: str(f.type) for f in dataclasses.fields(cls.params_class)}
    ranges = declared_ranges(cls.params_class)
    assert set(ranges) - {"seed"} or method == "mean"
    for name, limits in ranges.items():
        for value in _outside(limits, kinds[name]):
            with pytest.raises(ValueError, match=rf"^parameter '{name}' must be "
                                                 rf"{re.escape(limits.describe())}, got "):
                cls(**{name: value})


@pytest.mark.parametrize("method", METHODS)
def test_defaults_and_edge_values_are_accepted(method):
    cls = get_method(method)
    cls()
    for name, limits in declared_ranges(cls.params_class).items():
        if limits.low is not None:
            extra = {"sampling_steps": 1} if name == "timesteps" else {}
            cls(**{name: limits.low, **extra})
        if limits.high is not None:
            cls(**{name: limits.high})


@pytest.mark.parametrize("method", ["graph", "diffusion"])
def test_optional_parameters_take_none(method):
    get_method(method)(k=None) if method == "graph" else get_method(method)(max_epochs=None)


def test_bounded_and_check_ranges_on_a_new_dataclass():
    @dataclasses.dataclass
    class Params:
        size: int = bounded(3, low=1, high=10)
        mode: str = bounded("a", choices=("a", "b"))

    @dataclasses.dataclass
    class Longer(Params):
        size: int = 5  # a new default keeps the base's range

    check_ranges(Params())
    with pytest.raises(ValueError, match=r"parameter 'size' must be between 1 and 10, got 11"):
        check_ranges(Params(size=11))
    with pytest.raises(ValueError, match=r"parameter 'mode' must be one of 'a', 'b', got 'c'"):
        check_ranges(Params(mode="c"))
    with pytest.raises(ValueError, match=r"parameter 'size' must be between 1 and 10, got 0"):
        check_ranges(Longer(size=0))
    with pytest.raises(ValueError, match="outside its own range"):
        bounded(0, low=1)


def test_listing_has_defaults_ranges_and_meanings():
    table = tessella.available_methods(parameters=True)
    assert list(table.columns) == ["method", "parameter", "type", "default", "range",
                                   "meaning"]
    knn = table[table["method"] == "knn"].set_index("parameter")
    assert list(knn.index) == ["neighbors", "k", "n_components", "block_size"]
    assert knn.loc["neighbors", "range"] == "one of 'auto', 'exact', 'faiss', 'hnsw'"
    assert knn.loc["k", "default"] == 50 and knn.loc["k", "range"] == ">= 1"
    assert knn.loc["k", "meaning"].startswith("Reference neighbours per spatial cell")
    graph = table[table["method"] == "graph"].set_index("parameter")
    assert graph.loc["k", "range"] == "None or >= 1"
    assert graph.loc["max_epochs", "default"] == 30
    assert graph.loc["lr", "meaning"].startswith("Adam learning rate")
    assert "seed" not in set(table["parameter"])
    for method in ("knn", "graph", "refine", "diffusion"):
        rows = table[table["method"] == method]
        assert len(rows) and rows["meaning"].str.len().gt(0).all(), method
    defaults = {row["parameter"]: row["default"]
                for row in describe_params(get_method("refine").params_class)}
    assert defaults == dataclasses.asdict(get_method("refine").params_class())


def test_methods_table_keeps_its_columns():
    table = tessella.available_methods()
    assert {"method", "summary", "requires_reference", "requires_embeddings"} <= \
        set(table.columns)


def _sim():
    return tessella.datasets.simulate(n_cells=60, n_genes=20, n_reference=40, seed=3)


def test_knn_caps_a_chosen_k_with_a_note_and_returns_pca_coordinates(caplog):
    sim = _sim()
    spatial = sim.spatial[:, :15].copy()
    with caplog.at_level(logging.WARNING):
        out = tessella.impute(spatial, sim.reference, "knn", k=10_000, n_components=1000,
                              verbose=False)
    notes = out.uns["tessella"]["notes"]
    assert "parameter 'k' = 10000 is more than the reference cells (40); using 40." in notes
    assert any(n.startswith("parameter 'n_components' = 1000 is more than") for n in notes)
    assert "parameter 'k' = 10000" in caplog.text
    assert out.obsm["X_tessella"].shape == (60, 14)
    default = tessella.impute(spatial, sim.reference, "knn", verbose=False)
    assert default.uns["tessella"]["notes"] == []  # the default k = 50 is capped silently
    assert np.allclose(default.X, out.X, atol=1e-5)


def test_graph_returns_its_autoencoder_latent():
    sim = _sim()
    out = tessella.impute(sim.spatial[:, :15].copy(), sim.reference, "graph", k=200,
                          latent=6, max_epochs=1, ae_epochs=1, rounds=1, device="cpu",
                          verbose=False)
    assert out.obsm["X_tessella"].shape == (60, 6)
    assert np.isfinite(out.obsm["X_tessella"]).all()
    assert "parameter 'k' = 200 is more than the reference cells (40); using 40." in \
        out.uns["tessella"]["notes"]


@pytest.mark.parametrize(("method", "param", "message"), [
    ("knn", "k=0", "parameter 'k' must be >= 1, got 0"),
    ("graph", "batch_size=0", "parameter 'batch_size' must be >= 1, got 0"),
])
def test_cli_out_of_range_is_one_line(tmp_path, capsys, method, param, message):
    sim = _sim()
    spatial, reference = tmp_path / "s.h5ad", tmp_path / "r.h5ad"
    sim.spatial[:, :15].copy().write_h5ad(spatial)
    sim.reference.write_h5ad(reference)
    code = main(["impute", str(spatial), "--reference", str(reference), "--method", method,
                 "--param", param, "--out", str(tmp_path / "o.h5ad"), "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip() == f"tessella: error: {message}."
    assert "Traceback" not in captured.err + captured.out


def test_cli_info_lists_hyper_parameters(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "hyper-parameters" in out
    assert "    k = 50  (>= 1)  Reference neighbours per spatial cell" in out

"""Peer methods (tangram, gimvi, stplus): listed and refused with the install
command when their package is absent; small real runs when it is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import spearmanr

import tessella
from tessella.cli import main
from tessella.models import get_method
from tessella.models.peers.common import PEERS_INSTALL

N_MEASURED = 30
PEERS = {"tangram": ("tangram", "tangram-sc"), "gimvi": ("scvi", "scvi-tools"),
         "stplus": ("stPlus", "stplus")}
# Small and CPU-sized: each run takes seconds.
SMALL = {"tangram": {}, "gimvi": {"max_epochs": 30}, "stplus": {"max_epochs": 100}}


def installed(method: str) -> pytest.MarkDecorator:
    module, package = PEERS[method]
    return pytest.mark.skipif(importlib.util.find_spec(module) is None,
                              reason=f"{package} not installed: {PEERS_INSTALL}")


@pytest.fixture()
def absent(monkeypatch):
    """Every peer reported as not installed."""
    for method in PEERS:
        monkeypatch.setattr(get_method(method), "available", classmethod(lambda cls: False))


@pytest.fixture(scope="module")
def held_out():
    """Spatial data measuring 30 of 40 genes, a reference with all 40, and the truth
    of the 10 held-out genes normalised like the measured ones."""
    sim = tessella.datasets.simulate(n_cells=300, n_genes=40, n_reference=500, seed=0)
    counts = np.asarray(sim.spatial.X, dtype=np.float64)
    totals = counts[:, :N_MEASURED].sum(axis=1, keepdims=True)
    normalised = np.log1p(counts / totals * np.median(totals))
    return sim.spatial[:, :N_MEASURED].copy(), sim.reference, normalised


def test_peers_are_registered_and_listed():
    table = tessella.available_methods().set_index("method")
    assert {"tangram", "gimvi", "stplus"} <= set(table.index)
    assert {"available", "install"} <= set(table.columns)
    for method, (module, _) in PEERS.items():
        assert bool(table.loc[method, "available"]) == (importlib.util.find_spec(module)
                                                        is not None)
        assert bool(table.loc[method, "requires_reference"])
    assert bool(table.loc["knn", "available"]) and table.loc["knn", "install"] == ""


def test_absent_peers_are_listed_with_the_install_command(absent, capsys):
    table = tessella.available_methods().set_index("method")
    for method in PEERS:
        assert not table.loc[method, "available"]
        assert table.loc[method, "install"] == "pip install 'tessella[peers]'"
    assert main(["info"]) == 0
    out = capsys.readouterr().out.split("methods:", 1)[1]
    rows = [line for line in out.splitlines() if line.split()[:1] == ["tangram"]]
    assert rows and "False" in rows[0] and "pip install 'tessella[peers]'" in rows[0]


def test_absent_peer_is_a_user_error_before_any_work(absent, held_out, monkeypatch):
    spatial, reference, _ = held_out
    with pytest.raises(ValueError, match=r"tangram.*pip install 'tessella\[peers\]'"):
        tessella.impute(spatial, reference, method="tangram", verbose=False)
    with pytest.raises(ValueError, match=r"pip install 'tessella\[peers\]'"):
        get_method("gimvi")()
    # benchmark refuses before running the first method on the first fold
    monkeypatch.setattr(tessella.api, "run_benchmark",
                        lambda *args, **kwargs: pytest.fail("benchmark started"))
    with pytest.raises(ValueError, match=r"stplus.*pip install 'tessella\[peers\]'"):
        tessella.benchmark(spatial, reference, methods=["knn", "stplus"], verbose=False)


def test_absent_peer_exits_with_a_usage_error(absent, tmp_path, held_out, capsys):
    spatial, reference, _ = held_out
    spatial.write_h5ad(tmp_path / "spatial.h5ad")
    reference.write_h5ad(tmp_path / "reference.h5ad")
    code = main(["benchmark", str(tmp_path / "spatial.h5ad"), "--reference",
                 str(tmp_path / "reference.h5ad"), "--methods", "knn,tangram", "--quiet"])
    assert code != 0
    assert "pip install 'tessella[peers]'" in capsys.readouterr().err


def test_importing_tessella_loads_no_peer_package():
    code = ("import sys, tessella; tessella.available_methods(); "
            "print(sorted(m for m in ('tangram', 'scvi', 'stPlus') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.strip() == "[]"


def _check_run(method: str, held_out) -> None:
    spatial, reference, truth = held_out
    out = tessella.impute(spatial, reference, method=method, seed=0, device="cpu",
                          verbose=False, **SMALL[method])
    values = np.asarray(out.X)
    assert out.shape == (spatial.n_obs, 40)
    assert list(out.var_names[:N_MEASURED]) == list(spatial.var_names)
    assert out.var["measured"].sum() == N_MEASURED
    np.testing.assert_allclose(values[:, :N_MEASURED], truth[:, :N_MEASURED], rtol=1e-5,
                               atol=1e-5)
    assert np.isfinite(values).all()
    correlations = [spearmanr(values[:, g], truth[:, g])[0] for g in range(N_MEASURED, 40)]
    assert np.nanmean(correlations) > 0.2


@installed("tangram")
def test_tangram_imputes_held_out_genes(held_out):
    _check_run("tangram", held_out)


@installed("tangram")
def test_tangram_in_the_benchmark_beside_knn(held_out):
    spatial, reference, _ = held_out
    scores = tessella.benchmark(spatial, reference, methods=["knn", "tangram"], folds=3,
                                seed=0, verbose=False, params={"tangram": {"mode": "cells"}})
    assert set(scores["method"]) == {"knn", "tangram"}
    assert scores.attrs["summary"].loc["tangram", "spearman"] > 0.2
    assert scores.attrs["seconds"]["tangram"] > 0


@installed("gimvi")
def test_gimvi_imputes_held_out_genes(held_out):
    _check_run("gimvi", held_out)


@installed("stplus")
def test_stplus_imputes_held_out_genes(held_out):
    _check_run("stplus", held_out)


@installed("tangram")
def test_peer_runs_are_reproducible(held_out):
    spatial, reference, _ = held_out
    first, second = (tessella.impute(spatial, reference, method="tangram", seed=3,
                                     verbose=False, epochs=50) for _ in range(2))
    np.testing.assert_array_equal(np.asarray(first.X), np.asarray(second.X))

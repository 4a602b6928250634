"""Input errors speak the language of whoever called: Python advice for the
Python API, R advice (``assay =``, ``subset()``) when the R package calls
through ``tessella.parts.run_parts`` with ``audience="R"``; and ``.h5ad`` files
come to R as parts that carry sparse matrices and plain columns."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import tessella
from tessella.h5ad import h5ad_parts, read_h5ad_parts
from tessella.parts import run_parts


@pytest.fixture()
def sim():
    return tessella.datasets.simulate(n_cells=60, n_genes=20, n_reference=80, seed=0)


def parts(adata: ad.AnnData, x=None) -> dict:
    """An AnnData as the parts R sends (genes x cells)."""
    x = np.asarray(adata.X if x is None else x, dtype=np.float64)
    return {"x": x.T, "genes": list(adata.var_names), "cells": list(adata.obs_names)}


PYTHON_WORDS = ("adata", "numpy", "layer=", "astype")

CASES = {
    "negative": (lambda x: x - 1, "spatial", r"choose the counts with assay ="),
    "nan": (lambda x: np.where(x > 3, np.nan, x), "spatial", r"assay =.*subset\(\)"),
    "reference-negative": (lambda x: x - 1, "reference", "referenceAssay ="),
    "not-log": (lambda x: x * 100.5, "spatial", 'input_scale = "counts"'),
    "all-zero": (lambda x: x * 0, "spatial", "no counts at all"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_r_users_get_r_advice(sim, case):
    change, role, r_words = CASES[case]
    spatial, reference = sim.spatial[:, :14], sim.reference
    if role == "spatial":
        spatial_parts = parts(spatial, change(np.asarray(spatial.X, dtype=np.float64)))
        reference_parts = parts(reference)
    else:
        spatial_parts = parts(spatial)
        reference_parts = parts(reference, change(np.asarray(reference.X, dtype=np.float64)))
    options = {"method": "knn", "verbose": False}
    for_r = run_parts("impute", spatial_parts, reference_parts, None,
                      {**options, "audience": "R"})
    for_python = run_parts("impute", spatial_parts, reference_parts, None, options)
    assert "error" in for_r and "error" in for_python
    assert pd.Series([for_r["error"]]).str.contains(r_words).all(), for_r["error"]
    assert not any(word in for_r["error"] for word in PYTHON_WORDS), for_r["error"]
    if role == "spatial":
        assert for_r["error"].startswith("x ")  # R's argument name, not "spatial"


def test_python_users_keep_python_advice(sim):
    bad = sim.spatial.copy()
    bad.X = np.asarray(bad.X) - 1
    with pytest.raises(tessella.InputError, match=r"layer=\.\.\.") as err:
        tessella.impute(bad, sim.reference, method="knn", verbose=False)
    assert "assay =" not in str(err.value)


def test_r_results_carry_the_empty_flags(sim):
    x = np.asarray(sim.spatial.X, dtype=np.float64).copy()
    x[4] = 0
    out = run_parts("impute", parts(sim.spatial, x), parts(sim.reference), None,
                    {"method": "mean", "verbose": False, "audience": "R"})
    assert list(np.flatnonzero(out["empty"])) == [4]
    assert np.isnan(out["refined"][:, 4]).all()
    assert any("1 of 60 cell(s)" in n for n in out["provenance"]["notes"])


def test_h5ad_parts_rebuild_sparse_matrices_and_plain_columns():
    x = sp.random(5, 3, density=0.6, format="csr", random_state=1)
    obs = pd.DataFrame({"n": np.arange(5), "f": [0.5, np.nan, 1, 2, 3],
                        "t": pd.Categorical(["a", "b", "a", None, "b"]),
                        "ok": [True, False, True, True, False]},
                       index=[f"c{i}" for i in range(5)])
    adata = ad.AnnData(x, obs=obs)
    adata.layers["dense"] = x.toarray()
    adata.obsm["spatial"] = np.ones((5, 2))
    adata.obsm["frame"] = pd.DataFrame({"q": range(5)}, index=adata.obs_names)
    adata.uns["a"] = 1
    got = h5ad_parts(adata)
    m = got["x"]
    rebuilt = sp.csc_matrix((m["x"], m["i"], m["p"]), shape=tuple(m["dim"]))
    np.testing.assert_array_equal(rebuilt.toarray(), x.toarray().T)
    np.testing.assert_array_equal(got["layers"]["dense"]["values"], x.toarray().T)
    assert got["obs"]["n"]["kind"] == "integer"
    assert got["obs"]["f"]["kind"] == "double" and np.isnan(got["obs"]["f"]["values"][1])
    assert got["obs"]["t"] == {"kind": "factor", "codes": pytest.approx([0, 1, 0, -1, 1]),
                               "levels": ["a", "b"]}
    assert got["obs"]["ok"]["kind"] == "logical"
    assert got["coords"].shape == (5, 2)
    assert got["not_carried"] == ["obsm frame", "uns (1 key: a)"]


# --- only input errors come back as {"error": ...}; anything else is a bug --------------------

def _impute(sim, audience: str = "R") -> dict:
    return run_parts("impute", parts(sim.spatial[:, :14]), parts(sim.reference), None,
                     {"method": "mean", "verbose": False, "audience": audience})


def test_an_internal_error_propagates_with_its_traceback(sim, monkeypatch):
    def broken(result):
        raise KeyError("deliberate internal error")

    monkeypatch.setattr(tessella.parts, "result_to_parts", broken)
    with pytest.raises(KeyError, match="deliberate internal error") as err:
        _impute(sim)
    assert err.traceback[-1].name == "broken"


def test_a_plain_value_error_is_not_an_input_error(sim):
    with pytest.raises(ValueError, match="unknown verb 'no-such-verb'") as err:
        run_parts("no-such-verb", parts(sim.spatial), None, None, {"audience": "R"})
    assert not isinstance(err.value, tessella.InputError)


def test_an_input_error_is_returned_in_the_words_of_its_audience(sim, monkeypatch):
    def refuse(*args, **kwargs):
        raise tessella.InputError("fix it with layer=...", "fix it with assay =")

    monkeypatch.setattr(tessella.api, "impute", refuse)
    assert _impute(sim, "R") == {"error": "fix it with assay ="}
    assert _impute(sim, "python") == {"error": "fix it with layer=..."}


def test_a_missing_file_is_returned_as_an_input_error(sim, tmp_path):
    out = run_parts("refine", parts(sim.spatial), None, str(tmp_path / "absent.tsv"),
                    {"verbose": False, "audience": "R"})
    assert out == {"error": f"embedding file {tmp_path / 'absent.tsv'} does not exist."}


def test_h5ad_for_r_reports_bad_files_and_propagates_bugs(tmp_path, monkeypatch):
    assert read_h5ad_parts(str(tmp_path / "absent.h5ad"))["error"].endswith("does not exist.")
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(b"not an HDF5 file")
    assert read_h5ad_parts(str(broken))["error"].startswith(f"could not read data file {broken}")
    good = tmp_path / "good.h5ad"
    ad.AnnData(np.ones((3, 2), dtype=np.float32)).write_h5ad(good)

    def broken_parts(adata):
        raise KeyError("deliberate internal error")

    monkeypatch.setattr(tessella.h5ad, "h5ad_parts", broken_parts)
    with pytest.raises(KeyError, match="deliberate internal error"):
        read_h5ad_parts(str(good))

"""Bad input is refused at the boundary with a message naming the problem, and
the user's objects are never modified by refine, impute or benchmark."""

from __future__ import annotations

import copy
import warnings
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import tessella
from helpers import N_MEASURED, with_matrix
from tessella import InputError

FAST = {"max_epochs": 3, "verbose": False}




def run(entry: str, spatial, data: SimpleNamespace, **kwargs) -> ad.AnnData:
    """Call one public entry point on ``spatial`` (and the fixture's other inputs)."""
    if entry == "refine":
        return tessella.refine(spatial, data.embeddings, **{**FAST, **kwargs})
    return tessella.impute(spatial, kwargs.pop("reference", data.reference), method="knn",
                           verbose=False, **kwargs)


# --- bad values -------------------------------------------------------------------------------


def _set(value: float, row: int | slice = 3, col: int | slice = 2):
    def change(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[row, col] = value
        return x

    return change


BAD_VALUES = [
    pytest.param(_set(np.nan), "NaN or infinite", id="nan"),
    pytest.param(_set(np.inf), "NaN or infinite", id="inf"),
    pytest.param(_set(-np.inf), "NaN or infinite", id="minus-inf"),
    pytest.param(_set(-1.0), "negative values", id="negative"),
]


@pytest.mark.parametrize("storage", ["dense", "csr"])
@pytest.mark.parametrize("entry", ["refine", "knn"])
@pytest.mark.parametrize(("change", "message"), BAD_VALUES)
def test_bad_spatial_values_are_refused(data, entry, storage, change, message):
    x = change(data.spatial.X)
    bad = with_matrix(data.spatial, sp.csr_matrix(x) if storage == "csr" else x)
    with pytest.raises(InputError, match=message) as err:
        run(entry, bad, data)
    assert str(err.value).startswith("spatial ")


@pytest.mark.parametrize(("change", "message"), BAD_VALUES)
def test_bad_reference_values_are_refused(data, change, message):
    bad = with_matrix(data.reference, change(data.reference.X))
    with pytest.raises(InputError, match=message) as err:
        run("knn", data.spatial, data, reference=bad)
    assert str(err.value).startswith("reference ")


# Cells and genes without counts are accepted: tests/python/test_empty.py.


def test_reference_may_hold_genes_never_detected(data):
    x = data.reference.X.copy()
    x[:, 3] = 0  # a shared gene
    x[:, 35] = 0  # a gene to impute
    reference = with_matrix(data.reference, x)
    for method in ("knn", "mean"):
        out = tessella.impute(data.spatial, reference, method=method, verbose=False)
        assert out.n_vars == 40 and np.isfinite(out.X).all()
        np.testing.assert_array_equal(out[:, "Gene035"].X, 0.0)
        assert out[:, "Gene036"].X.max() > 0


def test_empty_matrix_is_refused(data):
    with pytest.raises(InputError, match=r"spatial is empty \(0 cells"):
        run("knn", data.spatial[:0].copy(), data)


# --- names, types, layers, files --------------------------------------------------------------


def _duplicate_gene(adata: ad.AnnData) -> ad.AnnData:
    out = adata.copy()
    names = list(out.var_names)
    names[5] = names[6]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata warns about non-unique names
        out.var_names = names
    return out


@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_duplicated_spatial_genes_are_refused(data, entry):
    with pytest.raises(InputError, match=r"spatial has 1 duplicated gene name\(s\): Gene006"):
        run(entry, _duplicate_gene(data.spatial), data)


def test_duplicated_reference_genes_are_refused(data):
    with pytest.raises(InputError, match=r"reference has 1 duplicated gene name\(s\): Gene006"):
        run("knn", data.spatial, data, reference=_duplicate_gene(data.reference))


@pytest.mark.parametrize("dtype", [object, bool])
@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_non_numeric_matrix_is_refused(data, entry, dtype):
    bad = with_matrix(data.spatial, data.spatial.X.astype(dtype))
    with pytest.raises(InputError, match=rf"dtype {np.dtype(dtype)}, which is not numeric"):
        run(entry, bad, data)


@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_missing_layer_is_refused(data, entry):
    spatial = data.spatial.copy()
    spatial.layers["raw"] = spatial.X.copy()
    with pytest.raises(InputError, match=r"no layer 'counts' \(layers: raw\)"):
        run(entry, spatial, data, layer="counts")


def test_missing_reference_layer_is_refused(data):
    with pytest.raises(InputError, match=r"reference has no layer 'counts' \(layers: none\)"):
        tessella.impute(data.spatial, data.reference, reference_layer="counts", verbose=False)


def test_named_layer_is_the_one_read(data):
    spatial = data.spatial.copy()
    spatial.layers["counts"] = spatial.X.copy()
    spatial.X = -spatial.X  # scaled-looking values in X must not matter
    out = run("knn", spatial, data, layer="counts")
    expected = run("knn", data.spatial, data)
    np.testing.assert_allclose(out.X, expected.X)
    with pytest.raises(InputError, match="negative"):
        run("knn", spatial, data)


@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_non_anndata_spatial_is_a_type_error(data, entry):
    with pytest.raises(TypeError, match="spatial must be an AnnData .*not ndarray"):
        run(entry, np.asarray(data.spatial.X), data)


def test_non_anndata_reference_is_a_type_error(data):
    frame = data.reference.to_df()
    with pytest.raises(TypeError, match="reference must be an AnnData .*not DataFrame"):
        run("knn", data.spatial, data, reference=frame)


def test_embeddings_of_unknown_type_is_a_type_error(data):
    with pytest.raises(TypeError, match="embeddings must be a file path"):
        tessella.refine(data.spatial, [[0.0, 1.0]], **FAST)


@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_missing_file_is_file_not_found(data, entry, tmp_path):
    missing = tmp_path / "nowhere.h5ad"
    with pytest.raises(FileNotFoundError, match="spatial file .*nowhere.h5ad does not exist"):
        run(entry, missing, data)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run(entry, str(missing), data)


def test_missing_reference_file_is_file_not_found(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="reference file .*ref.h5ad does not exist"):
        run("knn", data.spatial, data, reference=tmp_path / "ref.h5ad")


def test_h5ad_paths_are_read_and_other_files_refused(data, tmp_path):
    path = tmp_path / "spatial.h5ad"
    data.spatial.write_h5ad(path)
    from_path = run("knn", path, data)
    np.testing.assert_allclose(from_path.X, run("knn", data.spatial, data).X)
    other = tmp_path / "spatial.csv"
    data.spatial.to_df().to_csv(other)
    with pytest.raises(InputError, match=r"spatial\.csv is not \.h5ad"):
        run("knn", other, data)


# --- the scale of the input -------------------------------------------------------------------


def _normalised_not_logged(adata: ad.AnnData) -> ad.AnnData:
    x = adata.X / adata.X.sum(axis=1, keepdims=True) * 1e4
    assert x.max() > 50 and not np.all(x == np.round(x))
    return with_matrix(adata, x.astype(np.float32))


@pytest.mark.parametrize("entry", ["refine", "knn"])
def test_normalised_but_not_logged_values_are_refused(data, entry):
    bad = _normalised_not_logged(data.spatial)
    with pytest.raises(InputError, match="non-integer values up to .*not log-transformed") as err:
        run(entry, bad, data)
    assert "input_scale='log'" in str(err.value)


@pytest.mark.parametrize("entry", ["refine", "knn"])
@pytest.mark.parametrize(("scale", "described"), [("log", "log-normalised"),
                                                  ("counts", "counts (normalised + log1p)")])
def test_input_scale_overrides_the_detection(data, entry, scale, described):
    out = run(entry, _normalised_not_logged(data.spatial), data, input_scale=scale)
    assert out.uns["tessella"]["input_scale"] == described
    assert np.isfinite(out.X).all()


@pytest.mark.parametrize(("transform", "described"), [
    (lambda x: x, "counts (normalised + log1p)"),
    (lambda x: np.log1p(x / x.sum(axis=1, keepdims=True) * 1e4), "log-normalised"),
])
def test_auto_scale_detects_counts_and_log_values(data, transform, described):
    out = run("knn", with_matrix(data.spatial, transform(data.spatial.X)), data)
    assert out.uns["tessella"]["input_scale"] == described


def test_unknown_input_scale_is_refused(data):
    with pytest.raises(InputError, match=r"input_scale must be one of .*not 'raw'"):
        run("knn", data.spatial, data, input_scale="raw")


# --- genes ------------------------------------------------------------------------------------


def test_no_shared_genes_is_refused(data):
    reference = data.reference.copy()
    reference.var_names = [f"Other{i:03d}" for i in range(reference.n_vars)]
    with pytest.raises(InputError, match="share no genes"):
        run("knn", data.spatial, data, reference=reference)


def test_gene_missing_from_reference_is_refused(data):
    with pytest.raises(InputError, match=r"1 gene\(s\) to impute are not in the reference: "
                                         r"NotAGene\."):
        run("knn", data.spatial, data, genes=["Gene031", "NotAGene"])


def test_gene_missing_from_embeddings_is_refused(data):
    with pytest.raises(InputError, match=r"2 gene\(s\) to impute are not in the embeddings: "
                                         r"NotAGene, Missing2\."):
        run("refine", data.spatial, data, genes=["Gene045", "NotAGene", "Missing2"])


def test_requested_genes_are_the_ones_imputed(data):
    out = run("knn", data.spatial, data, genes=["Gene033", "gene031", "Gene002"])
    # measured genes asked for are skipped; matching ignores case
    assert list(out.var_names[N_MEASURED:]) == ["Gene033", "gene031"]
    assert int(out.var["measured"].sum()) == N_MEASURED


def test_refine_without_measured_genes_in_the_table_is_refused(data):
    table = data.embeddings.copy()
    table.index = pd.Index([f"Other{i:03d}" for i in range(len(table))], name="gene")
    with pytest.raises(ValueError, match="none of the measured genes has an embedding"):
        tessella.refine(data.spatial, table, **FAST)


# --- methods, parameters, devices --------------------------------------------------------------


def test_unknown_method_is_refused(data):
    with pytest.raises(ValueError, match=r"unknown method 'bogus'; available methods: .*knn"):
        tessella.impute(data.spatial, data.reference, method="bogus", verbose=False)
    with pytest.raises(ValueError, match="unknown method 'bogus'"):
        tessella.benchmark(data.spatial, data.reference, methods=["knn", "bogus"],
                           verbose=False)


def test_missing_reference_or_embeddings_is_refused(data):
    with pytest.raises(InputError, match="method 'knn' needs a reference"):
        tessella.benchmark(data.spatial, methods=["knn"], verbose=False)
    with pytest.raises(InputError, match="method 'refine' needs gene embeddings"):
        tessella.benchmark(data.spatial, data.reference, methods=["refine"], verbose=False)


def test_unknown_hyper_parameter_is_refused(data):
    out = tessella.impute(data.spatial, data.reference, method="knn", k=5, verbose=False)
    assert out.uns["tessella"]["params"]["k"] == 5
    with pytest.raises(ValueError, match=r"method 'knn' has no parameter\(s\) bogus; "
                                         r"it takes: .*\bk\b"):
        tessella.impute(data.spatial, data.reference, method="knn", k=5, bogus=1,
                        verbose=False)
    with pytest.raises(ValueError, match=r"method 'refine' has no parameter\(s\) epochs"):
        tessella.refine(data.spatial, data.embeddings, epochs=5, verbose=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_cuda_device_is_refused(data):
    with pytest.raises(InputError, match=r"device='cuda' .*sees no CUDA device"):
        tessella.refine(data.spatial, data.embeddings, device="cuda", **FAST)


def test_unknown_device_is_refused(data):
    with pytest.raises(InputError, match="device must be 'auto', 'cpu' or 'cuda', not 'tpu'"):
        tessella.refine(data.spatial, data.embeddings, device="tpu", **FAST)


# --- inputs are never modified ----------------------------------------------------------------


def snapshot(adata: ad.AnnData) -> dict:
    return {
        "X": adata.X.copy(),
        "obs": adata.obs.copy(deep=True),
        "var": adata.var.copy(deep=True),
        "obs_names": adata.obs_names.copy(),
        "var_names": adata.var_names.copy(),
        "obsm": {k: np.array(v, copy=True) for k, v in adata.obsm.items()},
        "layers": {k: v.copy() for k, v in adata.layers.items()},
        "uns": copy.deepcopy(dict(adata.uns)),
    }


def assert_same_matrix(before, after) -> None:
    assert type(after) is type(before)
    assert after.dtype == before.dtype and after.shape == before.shape
    if sp.issparse(before):
        for part in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(getattr(after, part), getattr(before, part))
    else:
        assert np.array_equal(after, before)


def assert_unchanged(adata: ad.AnnData, before: dict) -> None:
    assert_same_matrix(before["X"], adata.X)
    assert adata.obs.equals(before["obs"]) and adata.var.equals(before["var"])
    assert adata.obs_names.equals(before["obs_names"])
    assert adata.var_names.equals(before["var_names"])
    assert set(adata.obsm) == set(before["obsm"])
    for key, value in before["obsm"].items():
        assert np.array_equal(adata.obsm[key], value)
    assert set(adata.layers) == set(before["layers"])
    for key, value in before["layers"].items():
        assert_same_matrix(value, adata.layers[key])
    assert adata.uns.keys() == before["uns"].keys()
    assert adata.uns["note"] == before["uns"]["note"]


CALLS = {
    "refine": lambda d: tessella.refine(d.spatial, d.embeddings, **FAST),
    "impute-knn": lambda d: tessella.impute(d.spatial, d.reference, "knn", k=10, verbose=False),
    "impute-mean": lambda d: tessella.impute(d.spatial, d.reference, "mean", verbose=False),
    "benchmark": lambda d: tessella.benchmark(
        d.spatial, d.reference, d.embeddings, methods=["refine", "knn", "mean"], folds=3,
        verbose=False, params={"refine": {"max_epochs": 3}}),
}


@pytest.mark.parametrize("storage", ["dense", "csr"])
@pytest.mark.parametrize("call", list(CALLS))
def test_inputs_are_not_modified(data, call, storage):
    for adata in (data.spatial, data.reference):
        if storage == "csr":
            adata.X = sp.csr_matrix(adata.X)
        adata.layers["counts"] = adata.X.copy()
        adata.var["symbol"] = [name.upper() for name in adata.var_names]
        adata.uns["note"] = {"origin": "test"}
    spatial, reference = snapshot(data.spatial), snapshot(data.reference)
    embeddings = data.embeddings.copy(deep=True)

    result = CALLS[call](data)

    assert_unchanged(data.spatial, spatial)
    assert_unchanged(data.reference, reference)
    assert data.embeddings.equals(embeddings)
    if isinstance(result, ad.AnnData):  # the result shares nothing with the input
        result.obs["cell_type"] = "changed"
        result.obsm["spatial"][:] = -1.0
        result.X[:] = -1.0
        assert_unchanged(data.spatial, spatial)


def test_reference_scale_can_be_stated(sim):
    reference = sim.reference.copy()
    totals = reference.X.sum(axis=1, keepdims=True)
    reference.X = (reference.X / totals * 1e6).astype(np.float32)  # CPM: not logged
    reference.X[0, 0] += 0.5  # non-integer
    with pytest.raises(InputError, match="reference_input_scale='counts'"):
        tessella.impute(sim.spatial[:, :20].copy(), reference, "mean", verbose=False)
    out = tessella.impute(sim.spatial[:, :20].copy(), reference, "mean", verbose=False,
                          reference_input_scale="counts")
    assert np.isfinite(out.X).all()

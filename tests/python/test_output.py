"""Results written out of core (``out=`` / ``--out``) equal the in-memory ones; the
memory budget's memory-mapped path gives the same values; the default genes warn
when the result they imply is large."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import tessella
from tessella import output, runner
from tessella.cli import main
from tessella.data.empty import EMPTY_COLUMN
from tessella.errors import InputError
from tessella.models.placement import FittedGenes, place_predictions

N_MEASURED = 24
RUNS = {"knn": {}, "refine": {"max_epochs": 3}, "auto": {},
        "graph": {"max_epochs": 2, "ae_epochs": 2, "rounds": 1}}
PROVENANCE = ("method", "params", "notes", "input_scale", "n_measured", "n_imputed",
              "versions", "empty_cells", "undetected_genes", "reference_cells_left_out",
              "output", "seconds")


@pytest.fixture(scope="module")
def slide():
    """The shared simulated data, two spatial cells emptied (flagged in ``tessella_empty``)."""
    sim = tessella.datasets.simulate(n_cells=400, n_genes=30, n_reference=500, seed=1)
    spatial = sim.spatial[:, :N_MEASURED].copy()
    spatial.X[:2] = 0
    return sim.reference, sim.embeddings, spatial


def run(method: str, slide, **extra) -> ad.AnnData:
    reference, embeddings, spatial = slide
    if method == "refine":
        return tessella.refine(spatial, embeddings, verbose=False, **RUNS[method], **extra)
    return tessella.impute(spatial, reference, method, verbose=False, **RUNS[method], **extra)


def assert_same_result(backed: ad.AnnData, memory: ad.AnnData) -> None:
    """Values, genes, cells (with ``tessella_empty``), obsm and the provenance agree."""
    np.testing.assert_array_equal(np.asarray(backed.X[:]), memory.X)
    pd.testing.assert_frame_equal(backed.var, memory.var)
    pd.testing.assert_frame_equal(backed.obs, memory.obs)
    assert set(backed.obsm) == set(memory.obsm)
    for key in memory.obsm:
        np.testing.assert_array_equal(np.asarray(backed.obsm[key]), memory.obsm[key])
    left, right = backed.uns["tessella"], memory.uns["tessella"]
    assert set(left) == set(right) >= set(PROVENANCE)
    for key in ("method", "input_scale", "n_measured", "n_imputed", "empty_cells",
                "reference_cells_left_out", "versions"):
        assert left[key] == right[key], key
    assert list(left["notes"]) == list(right["notes"])


@pytest.mark.parametrize("method", list(RUNS))
def test_out_of_core_equals_in_memory(method, slide, tmp_path, monkeypatch):
    monkeypatch.delenv(output.ENV_VAR, raising=False)
    memory = run(method, slide)
    path = tmp_path / f"{method}.h5ad"
    backed = run(method, slide, out=path)
    assert backed.isbacked and Path(backed.filename) == path
    assert memory.uns["tessella"]["output"] == "memory"
    assert backed.uns["tessella"]["output"] == "h5ad"
    assert backed.obs[EMPTY_COLUMN].sum() == 2
    assert_same_result(backed, memory)
    backed.file.close()
    # forcing the memory-mapped path: the same values, in memory and written out
    monkeypatch.setenv(output.ENV_VAR, "1KB")
    mapped = run(method, slide)
    assert mapped.uns["tessella"]["output"] == "memory-mapped"
    assert any("memory-mapped" in n for n in mapped.uns["tessella"]["notes"])
    np.testing.assert_array_equal(mapped.X, memory.X)
    written = run(method, slide, out=tmp_path / f"{method}-mapped.h5ad")
    np.testing.assert_array_equal(np.asarray(written.X[:]), memory.X)
    written.file.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{method}.h5ad", f"{method}-mapped.h5ad"])  # no temporary file left behind


def test_predict_out_equals_in_memory(slide, tmp_path):
    reference, _, spatial = slide
    model = tessella.fit(spatial, reference, "knn", verbose=False)
    backed = tessella.predict(model, spatial, out=tmp_path / "predicted.h5ad")
    assert_same_result(backed, tessella.predict(model, spatial))
    backed.file.close()


def test_cli_out_equals_api(slide, tmp_path, capsys):
    reference, _, spatial = slide
    spatial.write_h5ad(tmp_path / "spatial.h5ad")
    reference.write_h5ad(tmp_path / "reference.h5ad")
    out = tmp_path / "cli.h5ad"
    assert main(["impute", str(tmp_path / "spatial.h5ad"), "--reference",
                 str(tmp_path / "reference.h5ad"), "--method", "knn", "--out", str(out),
                 "--quiet"]) == 0
    assert "wrote" in capsys.readouterr().out
    cli = ad.read_h5ad(out)
    api = run("knn", slide, out=tmp_path / "api.h5ad")
    np.testing.assert_array_equal(cli.X, np.asarray(api.X[:]))
    pd.testing.assert_frame_equal(cli.obs, api.obs)
    pd.testing.assert_frame_equal(cli.var, api.var)
    api.file.close()


def test_out_must_be_h5ad(slide, tmp_path):
    with pytest.raises(InputError, match="must be the path of an .h5ad"):
        run("knn", slide, out=tmp_path / "result.zarr")
    with pytest.raises(InputError, match="does not exist"):
        run("knn", slide, out=tmp_path / "absent" / "result.h5ad")


def test_allocate_follows_the_budget(monkeypatch, tmp_path):
    monkeypatch.setenv(output.ENV_VAR, "1MB")
    small = output.allocate((10, 10), np.float32, fill=np.nan)
    assert type(small) is np.ndarray and np.isnan(small).all()
    with output.output_scope(tmp_path / "result.h5ad") as scope:
        large = output.allocate((1000, 1000), np.float32, fill=1.5)
    assert isinstance(large, np.memmap) and (large == 1.5).all()
    assert scope.storage == "memory-mapped" and str(tmp_path) in scope.notes[0]
    assert list(tmp_path.iterdir()) == []  # the file is unlinked; the mapping keeps it


def test_with_out_a_large_output_array_is_memory_mapped_by_default(monkeypatch, tmp_path):
    monkeypatch.delenv(output.ENV_VAR, raising=False)
    monkeypatch.setattr(output, "OUT_OF_CORE_BYTES", 2**20)
    assert type(output.allocate((1000, 1000), np.float32)) is np.ndarray  # no out=
    with output.output_scope(tmp_path / "result.h5ad"):
        assert isinstance(output.allocate((1000, 1000), np.float32), np.memmap)
        assert type(output.allocate((100, 100), np.float32)) is np.ndarray
    monkeypatch.setenv(output.ENV_VAR, "1GB")  # a budget the user sets wins
    with output.output_scope(tmp_path / "result.h5ad"):
        assert type(output.allocate((1000, 1000), np.float32)) is np.ndarray


def _rss_file_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    raise KeyError("RssFile")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc only")
def test_memory_mapped_pages_leave_the_resident_set_and_keep_their_values(monkeypatch,
                                                                          tmp_path):
    """A memory-mapped output array written block by block holds about one block in
    RSS, not the whole array (64 MB here), and keeps every value written."""
    monkeypatch.setenv(output.ENV_VAR, "1MB")
    with output.output_scope(tmp_path / "result.h5ad"):
        array = output.allocate((4096, 4096), np.float32, what="test")
    assert isinstance(array, output.SpilledArray)
    before = _rss_file_mb()
    for start in range(0, 4096, 256):
        array[start:start + 256] = np.arange(start, start + 256, dtype=np.float32)[:, None]
    assert _rss_file_mb() - before < 16
    np.testing.assert_array_equal(array[::512, 7], np.arange(0, 4096, 512, dtype=np.float32))


def test_placed_predictions_are_not_copied_or_held_whole(monkeypatch, tmp_path):
    """Every output gene in order: the predictions are the result. Some columns:
    they are copied a block of cells at a time and a memory-mapped source leaves
    the resident set as it is read (64 MB here)."""
    monkeypatch.setenv(output.ENV_VAR, "1MB")
    task = SimpleNamespace(spatial=SimpleNamespace(n_obs=8192), output_genes=list(range(2048)),
                           n_measured=1)
    genes = FittedGenes(shared=np.array([0]), columns=np.arange(2048))
    with output.output_scope(tmp_path / "result.h5ad"):
        predicted = output.allocate((8192, 2049), np.float32, what="test")
        for start in range(0, 8192, 512):
            predicted[start:start + 512] = np.arange(2049, dtype=np.float32) + start
        before = _rss_file_mb()
        values = place_predictions(task, genes, predicted, "test", take=np.arange(1, 2049))
        assert _rss_file_mb() - before < 16
    np.testing.assert_array_equal(values[::1024, :3], predicted[::1024, 1:4])
    every = np.zeros((5, 2048), dtype=np.float32)
    assert place_predictions(task, genes, every, "test") is every


@pytest.mark.parametrize("text, expected", [("1000", 1000), ("2GB", 2 * 2**30),
                                            ("1.5 mb", int(1.5 * 2**20)), ("3k", 3072)])
def test_memory_budget_setting(monkeypatch, text, expected):
    monkeypatch.setenv(output.ENV_VAR, text)
    assert output.memory_budget() == expected


def test_memory_budget_default_and_bad_setting(monkeypatch):
    monkeypatch.delenv(output.ENV_VAR, raising=False)
    assert 0 < output.memory_budget() <= output.available_memory()
    monkeypatch.setenv(output.ENV_VAR, "lots")
    with pytest.raises(InputError, match=output.ENV_VAR):
        output.memory_budget()


def test_default_genes_warn_when_the_result_is_large(slide, monkeypatch, caplog):
    reference, _, spatial = slide
    monkeypatch.setattr(runner, "LARGE_RESULT_VALUES", 1000)
    with caplog.at_level(logging.WARNING, logger="tessella.runner"):
        result = tessella.impute(spatial, reference, "knn", verbose=False)
    warned = [r.getMessage() for r in caplog.records if "genes=None" in r.getMessage()]
    assert len(warned) == 1
    assert "400 cells x 30 genes" in warned[0] and "genes=[...]" in warned[0]
    assert warned[0] in list(result.uns["tessella"]["notes"])
    assert result.n_vars == 30  # still every reference gene
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tessella.runner"):
        tessella.impute(spatial, reference, "knn", genes=["Gene025"], verbose=False)
    assert not any("genes=None" in r.getMessage() for r in caplog.records)


def test_default_genes_do_not_warn_below_the_threshold(slide, caplog):
    reference, _, spatial = slide
    with caplog.at_level(logging.WARNING, logger="tessella.runner"):
        tessella.impute(spatial, reference, "knn", verbose=False)
    assert not any("genes=None" in r.getMessage() for r in caplog.records)

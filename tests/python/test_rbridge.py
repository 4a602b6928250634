"""The .rds bridge: R objects built in R (through rpy2), the CLI run on them end
to end, and the results read back in R."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from tessella import cli

robjects = pytest.importorskip(
    "rpy2.robjects", reason="rpy2 is not installed: run `make setup` (it installs tessella[r])")
from tessella import InputError, rbridge  # noqa: E402


@pytest.fixture(scope="module")
def r_package():
    """Skips, saying why, unless R finds the tessella R package on its own (no
    R_LIBS needed: `make setup` installs it into R's default library)."""
    if not robjects.r('isTRUE(requireNamespace("tessella", quietly = TRUE))')[0]:
        paths = ", ".join(robjects.r(".libPaths()"))
        pytest.skip(f"the tessella R package is not installed in R's library ({paths}): "
                    "run `make setup`, which installs it into R's default library")


@pytest.fixture(scope="module")
def rds_files(tmp_path_factory, r_package):
    folder = tmp_path_factory.mktemp("rds")
    robjects.r(f"""
        sce <- tessella::exampleSpatial(nCells = 150, nGenes = 30, seed = 4)
        sce$flag <- rep(c(TRUE, FALSE), 75)
        saveRDS(sce[1:24, ], "{folder}/spatial.rds")
        saveRDS(sce, "{folder}/reference.rds")
        counts <- methods::as(SummarizedExperiment::assay(sce, "counts")[1:24, ], "dgCMatrix")
        saveRDS(SeuratObject::CreateSeuratObject(counts = counts), "{folder}/seurat.rds")
    """)
    genes = [f"Gene{i:03d}" for i in range(1, 31)]
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 6)), index=genes)
    table.rename_axis("gene").to_csv(folder / "embeddings.tsv", sep="\t")
    return folder


def _r(code: str):
    return robjects.r(code)


def test_read_rds_carries_matrix_metadata_and_coordinates(rds_files):
    adata = rbridge.read_rds(rds_files / "spatial.rds")
    assert adata.shape == (150, 24)
    assert adata.obs["flag"].dtype == bool and adata.obs["flag"].sum() == 75
    assert adata.obsm["spatial"].shape == (150, 2)
    counts = np.asarray(_r(f'as.matrix(SummarizedExperiment::assay(readRDS('
                           f'"{rds_files}/spatial.rds"), "counts"))'))
    np.testing.assert_array_equal(np.asarray(adata.X.todense() if hasattr(adata.X, "todense")
                                             else adata.X), counts.T)
    assert adata.uns["rds"] == {"class": "SingleCellExperiment", "assay": "counts"}


def test_cli_imputes_an_sce_rds_into_the_same_object(rds_files):
    out = rds_files / "imputed.rds"
    assert cli.main(["impute", str(rds_files / "spatial.rds"), "--reference",
                     str(rds_files / "reference.rds"), "--method", "knn", "--out", str(out),
                     "--quiet"]) == 0
    _r(f'x <- readRDS("{out}"); original <- readRDS("{rds_files}/spatial.rds")')
    assert list(_r("SummarizedExperiment::assayNames(x)")) == ["counts", "knn"]
    assert _r('identical(SummarizedExperiment::assay(x, "counts"), '
              'SummarizedExperiment::assay(original, "counts"))')[0]
    assert list(_r('rownames(SingleCellExperiment::altExp(x, "imputed_knn"))')) == [
        f"Gene{i:03d}" for i in range(25, 31)]
    assert _r("S4Vectors::metadata(x)$tessella$knn$method")[0] == "knn"
    assert _r('identical(dim(SummarizedExperiment::assay(x, "knn")), dim(original))')[0]


def test_cli_refines_a_seurat_rds(rds_files):
    out = rds_files / "refined_seurat.rds"
    assert cli.main(["refine", str(rds_files / "seurat.rds"), "--embeddings",
                     str(rds_files / "embeddings.tsv"), "--param", "max_epochs=5",
                     "--out", str(out), "--quiet"]) == 0
    _r(f'y <- readRDS("{out}"); s <- readRDS("{rds_files}/seurat.rds")')
    assert "refine" in list(_r("SeuratObject::Assays(y)"))
    assert _r('identical(SeuratObject::GetAssayData(y, assay = "RNA", slot = "counts"), '
              'SeuratObject::GetAssayData(s, assay = "RNA", slot = "counts"))')[0]
    assert list(_r('dim(SeuratObject::Embeddings(y, "TESSELLA_refine"))')) == [150, 64]
    assert _r('SeuratObject::Misc(y, "tessella")$refine$method')[0] == "refine"
    assert _r('nrow(SeuratObject::GetAssayData(y, assay = "refine", slot = "data"))')[0] == 30


def test_write_rds_without_an_original_makes_an_sce(rds_files):
    import tessella

    spatial = rbridge.read_rds(rds_files / "spatial.rds")
    reference = rbridge.read_rds(rds_files / "reference.rds")
    result = tessella.impute(spatial, reference, "mean", verbose=False)
    rbridge.write_rds(result, rds_files / "plain.rds")
    _r(f'p <- readRDS("{rds_files}/plain.rds")')
    assert _r('class(p)')[0] == "SingleCellExperiment"
    assert list(_r("dim(p)")) == [24, 150]


def test_spatialexperiment_rds_carries_spatial_coords(rds_files, tmp_path):
    if not _r('isTRUE(requireNamespace("SpatialExperiment", quietly = TRUE))')[0]:
        pytest.skip("SpatialExperiment is not installed: no registry reachable here has it")
    _r(f"""sce <- readRDS("{rds_files}/spatial.rds")
        spe <- SpatialExperiment::SpatialExperiment(
            assays = list(counts = SummarizedExperiment::assay(sce, "counts")),
            spatialCoords = SingleCellExperiment::reducedDim(sce, "spatial"))
        saveRDS(spe, "{tmp_path}/spe.rds")""")
    adata = rbridge.read_rds(tmp_path / "spe.rds")
    np.testing.assert_allclose(adata.obsm["spatial"], np.asarray(_r(
        "unname(SpatialExperiment::spatialCoords(spe))")))


def test_missing_rpy2_says_what_to_install(monkeypatch):
    rbridge._start_r.cache_clear()  # R is started once per process: start it afresh
    monkeypatch.setitem(sys.modules, "rpy2.robjects", None)
    with pytest.raises(InputError, match=r"tessella\[r\]"):
        rbridge.read_rds(__file__)


def test_refuses_to_run_inside_r(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "rpytools", object())
    path = tmp_path / "x.rds"
    path.write_bytes(b"")
    with pytest.raises(RuntimeError, match="reticulate"):
        rbridge.read_rds(path)


@pytest.mark.parametrize(("spatial", "options", "message"), [
    ("spatial.rds", ["--assay", "logcounts"], "no assay 'logcounts'"),
    ("taken.rds", ["--method", "knn"], "already has assay 'knn'"),
    ("spatial.rds", ["--reference-assay", "nope"], "reference has no assay 'nope'"),
])
def test_r_side_refusals_are_one_clear_error(rds_files, capsys, spatial, options, message):
    _r(f"""x <- readRDS("{rds_files}/spatial.rds")
        SummarizedExperiment::assay(x, "knn") <- SummarizedExperiment::assay(x, "counts")
        saveRDS(x, "{rds_files}/taken.rds")""")
    code = cli.main(["impute", str(rds_files / spatial), "--reference",
                     str(rds_files / "reference.rds"), *options,
                     "--out", str(rds_files / "t.rds"), "--quiet"])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("tessella: error: ") and message in err
    assert len(err.splitlines()) == 1


def test_r_refusals_are_input_errors_and_other_r_errors_bugs(r_package, tmp_path):
    with pytest.raises(InputError, match="^bad input$"):
        rbridge._call('function() stop("bad input", call. = FALSE)')
    with pytest.raises(rbridge.RFailure, match=r"R failed: Error in .*: a bug"):
        rbridge._call('function() stop("a bug")')
    broken = tmp_path / "broken.rds"
    broken.write_bytes(b"not an R object")
    with pytest.raises(InputError, match=f"could not read {broken} as an R object"):
        rbridge.read_rds(broken)

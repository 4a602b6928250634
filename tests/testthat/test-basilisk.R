test_that("an existing environment runs through basilisk when it can", {
    skipWithoutEngine()
    python <- tessellaPython()$python
    envdir <- dirname(dirname(python))
    if (utils::packageVersion("basilisk") < "1.22.0" &&
        !dir.exists(file.path(envdir, "conda-meta"))) {
        skip(paste("basilisk", utils::packageVersion("basilisk"), "needs the",
            "conda stand-in (scripts/conda-standin.sh) to run a venv"))
    }
    old <- Sys.getenv("BASILISK_EXTERNAL_CONDA", unset = NA)
    Sys.setenv(BASILISK_EXTERNAL_CONDA = envdir)
    on.exit(if (is.na(old)) Sys.unsetenv("BASILISK_EXTERNAL_CONDA") else
        Sys.setenv(BASILISK_EXTERNAL_CONDA = old))
    expect_true(tessella:::.basiliskCanRun(envdir))
    sce <- exampleSpatial(nCells = 60, nGenes = 12)
    out <- imputeSpatial(sce[1:8, ], sce, method = "mean", verbose = FALSE)
    expect_identical(rownames(SingleCellExperiment::altExp(out, "imputed_mean")),
        rownames(sce)[9:12])
    expect_error(imputeSpatial(sce, sce, method = "nope"), "unknown method")
})

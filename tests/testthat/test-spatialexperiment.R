test_that("a SpatialExperiment keeps its class and carries spatialCoords", {
    if (!requireNamespace("SpatialExperiment", quietly = TRUE)) {
        skip(paste("SpatialExperiment is not installed: no registry reachable",
            "here has it (Debian 12 does not package it)"))
    }
    skipWithoutEngine()
    sce <- exampleSpatial(nCells = 120, nGenes = 20)
    spe <- SpatialExperiment::SpatialExperiment(
        assays = list(counts = SummarizedExperiment::assay(sce, "counts")),
        spatialCoords = SingleCellExperiment::reducedDim(sce, "spatial"))
    parts <- tessella:::.objectParts(spe, "counts")
    expect_equal(parts$coords, unname(SpatialExperiment::spatialCoords(spe)))
    genes <- rownames(spe)
    emb <- matrix(seq_len(length(genes) * 4) / 10, length(genes),
        dimnames = list(genes, NULL))
    out <- refineSpatial(spe, emb, max_epochs = 5, verbose = FALSE)
    expect_s4_class(out, "SpatialExperiment")
    expect_identical(SpatialExperiment::spatialCoords(out),
        SpatialExperiment::spatialCoords(spe))
    expect_true("refine" %in% SummarizedExperiment::assayNames(out))
})

# R-side overhead of tessella: conversion in and out vs engine time.
# A 100k-cell object (osmFISH cells resampled, 28 measured genes, 5 imputed
# from the Allen SSp reference with knn), as SingleCellExperiment and Seurat.
# Run: make bench-r   (needs TESSELLA_PYTHON, TESSELLA_DATA_DIR)
suppressPackageStartupMessages(library(tessella))
nCells <- as.integer(Sys.getenv("BENCH_CELLS", "100000"))
dataDir <- Sys.getenv("TESSELLA_DATA_DIR")
osmfish <- readH5adSpatial(file.path(dataDir, "osmfish", "osmfish_spatial.h5ad"))
reference <- readH5adSpatial(file.path(dataDir, "osmfish",
    "allen_ssp_reference.h5ad"))
hidden <- c("Gad2", "Tbr1", "Plp1", "Slc32a1", "Kcnip2")
picked <- ((seq_len(nCells) - 1L) %% ncol(osmfish)) + 1L
counts <- SummarizedExperiment::assay(osmfish, "counts")[
    setdiff(rownames(osmfish), hidden), picked]
colnames(counts) <- sprintf("cell%06d", seq_len(nCells))
sce <- SingleCellExperiment::SingleCellExperiment(
    assays = list(counts = methods::as(counts, "dgCMatrix")),
    reducedDims = list(spatial = SingleCellExperiment::reducedDim(osmfish,
        "spatial")[picked, ]))

timed <- function(expr) {
    start <- proc.time()[["elapsed"]]
    value <- force(expr)
    list(value = value, seconds = proc.time()[["elapsed"]] - start)
}
invisible(imputeSpatial(sce[, 1:100], reference, genes = hidden,
    verbose = FALSE))  # warm-up: start Python once

report <- function(label, x, objectClass) {
    run <- timed(imputeSpatial(x, reference, genes = hidden, verbose = FALSE))
    engine <- if (objectClass == "Seurat")
        SeuratObject::Misc(run$value, slot = "tessella")$seconds else
        S4Vectors::metadata(run$value)$tessella$seconds
    parts <- timed(tessella:::.objectParts(x, "counts"))
    refParts <- timed(tessella:::.objectParts(reference, "counts"))
    cat(sprintf(paste0("%-22s total %6.2f s | engine (prepare+fit+predict) %6.2f s",
        " | R side + transfer %5.2f s (object->parts %.2f s, reference->parts",
        " %.2f s)\n"), label, run$seconds, engine, run$seconds - engine,
        parts$seconds, refParts$seconds))
}
cat(sprintf("%d cells x %d measured genes, %d imputed (knn, Allen SSp %d cells)\n",
    ncol(sce), nrow(sce), length(hidden), ncol(reference)))
report("SingleCellExperiment", sce, "SCE")
seurat <- SeuratObject::CreateSeuratObject(counts = SummarizedExperiment::assay(
    sce, "counts"))
report("Seurat", seurat, "Seurat")

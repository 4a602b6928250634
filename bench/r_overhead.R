# R-side overhead of tessella at scale: the object's conversion to parts, the
# hand-over of the result and its assembly into the object, next to the
# engine's own time (prepare + fit + predict).
# A simulated slide (exampleSpatial(): N cells x 30 measured genes, sparse
# counts) and reference (5,000 cells x 30 + G genes); knn imputes the G genes.
# For each hand-over, "memory" (float32 values crossing in memory into
# ordinary matrices) and "hdf5" (the engine writes an .h5ad file, the assays
# are HDF5-backed DelayedMatrix objects), it reports the total time, the
# engine's time, the rest (R side + transfer), R's peak heap (gc() "max
# used") and the growth of the process's peak RSS (VmHWM, reset before each
# run; under reticulate R and the engine's Python share the process).
# Run: Rscript bench/r_overhead.R [N] [G] [paths]
#   make bench-r: N = 100000, G = 300, paths "memory,hdf5"; BENCH_CELLS,
#   BENCH_GENES and BENCH_PATHS set them too. Needs the engine (make setup)
#   and, for "hdf5", HDF5Array.
suppressPackageStartupMessages(library(tessella))
args <- commandArgs(trailingOnly = TRUE)
argument <- function(i, variable, default) {
    if (length(args) >= i) args[[i]] else Sys.getenv(variable, default)
}
nCells <- as.integer(as.numeric(argument(1, "BENCH_CELLS", "100000")))
nImputed <- as.integer(as.numeric(argument(2, "BENCH_GENES", "300")))
paths <- strsplit(argument(3, "BENCH_PATHS", "memory,hdf5"), ",")[[1]]
nMeasured <- 30L

spatial <- exampleSpatial(nCells = nCells, nGenes = nMeasured)
SummarizedExperiment::assay(spatial, "counts") <- methods::as(
    SummarizedExperiment::assay(spatial, "counts"), "dgCMatrix")
reference <- exampleSpatial(nCells = 5000, nGenes = nMeasured + nImputed,
    seed = 2)
SummarizedExperiment::assay(reference, "counts") <- methods::as(
    SummarizedExperiment::assay(reference, "counts"), "dgCMatrix")
genes <- rownames(reference)[nMeasured + seq_len(nImputed)]

# Peak resident memory of this process (MB), and its reset (Linux).
status <- function(field) {
    lines <- readLines("/proc/self/status")
    as.numeric(gsub("[^0-9]", "", lines[startsWith(lines, field)])) / 1024
}
resetPeak <- function() {
    tryCatch(writeLines("5", "/proc/self/clear_refs"), error = function(e) NULL)
}

invisible(imputeSpatial(spatial[, 1:100], reference, method = "knn",
    genes = genes[1:5], verbose = FALSE))  # warm-up: start Python once

run <- function(path) {
    threshold <- if (path == "hdf5") 0 else Inf
    old <- options(tessella.hdf5Threshold = threshold)
    on.exit(options(old))
    start <- gc(reset = TRUE)
    heapStart <- sum(start[, which(colnames(start) == "used") + 1])
    resetPeak()
    rss <- status("VmRSS:")
    start <- proc.time()[["elapsed"]]
    out <- imputeSpatial(spatial, reference, method = "knn", genes = genes,
        verbose = FALSE)
    seconds <- proc.time()[["elapsed"]] - start
    peak <- status("VmHWM:")
    used <- gc()
    heap <- sum(used[, which(colnames(used) == "max used") + 1])  # Mb
    engine <- S4Vectors::metadata(out)$tessella$knn$seconds
    imputed <- SummarizedExperiment::assay(SingleCellExperiment::altExp(out,
        "imputed_knn"), "imputed")
    use <- proc.time()[["elapsed"]]
    means <- DelayedArray::rowMeans(imputed)
    use <- proc.time()[["elapsed"]] - use
    cat(sprintf(paste0("%-6s total %7.2f s | engine %7.2f s | R side + ",
        "transfer %6.2f s | R heap peak +%6.0f MB (from %4.0f) | RSS peak ",
        "+%6.0f MB (from %5.0f) | assay %s | rowMeans %5.2f s\n"), path,
        seconds, engine, seconds - engine, heap - heapStart, heapStart,
        peak - rss, rss, class(imputed)[1], use))
    invisible(means)
}
cat(sprintf(paste0("%s cells x %d measured genes, %d imputed (knn, ",
    "reference 5,000 cells): %.2e result values, %.2f GB as R doubles\n"),
    format(nCells, big.mark = ","), nMeasured, nImputed,
    nCells * (nMeasured + nImputed),
    nCells * (nMeasured + nImputed) * 8 / 2^30))
partsTime <- system.time(tessella:::.objectParts(spatial, "counts"))
cat(sprintf("object -> parts: %.2f s\n", partsTime[["elapsed"]]))
for (path in paths) {
    run(path)
}

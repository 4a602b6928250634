# Shared by the tests: where the engine and the real data are.

skipWithoutEngine <- function() {
    python <- tessellaPython()$python
    if (is.na(python) || !file.exists(python)) {
        skip(paste("no tessella Python: run `make setup` (it records one) or",
            "set TESSELLA_PYTHON"))
    }
}

dataFile <- function(...) {
    root <- Sys.getenv("TESSELLA_DATA_DIR", "")
    path <- file.path(root, ...)
    if (!nzchar(root) || !file.exists(path)) {
        skip(paste("real data not found: set TESSELLA_DATA_DIR (make test does)"))
    }
    path
}

# osmFISH read through the engine, cached for the session.
osmfishData <- local({
    cache <- NULL
    function() {
        if (is.null(cache)) {
            skipWithoutEngine()
            cache <<- list(
                spatial = readH5adSpatial(dataFile("osmfish", "osmfish_spatial.h5ad")),
                reference = readH5adSpatial(dataFile("osmfish",
                    "allen_ssp_reference.h5ad")),
                embeddings = dataFile("embeddings", "osmfish_esm2.tsv.gz"))
        }
        cache
    }
})

logNormalised <- function(counts) {
    totals <- colSums(counts)
    log1p(sweep(counts, 2, totals, "/") * stats::median(totals))
}

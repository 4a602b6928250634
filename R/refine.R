#' Denoise and impute genes from gene embeddings, without a reference
#'
#' Reference-free refinement (spRefine style): a cell encoder on the measured
#' genes and a gene encoder on gene embeddings (Enformer, ESM-2, ...) are fit to
#' the measured expression; every gene with an embedding gets a value, so
#' measured genes come back denoised and unmeasured genes imputed.
#'
#' @param x A SpatialExperiment, SingleCellExperiment or Seurat object (cells
#'   as columns, genes as rows), never modified.
#' @param embeddings A gene-embedding table: a file (`.tsv`, `.csv`, optionally
#'   gzipped, gene first; `.parquet`; `.h5ad`; `.npz`; torch `.pt`) or a numeric
#'   matrix / data.frame with gene names as rownames.
#' @param assay Assay (SCE/SPE) or layer of the default assay (Seurat) holding
#'   raw counts or log-normalised values.
#' @param genes Genes to impute; `NULL` imputes every gene of the table that is
#'   not measured.
#' @param ... Hyper-parameters of the method, e.g. `max_epochs = 100`,
#'   `latent = 32` (see `tessellaMethods()` and the engine documentation).
#' @param coords For a SingleCellExperiment: the reducedDim name, or two colData
#'   columns, holding spatial coordinates; `NULL` looks for a `"spatial"`
#'   reducedDim or columns such as `x`/`y`.
#' @param seed Seed of every random step; the same seed gives the same result.
#' @param device `"auto"` (CUDA when available), `"cpu"` or `"cuda"`.
#' @param verbose Show progress.
#'
#' @return `x` enriched. SingleCellExperiment / SpatialExperiment: assay
#'   `"refined"` (measured genes, log-normalised, same dimensions as `x`),
#'   `altExp(x, "imputed")` with the imputed genes, reducedDim `"TESSELLA"`
#'   (cell embeddings), provenance in `metadata(x)$tessella`. Seurat: assay
#'   `"tessella"` with measured and imputed genes in its data layer, reduction
#'   `"TESSELLA"`, provenance in `Misc(x, "tessella")`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     genes <- rownames(sce)
#'     emb <- matrix(rnorm(length(genes) * 8), nrow = length(genes),
#'         dimnames = list(genes, NULL))
#'     sce <- refineSpatial(sce, emb, max_epochs = 5, verbose = FALSE)
#'     SummarizedExperiment::assayNames(sce)
#' }
refineSpatial <- function(x, embeddings, assay = "counts", genes = NULL, ...,
    coords = NULL, seed = 0, device = "auto", verbose = TRUE) {
    spatial <- .objectParts(x, assay, "x", coords)
    options <- .engineOptions(genes = genes, seed = seed, device = device,
        verbose = verbose, ...)
    result <- .runEngine("refine", spatial, embeddings = .embeddingParts(
        embeddings), options = options)
    .assemble(x, result)
}

# Options for the engine: NULL genes dropped, whole numbers passed as integers.
.engineOptions <- function(...) {
    options <- list(...)
    if (is.null(options$genes)) {
        options$genes <- NULL
    } else {
        options$genes <- as.list(as.character(options$genes))
    }
    whole <- vapply(options, function(v) is.numeric(v) && length(v) == 1 &&
        !is.na(v) && v == round(v) && abs(v) < .Machine$integer.max, logical(1))
    options[whole] <- lapply(options[whole], as.integer)
    options
}

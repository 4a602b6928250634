#' Compare imputation methods by cross-validation over genes
#'
#' The measured genes are split into `folds` groups; each group in turn is
#' hidden from the spatial data (from training and from normalisation alike),
#' imputed by every method, and scored against its measured values.
#'
#' @inheritParams imputeSpatial
#' @param reference Optional reference (SingleCellExperiment or Seurat), for
#'   methods that need one.
#' @param embeddings Optional gene-embedding table, for methods that need one.
#' @param methods Method names from [tessellaMethods()].
#' @param folds Number of gene folds.
#' @param ... Hyper-parameters per method, as lists:
#'   `refine = list(max_epochs = 100)`.
#'
#' @return A data.frame with one row per method and gene: `method`, `gene`,
#'   `fold`, `pearson`, `spearman`, `cosine`, `mse`, `rmse`, `ssim`, `js`.
#'   Correlations of a constant prediction are `NA`. The medians per method are
#'   in `attr(result, "summary")`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     scores <- benchmarkImputation(sce, ref, methods = c("knn", "mean"),
#'         folds = 3, verbose = FALSE)
#'     attr(scores, "summary")
#' }
benchmarkImputation <- function(x, reference = NULL, embeddings = NULL,
    methods = c("refine", "knn", "mean"), folds = 5, assay = "counts", ...,
    referenceAssay = "counts", seed = 0, device = "auto", verbose = TRUE) {
    spatial <- .objectParts(x, assay, "x")
    ref <- NULL
    if (!is.null(reference)) {
        ref <- .objectParts(reference, referenceAssay, "reference")
        ref$coords <- NULL
    }
    params <- lapply(list(...), function(p) do.call(.engineOptions, as.list(p)))
    options <- .engineOptions(methods = as.list(as.character(methods)),
        folds = folds, seed = seed, device = device, verbose = verbose)
    options$params <- params
    result <- .runEngine("benchmark", spatial, ref, .embeddingParts(embeddings),
        options)
    .scoresFrame(result)
}

.scoresFrame <- function(result) {
    scores <- as.data.frame(result$scores)
    summary <- as.data.frame(result$summary)
    rownames(summary) <- summary$method
    attr(scores, "summary") <- summary[, setdiff(colnames(summary), "method")]
    scores
}

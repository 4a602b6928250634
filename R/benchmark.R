#' Compare imputation methods by cross-validation over genes
#'
#' The measured genes are split into `folds` groups; each group in turn is
#' hidden from the spatial data (from training and from normalisation alike),
#' imputed by every method, and scored against its measured values.
#'
#' `"seurat"` among `methods` adds Seurat's anchor-based transfer
#' (`FindTransferAnchors()` with `reduction = "cca"`, then `TransferData()`
#' with `weight.reduction = "cca"`), run in this R session on the engine's own
#' folds and scored by the engine with the same truth, metrics and clustering
#' as its methods. Per fold: the spatial cells keep the measured genes, the
#' reference keeps the measured genes it shares (the anchor features), and
#' the held-out genes are transferred from the reference. Both are
#' log-normalised as the engine does, rather than with `NormalizeData()`'s
#' totals over all genes and scale factor 1e4: spatial cells by their totals
#' over the measured genes, reference cells by their totals over the shared
#' genes, both to the median spatial total of the fold (the truth is
#' `log1p(counts / total * median total)`), so RMSE is on the same scale as
#' for the engine's methods (Pearson and Spearman hardly depend on it).
#' Reference cells with no counts in the shared genes are left out. `dims`
#' is capped at the number of shared genes minus one, `k.filter` is skipped
#' when either data set has no more cells than it, and `k.weight` is capped
#' by the number of anchors. Its time (Seurat objects, anchors, transfer) is
#' in the `seconds` column like the engine's fit + predict time. Needs the
#' Seurat package, a reference and raw counts in both.
#'
#' @inheritParams imputeSpatial
#' @param reference Optional reference (SingleCellExperiment or Seurat), for
#'   methods that need one.
#' @param embeddings Optional gene-embedding table, for methods that need one.
#' @param methods Method names from [tessellaMethods()], and `"seurat"`
#'   (Seurat's anchor transfer, see Details).
#' @param folds Number of gene folds.
#' @param ... Hyper-parameters. A single value (`max_epochs = 1`) goes to
#'   every method in `methods` that has a parameter of that name; a name that
#'   no method has is an error. A list named after a method sets that
#'   method's own (`refine = list(max_epochs = 100)`) and wins over a flat
#'   value. `seurat = list(dims = 30, k.anchor = 5, k.filter = 200,
#'   k.score = 30, k.weight = 50)` sets Seurat's (these are the defaults).
#' @param clustering Also cluster the imputed held-out genes (Leiden) and
#'   score the agreement with `labels`.
#' @param labels With `clustering`: cell labels to compare clusterings with,
#'   a vector with one label per cell or the name of a `colData` (Seurat:
#'   meta.data) column; `NULL` compares with the Leiden clustering of the
#'   measured held-out genes.
#'
#' @return A data.frame with one row per method and gene: `method`, `gene`,
#'   `fold`, `pearson`, `spearman`, `cosine`, `mse`, `rmse`, `ssim`, `js`.
#'   Correlations of a constant prediction are `NA`. `attr(result,
#'   "summary")` holds the medians per method and `seconds` (time spent per
#'   method over all folds); `attr(result, "clustering")`, with
#'   `clustering = TRUE`, the agreement per method (ARI, AMI, NMI, ...);
#'   `attr(result, "parameters")` the hyper-parameters each engine method
#'   ran with.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     scores <- benchmarkImputation(sce, ref, methods = c("knn", "mean"),
#'         folds = 3, k = 10, verbose = FALSE)
#'     attr(scores, "summary")
#' }
benchmarkImputation <- function(x, reference = NULL, embeddings = NULL,
    methods = c("refine", "knn", "mean"), folds = 5, assay = "counts", ...,
    referenceAssay = "counts", seed = 0, device = "auto", clustering = FALSE,
    labels = NULL, verbose = TRUE) {
    methods <- unique(as.character(methods))
    engine <- setdiff(methods, .outsideMethods)
    spatial <- .objectParts(x, assay, "x")
    ref <- NULL
    if (!is.null(reference)) {
        ref <- .objectParts(reference, referenceAssay, "reference")
        ref$coords <- NULL
    }
    hyper <- .splitParameters(list(...), methods)
    options <- .engineOptions(methods = as.list(engine), folds = folds,
        seed = seed, device = device, verbose = verbose,
        clustering = isTRUE(clustering))
    options$params <- hyper$params
    options$flat <- hyper$flat
    options$labels <- .cellLabels(x, labels)
    emb <- .embeddingParts(embeddings)
    if ("seurat" %in% methods) {
        options <- c(options, .seuratBenchmark(spatial, ref, emb, options,
            hyper$seurat, verbose))
    }
    result <- .runEngine("benchmark", spatial, ref, emb, options)
    .scoresFrame(result, methods)
}

# Methods run in R, outside the engine, and scored by it.
.outsideMethods <- "seurat"

# Hyper-parameters from `...`: lists per method, single values for all.
.splitParameters <- function(dots, methods) {
    named <- names(dots)
    if (length(dots) && (is.null(named) || !all(nzchar(named)))) {
        .tessellaStop("Hyper-parameters in ... must be named, e.g. ",
            "max_epochs = 100 or refine = list(max_epochs = 100).")
    }
    isList <- vapply(dots, is.list, logical(1))
    perMethod <- dots[isList]
    seurat <- perMethod$seurat
    perMethod$seurat <- NULL
    if (!is.null(seurat) && !"seurat" %in% methods) {
        .tessellaStop("seurat = list(...) is given but \"seurat\" is not ",
            "among methods.")
    }
    list(params = lapply(perMethod, function(p) do.call(.engineOptions, p)),
        flat = do.call(.engineOptions, dots[!isList]), seurat = seurat)
}

# Cell labels for the clustering scores: NULL, a column name or a vector.
.cellLabels <- function(x, labels) {
    if (is.null(labels)) {
        return(NULL)
    }
    if (is.character(labels) && length(labels) == 1 && ncol(x) != 1) {
        columns <- if (methods::is(x, "Seurat")) x[[]] else
            SummarizedExperiment::colData(x)
        if (!labels %in% colnames(columns)) {
            .tessellaStop("labels = '", labels, "' is not a column of ",
                "colData(x) (or the meta.data of a Seurat object).")
        }
        labels <- columns[[labels]]
    }
    if (length(labels) != ncol(x)) {
        .tessellaStop("labels has ", length(labels), " values for ", ncol(x),
            " cells; give one label per cell or a column name.")
    }
    as.list(as.character(labels))
}

.scoresFrame <- function(result, methods = NULL) {
    scores <- as.data.frame(result$scores)
    summary <- .methodTable(result$summary, methods)
    if (!is.null(result$seconds)) {
        seconds <- unlist(result$seconds)
        summary$seconds <- unname(seconds[rownames(summary)])
    }
    attr(scores, "summary") <- summary
    if (!is.null(result$clustering)) {
        attr(scores, "clustering") <- .methodTable(result$clustering, methods)
    }
    if (!is.null(result$parameters)) {
        attr(scores, "parameters") <- result$parameters
    }
    scores
}

# A methods x scores table from engine columns, rows in the order asked.
.methodTable <- function(columns, methods = NULL) {
    table <- as.data.frame(columns)
    rownames(table) <- table$method
    order <- c(intersect(methods, rownames(table)),
        setdiff(rownames(table), methods))
    table[order, setdiff(colnames(table), "method"), drop = FALSE]
}

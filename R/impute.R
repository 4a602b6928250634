#' Impute unmeasured genes from a single-cell reference
#'
#' Reference-based imputation: each spatial cell is matched to reference cells
#' on the shared genes and takes the reference's values for the genes the panel
#' lacks. Methods are listed by [tessellaMethods()] (e.g. `"knn"`: nearest
#' reference cells in a shared PCA space; `"mean"`: the reference mean, a floor).
#'
#' @inheritParams refineSpatial
#' @param reference A SingleCellExperiment or Seurat object: the scRNA-seq
#'   reference measuring the shared genes and the genes to impute.
#' @param method A method name from [tessellaMethods()].
#' @param referenceAssay Assay (or Seurat layer) of `reference` to use.
#' @param genes Genes to impute; `NULL` imputes every reference gene that is
#'   not measured.
#' @param embeddings Optional gene-embedding table, for methods that use one.
#'
#' @return `x` enriched as described in [refineSpatial()]; imputed genes carry
#'   `rowData(altExp(x, "imputed"))$reliability` where the method estimates it.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     out <- imputeSpatial(sce[1:20, ], ref, method = "knn", verbose = FALSE)
#'     SingleCellExperiment::altExp(out, "imputed")
#' }
imputeSpatial <- function(x, reference, method = "knn", assay = "counts",
    genes = NULL, ..., referenceAssay = "counts", embeddings = NULL,
    coords = NULL, seed = 0, device = "auto", verbose = TRUE) {
    .checkMethod(method)
    spatial <- .objectParts(x, assay, "x", coords)
    ref <- .objectParts(reference, referenceAssay, "reference")
    ref$coords <- NULL
    options <- .engineOptions(method = method, genes = genes, seed = seed,
        device = device, verbose = verbose, ...)
    result <- .runEngine("impute", spatial, ref, .embeddingParts(embeddings),
        options)
    .assemble(x, result)
}

.checkMethod <- function(method) {
    if (!is.character(method) || length(method) != 1) {
        .tessellaStop("method must be one method name, e.g. \"knn\".")
    }
}

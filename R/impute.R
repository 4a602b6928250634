#' Impute unmeasured genes from a single-cell reference
#'
#' Reference-based imputation: each spatial cell is matched to reference cells
#' on the shared genes and takes the reference's values for the genes the panel
#' lacks. Methods are listed by [tessellaMethods()]: the default `"auto"`
#' (each gene from the shared genes weighted by their correlation with it in
#' the reference, averaged over similar spatial cells, settings chosen by a
#' cross-validation over the measured genes; the most accurate in the
#' package's benchmarks), `"ridge"` and `"spage"` (baselines), `"knn"`
#' (nearest reference cells in a shared PCA space), `"mean"` (a floor).
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
#' @param name Name the result is stored under (see Value); default the
#'   method's name, e.g. `"knn"`. A second call with another name adds a
#'   result, with the same name replaces that result only.
#'
#' @return `x` enriched as described in [refineSpatial()], under `name`;
#'   imputed genes carry their reliability where the method estimates it
#'   (`"auto"`, `"graph"`): `rowData(altExp(x, "imputed_<name>"))$reliability`, or the
#'   `reliability` column of the Seurat assay's feature metadata. Cell
#'   embeddings (reducedDim / reduction `"TESSELLA_<name>"`) come from `"knn"`
#'   (coordinates on the shared principal components), `"spage"` (on the
#'   principal vectors both platforms share) and `"graph"` (its
#'   autoencoder's latent space); `"auto"`, `"ridge"`, `"mean"` and
#'   `"diffusion"` have none.
#' @inheritSection refineSpatial Large results
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     out <- imputeSpatial(sce[1:20, ], ref, method = "knn", verbose = FALSE)
#'     out <- imputeSpatial(out, ref, method = "mean", verbose = FALSE)
#'     SummarizedExperiment::assayNames(out)      # counts, knn, mean
#'     SingleCellExperiment::altExp(out, "imputed_knn")
#' }
imputeSpatial <- function(x, reference, method = "auto", assay = "counts",
    genes = NULL, ..., referenceAssay = "counts", embeddings = NULL,
    coords = NULL, name = NULL, seed = 0, device = "auto", verbose = TRUE) {
    .checkMethod(method)
    name <- .checkFree(x, if (is.null(name)) method else name)
    spatial <- .objectParts(x, assay, "x", coords)
    options <- .engineOptions(method = method, genes = genes, seed = seed,
        device = device, verbose = verbose, ...)
    result <- .runEngine("impute", spatial, .referenceParts(reference,
        referenceAssay), .embeddingParts(embeddings), options)
    .assemble(x, result, name, verbose)
}

# The reference as parts, without coordinates; NULL stays NULL.
.referenceParts <- function(reference, referenceAssay) {
    if (is.null(reference)) {
        return(NULL)
    }
    ref <- .objectParts(reference, referenceAssay, "reference")
    ref$coords <- NULL
    ref
}

.checkMethod <- function(method) {
    if (!is.character(method) || length(method) != 1) {
        .tessellaStop("method must be one method name, e.g. \"knn\".")
    }
}

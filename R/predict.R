#' Impute genes with a fitted model, without training
#'
#' Applies a model from [fitImputer()] (or a model file saved by
#' `tessella fit`, `tessella pretrain` or Python's `model.save()`) to `x`:
#' the same result [imputeSpatial()] (or [refineSpatial()]) gives, stored the
#' same way, but the model is not fitted again. `x` must measure the genes
#' the model reads (`model$measuredGenes`); raw counts are scaled to the
#' total the model was fitted with. `predictSpatial(x, fitImputer(x, ref,
#' ...))` equals `imputeSpatial(x, ref, ...)`.
#'
#' @inheritParams imputeSpatial
#' @param model A `tessellaModel` from [fitImputer()], or the path of a saved
#'   model file.
#' @param genes Genes to impute; `NULL`: those the model was fitted to
#'   impute (`model$targetGenes`).
#' @param reference A SingleCellExperiment or Seurat object, for the methods
#'   that read the reference when predicting (the peer methods); `NULL` for
#'   the others.
#' @param embeddings A gene-embedding table (see [refineSpatial()]), for a
#'   `"refine"` model.
#' @param device Where the model runs: `"auto"` (CUDA when available),
#'   `"cpu"` or `"cuda"`, whatever device it was fitted on.
#' @param name Name the result is stored under; default the model's method,
#'   e.g. `"knn"` (see [imputeSpatial()]).
#'
#' @return `x` enriched as [imputeSpatial()] describes, under `name`.
#' @inheritSection refineSpatial Large results
#' @seealso [fitImputer()]
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     model <- fitImputer(sce[1:20, ], exampleSpatial(seed = 2),
#'         method = "knn", verbose = FALSE)
#'     first <- predictSpatial(sce[1:20, 1:100], model)
#'     second <- predictSpatial(sce[1:20, 101:200], model$file)
#'     SummarizedExperiment::assayNames(second)    # counts, knn
#' }
predictSpatial <- function(x, model, assay = "counts", genes = NULL,
    reference = NULL, referenceAssay = "counts", embeddings = NULL,
    coords = NULL, name = NULL, device = "auto", verbose = TRUE) {
    file <- .modelFile(model)
    if (is.null(name) && inherits(model, "tessellaModel")) {
        name <- model$method
    }
    if (!is.null(name)) {
        name <- .checkFree(x, name)
    }
    spatial <- .objectParts(x, assay, "x", coords)
    options <- .engineOptions(genes = genes, device = device,
        model_file = file)
    result <- .runEngine("predict", spatial, .referenceParts(reference,
        referenceAssay), .embeddingParts(embeddings), options)
    .assemble(x, result, name, verbose)
}

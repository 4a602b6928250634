#' Fit an imputation method once, to impute many objects
#'
#' Fits a method as [imputeSpatial()] (or, with `method = "refine"`,
#' [refineSpatial()]) would, and saves the fitted model to a file instead of
#' imputing: [predictSpatial()] then imputes `x` or any other object that
#' measures the same genes, without training again. The file holds the
#' weights, the hyper-parameters, how the data was prepared (input scale,
#' size-factor target, genes) and the tessella version, and nothing
#' executable; it is read on any device (a model fitted on a GPU predicts on
#' a CPU), from R, from Python (`tessella.load_model()`) or from the command
#' line (`tessella predict --model`).
#'
#' @inheritParams imputeSpatial
#' @param reference A SingleCellExperiment or Seurat object: the scRNA-seq
#'   reference, for the methods that take one; `NULL` for `"refine"`, which
#'   reads `embeddings` instead.
#' @param method A method name from [tessellaMethods()].
#' @param genes Genes the model will impute; `NULL`: every reference (or, for
#'   `"refine"`, embedding-table) gene that `x` does not measure.
#' @param embeddings A gene-embedding table (see [refineSpatial()]): needed by
#'   `"refine"`, optional for methods that use one.
#' @param ... Hyper-parameters of the method, as for [imputeSpatial()] and
#'   [refineSpatial()]: `tessellaMethods(parameters = TRUE)` lists them.
#' @param file Where to save the model, a `.pt` file. The default, a
#'   temporary file, is removed when the R session ends: give a path to keep
#'   the model.
#'
#' @return A `tessellaModel`: a list with `file` (the absolute path of the
#'   saved model), `method`, `measuredGenes` (the genes the model reads: an
#'   object it predicts must measure them), `targetGenes` (the genes it
#'   imputes), `version` (of the tessella engine that fitted it) and `notes`
#'   (what the method noted while fitting, e.g. a capped parameter).
#'   [predictSpatial()] takes it, or its `file`.
#' @seealso [predictSpatial()] to use the model; [refineSpatial()] with
#'   `model =` to fine-tune a refine model on a new object.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     model <- fitImputer(sce[1:20, ], ref, method = "knn", verbose = FALSE)
#'     print(model)
#'     out <- predictSpatial(sce[1:20, 1:50], model, verbose = FALSE)
#'     SingleCellExperiment::altExp(out, "imputed_knn")
#' }
fitImputer <- function(x, reference = NULL, method = "auto",
    assay = "counts", genes = NULL, ..., referenceAssay = "counts",
    embeddings = NULL, coords = NULL, file = tempfile(fileext = ".pt"),
    seed = 0, device = "auto", verbose = TRUE) {
    .checkMethod(method)
    file <- .modelOutput(file)
    spatial <- .objectParts(x, assay, "x", coords)
    options <- .engineOptions(method = method, genes = genes, seed = seed,
        device = device, verbose = verbose, ..., model_file = file)
    fitted <- .runEngine("fit", spatial, .referenceParts(reference,
        referenceAssay), .embeddingParts(embeddings), options)
    notes <- as.character(unlist(fitted$notes))
    for (note in notes) {
        .tessellaMessage(fitted$method, ": ", note)
    }
    .tessellaMessage("tessella: ", fitted$method, " model saved to ", file,
        ".", verbose = verbose)
    structure(list(file = file, method = fitted$method,
        measuredGenes = as.character(unlist(fitted$measured_genes)),
        targetGenes = as.character(unlist(fitted$target_genes)),
        version = fitted$version, notes = notes), class = "tessellaModel")
}

#' A fitted tessella model
#'
#' What [fitImputer()] returns: a list with `file`, `method`,
#' `measuredGenes`, `targetGenes`, `version` and `notes` (see
#' [fitImputer()]). Printing shows the method, the engine version, the genes
#' the model reads and imputes, and its file (flagged when it is missing).
#'
#' @param x A `tessellaModel`.
#' @param ... Ignored.
#'
#' @return `x`, invisibly.
#' @name tessellaModel
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     print(fitImputer(sce[1:20, ], exampleSpatial(seed = 2),
#'         method = "mean", verbose = FALSE))
#' }
NULL

#' @rdname tessellaModel
#' @export
print.tessellaModel <- function(x, ...) {
    genes <- function(g) {
        shown <- paste(utils::head(g, 5), collapse = ", ")
        if (length(g) > 5) paste0(shown, ", ...") else shown
    }
    cat("tessellaModel: ", x$method, " (tessella ", x$version, ")\n",
        "  reads ", length(x$measuredGenes), " genes: ",
        genes(x$measuredGenes), "\n",
        "  imputes ", length(x$targetGenes), " genes: ",
        genes(x$targetGenes), "\n",
        "  file: ", x$file, if (!file.exists(x$file)) " (missing)", "\n",
        sep = "")
    invisible(x)
}

# The file a model is saved to: one path in a folder that exists, absolute.
.modelOutput <- function(file) {
    if (!is.character(file) || length(file) != 1 || is.na(file) ||
        !nzchar(file)) {
        .tessellaStop("file must be one file path, e.g. \"model.pt\".")
    }
    folder <- dirname(file)
    if (!dir.exists(folder)) {
        .tessellaStop("file = '", file, "': its folder '", folder,
            "' does not exist.")
    }
    file.path(normalizePath(folder), basename(file))
}

# The saved model file behind `model`: a tessellaModel or a path. A file
# that is not there stops here, in R terms, naming the argument.
.modelFile <- function(model, arg = "model") {
    if (inherits(model, "tessellaModel")) {
        if (!file.exists(model$file)) {
            .tessellaStop(arg, " = : the model's file '", model$file,
                "' does not exist any more (fitImputer() saves to a ",
                "temporary file unless file = is given; fit it again).")
        }
        return(model$file)
    }
    if (!is.character(model) || length(model) != 1 || is.na(model)) {
        .tessellaStop(arg, " must be a tessellaModel from fitImputer() or ",
            "the path of a saved model file.")
    }
    if (!file.exists(model) || dir.exists(model)) {
        .tessellaStop(arg, " = '", model, "': no such model file; give a ",
            "tessellaModel from fitImputer() or the path of a model saved ",
            "by fitImputer(), tessella fit or tessella pretrain.")
    }
    normalizePath(model)
}

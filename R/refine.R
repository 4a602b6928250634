#' Denoise any panel, and impute genes from gene embeddings, without a reference
#'
#' Reference-free refinement (spRefine style): a cell encoder on the measured
#' genes and gene vectors (from a gene encoder on gene embeddings such as
#' ESM-2, or learned for genes without one) are fit to the measured
#' expression, each cell's counts split in two halves so that the network
#' predicts one half from the other and cannot copy the noise. Measured genes
#' come back denoised; unmeasured genes with an embedding are imputed.
#'
#' @param x A SpatialExperiment, SingleCellExperiment or Seurat object (cells
#'   as columns, genes as rows), never modified.
#' @param embeddings A gene-embedding table: a file (`.tsv`, `.csv`, optionally
#'   gzipped, gene first; `.parquet`; `.h5ad`; `.npz`; torch `.pt`) or a numeric
#'   matrix / data.frame with gene names as rownames; it may cover only some
#'   measured genes. `NULL` denoises the measured genes and imputes none.
#' @param assay Assay (SCE/SPE) or layer of the default assay (Seurat) holding
#'   raw counts or log-normalised values.
#' @param genes Genes to impute; `NULL` imputes every gene of the table that is
#'   not measured.
#' @param ... Hyper-parameters of the method, e.g. `max_epochs = 100`,
#'   `latent = 32`: `tessellaMethods(parameters = TRUE)` lists each one with
#'   its default, allowed range and meaning. A value outside its range is an
#'   error naming the parameter and the range; a value the data cannot support
#'   (`k` above the number of reference cells, `n_components` above the
#'   shared genes) is capped, with a message saying so.
#' @param coords For a SingleCellExperiment: the reducedDim name, or two colData
#'   columns, holding spatial coordinates; `NULL` looks for a `"spatial"`
#'   reducedDim or columns such as `x`/`y`.
#' @param seed Seed of every random step; the same seed gives the same result.
#' @param device `"auto"` (CUDA when available), `"cpu"` or `"cuda"`.
#' @param name Name the result is stored under; default `"refine"`. A second
#'   call with another name adds a result, with the same name replaces that
#'   result only (a message says what was written where).
#' @param verbose Show progress.
#' @param model A refine model to fine-tune on `x` instead of training from
#'   scratch: a `tessellaModel` from [fitImputer()] (`method = "refine"`) or
#'   the path of a saved refine model (e.g. one pretrained on many slides by
#'   `tessella pretrain`). Training options in `...` (`max_epochs`, `lr`,
#'   ...) apply to the fine-tuning; those that set the network's shape
#'   cannot change. The model file is not changed. `NULL` trains from
#'   scratch.
#'
#' @return `x` enriched; every slot is named after `name`, so results of
#'   several calls stack. SingleCellExperiment / SpatialExperiment: assay
#'   `name` (measured genes as the method returns them, log-normalised, same
#'   dimensions as `x`), `altExp(x, "imputed_<name>")` with the imputed genes
#'   (assay `"imputed"`, `rowData()$reliability`), reducedDim
#'   `"TESSELLA_<name>"` (cell embeddings, for methods with a latent space),
#'   provenance in `metadata(x)$tessella[[name]]`. Seurat: assay `name` with
#'   measured and imputed genes in its data layer and, in its feature metadata
#'   (`x[[name]][[]]`), columns `measured` and `reliability`; reduction
#'   `"TESSELLA_<name>"`, tied to the default assay so that
#'   `FindNeighbors(x, reduction = "TESSELLA_<name>")` then `FindClusters(x)`
#'   work with their defaults; provenance in `Misc(x, "tessella")[[name]]`.
#'   The default assay is not changed. refine's cell embedding is its cell
#'   encoder's output (`latent` columns).
#' @section Large results:
#' Results of up to `getOption("tessella.hdf5Threshold")` values (cells x
#' output genes; default `2e8`, 1.6 GB as R doubles) come back in memory, as
#' ordinary matrices. Larger ones are written by the engine to an `.h5ad`
#' file (float32, a block of cells at a time) in
#' `getOption("tessella.hdf5Dir")` (default [tempdir()]), and the assays
#' `name` and `"imputed"` of `altExp(x, "imputed_<name>")` are HDF5-backed
#' `DelayedMatrix` objects reading that file (package HDF5Array; without it,
#' results stay in memory and a message says so). Nothing is transposed or
#' copied whole on the way: use them as any matrix (`as.matrix()` reads one
#' into memory, `DelayedArray::colSums()` and friends work block by block).
#' `options(tessella.hdf5Threshold = 0)` always keeps results on disk,
#' `Inf` never. A file in [tempdir()] is removed when the R session ends: to
#' keep such an object, save it with
#' `HDF5Array::saveHDF5SummarizedExperiment()`, or set
#' `options(tessella.hdf5Dir = )` to a lasting folder first. Seurat assays
#' hold matrices in memory, so for a Seurat object the file is read into
#' memory (which still avoids the engine's in-memory copies). The user's
#' assays are never changed.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     genes <- rownames(sce)
#'     emb <- matrix(rnorm(length(genes) * 8), nrow = length(genes),
#'         dimnames = list(genes, NULL))
#'     sce <- refineSpatial(sce, emb, max_epochs = 5, verbose = FALSE)
#'     SummarizedExperiment::assayNames(sce)    # counts, refine
#'     dim(SingleCellExperiment::reducedDim(sce, "TESSELLA_refine"))
#' }
refineSpatial <- function(x, embeddings = NULL, assay = "counts", genes = NULL, ...,
    coords = NULL, name = "refine", model = NULL, seed = 0, device = "auto",
    verbose = TRUE) {
    name <- .checkFree(x, name)
    spatial <- .objectParts(x, assay, "x", coords)
    options <- .engineOptions(genes = genes, seed = seed, device = device,
        verbose = verbose, ...)
    if (!is.null(model)) {
        options$model <- .modelFile(model)
    }
    result <- .runEngine("refine", spatial, embeddings = .embeddingParts(
        embeddings), options = options)
    .assemble(x, result, name, verbose)
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

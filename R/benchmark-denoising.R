#' Compare denoising methods by molecular cross-validation
#'
#' Molecular cross-validation (Batson et al. 2019, the OpenProblems denoising
#' metric): every count of `x` is split binomially into a training half and
#' a test half (seeded); each method denoises the training half and is
#' scored against the test half. `mse`: both scaled per cell to the median
#' total of the test half and log1p'd, mean squared error over cells and
#' genes. `poisson`: Poisson loss of the test counts under the denoised
#' profile scaled to the cell's training total (and by test / training total
#' over the slide). `"raw"` (no denoising) is the floor. The denoised
#' profiles are also clustered (Leiden) and compared with `labels`, or else
#' with the clustering of the raw counts: NMI, ARI, ASW (silhouette, rescaled
#' to 0-1) and their average, as spRefine reports them. Cells without a count
#' in one half are left out.
#'
#' Methods: `"raw"`; `"knn_smoothing"` (mean of the `k = 15` nearest cells in
#' expression PCA space); `"spatial_smoothing"` (mean of the `k = 7` nearest
#' cells in the tissue); `"magic"` (MAGIC, Python package `magic-impute`) and
#' `"scvi"` (scVI's normalised expression, `scvi-tools`), when installed;
#' `"refine"` (tessella's refine fitted on the training half, with
#' `embeddings` when given).
#'
#' @inheritParams imputeSpatial
#' @param x A SpatialExperiment, SingleCellExperiment or Seurat object (cells
#'   as columns, genes as rows) holding raw integer counts; never modified.
#' @param embeddings Optional gene-embedding table for `"refine"`.
#' @param methods Denoising method names (see Details).
#' @param assay Assay (SCE/SPE) or layer of the default assay (Seurat) holding
#'   raw counts.
#' @param ... Hyper-parameters. A single value (`k = 10`) goes to every method
#'   in `methods` that has a parameter of that name; a list named after a
#'   method sets that method's own (`refine = list(max_epochs = 100)`,
#'   `scvi = list(max_epochs = 50)`).
#' @param labels Cell labels to compare clusterings with, a vector with one
#'   label per cell or the name of a `colData` (Seurat: meta.data) column;
#'   `NULL` compares with the Leiden clustering of the raw counts.
#'
#' @return A data.frame with one row per method: `method`, `mse`, `poisson`
#'   (lower is better), `nmi`, `ari`, `asw`, `avg` (higher is better) and
#'   `seconds` (denoising time). `attr(result, "summary")` holds the same
#'   scores with methods as rownames; `attr(result, "parameters")` the
#'   hyper-parameters each method ran with.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     scores <- benchmarkDenoising(sce,
#'         methods = c("raw", "knn_smoothing", "spatial_smoothing"),
#'         verbose = FALSE)
#'     scores
#' }
benchmarkDenoising <- function(x, embeddings = NULL,
    methods = c("raw", "knn_smoothing", "spatial_smoothing", "refine"),
    assay = "counts", ..., seed = 0, device = "auto", labels = NULL,
    verbose = TRUE) {
    methods <- unique(as.character(methods))
    spatial <- .objectParts(x, assay, "x")
    hyper <- .splitParameters(list(...), methods)
    options <- .engineOptions(task = "denoise", methods = as.list(methods),
        seed = seed, device = device, verbose = verbose)
    options$params <- hyper$params
    options$flat <- hyper$flat
    options$labels <- .cellLabels(x, labels)
    result <- .runEngine("benchmark", spatial, NULL,
        .embeddingParts(embeddings), options)
    .scoresFrame(result, methods)
}

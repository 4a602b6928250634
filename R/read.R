#' Read an .h5ad file as a SingleCellExperiment
#'
#' Reads the file with the Python engine (anndata) and builds a
#' SingleCellExperiment: the matrix as assay `assay` (genes x cells), the
#' observation table as colData, and `obsm["spatial"]` as reducedDim
#' `"spatial"`.
#'
#' @param path Path of an `.h5ad` file.
#' @param assay Name of the assay to store the matrix in.
#'
#' @return A SingleCellExperiment.
#' @export
#' @examples
#' path <- file.path(Sys.getenv("TESSELLA_DATA_DIR"), "osmfish",
#'     "osmfish_spatial.h5ad")
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON")) && file.exists(path)) {
#'     readH5adSpatial(path)
#' }
readH5adSpatial <- function(path, assay = "counts") {
    if (!file.exists(path)) {
        .tessellaStop("File '", path, "' does not exist.")
    }
    parts <- .runPython(.engineReadH5ad, path = normalizePath(path))
    if (!is.null(parts$error)) {
        .tessellaStop(parts$error)
    }
    values <- parts$x
    dimnames(values) <- list(as.character(parts$genes), as.character(parts$cells))
    colData <- S4Vectors::DataFrame(lapply(parts$obs, .obsColumn),
        row.names = colnames(values), check.names = FALSE)
    sce <- SingleCellExperiment::SingleCellExperiment(
        assays = stats::setNames(list(values), assay), colData = colData)
    if (!is.null(parts$coords)) {
        SingleCellExperiment::reducedDim(sce, "spatial") <- parts$coords
    }
    sce
}

.obsColumn <- function(values) {
    if (is.list(values)) {
        values <- vapply(values, function(v) if (is.null(v)) NA_character_ else
            as.character(v), character(1))
    }
    values
}

#' A small simulated spatial data set
#'
#' Counts of 40 genes in 300 cells on a slide, with cell types that change
#' along x; for examples and quick checks. Made in R, no Python needed.
#'
#' @param nCells Number of cells.
#' @param nGenes Number of genes.
#' @param seed Seed of the simulation.
#'
#' @return A SingleCellExperiment with assay `counts`, colData `cell_type`
#'   and reducedDim `"spatial"`.
#' @export
#' @examples
#' exampleSpatial()
exampleSpatial <- function(nCells = 300, nGenes = 40, seed = 1) {
    .withSeed(seed, {
        xy <- matrix(stats::runif(nCells * 2, 0, 100), ncol = 2,
            dimnames = list(NULL, c("x", "y")))
        type <- pmin(floor(xy[, "x"] / 25), 3) + 1
        programme <- matrix(stats::rnorm(nGenes * 4, 0, 1.2), nGenes)
        depth <- stats::rlnorm(nCells, log(200), 0.3)
        shares <- exp(programme[, type])
        shares <- sweep(shares, 2, colSums(shares), "/")
        counts <- matrix(stats::rpois(nGenes * nCells, shares * rep(depth,
            each = nGenes)), nGenes)
    })
    storage.mode(counts) <- "double"
    dimnames(counts) <- list(sprintf("Gene%03d", seq_len(nGenes)),
        sprintf("cell%d", seq_len(nCells)))
    SingleCellExperiment::SingleCellExperiment(
        assays = list(counts = counts),
        colData = S4Vectors::DataFrame(cell_type = factor(type),
            row.names = colnames(counts)),
        reducedDims = list(spatial = xy))
}

# Evaluate `expr` with R's generator seeded, then put the caller's random
# state back, so functions take a seed without changing the user's stream.
.withSeed <- function(seed, expr) {
    env <- globalenv()
    old <- if (exists(".Random.seed", envir = env, inherits = FALSE))
        get(".Random.seed", envir = env) else NULL
    on.exit(if (is.null(old)) {
        rm(".Random.seed", envir = env)
    } else {
        assign(".Random.seed", old, envir = env)
    })
    set.seed(seed)
    expr
}

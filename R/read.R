#' Read an .h5ad file as a SingleCellExperiment or SpatialExperiment
#'
#' Reads the file with the Python engine (anndata) and carries everything a
#' SingleCellExperiment can hold: `X` as assay `assay` and every layer as an
#' assay of its name (sparse matrices as `dgCMatrix`, dense ones as
#' matrices; genes x cells), `obs` as colData and `var` as rowData (plain
#' vectors and factors), `obsm["spatial"]` as coordinates and the other dense
#' `obsm` arrays as reducedDims. With coordinates and the SpatialExperiment
#' package installed the result is a SpatialExperiment (coordinates in
#' `spatialCoords()`); otherwise a SingleCellExperiment with the coordinates
#' as reducedDim `"spatial"`. What cannot be carried (`uns`, `raw`, `varm`,
#' `obsp`, `varp`, ...) is named in one message.
#'
#' @param path Path of an `.h5ad` file.
#' @param assay Name of the assay to store `X` in.
#' @param spatialExperiment Return a SpatialExperiment when the file has
#'   coordinates: `NA` (the default) when the SpatialExperiment package is
#'   installed, `TRUE` (an error without it) or `FALSE`.
#' @param verbose Show the message naming what was not carried.
#'
#' @return A SingleCellExperiment or SpatialExperiment.
#' @export
#' @examples
#' path <- file.path(Sys.getenv("TESSELLA_DATA_DIR"), "visium_subset",
#'     "visium_mouse_brain.h5ad")
#' if (is.na(tessellaPython()$problem) && file.exists(path)) {
#'     readH5adSpatial(path)
#' }
readH5adSpatial <- function(path, assay = "counts", spatialExperiment = NA,
    verbose = TRUE) {
    if (!file.exists(path)) {
        .tessellaStop("File '", path, "' does not exist.")
    }
    parts <- .runPython(.engineReadH5ad, path = normalizePath(path))
    if (!is.null(parts$error)) {
        .tessellaStop(parts$error)
    }
    .spatialFromParts(parts, assay, spatialExperiment, verbose, basename(path))
}

# The object readH5adSpatial() returns, from tessella.h5ad.h5ad_parts (also
# used by the command line, through rpy2, for .h5ad in and .rds out).
.spatialFromParts <- function(parts, assay = "counts", spatialExperiment = NA,
    verbose = TRUE, label = "the file") {
    genes <- as.character(parts$genes)
    cells <- as.character(parts$cells)
    assays <- lapply(c(stats::setNames(list(parts$x), assay), parts$layers),
        .matrixFromParts, genes = genes, cells = cells)
    names(assays) <- make.unique(names(assays))
    colData <- .frameFromParts(parts$obs, cells)
    rowData <- .frameFromParts(parts$var, genes)
    reduced <- lapply(parts$reduced, function(m) {
        m <- as.matrix(m)
        rownames(m) <- cells
        m
    })
    coords <- parts$coords
    if (!is.null(coords)) {
        coords <- as.matrix(coords)
        dimnames(coords) <- list(cells, .coordNames(ncol(coords)))
    }
    left <- as.character(unlist(parts$not_carried))
    if (length(left)) {
        .tessellaMessage("Not carried from ", label, ": ",
            paste(left, collapse = ", "), ".", verbose = verbose)
    }
    .buildSpatial(assays, colData, rowData, reduced, coords, spatialExperiment)
}

.coordNames <- function(n) {
    if (n <= 3) c("x", "y", "z")[seq_len(n)] else paste0("dim", seq_len(n))
}

.buildSpatial <- function(assays, colData, rowData, reduced, coords, spe) {
    if (is.na(spe)) {
        spe <- !is.null(coords) &&
            requireNamespace("SpatialExperiment", quietly = TRUE)
    }
    if (isTRUE(spe) && !is.null(coords)) {
        if (!requireNamespace("SpatialExperiment", quietly = TRUE)) {
            .tessellaStop("spatialExperiment = TRUE needs the ",
                "SpatialExperiment package (BiocManager::install(",
                "\"SpatialExperiment\")).")
        }
        return(SpatialExperiment::SpatialExperiment(assays = assays,
            colData = colData, rowData = rowData, reducedDims = reduced,
            spatialCoords = coords))
    }
    if (!is.null(coords)) {
        reduced <- c(list(spatial = coords), reduced)
    }
    SingleCellExperiment::SingleCellExperiment(assays = assays,
        colData = colData, rowData = rowData, reducedDims = reduced)
}

# One matrix of read_h5ad_parts (genes x cells): a dgCMatrix rebuilt from its
# compressed-column pieces, or a dense matrix.
.matrixFromParts <- function(part, genes, cells) {
    if (isTRUE(part$sparse)) {
        m <- methods::new("dgCMatrix", i = as.integer(part$i),
            p = as.integer(part$p), x = as.numeric(part$x),
            Dim = as.integer(unlist(part$dim)))
    } else {
        m <- as.matrix(part$values)
        storage.mode(m) <- "double"
    }
    dimnames(m) <- list(genes, cells)
    m
}

.frameFromParts <- function(columns, rowNames) {
    values <- lapply(columns, .columnFromParts)
    S4Vectors::DataFrame(values, row.names = rowNames, check.names = FALSE)
}

# One obs / var column (tessella.h5ad.column_parts) as a plain R vector.
.columnFromParts <- function(part) {
    if (identical(part$kind, "factor")) {
        codes <- as.integer(part$codes)
        codes[codes < 0] <- NA_integer_
        levels <- as.character(unlist(part$levels))
        return(factor(levels[codes + 1L], levels = levels))
    }
    values <- part$values
    if (is.list(values)) {
        missing <- vapply(values, is.null, logical(1))
        values[missing] <- NA
        values <- unlist(values)
    }
    switch(part$kind,
        logical = as.logical(values),
        integer = as.integer(values),
        double = as.numeric(values),
        as.character(values))
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

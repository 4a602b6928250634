#' Hand a tessella result to Giotto
#'
#' Gathers what `Giotto::createGiottoObject()` takes from one stored result:
#' the expression layers and the cells' spatial locations.
#'
#' @inheritParams toCellChat
#' @param assay Assay (SCE/SPE) or layer of the default assay (Seurat)
#'   holding the raw counts of the measured genes, for the `raw` layer;
#'   when `x` has none, there is no `raw` layer (a message says so).
#'
#' @return A list with the arguments of `Giotto::createGiottoObject()`:
#'   `expression`, a list with, where `x` has counts, `raw` (the measured
#'   genes' counts, a `dgCMatrix`) and `normalized` (genes x cells, the
#'   result's log-normalised values: measured genes as the result holds
#'   them, then the imputed genes; tessella's own normalisation, so tell
#'   Giotto not to normalise again). Imputed genes have no counts: they are
#'   only in `normalized`. `spatial_locs` is a data.frame with `cell_ID`,
#'   `sdimx`, `sdimy` (and `sdimz` for 3-D coordinates), its rows in the
#'   expression's column order. Cells without counts (`tessella_empty`) are
#'   left out, with a message; `minReliability` leaves out unreliable
#'   imputed genes as in [toCellChat()]. Run
#'   `do.call(Giotto::createGiottoObject, toGiotto(x))`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     sce <- imputeSpatial(sce[1:20, ], ref, method = "mean", verbose = FALSE)
#'     input <- toGiotto(sce)
#'     names(input$expression)                  # raw, normalized
#'     head(input$spatial_locs)
#'     # giotto <- do.call(Giotto::createGiottoObject, input)
#' }
toGiotto <- function(x, name = NULL, assay = "counts", minReliability = NULL,
    coords = NULL) {
    name <- .chooseResult(x, name)
    parts <- .handoffParts(x, name, minReliability)
    cells <- parts$cells
    counts <- .rawCounts(x, assay, rownames(parts$values)[parts$measured],
        cells)
    if (is.null(counts)) {
        .tessellaMessage("x has no '", assay, "' counts: the Giotto input ",
            "has only the normalized layer.")
    }
    expression <- c(if (!is.null(counts)) list(raw = counts),
        list(normalized = parts$values))
    if (!is.null(counts) && any(!parts$measured)) {
        .tessellaMessage(sum(!parts$measured), " imputed gene(s) have no ",
            "counts: they are in the normalized layer only.")
    }
    xy <- .spatialCoords(x, coords)[cells, , drop = FALSE]
    locations <- data.frame(cell_ID = cells, sdimx = xy[, "x"],
        sdimy = xy[, "y"], stringsAsFactors = FALSE)
    if (ncol(xy) == 3) {
        locations$sdimz <- xy[, "z"]
    }
    rownames(locations) <- NULL
    list(expression = expression, spatial_locs = locations)
}

# The measured genes' counts (dgCMatrix, genes x cells), or NULL when x has
# no such assay or layer.
.rawCounts <- function(x, assay, genes, cells) {
    parts <- tryCatch(.objectParts(x, assay, "x"),
        error = function(e) NULL)
    if (is.null(parts)) {
        return(NULL)
    }
    counts <- parts$x
    dimnames(counts) <- list(parts$genes, parts$cells)
    if (methods::is(x, "Seurat")) {
        rownames(counts) <- gsub("_", "-", rownames(counts), fixed = TRUE)
    }
    counts <- methods::as(counts[intersect(genes, rownames(counts)), cells,
        drop = FALSE], "CsparseMatrix")
    counts
}

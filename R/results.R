# Stored results read back for the hand-offs and plots: which result (by
# name), its values (measured + imputed genes x cells, log-normalised), per
# gene whether it was measured and its reliability, and the cells' spatial
# coordinates. The layout read here is the one R/assemble.R writes.

.storedResults <- function(x) {
    if (methods::is(x, "Seurat")) {
        return(names(SeuratObject::Misc(x, slot = "tessella")))
    }
    if (methods::is(x, "SingleCellExperiment")) {
        return(names(S4Vectors::metadata(x)$tessella))
    }
    .tessellaStop("x must be ", .supportedClasses, ", not ", class(x)[1], ".")
}

# The name of a stored result: `name`, or the only result x holds.
.chooseResult <- function(x, name) {
    stored <- .storedResults(x)
    if (!length(stored)) {
        .tessellaStop("x holds no tessella result: run imputeSpatial() or ",
            "refineSpatial() on it first.")
    }
    if (is.null(name)) {
        if (length(stored) > 1) {
            .tessellaStop("x holds several tessella results (",
                paste(stored, collapse = ", "), "); choose one with name = .")
        }
        return(stored)
    }
    if (!is.character(name) || length(name) != 1 || !name %in% stored) {
        .tessellaStop("x holds no tessella result named '",
            paste(name, collapse = ", "), "' (results: ",
            paste(stored, collapse = ", "), "); choose one with name = .")
    }
    name
}

.inMemory <- function(m) {
    if (methods::is(m, "DelayedArray")) {
        return(as.matrix(m))
    }
    m
}

# A result as list(values = genes x cells, measured, reliability).
.resultParts <- function(x, name) {
    if (methods::is(x, "Seurat")) {
        return(.seuratResultParts(x, name))
    }
    measured <- .inMemory(SummarizedExperiment::assay(x, name))
    alt <- paste0("imputed_", name)
    imputed <- NULL
    reliability <- numeric(0)
    if (alt %in% SingleCellExperiment::altExpNames(x)) {
        experiment <- SingleCellExperiment::altExp(x, alt)
        imputed <- .inMemory(SummarizedExperiment::assay(experiment,
            "imputed"))
        reliability <- SummarizedExperiment::rowData(experiment)$reliability
        if (is.null(reliability)) {
            reliability <- rep(NA_real_, nrow(imputed))
        }
    }
    values <- rbind(as.matrix(measured), as.matrix(imputed))
    list(values = values,
        measured = rep(c(TRUE, FALSE), c(nrow(measured), NROW(imputed))),
        reliability = c(rep(NA_real_, nrow(measured)),
            as.numeric(reliability)))
}

.seuratData <- function(object, layer = "data") {
    if (.isAssay5(object)) {
        return(getExportedValue("SeuratObject", "LayerData")(object,
            layer = layer))
    }
    SeuratObject::GetAssayData(object, slot = layer)
}

.seuratResultParts <- function(x, name) {
    object <- x[[name]]
    values <- as.matrix(.seuratData(object))
    features <- object[[]]
    measured <- features[rownames(values), "measured"]
    reliability <- features[rownames(values), "reliability"]
    list(values = values, measured = as.logical(measured),
        reliability = as.numeric(reliability))
}

# Cells without counts (NaN for every gene, flagged by the engine).
.emptyCells <- function(x) {
    flags <- if (methods::is(x, "Seurat")) x[[]][[.emptyColumn]] else
        SummarizedExperiment::colData(x)[[.emptyColumn]]
    if (is.null(flags)) {
        return(rep(FALSE, ncol(x)))
    }
    !is.na(flags) & as.logical(flags)
}

# Cell metadata as a data.frame with cells as rownames.
.cellData <- function(x) {
    if (methods::is(x, "Seurat")) {
        return(x[[]])
    }
    data <- as.data.frame(SummarizedExperiment::colData(x))
    rownames(data) <- colnames(x)
    data
}

# Spatial coordinates: numeric matrix, rownames = cells, columns x, y and
# z where the data has a third dimension; an error when x has none.
.spatialCoords <- function(x, coords = NULL) {
    xy <- if (methods::is(x, "Seurat")) .seuratSpatial(x) else
        .sceSpatial(x, coords)
    if (is.null(xy)) {
        .tessellaStop("x has no spatial coordinates: ",
            if (methods::is(x, "Seurat")) "add an image or FOV with them" else
            paste0("give a reducedDim or two colData columns with ",
                "coords = , or store them in reducedDim(x, \"spatial\")"),
            ".")
    }
    xy <- as.matrix(xy)[, seq_len(min(3, ncol(xy))), drop = FALSE]
    storage.mode(xy) <- "double"
    dimnames(xy) <- list(colnames(x), c("x", "y", "z")[seq_len(ncol(xy))])
    xy
}

.sceSpatial <- function(x, coords) {
    if (is.null(coords) && !methods::is(x, "SpatialExperiment") &&
        "spatial" %in% SingleCellExperiment::reducedDimNames(x)) {
        # 3-D data keeps its z (the engine's reader takes two columns).
        return(SingleCellExperiment::reducedDim(x, "spatial"))
    }
    xy <- .sceCoords(x, coords, "x")
    columns <- colnames(SummarizedExperiment::colData(x))
    if (!is.null(xy) && is.null(coords) && ncol(xy) == 2 && "z" %in% columns &&
        all(c("x", "y") %in% columns)) {
        xy <- cbind(xy, SummarizedExperiment::colData(x)$z)
    }
    xy
}

# Every image's tissue coordinates in full-resolution units (Visium:
# imagecol, imagerow; FOV: x, y and a cell column), matched to the cells.
.seuratSpatial <- function(x) {
    matched <- .imageCoords(x, colnames(x), fullResolution = TRUE)
    if (!is.null(matched) && anyNA(matched)) {
        .tessellaStop(sum(!stats::complete.cases(matched)), " cell(s) of x ",
            "have no coordinates in its images (", paste(SeuratObject::Images(x),
            collapse = ", "), "); subset x to the cells with coordinates.")
    }
    matched
}

# Log-normalised values of `genes` measured by `measured` (an object or a
# genes x cells matrix), for the cells `cells`: counts (whole numbers) are
# normalised as the engine does (library size to the median total, log1p),
# other values used as they are. Genes it lacks are left out.
.measuredValues <- function(measured, genes, cells, assay = "counts") {
    if (methods::is(measured, "Seurat") ||
        methods::is(measured, "SingleCellExperiment")) {
        parts <- .objectParts(measured, assay, "measured")
        m <- parts$x
        dimnames(m) <- list(parts$genes, parts$cells)
    } else {
        m <- measured
    }
    if (is.null(rownames(m)) || is.null(colnames(m))) {
        .tessellaStop("measured must have gene names as rownames and cell ",
            "names as colnames.")
    }
    missing <- setdiff(cells, colnames(m))
    if (length(missing)) {
        .tessellaStop("measured lacks ", length(missing), " cell(s) of x (",
            paste(utils::head(missing, 3), collapse = ", "), ").")
    }
    present <- intersect(genes, rownames(m))
    values <- as.matrix(m[present, , drop = FALSE])
    if (length(present) && all(values == round(values), na.rm = TRUE)) {
        totals <- Matrix::colSums(m)
        values <- log1p(sweep(values, 2, totals, "/") *
            stats::median(totals[totals > 0]))
    }
    values[, cells, drop = FALSE]
}

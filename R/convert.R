# SpatialExperiment / SingleCellExperiment / Seurat objects to plain parts:
# list(x = genes x cells matrix, genes, cells, coords). The user's object is
# only read. Coordinates are optional: methods that need none run without.

.supportedClasses <- "a SpatialExperiment, SingleCellExperiment or Seurat object"

.objectParts <- function(x, assay, role = "x", coords = NULL) {
    if (methods::is(x, "Seurat")) {
        return(.seuratParts(x, assay, role))
    }
    if (methods::is(x, "SingleCellExperiment")) {
        return(.sceParts(x, assay, role, coords))
    }
    if (methods::is(x, "SummarizedExperiment")) {
        .tessellaStop(role, " is a ", class(x)[1], "; convert it first with ",
            "as(", role, ", \"SingleCellExperiment\").")
    }
    .tessellaStop(role, " must be ", .supportedClasses, ", not ",
        class(x)[1], ".")
}

# Numeric genes x cells matrix the engine can take (dgCMatrix or dense).
.engineMatrix <- function(m, role, assay) {
    if (methods::is(m, "dgCMatrix")) {
        return(m)
    }
    if (methods::is(m, "sparseMatrix") || methods::is(m, "DelayedArray")) {
        m <- methods::as(m, "dgCMatrix")
        return(m)
    }
    m <- as.matrix(m)
    if (!is.numeric(m)) {
        .tessellaStop("Assay '", assay, "' of ", role, " holds ", typeof(m),
            " values, not numbers; give a numeric assay (counts or logcounts).")
    }
    storage.mode(m) <- "double"
    m
}

# Gene names are required; unnamed cells are numbered.
.checkNames <- function(genes, cells, nCells, role) {
    if (is.null(genes)) {
        .tessellaStop(role, " has no gene names: set rownames to gene symbols ",
            "or IDs, the same kind as the reference or embedding table uses.")
    }
    if (is.null(cells)) {
        cells <- seq_len(nCells)
    }
    list(genes = as.character(genes), cells = as.character(cells))
}

.sceParts <- function(x, assay, role, coords) {
    available <- SummarizedExperiment::assayNames(x)
    if (!assay %in% available) {
        .tessellaStop(role, " has no assay '", assay, "' (assays: ",
            paste(available, collapse = ", "), "); choose one with assay = .")
    }
    m <- .engineMatrix(SummarizedExperiment::assay(x, assay,
        withDimnames = FALSE), role, assay)
    names <- .checkNames(rownames(x), colnames(x), ncol(x), role)
    c(list(x = m), names, list(coords = .sceCoords(x, coords, role)))
}

# Coordinate column pairs looked for in colData when none are named.
.coordPairs <- list(c("x", "y"), c("x_coord", "y_coord"),
    c("imagecol", "imagerow"), c("array_col", "array_row"))

.sceCoords <- function(x, coords, role) {
    if (methods::is(x, "SpatialExperiment")) {
        return(unname(as.matrix(SpatialExperiment::spatialCoords(x))))
    }
    reduced <- SingleCellExperiment::reducedDimNames(x)
    columns <- colnames(SummarizedExperiment::colData(x))
    if (length(coords) == 1) {
        if (!coords %in% reduced) {
            .tessellaStop(role, " has no reducedDim '", coords, "' to take ",
                "coordinates from (reducedDims: ",
                paste(reduced, collapse = ", "), ").")
        }
        return(unname(as.matrix(SingleCellExperiment::reducedDim(x, coords))))
    }
    if (length(coords) == 2) {
        missing <- setdiff(coords, columns)
        if (length(missing)) {
            .tessellaStop(role, " has no colData column(s) ",
                paste(missing, collapse = ", "), " to take coordinates from.")
        }
        return(unname(as.matrix(as.data.frame(
            SummarizedExperiment::colData(x))[, coords])))
    }
    if ("spatial" %in% reduced) {
        return(unname(as.matrix(SingleCellExperiment::reducedDim(x, "spatial"))))
    }
    for (pair in .coordPairs) {
        if (all(pair %in% columns)) {
            return(.sceCoords(x, pair, role))
        }
    }
    NULL
}

.isAssay5 <- function(object) {
    methods::is(object, "Assay5")
}

.seuratLayer <- function(object, layer, role) {
    if (.isAssay5(object)) {
        layers <- getExportedValue("SeuratObject", "Layers")(object)
        if (!layer %in% layers) {
            .tessellaStop(role, " has no layer '", layer, "' in its default ",
                "assay (layers: ", paste(layers, collapse = ", "), "); join ",
                "split layers with JoinLayers() or choose one with assay = .")
        }
        return(getExportedValue("SeuratObject", "LayerData")(object,
            layer = layer))
    }
    if (!layer %in% c("counts", "data")) {
        .tessellaStop("For a Seurat v4 object, assay = must be 'counts' or ",
            "'data', not '", layer, "'.")
    }
    m <- SeuratObject::GetAssayData(object, slot = layer)
    if (prod(dim(m)) == 0) {
        .tessellaStop(role, " has an empty '", layer, "' slot in its default ",
            "assay; choose another with assay = .")
    }
    m
}

.seuratParts <- function(x, layer, role) {
    object <- x[[SeuratObject::DefaultAssay(x)]]
    m <- .seuratLayer(object, layer, role)
    names <- .checkNames(rownames(m), colnames(m), ncol(m), role)
    c(list(x = .engineMatrix(m, role, layer)), names,
        list(coords = .seuratCoords(x, names$cells)))
}

# Tissue coordinates of every image (v4 Visium: imagerow/imagecol; v5 FOV:
# x, y and cell columns), matched to the cells; NULL when some cell has none.
.seuratCoords <- function(x, cells) {
    matched <- .imageCoords(x, cells)
    if (is.null(matched)) {
        return(NULL)
    }
    if (anyNA(matched)) {
        .tessellaMessage("Coordinates are missing for ", sum(!stats::complete.cases(
            matched)), " cell(s); continuing without coordinates.")
        return(NULL)
    }
    unname(matched[, 1:2, drop = FALSE])
}

# Every image's tissue coordinates (Visium: imagecol, imagerow, at full
# resolution with `fullResolution`, else GetTissueCoordinates()'s default
# scale; FOV: x, y and a cell column; z where an image has one), matched to
# `cells` (NA rows for cells no image places); NULL without images.
.imageCoords <- function(x, cells, fullResolution = FALSE) {
    images <- SeuratObject::Images(x)
    if (!length(images)) {
        return(NULL)
    }
    pieces <- lapply(images, function(image) {
        xy <- .tissueCoordinates(x[[image]], fullResolution)
        if ("cell" %in% colnames(xy)) {
            rownames(xy) <- xy$cell
        }
        pair <- if (all(c("x", "y") %in% colnames(xy))) c("x", "y") else
            c("imagecol", "imagerow")
        as.matrix(xy[, c(pair, intersect("z", colnames(xy)))])
    })
    coords <- do.call(rbind, pieces)
    coords[match(cells, rownames(coords)), , drop = FALSE]
}

.tissueCoordinates <- function(image, fullResolution = FALSE) {
    visium <- methods::is(image, "VisiumV1") || methods::is(image, "VisiumV2")
    xy <- if (fullResolution && visium)
        SeuratObject::GetTissueCoordinates(image, scale = NULL) else
        SeuratObject::GetTissueCoordinates(image)
    as.data.frame(xy)
}

# Gene-embedding table: a file path, or a matrix / data.frame with genes as
# rownames (or a 'gene' column) and numeric columns.
.embeddingParts <- function(embeddings) {
    if (is.null(embeddings)) {
        return(NULL)
    }
    if (is.character(embeddings) && length(embeddings) == 1) {
        if (!file.exists(embeddings)) {
            .tessellaStop("Embedding file '", embeddings, "' does not exist.")
        }
        return(normalizePath(embeddings))
    }
    if (is.data.frame(embeddings) && "gene" %in% colnames(embeddings)) {
        rownames(embeddings) <- embeddings$gene
        embeddings$gene <- NULL
    }
    values <- as.matrix(embeddings)
    if (!is.numeric(values) || is.null(rownames(values))) {
        .tessellaStop("embeddings must be a file path, or a numeric matrix / ",
            "data.frame with gene names as rownames (or a 'gene' column).")
    }
    list(values = unname(values), genes = rownames(values))
}

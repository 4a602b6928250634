#' Hand a tessella result to CellChat
#'
#' Gathers what `CellChat::createCellChat()` takes for spatial data from one
#' stored result: the measured and imputed genes together, the cell groups
#' and samples, two-column coordinates and the technology's scale factors.
#'
#' @param x A SpatialExperiment, SingleCellExperiment or Seurat object
#'   holding a result of [imputeSpatial()], [refineSpatial()] or
#'   [predictSpatial()].
#' @param name The result to hand over; `NULL` takes the only result `x`
#'   holds.
#' @param group The colData (SCE/SPE) or meta.data (Seurat) column that
#'   defines the cell groups (cell types, clusters).
#' @param sample `NULL` (all cells one sample, `"sample1"`), or the column
#'   naming each cell's sample.
#' @param ratio Micrometres per coordinate unit, one value or one per
#'   sample; overrides the technology's.
#' @param tol About half a cell's (or spot's) size in micrometres, one value
#'   or one per sample; overrides the technology's.
#' @param technology The platform, for CellChat's default scale factors
#'   (its FAQ on spatial data): `"Xenium"`, `"MERFISH"`, `"osmFISH"`
#'   (coordinates in micrometres: ratio 1, tol 5), `"CosMx"` (pixels of
#'   0.12028 um, tol 5; older instruments have 0.18 um pixels: give
#'   `ratio = 0.18`) or `"Visium"` (full-resolution pixels: ratio 65 /
#'   spot_diameter_fullres, read from the Seurat image's scale factors;
#'   tol 32.5). A message says when the ratio puts neighbouring cells
#'   implausibly far apart (over 100 um) or close (under 1 um).
#' @param minReliability Leave out imputed genes whose reliability is below
#'   this value or unknown (only methods that estimate one, e.g. `"auto"`,
#'   `"graph"`); `NULL` keeps every gene.
#' @param coords For a SingleCellExperiment: the reducedDim name, or two
#'   colData columns, holding the coordinates; `NULL` looks for a
#'   `"spatial"` reducedDim or columns such as `x`/`y`.
#'
#' @return A list with the arguments of `CellChat::createCellChat()`:
#'   `object` (genes x cells matrix of log-normalised values, measured genes
#'   as the result holds them, then imputed genes; dimnames set), `meta`
#'   (data.frame, rownames = cells, the `group` column and `samples`, a
#'   factor), `group.by` (`group`), `datatype` (`"spatial"`), `coordinates`
#'   (numeric matrix with exactly two columns `x` and `y`, rownames =
#'   cells; a third dimension or a cell column is dropped) and
#'   `spatial.factors` (data.frame with `ratio` and `tol`, one row per
#'   sample, rownames = samples). Cells are in the same order everywhere.
#'   Cells without counts (`tessella_empty`) are left out, with a message;
#'   so are negative values (some methods, e.g. `"auto"`, predict on a
#'   standardised scale that goes below 0): set to 0, with a message.
#'   Run `do.call(CellChat::createCellChat, toCellChat(x, ...))`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     SummarizedExperiment::colData(sce)$type <- rep(c("a", "b"),
#'         length.out = ncol(sce))
#'     sce <- imputeSpatial(sce[1:20, ], ref, method = "mean", verbose = FALSE)
#'     input <- toCellChat(sce, group = "type", technology = "MERFISH")
#'     str(input, max.level = 1)
#'     # cellchat <- do.call(CellChat::createCellChat, input)
#' }
toCellChat <- function(x, name = NULL, group, sample = NULL, ratio = NULL,
    tol = NULL, technology = NULL, minReliability = NULL, coords = NULL) {
    name <- .chooseResult(x, name)
    cells <- .cellData(x)
    if (missing(group) || !is.character(group) || length(group) != 1 ||
        !group %in% colnames(cells)) {
        .tessellaStop("group must name the ", if (methods::is(x, "Seurat"))
            "meta.data" else "colData", " column holding the cell groups ",
            "(columns: ", paste(colnames(cells), collapse = ", "), ").")
    }
    samples <- .cellSamples(cells, sample)
    factors <- .spatialFactors(x, levels(samples), ratio, tol, technology)
    parts <- .handoffParts(x, name, minReliability)
    keep <- match(parts$cells, colnames(x))
    meta <- data.frame(cells[keep, group, drop = FALSE],
        samples = droplevels(samples[keep]), check.names = FALSE)
    rownames(meta) <- parts$cells
    if (is.character(meta[[group]])) {
        meta[[group]] <- factor(meta[[group]])
    }
    xy <- .spatialCoords(x, coords)[keep, c("x", "y"), drop = FALSE]
    factors <- factors[levels(meta$samples), , drop = FALSE]
    .checkScale(xy, meta$samples, factors)
    list(object = .nonNegative(parts$values, name), meta = meta,
        group.by = group, datatype = "spatial", coordinates = xy,
        spatial.factors = factors)
}

# CellChat reads log-normalised (non-negative) values; some methods' outputs
# (e.g. "auto" on its standardised scale) go below 0: set to 0, said once.
.nonNegative <- function(values, name) {
    negative <- values < 0
    if (any(negative, na.rm = TRUE)) {
        .tessellaMessage(sum(negative, na.rm = TRUE), " negative value(s) ",
            "of result '", name, "' set to 0: CellChat expects ",
            "non-negative log-normalised values.")
        values[which(negative)] <- 0
    }
    values
}

# The median distance from a cell to its nearest neighbour (among all the
# cells of its sample; cells at the same place are duplicates), in
# micrometres by `ratio`, over at most 30 cells spread through each sample:
# cells are not 100 um apart nor closer than 1 um, so such a distance means
# a wrong `ratio`.
.checkScale <- function(xy, samples, factors) {
    for (sample in levels(samples)) {
        cells <- which(samples == sample)
        if (length(cells) < 2) {
            next
        }
        xs <- xy[cells, 1]
        ys <- xy[cells, 2]
        query <- unique(round(seq(1, length(cells),
            length.out = min(30, length(cells)))))
        nearest <- vapply(query, function(i) {
            d <- (xs - xs[i])^2 + (ys - ys[i])^2
            d <- d[d > 0]
            if (length(d)) sqrt(min(d)) else NA_real_
        }, numeric(1))
        distance <- stats::median(nearest, na.rm = TRUE) *
            factors[sample, "ratio"]
        if (is.finite(distance) && (distance > 100 || distance < 1)) {
            .tessellaMessage("With ratio = ", signif(factors[sample, "ratio"],
                4), ", neighbouring cells of sample '", sample, "' are a ",
                "median ", signif(distance, 3), " um apart: if the ",
                "coordinates are not in micrometres, give ratio = ",
                "(micrometres per coordinate unit).")
        }
    }
}

# Each cell's sample as a factor: one sample, or the column `sample`.
.cellSamples <- function(cells, sample) {
    if (is.null(sample)) {
        return(factor(rep("sample1", nrow(cells))))
    }
    if (!is.character(sample) || length(sample) != 1 ||
        !sample %in% colnames(cells)) {
        .tessellaStop("sample must be NULL or the name of the column ",
            "holding each cell's sample (columns: ",
            paste(colnames(cells), collapse = ", "), ").")
    }
    values <- cells[[sample]]
    if (anyNA(values)) {
        .tessellaStop("sample column '", sample, "' has missing values.")
    }
    factor(values)
}

# The result's values for the hand-offs: empty cells left out (said once),
# imputed genes below minReliability left out.
.handoffParts <- function(x, name, minReliability = NULL) {
    parts <- .resultParts(x, name)
    values <- parts$values
    keep <- !.emptyCells(x) & colSums(is.na(values)) < nrow(values)
    if (any(!keep)) {
        .tessellaMessage(sum(!keep), " cell(s) without counts ",
            "(tessella_empty) left out: they have no values.")
    }
    genes <- rep(TRUE, nrow(values))
    if (!is.null(minReliability)) {
        genes <- .reliableGenes(parts, name, minReliability)
    }
    values <- values[genes, keep, drop = FALSE]
    dimnames(values) <- list(rownames(parts$values)[genes],
        colnames(x)[keep])
    list(values = values, cells = colnames(x)[keep],
        measured = parts$measured[genes])
}

.reliableGenes <- function(parts, name, minReliability) {
    if (!is.numeric(minReliability) || length(minReliability) != 1 ||
        is.na(minReliability)) {
        .tessellaStop("minReliability must be one number, e.g. 0.3.")
    }
    imputed <- !parts$measured
    if (any(imputed) && all(is.na(parts$reliability[imputed]))) {
        .tessellaStop("result '", name, "' has no reliability estimate ",
            "(methods \"auto\" and \"graph\" give one); leave ",
            "minReliability = NULL.")
    }
    reliable <- parts$measured | (!is.na(parts$reliability) &
        parts$reliability >= minReliability)
    if (any(!reliable)) {
        .tessellaMessage(sum(!reliable), " imputed gene(s) with reliability ",
            "below ", minReliability, " left out.")
    }
    reliable
}

# CellChat's distance factors per technology (its FAQ on spatial data).
.cellchatScales <- data.frame(
    technology = c("xenium", "merfish", "osmfish", "cosmx", "visium"),
    ratio = c(1, 1, 1, 0.12028, NA), tol = c(5, 5, 5, 5, 32.5))

.spatialFactors <- function(x, samples, ratio, tol, technology) {
    known <- NULL
    if (!is.null(technology)) {
        if (!is.character(technology) || length(technology) != 1 ||
            !tolower(technology) %in% .cellchatScales$technology) {
            .tessellaStop("technology must be one of Xenium, MERFISH, ",
                "osmFISH, CosMx or Visium; for another, give ratio = ",
                "(micrometres per coordinate unit) and tol = .")
        }
        known <- .cellchatScales[.cellchatScales$technology ==
            tolower(technology), ]
        if (is.na(known$ratio) && is.null(ratio)) {
            known$ratio <- 65 / .spotDiameter(x)
        }
    }
    ratio <- if (is.null(ratio)) known$ratio else ratio
    tol <- if (is.null(tol)) known$tol else tol
    if (is.null(ratio) || is.null(tol)) {
        .tessellaStop("CellChat needs the coordinates' scale: give ",
            "technology = (\"Xenium\", \"MERFISH\", \"osmFISH\", \"CosMx\" ",
            "or \"Visium\"), or ratio = (micrometres per coordinate unit) ",
            "and tol = (about half a cell's size in micrometres).")
    }
    for (value in list(ratio, tol)) {
        if (!is.numeric(value) || !length(value) %in% c(1, length(samples)) ||
            anyNA(value) || any(value <= 0)) {
            .tessellaStop("ratio and tol must be positive numbers, one or ",
                "one per sample (", length(samples), ").")
        }
    }
    data.frame(ratio = rep(ratio, length.out = length(samples)),
        tol = rep(tol, length.out = length(samples)), row.names = samples)
}

# Visium: the spot diameter in full-resolution pixels, from the first
# Seurat image's scale factors.
.spotDiameter <- function(x) {
    spot <- NULL
    if (methods::is(x, "Seurat") && length(SeuratObject::Images(x))) {
        image <- x[[SeuratObject::Images(x)[1]]]
        exporter <- if ("ScaleFactors" %in% getNamespaceExports(
            "SeuratObject")) "SeuratObject" else "Seurat"
        factors <- tryCatch(getExportedValue(exporter, "ScaleFactors")(image),
            error = function(e) NULL)
        spot <- factors$spot
    }
    if (!is.numeric(spot) || length(spot) != 1 || !is.finite(spot)) {
        .tessellaStop("x carries no Visium spot diameter: give ratio = 65 / ",
            "spot_diameter_fullres (from the slide's ",
            "scalefactors_json.json).")
    }
    spot
}

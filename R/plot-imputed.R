#' Imputed genes in space, beside their measurement
#'
#' One row of panels per gene: the gene as measured (where it was) and as the
#' stored result gives it, side by side on one colour scale per gene, with
#' the method's reliability estimate in the row's title where it has one.
#'
#' @inheritParams toCellChat
#' @param genes Genes to draw, measured or imputed by the result.
#' @param measured Where measured values come from: `x` by default, or
#'   another object (e.g. the full slide before genes were held out) or a
#'   genes x cells matrix with the cells of `x` among its columns. Its
#'   counts are normalised as the engine does (library size to the median
#'   total, log1p); non-integer values are used as they are. Genes it lacks
#'   get no measured panel.
#' @param assay Assay (SCE/SPE) or layer of the default assay (Seurat) of
#'   `measured` to read.
#' @param pointSize Size of the points.
#'
#' @return A ggplot object: points at the cells' coordinates, faceted by
#'   gene (rows) and source (columns `measured` and the result's name), the
#'   colour the value scaled to the gene's 1st-99th percentile range over
#'   both panels (so panels of one gene compare directly). Its data has one
#'   row per cell and panel: `cell`, `x`, `y`, `gene`, `source`, `value`
#'   (log-normalised), `scaled`, `reliability`, `label`. Cells without
#'   values are grey.
#' @importFrom ggplot2 .data
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     panel <- imputeSpatial(sce[1:20, ], ref, method = "knn",
#'         genes = rownames(sce)[21:22], verbose = FALSE)
#'     plotImputed(panel, rownames(sce)[c(1, 21)], measured = sce)
#' }
plotImputed <- function(x, genes, name = NULL, measured = x,
    assay = "counts", coords = NULL, pointSize = 0.6) {
    name <- .chooseResult(x, name)
    data <- .imputedPanels(x, genes, name, measured, assay, coords)
    ggplot2::ggplot(data, ggplot2::aes(x = .data$x, y = .data$y,
        colour = .data$scaled)) +
        ggplot2::geom_point(size = pointSize) +
        ggplot2::facet_grid(rows = ggplot2::vars(.data$label),
            cols = ggplot2::vars(.data$source), drop = FALSE) +
        ggplot2::scale_colour_viridis_c(name = "expression\n(per gene)",
            limits = c(0, 1), breaks = c(0, 1), labels = c("low", "high"),
            na.value = "grey80") +
        ggplot2::coord_fixed() +
        ggplot2::labs(title = paste0("tessella result '", name,
            "': measured and imputed (log-normalised)"), x = NULL,
            y = NULL) +
        ggplot2::theme_minimal() +
        ggplot2::theme(axis.text = ggplot2::element_blank(),
            panel.grid = ggplot2::element_blank())
}

# The long table behind plotImputed(): one row per cell and panel.
.imputedPanels <- function(x, genes, name, measured, assay, coords) {
    parts <- .resultParts(x, name)
    if (!is.character(genes) || !length(genes)) {
        .tessellaStop("genes must name genes of the result, e.g. \"",
            rownames(parts$values)[1], "\".")
    }
    absent <- setdiff(genes, rownames(parts$values))
    if (length(absent)) {
        .tessellaStop("result '", name, "' has no gene(s) ",
            paste(absent, collapse = ", "), ".")
    }
    xy <- .spatialCoords(x, coords)
    truth <- .measuredValues(measured, genes, colnames(x), assay)
    index <- match(genes, rownames(parts$values))
    pieces <- lapply(seq_along(genes), function(i) {
        gene <- genes[i]
        values <- list(parts$values[index[i], ])
        names(values) <- name
        if (gene %in% rownames(truth)) {
            values <- c(list(measured = truth[gene, ]), values)
        }
        .genePanels(gene, values, xy, parts$reliability[index[i]])
    })
    data <- do.call(rbind, pieces)
    data$gene <- factor(data$gene, levels = genes)
    data$label <- factor(data$label, levels = unique(data$label))
    data$source <- factor(data$source, levels = c("measured", name))
    data
}

.genePanels <- function(gene, values, xy, reliability) {
    all <- unlist(values, use.names = FALSE)
    range <- stats::quantile(all[is.finite(all)], c(0.01, 0.99), names = FALSE)
    label <- if (is.na(reliability)) gene else
        sprintf("%s (reliability %.2f)", gene, reliability)
    pieces <- lapply(names(values), function(source) {
        value <- as.numeric(values[[source]])
        spread <- range[2] - range[1]
        scaled <- if (is.finite(spread) && spread > 0)
            pmin(pmax((value - range[1]) / spread, 0), 1) else
            ifelse(is.finite(value), 0.5, NA_real_)
        data.frame(cell = rownames(xy), x = xy[, "x"], y = xy[, "y"],
            gene = gene, source = source, value = value, scaled = scaled,
            reliability = reliability, label = label,
            stringsAsFactors = FALSE)
    })
    do.call(rbind, pieces)
}

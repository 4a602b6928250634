#' Reliability of each imputed gene
#'
#' The expected accuracy the method estimated for each imputed gene, sorted,
#' for methods that estimate one (`"auto"`: the gene's reference fit scaled
#' to the accuracy reached on the measured genes; `"graph"`: a model of
#' accuracy trained on held-out measured genes).
#'
#' @inheritParams toCellChat
#'
#' @return A ggplot object: one bar per imputed gene with a reliability
#'   estimate, highest first. Its data has columns `gene` (a factor in
#'   plotting order) and `reliability`. Genes without an estimate are left
#'   out, with a message; a result with none is an error.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     sce <- exampleSpatial()
#'     ref <- exampleSpatial(seed = 2)
#'     panel <- imputeSpatial(sce[1:20, ], ref, method = "auto",
#'         genes = rownames(sce)[21:30], verbose = FALSE)
#'     plotReliability(panel)
#' }
plotReliability <- function(x, name = NULL) {
    name <- .chooseResult(x, name)
    data <- .reliabilityTable(x, name)
    ggplot2::ggplot(data, ggplot2::aes(x = .data$reliability,
        y = .data$gene)) +
        ggplot2::geom_col(fill = "#3b528b") +
        ggplot2::labs(title = paste0("tessella result '", name,
            "': reliability of the imputed genes"),
            x = "reliability (expected accuracy)", y = NULL) +
        ggplot2::theme_minimal()
}

.reliabilityTable <- function(x, name) {
    parts <- .resultParts(x, name)
    imputed <- !parts$measured
    reliability <- parts$reliability[imputed]
    genes <- rownames(parts$values)[imputed]
    if (!any(imputed) || all(is.na(reliability))) {
        .tessellaStop("result '", name, "' has no reliability estimate for ",
            "imputed genes: methods \"auto\" and \"graph\" give one.")
    }
    if (anyNA(reliability)) {
        .tessellaMessage(sum(is.na(reliability)), " imputed gene(s) without ",
            "a reliability estimate left out.")
    }
    known <- !is.na(reliability)
    order <- order(reliability[known], decreasing = TRUE)
    genes <- genes[known][order]
    # Highest at the top: ggplot draws the first level at the bottom.
    data.frame(gene = factor(genes, levels = rev(genes)),
        reliability = reliability[known][order])
}

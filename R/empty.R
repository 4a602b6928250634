# Cells without counts over the measured genes: the engine keeps them, gives
# them NaN for every gene and the latent space, and flags them. The flag goes
# into the user's object as colData(x)$tessella_empty (SingleCellExperiment,
# SpatialExperiment) or the meta.data column tessella_empty (Seurat), so
# they can be left out with subset(x, , !tessella_empty) or
# subset(x, subset = !tessella_empty).

.emptyColumn <- "tessella_empty"

.flagEmptyCells <- function(x, result) {
    empty <- as.logical(unlist(result$empty))
    if (!length(empty)) {
        return(x)
    }
    if (length(empty) != ncol(x)) {
        .tessellaStop("the engine returned ", length(empty), " cell flags for ",
            ncol(x), " cells.")
    }
    if (methods::is(x, "Seurat")) {
        x[[.emptyColumn]] <- stats::setNames(empty, colnames(x))
        return(x)
    }
    SummarizedExperiment::colData(x)[[.emptyColumn]] <- empty
    x
}

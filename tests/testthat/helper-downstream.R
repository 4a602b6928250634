# Shared by test-cellchat.R, test-giotto.R and test-plots.R: osmFISH results
# to hand on, made once per session (600 cells, "auto" for reliability and
# "knn" beside it; one cell emptied to check it is left out).

downstreamHidden <- c("Gad2", "Plp1", "Vip", "Tbr1")

downstreamData <- local({
    cache <- NULL
    function() {
        if (is.null(cache)) {
            data <- osmfishData()
            spatial <- data$spatial[, seq_len(600)]
            counts <- SummarizedExperiment::assay(spatial, "counts")
            counts[, 5] <- 0
            SummarizedExperiment::assay(spatial, "counts") <- counts
            panel <- spatial[setdiff(rownames(spatial), downstreamHidden), ]
            sce <- suppressMessages(imputeSpatial(panel, data$reference,
                method = "auto", genes = downstreamHidden, verbose = FALSE))
            both <- suppressMessages(imputeSpatial(sce, data$reference,
                method = "knn", genes = downstreamHidden, verbose = FALSE))
            cache <<- list(spatial = spatial, sce = sce, both = both,
                reference = data$reference)
        }
        cache
    }
})

# The SCE result with a third coordinate, z = 1, 2, ..., in its "spatial"
# reducedDim.
downstream3d <- function() {
    sce <- downstreamData()$sce
    xy <- SingleCellExperiment::reducedDim(sce, "spatial")
    SingleCellExperiment::reducedDim(sce, "spatial") <- cbind(xy,
        z = seq_len(nrow(xy)))
    sce
}

# The same cells as a Seurat object whose coordinates come from an FOV
# (GetTissueCoordinates() gives x, y and a cell column), with the "auto"
# result.
downstreamSeurat <- local({
    cache <- NULL
    function() {
        if (is.null(cache)) {
            data <- downstreamData()
            panel <- data$spatial[setdiff(rownames(data$spatial),
                downstreamHidden), ]
            counts <- methods::as(SummarizedExperiment::assay(panel,
                "counts"), "dgCMatrix")
            colnames(counts) <- paste0("cell", colnames(counts))
            seurat <- SeuratObject::CreateSeuratObject(counts = counts,
                meta.data = data.frame(ClusterName = panel$ClusterName,
                    row.names = colnames(counts)))
            xy <- SingleCellExperiment::reducedDim(panel, "spatial")
            fov <- SeuratObject::CreateFOV(data.frame(x = xy[, 1],
                y = xy[, 2], cell = colnames(counts)), type = "centroids",
                assay = "RNA")
            seurat[["fov"]] <- fov
            cache <<- suppressMessages(imputeSpatial(seurat, data$reference,
                method = "auto", genes = downstreamHidden, verbose = FALSE))
        }
        cache
    }
})

# The result's values as stored: measured assay over the imputed altExp.
storedValues <- function(sce, name) {
    rbind(as.matrix(SummarizedExperiment::assay(sce, name)),
        as.matrix(SummarizedExperiment::assay(SingleCellExperiment::altExp(
            sce, paste0("imputed_", name)), "imputed")))
}

storedReliability <- function(sce, name) {
    alt <- SingleCellExperiment::altExp(sce, paste0("imputed_", name))
    stats::setNames(SummarizedExperiment::rowData(alt)$reliability,
        rownames(alt))
}

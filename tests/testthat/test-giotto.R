# toGiotto(): what Giotto::createGiottoObject(expression, spatial_locs)
# takes, checked against its documented contract (Giotto is in no registry
# reachable here; where it is installed, the real constructor runs too).

expectGiottoContract <- function(input) {
    expect_identical(names(input), c("expression", "spatial_locs"))
    expect_identical(names(input$expression), c("raw", "normalized"))
    normalized <- input$expression$normalized
    raw <- input$expression$raw
    expect_true(is.matrix(normalized) && is.numeric(normalized))
    expect_s4_class(raw, "dgCMatrix")
    expect_identical(colnames(raw), colnames(normalized))
    expect_true(all(rownames(raw) %in% rownames(normalized)))
    locations <- input$spatial_locs
    expect_s3_class(locations, "data.frame")
    expect_identical(locations$cell_ID, colnames(normalized))
    expect_true(is.character(locations$cell_ID))
    expect_true(is.numeric(locations$sdimx) && is.numeric(locations$sdimy))
}

createWithGiotto <- function(input) {
    if (!requireNamespace("Giotto", quietly = TRUE)) {
        skip(paste("Giotto is not installed: no registry reachable here has",
            "it (its GitHub and r-universe are out of reach; Debian does not",
            "package it)"))
    }
    giotto <- do.call(Giotto::createGiottoObject, input)
    expect_s4_class(giotto, "giotto")
}

test_that("toGiotto on an SCE gives raw counts, tessella's layer, locations", {
    data <- downstreamData()
    expect_message(input <- toGiotto(data$sce),
        "4 imputed gene\\(s\\) have no counts")
    expectGiottoContract(input)
    cells <- colnames(data$sce)[-5]
    measured <- setdiff(rownames(data$spatial), downstreamHidden)
    expect_identical(colnames(input$spatial_locs),
        c("cell_ID", "sdimx", "sdimy"))
    expect_identical(input$spatial_locs$cell_ID, cells)
    xy <- SingleCellExperiment::reducedDim(data$sce, "spatial")[-5, ]
    expect_equal(input$spatial_locs$sdimx, unname(xy[, 1]))
    expect_equal(input$spatial_locs$sdimy, unname(xy[, 2]))
    expect_identical(rownames(input$expression$raw), measured)
    expect_equal(as.matrix(input$expression$raw),
        as.matrix(SummarizedExperiment::assay(data$sce, "counts")[, cells]))
    expect_identical(rownames(input$expression$normalized),
        c(measured, downstreamHidden))
    expect_equal(input$expression$normalized,
        storedValues(data$sce, "auto")[, cells], ignore_attr = TRUE)
    createWithGiotto(input)
})

test_that("toGiotto on a Seurat object with FOV coordinates", {
    skip_if_not_installed("Seurat")
    seurat <- downstreamSeurat()
    input <- suppressMessages(toGiotto(seurat))
    expectGiottoContract(input)
    cells <- colnames(seurat)[-5]
    expect_identical(input$spatial_locs$cell_ID, cells)
    coords <- SeuratObject::GetTissueCoordinates(seurat[["fov"]])
    expect_equal(input$spatial_locs$sdimx,
        coords$x[match(cells, coords$cell)])
    expect_equal(as.matrix(input$expression$raw), as.matrix(
        SeuratObject::GetAssayData(seurat, assay = "RNA",
            slot = "counts")[, cells]))
    expect_equal(input$expression$normalized, as.matrix(
        SeuratObject::GetAssayData(seurat, assay = "auto",
            slot = "data")[, cells]), ignore_attr = TRUE)
    createWithGiotto(input)
})

test_that("3-D coordinates give sdimz; no counts give no raw layer", {
    sce <- downstream3d()
    input <- suppressMessages(toGiotto(sce))
    expect_identical(colnames(input$spatial_locs),
        c("cell_ID", "sdimx", "sdimy", "sdimz"))
    expect_equal(input$spatial_locs$sdimz, seq_len(ncol(sce))[-5])
    expect_message(noRaw <- toGiotto(sce, assay = "nope"),
        "has only the normalized layer")
    expect_identical(names(noRaw$expression), "normalized")
})

test_that("toGiotto's minReliability leaves out genes below it", {
    data <- downstreamData()
    reliability <- storedReliability(data$sce, "auto")
    threshold <- stats::median(reliability)
    input <- suppressMessages(toGiotto(data$sce,
        minReliability = threshold))
    kept <- names(reliability)[reliability >= threshold]
    expect_identical(rownames(input$expression$normalized), c(setdiff(
        rownames(data$spatial), downstreamHidden), kept))
})

# toCellChat(): what CellChat::createCellChat(object, meta, group.by,
# datatype = "spatial", coordinates, spatial.factors) takes, checked point by
# point against its documented contract (CellChat is in no registry
# reachable here; where it is installed, the real constructor runs too).

expectCellChatContract <- function(input, group) {
    expect_setequal(names(input), c("object", "meta", "group.by",
        "datatype", "coordinates", "spatial.factors"))
    cells <- colnames(input$object)
    expect_true(is.matrix(input$object) && is.numeric(input$object))
    expect_false(is.null(rownames(input$object)))
    expect_false(anyNA(input$object))
    expect_gte(min(input$object), 0)
    expect_s3_class(input$meta, "data.frame")
    expect_identical(rownames(input$meta), cells)
    expect_true(group %in% colnames(input$meta))
    expect_true(is.factor(input$meta$samples))
    expect_identical(input$group.by, group)
    expect_identical(input$datatype, "spatial")
    expect_true(is.matrix(input$coordinates) &&
        is.numeric(input$coordinates))
    expect_identical(colnames(input$coordinates), c("x", "y"))
    expect_identical(rownames(input$coordinates), cells)
    expect_s3_class(input$spatial.factors, "data.frame")
    expect_identical(colnames(input$spatial.factors), c("ratio", "tol"))
    expect_identical(rownames(input$spatial.factors),
        levels(input$meta$samples))
}

createWithCellChat <- function(input) {
    if (!requireNamespace("CellChat", quietly = TRUE)) {
        skip(paste("CellChat is not installed: no registry reachable here",
            "has it (CRAN, Bioconductor and GitHub are out of reach; Debian",
            "does not package it)"))
    }
    chat <- suppressWarnings(do.call(CellChat::createCellChat, input))
    expect_s4_class(chat, "CellChat")
    expect_equal(ncol(chat@data), ncol(input$object))
}

test_that("toCellChat on an SCE meets CellChat's input contract", {
    data <- downstreamData()
    expect_message(input <- toCellChat(data$sce, group = "ClusterName",
        technology = "osmFISH"), "1 cell\\(s\\) without counts")
    expectCellChatContract(input, "ClusterName")
    cells <- colnames(data$sce)[-5]
    expect_identical(colnames(input$object), cells)
    genes <- c(setdiff(rownames(data$spatial), downstreamHidden),
        downstreamHidden)
    expect_identical(rownames(input$object), genes)
    expect_equal(input$object, pmax(storedValues(data$sce, "auto")[, cells],
        0), ignore_attr = TRUE)
    expect_identical(as.character(input$meta$ClusterName),
        as.character(data$sce$ClusterName[-5]))
    expect_identical(levels(input$meta$samples), "sample1")
    xy <- SingleCellExperiment::reducedDim(data$sce, "spatial")[-5, ]
    expect_equal(input$coordinates, xy, ignore_attr = TRUE)
    expect_equal(input$spatial.factors$ratio, 1)
    expect_equal(input$spatial.factors$tol, 5)
    createWithCellChat(input)
})

test_that("a Seurat object with FOV coordinates (x, y, cell) gives 2 columns", {
    skip_if_not_installed("Seurat")
    seurat <- downstreamSeurat()
    coords <- SeuratObject::GetTissueCoordinates(seurat[["fov"]])
    expect_identical(colnames(coords), c("x", "y", "cell"))
    input <- suppressMessages(toCellChat(seurat, group = "ClusterName",
        ratio = 0.065, tol = 5))
    expectCellChatContract(input, "ClusterName")
    cells <- colnames(seurat)[-5]
    expect_identical(colnames(input$object), cells)
    expect_identical(rownames(input$object), rownames(seurat[["auto"]]))
    expect_equal(input$coordinates,
        as.matrix(coords[match(cells, coords$cell), c("x", "y")]),
        ignore_attr = TRUE)
    values <- as.matrix(SeuratObject::GetAssayData(seurat, assay = "auto",
        slot = "data"))[, cells]
    expect_equal(input$object, pmax(values, 0), ignore_attr = TRUE)
    expect_equal(input$spatial.factors$ratio, 0.065)
    createWithCellChat(input)
})

test_that("3-D coordinates become the two columns CellChat takes", {
    sce <- downstream3d()
    xy <- SingleCellExperiment::reducedDim(sce, "spatial")[, 1:2]
    input <- suppressMessages(toCellChat(sce, group = "ClusterName",
        technology = "MERFISH"))
    expect_identical(colnames(input$coordinates), c("x", "y"))
    expect_equal(input$coordinates, xy[-5, ], ignore_attr = TRUE)
})

test_that("samples become a factor with one row of scale factors each", {
    data <- downstreamData()
    sce <- data$sce
    sce$slide <- rep(c("B", "A"), length.out = ncol(sce))
    input <- suppressMessages(toCellChat(sce, group = "ClusterName",
        sample = "slide", ratio = c(0.5, 2), tol = 5))
    expectCellChatContract(input, "ClusterName")
    expect_identical(levels(input$meta$samples), c("A", "B"))
    expect_identical(as.character(input$meta$samples), sce$slide[-5])
    expect_equal(input$spatial.factors$ratio, c(0.5, 2))
    expect_equal(input$spatial.factors$tol, c(5, 5))
    expect_error(toCellChat(sce, group = "ClusterName", sample = "nope",
        technology = "Xenium"), "sample must be NULL or the name")
})

test_that("missing scale information stops with what to give", {
    data <- downstreamData()
    expect_error(toCellChat(data$sce, group = "ClusterName"),
        "give technology = .*or ratio = .*and tol =")
    expect_error(toCellChat(data$sce, group = "ClusterName", ratio = 1),
        "give technology =")
    expect_error(toCellChat(data$sce, group = "ClusterName",
        technology = "Stereo-seq"), "technology must be one of")
    expect_error(toCellChat(data$sce, group = "ClusterName",
        technology = "Visium"), "65 / spot_diameter_fullres")
    expect_error(toCellChat(data$sce, group = "nope", technology = "Xenium"),
        "group must name the colData column")
    expect_error(toCellChat(data$both, group = "ClusterName",
        technology = "Xenium"), "several tessella results \\(auto, knn\\)")
    expect_error(toCellChat(data$sce, name = "knn", group = "ClusterName",
        technology = "Xenium"), "no tessella result named 'knn'")
})

test_that("technology defaults follow CellChat's guidance", {
    data <- downstreamData()
    scale <- function(technology) {
        suppressMessages(toCellChat(data$sce, group = "ClusterName",
            technology = technology))$spatial.factors
    }
    expect_equal(unlist(scale("xenium")), c(ratio = 1, tol = 5))
    expect_equal(unlist(scale("CosMx")), c(ratio = 0.12028, tol = 5))
    expect_message(toCellChat(data$sce, group = "ClusterName",
        technology = "osmFISH"), "neighbouring cells .* um apart")
})

test_that("Visium reads the spot diameter from the Seurat image", {
    skip_if_not_installed("Seurat")
    cells <- paste0("c", 1:6)
    counts <- Matrix::Matrix(matrix(rep(1:5, 6), 5, 6,
        dimnames = list(paste0("g", 1:5), cells)), sparse = TRUE)
    seurat <- SeuratObject::CreateSeuratObject(counts = counts,
        assay = "Spatial")
    seurat$region <- rep(c("a", "b"), 3)
    positions <- data.frame(tissue = 1L, row = 1:6, col = 1:6,
        imagerow = seq(1000, 6000, 1000), imagecol = seq(100, 600, 100),
        row.names = cells)
    seurat[["slice1"]] <- methods::new("VisiumV1",
        image = array(0, c(4, 4, 3)), scale.factors = Seurat::scalefactors(
            spot = 90, fiducial = 140, hires = 0.2, lowres = 0.05),
        coordinates = positions, spot.radius = 0.01, assay = "Spatial",
        key = "slice1_")
    result <- list(refined = matrix(1, 5, 6), imputed = matrix(2, 1, 6),
        measured_genes = paste0("g", 1:5), imputed_genes = "h1",
        reliability = 0.5, provenance = list(method = "mean"))
    seurat <- suppressMessages(tessella:::.assemble(seurat, result))
    input <- suppressMessages(toCellChat(seurat, group = "region",
        technology = "Visium"))
    expect_equal(input$spatial.factors$ratio, 65 / 90)
    expect_equal(input$spatial.factors$tol, 32.5)
    expect_equal(unname(input$coordinates[, "x"]), seq(100, 600, 100))
    expect_equal(unname(input$coordinates[, "y"]), seq(1000, 6000, 1000))
    expect_identical(rownames(input$object), c(paste0("g", 1:5), "h1"))
})

test_that("minReliability leaves out imputed genes below it", {
    data <- downstreamData()
    reliability <- storedReliability(data$sce, "auto")
    threshold <- stats::median(reliability)
    expect_message(input <- toCellChat(data$sce, group = "ClusterName",
        technology = "osmFISH", minReliability = threshold),
        "imputed gene\\(s\\) with reliability below")
    kept <- names(reliability)[reliability >= threshold]
    expect_gt(length(kept), 0)
    expect_lt(length(kept), length(reliability))
    expect_identical(rownames(input$object), c(setdiff(
        rownames(data$spatial), downstreamHidden), kept))
    expect_error(toCellChat(data$both, name = "knn", group = "ClusterName",
        technology = "osmFISH", minReliability = 0.1),
        "no reliability estimate")
})

test_that("SingleCellExperiment parts carry the matrix, names and coordinates", {
    sce <- exampleSpatial(nCells = 50, nGenes = 12)
    parts <- tessella:::.objectParts(sce, "counts")
    expect_equal(dim(parts$x), c(12L, 50L))
    expect_identical(parts$genes, rownames(sce))
    expect_identical(parts$cells, colnames(sce))
    expect_equal(parts$coords, unname(SingleCellExperiment::reducedDim(sce,
        "spatial")))
})

test_that("coordinates come from named colData columns or are absent", {
    sce <- exampleSpatial(nCells = 20, nGenes = 5)
    SingleCellExperiment::reducedDim(sce, "spatial") <- NULL
    expect_null(tessella:::.objectParts(sce, "counts")$coords)
    sce$px <- seq_len(20)
    sce$py <- rev(seq_len(20))
    parts <- tessella:::.objectParts(sce, "counts", coords = c("px", "py"))
    expect_equal(parts$coords[, 2], rev(seq_len(20)))
    expect_error(tessella:::.objectParts(sce, "counts", coords = c("a", "b")),
        "no colData column")
})

test_that("sparse assays stay sparse and integer assays become double", {
    sce <- exampleSpatial(nCells = 30, nGenes = 6)
    counts <- SummarizedExperiment::assay(sce, "counts")
    SummarizedExperiment::assay(sce, "sparse") <- methods::as(counts, "dgCMatrix")
    SummarizedExperiment::assay(sce, "int", withDimnames = FALSE) <-
        matrix(as.integer(counts), nrow(counts))
    expect_s4_class(tessella:::.objectParts(sce, "sparse")$x, "dgCMatrix")
    expect_identical(typeof(tessella:::.objectParts(sce, "int")$x), "double")
})

test_that("bad objects and assays are refused with a clear message", {
    sce <- exampleSpatial(nCells = 10, nGenes = 4)
    expect_error(tessella:::.objectParts(sce, "logcounts"), "no assay 'logcounts'")
    SummarizedExperiment::assay(sce, "text", withDimnames = FALSE) <-
        matrix("a", 4, 10)
    expect_error(tessella:::.objectParts(sce, "text"), "not numbers")
    se <- methods::as(sce, "SummarizedExperiment")
    expect_error(tessella:::.objectParts(se, "counts"), "SingleCellExperiment")
    expect_error(tessella:::.objectParts(data.frame(a = 1), "counts"),
        "must be a SpatialExperiment")
    unnamed <- sce
    rownames(unnamed) <- NULL
    expect_error(tessella:::.objectParts(unnamed, "counts"), "no gene names")
})

test_that("Seurat parts come from the default assay's layer", {
    skip_if_not_installed("SeuratObject")
    sce <- exampleSpatial(nCells = 40, nGenes = 10)
    counts <- methods::as(SummarizedExperiment::assay(sce, "counts"), "dgCMatrix")
    seurat <- SeuratObject::CreateSeuratObject(counts = counts)
    parts <- tessella:::.objectParts(seurat, "counts")
    expect_equal(as.matrix(parts$x), as.matrix(counts))
    expect_null(parts$coords)
    expect_error(tessella:::.objectParts(seurat, "scale.data"),
        "must be 'counts' or 'data'")
})

test_that("embedding tables are taken from paths, matrices and data.frames", {
    values <- matrix(1:6 / 10, 3, dimnames = list(c("A", "B", "C"), NULL))
    parts <- tessella:::.embeddingParts(values)
    expect_identical(parts$genes, c("A", "B", "C"))
    frame <- data.frame(gene = c("A", "B", "C"), d1 = 1:3, d2 = 4:6)
    expect_identical(tessella:::.embeddingParts(frame)$genes, c("A", "B", "C"))
    expect_error(tessella:::.embeddingParts("/no/such/file.tsv"), "does not exist")
    expect_error(tessella:::.embeddingParts(matrix("x", 2, 2)), "numeric matrix")
})

test_that("exampleSpatial is reproducible and leaves the RNG alone", {
    set.seed(11)
    expected <- runif(1)
    set.seed(11)
    a <- exampleSpatial(seed = 3)
    expect_identical(runif(1), expected)
    expect_identical(SummarizedExperiment::assay(a, "counts"),
        SummarizedExperiment::assay(exampleSpatial(seed = 3), "counts"))
})

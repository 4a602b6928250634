# Large results: through an .h5ad file into HDF5-backed assays above
# options(tessella.hdf5Threshold), in memory below it.

scaleData <- function() {
    sce <- exampleSpatial(nCells = 120, nGenes = 40)
    list(panel = sce[1:30, ], reference = exampleSpatial(nCells = 150,
        nGenes = 40, seed = 2))
}

skipWithoutHDF5Array <- function() {
    if (!requireNamespace("HDF5Array", quietly = TRUE)) {
        skip("HDF5Array not installed (Debian: r-bioc-hdf5array)")
    }
}

imputedAssay <- function(x, name) {
    SummarizedExperiment::assay(SingleCellExperiment::altExp(x,
        paste0("imputed_", name)), "imputed")
}

test_that("a result over the threshold comes back HDF5-backed, same values", {
    skipWithoutEngine()
    skipWithoutHDF5Array()
    data <- scaleData()
    before <- data$panel
    inMemory <- withr::with_options(list(tessella.hdf5Threshold = Inf),
        imputeSpatial(data$panel, data$reference, method = "knn",
            verbose = FALSE))
    folder <- withr::local_tempdir()
    onDisk <- withr::with_options(list(tessella.hdf5Threshold = 0,
        tessella.hdf5Dir = folder), imputeSpatial(data$panel, data$reference,
        method = "knn", verbose = FALSE))
    refined <- SummarizedExperiment::assay(onDisk, "knn", withDimnames = FALSE)
    imputed <- imputedAssay(onDisk, "knn")
    expect_s4_class(refined, "DelayedMatrix")
    expect_s4_class(imputed, "DelayedMatrix")
    expect_identical(class(DelayedArray::seed(refined))[1], "HDF5ArraySeed")
    expect_identical(DelayedArray::path(refined),
        DelayedArray::path(imputed))
    expect_true(startsWith(DelayedArray::path(refined),
        normalizePath(folder)))
    expect_true(is.matrix(SummarizedExperiment::assay(inMemory, "knn")))
    expect_equal(as.matrix(SummarizedExperiment::assay(onDisk, "knn")),
        SummarizedExperiment::assay(inMemory, "knn"), tolerance = 1e-6)
    expect_equal(as.matrix(imputed), imputedAssay(inMemory, "knn"),
        tolerance = 1e-6)
    expect_identical(dimnames(imputed), dimnames(imputedAssay(inMemory,
        "knn")))
    expect_identical(SingleCellExperiment::reducedDim(onDisk, "TESSELLA_knn"),
        SingleCellExperiment::reducedDim(inMemory, "TESSELLA_knn"))
    expect_identical(
        SummarizedExperiment::rowData(SingleCellExperiment::altExp(onDisk,
            "imputed_knn")),
        SummarizedExperiment::rowData(SingleCellExperiment::altExp(inMemory,
            "imputed_knn")))
    # the user's object and its assays are unchanged
    expect_identical(data$panel, before)
    expect_identical(SummarizedExperiment::assay(onDisk, "counts"),
        SummarizedExperiment::assay(before, "counts"))
})

test_that("small results stay in memory by default; Seurat reads the file", {
    skipWithoutEngine()
    skipWithoutHDF5Array()
    data <- scaleData()
    expect_null(getOption("tessella.hdf5Threshold"))
    out <- imputeSpatial(data$panel, data$reference, method = "knn",
        verbose = FALSE)
    expect_true(is.matrix(SummarizedExperiment::assay(out, "knn")))
    expect_true(is.matrix(imputedAssay(out, "knn")))
    skip_if_not_installed("SeuratObject")
    counts <- methods::as(SummarizedExperiment::assay(data$panel, "counts"),
        "dgCMatrix")
    seurat <- SeuratObject::CreateSeuratObject(counts = counts)
    inMemory <- withr::with_options(list(tessella.hdf5Threshold = Inf),
        imputeSpatial(seurat, data$reference, method = "knn",
            verbose = FALSE))
    onDisk <- withr::with_options(list(tessella.hdf5Threshold = 0),
        imputeSpatial(seurat, data$reference, method = "knn",
            verbose = FALSE))
    expect_equal(SeuratObject::GetAssayData(onDisk[["knn"]], "data"),
        SeuratObject::GetAssayData(inMemory[["knn"]], "data"),
        tolerance = 1e-6)
})

test_that("a threshold that is not a number >= 0 is refused", {
    withr::local_options(tessella.hdf5Threshold = "large")
    expect_error(tessella:::.hdf5Threshold(),
        "tessella.hdf5Threshold\\) must be one number >= 0")
    withr::local_options(tessella.hdf5Threshold = 1e6,
        tessella.hdf5Dir = file.path(tempdir(), "no-such-folder"))
    skipWithoutHDF5Array()
    expect_error(tessella:::.hdf5Options(), "tessella.hdf5Dir\\) must name")
})

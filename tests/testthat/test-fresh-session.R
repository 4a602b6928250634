# The issue-11 promise: after `make setup`, a fresh Rscript in any directory,
# with no tessella environment variable, runs library(tessella), reads a
# sparse .h5ad and imputes on real objects with empty cells and genes; the
# command line reads and writes .rds without R_LIBS.

# Runs `args` (Rscript or another program) in `dir` with the tessella
# variables and R_LIBS unset: what a user gets in a new terminal.
runFresh <- function(program, args, dir) {
    unset <- c("TESSELLA_PYTHON", "TESSELLA_DATA_DIR", "R_LIBS",
        "BASILISK_EXTERNAL_CONDA", "RETICULATE_PYTHON")
    env <- Sys.which("env")
    output <- suppressWarnings(system2(env, c(paste0("--chdir=", dir),
        as.vector(rbind("-u", unset)), "OMP_NUM_THREADS=1",
        "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1", program, args),
        stdout = TRUE, stderr = TRUE))
    list(status = attr(output, "status") %||% 0L, output = output)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

freshScript <- '
args <- commandArgs(trailingOnly = TRUE)
dataDir <- args[1]
out <- args[2]
suppressPackageStartupMessages(library(tessella))
engine <- tessellaPython()
visium <- readH5adSpatial(file.path(dataDir, "visium_subset",
    "visium_mouse_brain.h5ad"), spatialExperiment = FALSE)
counts <- SummarizedExperiment::assay(visium, "counts")
detected <- which(Matrix::rowSums(counts) > 0)
measured <- detected[1:40]
imputed <- detected[41:60]
# spatial: 300 spots x 40 genes, spot 7 with no counts, gene 3 never detected
spatialCounts <- counts[measured, 1:300]
spatialCounts[, 7] <- 0
spatialCounts[3, ] <- 0
spatialCounts <- Matrix::drop0(spatialCounts)
# reference: 600 other spots x 60 genes, three with no counts at all
referenceCounts <- counts[c(measured, imputed), 1001:1600]
referenceCounts[, c(2, 5, 9)] <- 0
referenceCounts <- Matrix::drop0(referenceCounts)
sce <- SingleCellExperiment::SingleCellExperiment(
    assays = list(counts = spatialCounts),
    reducedDims = list(spatial = SingleCellExperiment::reducedDim(visium,
        "spatial")[1:300, ]))
ref <- SingleCellExperiment::SingleCellExperiment(
    assays = list(counts = referenceCounts))
messages <- character(0)
withNotes <- function(expr) withCallingHandlers(expr, message = function(m) {
    messages <<- c(messages, conditionMessage(m))
    invokeRestart("muffleMessage")
})
outSCE <- withNotes(imputeSpatial(sce, ref, method = "knn", verbose = FALSE))
newAssay <- setdiff(SummarizedExperiment::assayNames(outSCE), "counts")[1]
newAlt <- SingleCellExperiment::altExpNames(outSCE)[1]
seu <- SeuratObject::CreateSeuratObject(counts = spatialCounts)
seuRef <- SeuratObject::CreateSeuratObject(counts = referenceCounts)
outSeurat <- withNotes(imputeSpatial(seu, seuRef, method = "knn",
    verbose = FALSE))
seuratAssay <- setdiff(SeuratObject::Assays(outSeurat),
    SeuratObject::Assays(seu))[1]
layerOf <- function(object, assay, layer) {
    if (utils::packageVersion("SeuratObject") >= "5.0.0") {
        return(getExportedValue("SeuratObject", "LayerData")(object[[assay]],
            layer = layer))
    }
    SeuratObject::GetAssayData(object[[assay]], slot = layer)
}
resultValues <- as.matrix(layerOf(outSeurat, seuratAssay, "data"))
saveRDS(list(
    engine = engine,
    libPaths = .libPaths(),
    readClass = class(counts)[1],
    readDim = dim(visium),
    readSum = sum(counts),
    sceClass = class(outSCE)[1],
    sceCountsIdentical = identical(
        SummarizedExperiment::assay(outSCE, "counts"), spatialCounts),
    sceEmpty = SummarizedExperiment::colData(outSCE)$tessella_empty,
    sceMeasured = SummarizedExperiment::assay(outSCE, newAssay),
    sceImputed = if (!is.na(newAlt)) SummarizedExperiment::assay(
        SingleCellExperiment::altExp(outSCE, newAlt)) else NULL,
    seuratCountsIdentical = identical(layerOf(outSeurat, "RNA", "counts"),
        layerOf(seu, "RNA", "counts")),
    seuratEmpty = outSeurat$tessella_empty,
    seuratValues = resultValues,
    undetected = rownames(spatialCounts)[Matrix::rowSums(spatialCounts) == 0],
    emptyCells = which(Matrix::colSums(spatialCounts) == 0),
    emptyReference = sum(Matrix::colSums(referenceCounts[
        which(Matrix::rowSums(spatialCounts) > 0), ]) == 0),
    messages = messages), out)
'

test_that("a fresh Rscript anywhere runs library(tessella) and imputes", {
    skipWithoutEngine()
    dataDir <- dirname(dirname(dataFile("visium_subset",
        "visium_mouse_brain.h5ad")))
    skip_if_not_installed("SeuratObject")
    dir <- tempfile("fresh")
    dir.create(dir)
    script <- file.path(dir, "fresh.R")
    writeLines(freshScript, script)
    out <- file.path(dir, "out.rds")
    skip_if(nzchar(Sys.getenv("_R_CHECK_PACKAGE_NAME_")),
        "R CMD check installs the package into a library of its own")
    rscript <- file.path(R.home("bin"), "Rscript")
    found <- runFresh(rscript, c("-e",
        shQuote("cat(requireNamespace(\"tessella\", quietly = TRUE))")), dir)
    if (!identical(tail(found$output, 1), "TRUE")) {
        skip(paste("tessella is not installed in R's default library",
            "(make setup installs it there)"))
    }
    run <- runFresh(rscript, c(script, dataDir, out), dir)
    expect_equal(run$status, 0L, info = paste(run$output, collapse = "\n"))
    res <- readRDS(out)
    expect_match(res$engine$source, "recorded at install")
    expect_true(is.na(res$engine$problem))
    expect_identical(res$readClass, "dgCMatrix")
    expect_identical(res$readDim, c(100L, 2695L))
    expect_equal(res$readSum, 132231)
    # spot 7 and gene 3 were emptied; the real data add a few more
    empty <- unname(res$emptyCells)
    expect_true(7L %in% empty && length(res$undetected) >= 1)
    expect_true(res$emptyReference >= 3)
    # SingleCellExperiment: counts untouched, empty spots flagged and NaN
    expect_identical(res$sceClass, "SingleCellExperiment")
    expect_true(res$sceCountsIdentical)
    expect_identical(which(res$sceEmpty), empty)
    expect_true(all(is.nan(res$sceMeasured[, empty])))
    expect_true(all(is.finite(res$sceMeasured[, -empty])))
    expect_true(all(res$sceMeasured[res$undetected, -empty] == 0))
    expect_identical(dim(res$sceImputed), c(20L, 300L))
    expect_true(all(is.nan(res$sceImputed[, empty])))
    expect_true(all(is.finite(res$sceImputed[, -empty])))
    # Seurat: the same, in meta.data and the result assay
    expect_true(res$seuratCountsIdentical)
    expect_identical(unname(which(res$seuratEmpty)), empty)
    expect_identical(dim(res$seuratValues), c(60L, 300L))
    expect_true(all(is.nan(res$seuratValues[, empty])))
    expect_true(all(is.finite(res$seuratValues[, -empty])))
    # one note each (per call): empty spots, undetected genes, reference cells
    notes <- res$messages
    expect_equal(sum(grepl(paste0(length(empty),
        " of 300 cell\\(s\\) have no counts"), notes)), 2)
    expect_equal(sum(grepl(paste0(length(res$undetected),
        " measured gene\\(s\\) never detected"), notes)), 2)
    expect_equal(sum(grepl(paste0(res$emptyReference,
        " of 600 cell\\(s\\)"), notes)), 2)
})

test_that("the command line reads and writes .rds and .h5ad without R_LIBS", {
    skipWithoutEngine()
    spatialFile <- dataFile("visium_subset", "visium_mouse_brain.h5ad")
    tessella <- file.path(dirname(tessellaPython()$python), "tessella")
    skip_if_not(file.exists(tessella), "no tessella command next to the engine")
    dir <- tempfile("cli")
    dir.create(dir)
    sce <- exampleSpatial(nCells = 80, nGenes = 30)
    saveRDS(sce[1:20, ], file.path(dir, "slide.rds"))
    saveRDS(sce, file.path(dir, "atlas.rds"))
    run <- runFresh(tessella, c("impute", "slide.rds", "--reference",
        "atlas.rds", "--method", "mean", "--quiet", "--out", "out.rds"), dir)
    expect_equal(run$status, 0L, info = paste(run$output, collapse = "\n"))
    out <- readRDS(file.path(dir, "out.rds"))
    expect_identical(SummarizedExperiment::assay(out, "counts"),
        SummarizedExperiment::assay(sce[1:20, ], "counts"))
    # .h5ad in, .rds out: counts, colData and coordinates as readH5adSpatial()
    run <- runFresh(tessella, c("impute", spatialFile, "--reference",
        spatialFile, "--genes", "Xkr4", "--method", "mean", "--quiet", "--out",
        "visium.rds"), dir)
    expect_equal(run$status, 0L, info = paste(run$output, collapse = "\n"))
    visium <- readRDS(file.path(dir, "visium.rds"))
    read <- readH5adSpatial(spatialFile, spatialExperiment = FALSE)
    expect_identical(SummarizedExperiment::assay(visium, "counts"),
        SummarizedExperiment::assay(read, "counts"))
    expect_identical(visium$array_row, read$array_row)
    expect_equal(SingleCellExperiment::reducedDim(visium, "spatial"),
        SingleCellExperiment::reducedDim(read, "spatial"))
    expect_true(length(SummarizedExperiment::assayNames(visium)) >= 2)
})

# benchmarkDenoising: molecular cross-validation through the engine, on the
# simulated example (quick) and 600 osmFISH cells with their cell types.

test_that("the denoising table has one row per method and its scores", {
    skipWithoutEngine()
    sce <- exampleSpatial(nCells = 200)
    scores <- benchmarkDenoising(sce,
        methods = c("raw", "knn_smoothing", "spatial_smoothing"),
        k = 5, verbose = FALSE)
    expect_identical(scores$method,
        c("raw", "knn_smoothing", "spatial_smoothing"))
    expect_identical(colnames(scores), c("method", "mse", "poisson", "nmi",
        "ari", "asw", "avg", "seconds"))
    expect_true(all(is.finite(as.matrix(scores[, -1]))))
    summary <- attr(scores, "summary")
    expect_identical(rownames(summary), scores$method)
    expect_equal(summary["raw", "mse"], scores$mse[1])
    used <- attr(scores, "parameters")
    expect_identical(used$knn_smoothing$k, 5L)
    expect_identical(used$spatial_smoothing$k, 5L)
})

test_that("labels, counts and method names are checked", {
    skipWithoutEngine()
    data <- osmfishData()
    cells <- round(seq(1, ncol(data$spatial), length.out = 600))
    spatial <- data$spatial[, cells]
    scores <- benchmarkDenoising(spatial, methods = c("raw", "knn_smoothing"),
        labels = "ClusterName", verbose = FALSE)
    expect_lt(scores$mse[2], scores$mse[1])
    expect_error(benchmarkDenoising(spatial, methods = "raw",
        labels = "nope", verbose = FALSE), "not a column")
    logged <- spatial
    SummarizedExperiment::assay(logged, "counts") <-
        logNormalised(SummarizedExperiment::assay(spatial, "counts"))
    expect_error(benchmarkDenoising(logged, methods = "raw", verbose = FALSE),
        "integer counts")
    expect_error(benchmarkDenoising(spatial, methods = "knn",
        verbose = FALSE), "unknown denoising method")
})

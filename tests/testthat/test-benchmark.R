# benchmarkImputation: Seurat's anchor transfer on the engine's folds, flat
# hyper-parameters. Real data, kept small: 600 osmFISH cells, 3 folds.

smallOsmfish <- function() {
    data <- osmfishData()
    cells <- round(seq(1, ncol(data$spatial), length.out = 600))
    data$spatial <- data$spatial[, cells]
    data
}

test_that("seurat is scored on the engine's folds with seconds and ARI", {
    skip_if_not_installed("Seurat")
    data <- smallOsmfish()
    scores <- benchmarkImputation(data$spatial, data$reference,
        methods = c("seurat", "knn"), folds = 3, clustering = TRUE,
        seurat = list(k.filter = NA), verbose = FALSE)
    knn <- scores[scores$method == "knn", ]
    seurat <- scores[scores$method == "seurat", ]
    expect_equal(nrow(seurat), 33)
    expect_setequal(seurat$gene, knn$gene)
    expect_identical(seurat$fold[match(knn$gene, seurat$gene)], knn$fold)
    expect_equal(as.vector(table(knn$fold)), c(11L, 11L, 11L))
    summary <- attr(scores, "summary")
    expect_identical(rownames(summary), c("seurat", "knn"))
    expect_true(all(is.finite(unlist(summary["seurat", ]))))
    expect_gt(summary["seurat", "spearman"], 0.05)
    expect_true(all(summary$seconds > 0))
    agreement <- attr(scores, "clustering")
    expect_identical(rownames(agreement), c("seurat", "knn"))
    expect_true(all(is.finite(agreement$ari)))
})

test_that("flat hyper-parameters reach every method that has them", {
    data <- smallOsmfish()
    scores <- benchmarkImputation(data$spatial, data$reference,
        data$embeddings, methods = c("knn", "refine"), folds = 3,
        max_epochs = 1, k = 10, clustering = TRUE, labels = "ClusterName",
        verbose = FALSE)
    expect_identical(rownames(attr(scores, "clustering")), c("knn", "refine"))
    used <- attr(scores, "parameters")
    expect_identical(used$refine$max_epochs, 1L)
    expect_identical(used$knn$k, 10L)
    expect_null(used$knn$max_epochs)
    scores <- benchmarkImputation(data$spatial, data$reference,
        data$embeddings, methods = c("knn", "refine"), folds = 3,
        max_epochs = 1, refine = list(max_epochs = 2), verbose = FALSE)
    expect_identical(attr(scores, "parameters")$refine$max_epochs, 2L)
})

test_that("hyper-parameters no method has are refused by name", {
    data <- smallOsmfish()
    expect_error(benchmarkImputation(data$spatial, data$reference,
        methods = c("knn", "mean"), max_epochs = 1, verbose = FALSE),
        paste("no benchmarked method \\(knn, mean\\) has a parameter",
            "named 'max_epochs'"))
    expect_error(benchmarkImputation(data$spatial, data$reference,
        methods = "knn", refine = list(max_epochs = 1), verbose = FALSE),
        "'refine', which is not among")
    expect_error(tessella:::.splitParameters(list(5), "knn"), "must be named")
    skip_if_not_installed("Seurat")
    expect_error(benchmarkImputation(data$spatial, data$reference,
        methods = c("knn", "seurat"), seurat = list(bogus = 1),
        verbose = FALSE), "not bogus")
    expect_error(benchmarkImputation(data$spatial, methods = "seurat",
        verbose = FALSE), "needs a reference")
})

# refineSpatial on any panel (no embedding table: denoising only) and gene
# vectors from an atlas with coexpressionEmbeddings().

test_that("refineSpatial without a table denoises the measured genes", {
    skipWithoutEngine()
    sce <- exampleSpatial(nCells = 200)
    out <- refineSpatial(sce, max_epochs = 5, verbose = FALSE)
    expect_true("refine" %in% SummarizedExperiment::assayNames(out))
    refined <- SummarizedExperiment::assay(out, "refine")
    expect_identical(dim(refined), dim(sce))
    expect_identical(SummarizedExperiment::assay(out, "counts"),
        SummarizedExperiment::assay(sce, "counts"))  # the user's data untouched
    expect_error(refineSpatial(sce[1:20, ], genes = rownames(sce)[25],
        max_epochs = 5, verbose = FALSE), "embeddings = ")
})

test_that("coexpressionEmbeddings gives gene vectors refineSpatial takes", {
    skipWithoutEngine()
    atlas <- exampleSpatial(seed = 2)
    vectors <- coexpressionEmbeddings(atlas, nComponents = 100)
    normalised <- logNormalised(as.matrix(SummarizedExperiment::assay(atlas,
        "counts")))
    varying <- apply(normalised, 1, stats::sd) > 0
    expect_identical(rownames(vectors), rownames(atlas)[varying])
    expect_identical(ncol(vectors), sum(varying))
    unit <- vectors / sqrt(rowSums(vectors^2))
    expect_equal(unname(tcrossprod(unit)),
        unname(stats::cor(t(normalised[varying, ]))), tolerance = 1e-3)
    sce <- exampleSpatial()
    out <- refineSpatial(sce[1:20, ], vectors, genes = rownames(sce)[21:25],
        max_epochs = 5, verbose = FALSE)
    expect_identical(nrow(SingleCellExperiment::altExp(out, "imputed_refine")), 5L)
    expect_error(coexpressionEmbeddings(atlas, genes = c("Nope")),
        "not in the atlas")
})

# Train once, predict many: fitImputer() saves a model, predictSpatial()
# applies it, refineSpatial(model = ) fine-tunes one.

onceData <- function() {
    sce <- exampleSpatial(nCells = 120, nGenes = 40)
    list(panel = sce[1:30, ], reference = exampleSpatial(nCells = 150,
        nGenes = 40, seed = 2), embeddings = matrix(seq_len(40 * 6) %% 7 / 7,
        40, dimnames = list(rownames(sce), NULL)))
}

# The one line of an error's message.
expectOneLine <- function(err, pattern) {
    expect_match(conditionMessage(err), pattern)
    expect_length(strsplit(conditionMessage(err), "\n")[[1]], 1)
}

sameResult <- function(a, b, name) {
    expect_identical(SummarizedExperiment::assay(a, name),
        SummarizedExperiment::assay(b, name))
    alt <- paste0("imputed_", name)
    expect_identical(SummarizedExperiment::assay(SingleCellExperiment::altExp(
        a, alt)), SummarizedExperiment::assay(SingleCellExperiment::altExp(
        b, alt)))
    expect_identical(SingleCellExperiment::reducedDim(a,
        paste0("TESSELLA_", name)), SingleCellExperiment::reducedDim(b,
        paste0("TESSELLA_", name)))
}

test_that("fitImputer then predictSpatial equals imputeSpatial", {
    skipWithoutEngine()
    data <- onceData()
    file <- tempfile(fileext = ".pt")
    expect_message(model <- fitImputer(data$panel, data$reference,
        method = "knn", k = 7, file = file), "knn model saved to")
    expect_s3_class(model, "tessellaModel")
    expect_identical(model$file, file.path(normalizePath(tempdir()),
        basename(file)))
    expect_identical(model$method, "knn")
    expect_identical(model$measuredGenes, rownames(data$panel))
    expect_identical(model$targetGenes, sprintf("Gene%03d", 31:40))
    expect_output(print(model), "tessellaModel: knn \\(tessella .*reads 30 ")
    predicted <- predictSpatial(data$panel, model, verbose = FALSE)
    once <- imputeSpatial(data$panel, data$reference, method = "knn", k = 7,
        verbose = FALSE)
    sameResult(predicted, once, "knn")
    expect_identical(S4Vectors::metadata(predicted)$tessella$knn$params$k, 7L)
    expect_identical(SummarizedExperiment::assay(predicted, "counts"),
        SummarizedExperiment::assay(data$panel, "counts"))
})

test_that("a refine model predicts like refineSpatial, given the table", {
    skipWithoutEngine()
    data <- onceData()
    model <- fitImputer(data$panel, method = "refine",
        embeddings = data$embeddings, max_epochs = 3, verbose = FALSE)
    predicted <- predictSpatial(data$panel, model, embeddings = data$embeddings,
        verbose = FALSE)
    once <- refineSpatial(data$panel, data$embeddings, max_epochs = 3,
        verbose = FALSE)
    expect_equal(SummarizedExperiment::assay(predicted, "refine"),
        SummarizedExperiment::assay(once, "refine"), tolerance = 1e-6)
    expect_equal(SummarizedExperiment::assay(SingleCellExperiment::altExp(
        predicted, "imputed_refine")), SummarizedExperiment::assay(
        SingleCellExperiment::altExp(once, "imputed_refine")),
        tolerance = 1e-6)
})

test_that("the model file predicts other cells, under another name", {
    skipWithoutEngine()
    data <- onceData()
    model <- fitImputer(data$panel, data$reference, method = "knn",
        verbose = FALSE)
    full <- predictSpatial(data$panel, model, verbose = FALSE)
    cells <- colnames(data$panel)[seq(1, 120, by = 3)]
    subset <- predictSpatial(data$panel[, cells], model$file,
        genes = c("Gene033", "Gene031"), name = "knn_file", verbose = FALSE)
    expect_identical(dim(SummarizedExperiment::assay(subset, "knn_file")),
        c(30L, 40L))
    imputed <- SingleCellExperiment::altExp(subset, "imputed_knn_file")
    expect_identical(rownames(imputed), c("Gene033", "Gene031"))
    expect_true(all(is.finite(SummarizedExperiment::assay(imputed))))
    # the file gives what the model object gives
    again <- predictSpatial(data$panel, model$file, verbose = FALSE)
    sameResult(again, full, "knn")
    # a path: the name comes from the model's method
    expect_identical(names(S4Vectors::metadata(again)$tessella), "knn")
})

test_that("a Seurat object is predicted from a model fitted on an SCE", {
    skipWithoutEngine()
    skip_if_not_installed("SeuratObject")
    data <- onceData()
    model <- fitImputer(data$panel, data$reference, method = "mean",
        verbose = FALSE)
    counts <- methods::as(SummarizedExperiment::assay(data$panel, "counts"),
        "dgCMatrix")
    seurat <- SeuratObject::CreateSeuratObject(counts = counts)
    out <- predictSpatial(seurat, model, verbose = FALSE)
    expect_true("mean" %in% SeuratObject::Assays(out))
    expect_identical(out[["mean"]][["measured"]][, 1],
        rep(c(TRUE, FALSE), c(30, 10)))
})

test_that("refineSpatial(model = ) fine-tunes a refine model", {
    skipWithoutEngine()
    data <- onceData()
    model <- fitImputer(data$panel[, 1:60], method = "refine",
        embeddings = data$embeddings, max_epochs = 2, verbose = FALSE)
    other <- data$panel[, 61:120]
    tuned <- refineSpatial(other, data$embeddings, model = model,
        max_epochs = 2, verbose = FALSE)
    applied <- predictSpatial(other, model, embeddings = data$embeddings,
        verbose = FALSE)
    expect_identical(dim(SummarizedExperiment::assay(tuned, "refine")),
        c(30L, 60L))
    expect_false(isTRUE(all.equal(SummarizedExperiment::assay(tuned,
        "refine"), SummarizedExperiment::assay(applied, "refine"))))
    knn <- fitImputer(data$panel, data$reference, method = "knn",
        verbose = FALSE)
    expectOneLine(expect_error(refineSpatial(other, data$embeddings,
        model = knn, verbose = FALSE)), "must be a refine model")
})

test_that("a missing or invalid model file is one R error", {
    data <- onceData()
    absent <- tempfile(fileext = ".pt")
    expectOneLine(expect_error(predictSpatial(data$panel, absent)),
        "^model = '.*': no such model file")
    expectOneLine(expect_error(refineSpatial(data$panel, data$embeddings,
        model = absent)), "^model = '.*': no such model file")
    expectOneLine(expect_error(predictSpatial(data$panel, 3)),
        "^model must be a tessellaModel from fitImputer\\(\\)")
    expectOneLine(expect_error(fitImputer(data$panel, data$reference,
        file = file.path(absent, "model.pt"))), "^file = .*does not exist")
    skipWithoutEngine()
    notModel <- tempfile(fileext = ".pt")
    writeLines("not a model", notModel)
    expectOneLine(expect_error(predictSpatial(data$panel, notModel)),
        "is not a tessella model file")
    model <- fitImputer(data$panel, data$reference, method = "mean",
        verbose = FALSE)
    unlink(model$file)
    expect_output(print(model), "\\(missing\\)")
    expectOneLine(expect_error(predictSpatial(data$panel, model)),
        "^model = : the model's file .* does not exist any more")
    knn <- fitImputer(data$panel, data$reference, method = "knn",
        verbose = FALSE)
    expectOneLine(expect_error(predictSpatial(data$panel[1:20, ], knn,
        verbose = FALSE)), "lacks 10 measured gene")
})

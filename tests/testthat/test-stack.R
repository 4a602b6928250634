# Results stack under names; hyper-parameters are listed and range-checked.

stackData <- function() {
    sce <- exampleSpatial(nCells = 120, nGenes = 40)
    list(panel = sce[1:30, ], reference = exampleSpatial(nCells = 150,
        nGenes = 40, seed = 2), embeddings = matrix(seq_len(40 * 6) %% 7 / 7,
        40, dimnames = list(rownames(sce), NULL)))
}

asSeurat <- function(sce) {
    counts <- methods::as(SummarizedExperiment::assay(sce, "counts"),
        "dgCMatrix")
    SeuratObject::CreateSeuratObject(counts = counts)
}

test_that("impute then refine on one SCE keeps both results", {
    skipWithoutEngine()
    data <- stackData()
    expect_message(out <- imputeSpatial(data$panel, data$reference,
        method = "knn"), paste0("result 'knn' \\(knn\\) written to assay ",
        "'knn', altExp 'imputed_knn' \\(10 genes\\), reducedDim ",
        "'TESSELLA_knn', metadata\\(x\\)\\$tessella\\$knn"))
    knn <- SummarizedExperiment::assay(out, "knn")
    out <- refineSpatial(out, data$embeddings, max_epochs = 3, verbose = FALSE)
    expect_identical(SummarizedExperiment::assayNames(out),
        c("counts", "knn", "refine"))
    expect_identical(SingleCellExperiment::altExpNames(out),
        c("imputed_knn", "imputed_refine"))
    expect_true(all(c("TESSELLA_knn", "TESSELLA_refine") %in%
        SingleCellExperiment::reducedDimNames(out)))
    expect_identical(SummarizedExperiment::assay(out, "knn"), knn)
    provenance <- S4Vectors::metadata(out)$tessella
    expect_identical(names(provenance), c("knn", "refine"))
    expect_identical(provenance$refine$method, "refine")
    expect_identical(SummarizedExperiment::assay(out, "counts"),
        SummarizedExperiment::assay(data$panel, "counts"))
    expect_equal(dim(SingleCellExperiment::reducedDim(out, "TESSELLA_knn")),
        c(120L, 29L))
})

test_that("the same name replaces only that result; other names add", {
    skipWithoutEngine()
    data <- stackData()
    out <- imputeSpatial(data$panel, data$reference, method = "knn",
        verbose = FALSE)
    out <- imputeSpatial(out, data$reference, method = "mean", verbose = FALSE)
    mean <- SummarizedExperiment::assay(out, "mean")
    expect_message(again <- imputeSpatial(out, data$reference, method = "knn",
        k = 3), "result 'knn' \\(knn\\) replaced in assay 'knn'")
    expect_identical(SummarizedExperiment::assay(again, "mean"), mean)
    expect_identical(S4Vectors::metadata(again)$tessella$knn$params$k, 3L)
    expect_false(isTRUE(all.equal(SummarizedExperiment::assay(again, "knn"),
        SummarizedExperiment::assay(out, "knn"))))
    named <- imputeSpatial(out, data$reference, method = "knn", k = 3,
        name = "knn_k3", verbose = FALSE)
    expect_identical(SummarizedExperiment::assayNames(named),
        c("counts", "knn", "mean", "knn_k3"))
    expect_true("imputed_knn_k3" %in% SingleCellExperiment::altExpNames(named))
    # mean has no latent space: no reducedDim for it
    expect_false("TESSELLA_mean" %in%
        SingleCellExperiment::reducedDimNames(named))
})

test_that("slots not made by tessella are never overwritten", {
    data <- stackData()
    panel <- data$panel
    SummarizedExperiment::assay(panel, "knn") <-
        SummarizedExperiment::assay(panel, "counts")
    expect_error(imputeSpatial(panel, data$reference, method = "knn"),
        "already has assay 'knn' not made by tessella.*name =")
    expect_error(imputeSpatial(data$panel, data$reference, name = "counts"),
        "already has assay 'counts'")
    expect_error(imputeSpatial(data$panel, data$reference, name = "a b"),
        "name must be one name")
})

test_that("capped parameters are reported in R", {
    skipWithoutEngine()
    data <- stackData()
    expect_message(out <- imputeSpatial(data$panel, data$reference,
        method = "knn", k = 500, verbose = FALSE), paste0("knn: parameter ",
        "'k' = 500 is more than the reference cells \\(150\\); using 150"))
    expect_identical(as.character(unlist(
        S4Vectors::metadata(out)$tessella$knn$notes)),
        paste("parameter 'k' = 500 is more than the reference cells (150);",
            "using 150."))
})

test_that("a Seurat graph result has the measured flag and reliability", {
    skipWithoutEngine()
    skip_if_not_installed("SeuratObject")
    data <- stackData()
    seurat <- asSeurat(data$panel)
    out <- imputeSpatial(seurat, data$reference, method = "graph",
        max_epochs = 2, ae_epochs = 2, rounds = 1, latent = 8, device = "cpu",
        verbose = FALSE)
    features <- out[["graph"]][[]]
    expect_identical(rownames(features), rownames(out[["graph"]]))
    expect_identical(features$measured, rep(c(TRUE, FALSE), c(30, 10)))
    expect_true(all(is.na(features$reliability[features$measured])))
    reliability <- features$reliability[!features$measured]
    expect_true(all(is.finite(reliability)))
    expect_equal(dim(SeuratObject::Embeddings(out, "TESSELLA_graph")),
        c(120L, 8L))
    expect_identical(SeuratObject::Misc(out, slot = "tessella")$graph$method,
        "graph")
    expect_identical(SeuratObject::DefaultAssay(out), "RNA")
    expect_identical(SeuratObject::GetAssayData(out, assay = "RNA",
        slot = "counts"), SeuratObject::GetAssayData(seurat, slot = "counts"))
})

test_that("Seurat results stack and the reduction clusters with defaults", {
    skipWithoutEngine()
    skip_if_not_installed("Seurat")
    data <- stackData()
    out <- imputeSpatial(asSeurat(data$panel), data$reference, method = "knn",
        verbose = FALSE)
    expect_silent(out <- imputeSpatial(out, data$reference, method = "mean",
        verbose = FALSE))
    expect_true(all(c("knn", "mean") %in% SeuratObject::Assays(out)))
    expect_identical(names(SeuratObject::Misc(out, slot = "tessella")),
        c("knn", "mean"))
    expect_identical(out[["knn"]][["measured"]][, 1],
        rep(c(TRUE, FALSE), c(30, 10)))
    clustered <- suppressMessages(suppressWarnings(Seurat::FindClusters(
        Seurat::FindNeighbors(out, reduction = "TESSELLA_knn", verbose = FALSE),
        verbose = FALSE)))
    expect_true(length(unique(clustered$seurat_clusters)) > 1)
    again <- imputeSpatial(out, data$reference, method = "knn", k = 3,
        verbose = FALSE)
    expect_identical(SeuratObject::Misc(again, slot = "tessella")$knn$params$k,
        3L)
    # names whose Seurat keys would clash get keys of their own, silently
    expect_silent(named <- imputeSpatial(again, data$reference,
        method = "knn", k = 3, name = "k_nn", verbose = FALSE))
    expect_silent(named <- imputeSpatial(named, data$reference,
        method = "knn", k = 3, name = "knn.", verbose = FALSE))
    expect_false(anyDuplicated(SeuratObject::Key(named)) > 0)
    expect_identical(SeuratObject::GetAssayData(again, assay = "mean"),
        SeuratObject::GetAssayData(out, assay = "mean"))
})

test_that("tessellaMethods lists hyper-parameters with defaults and meaning", {
    skipWithoutEngine()
    params <- tessellaMethods(parameters = TRUE)
    expect_identical(colnames(params), c("method", "parameter", "type",
        "default", "range", "meaning"))
    knn <- params[params$method == "knn", ]
    expect_identical(knn$parameter, c("neighbors", "k", "n_components",
        "block_size"))
    expect_identical(knn$default[knn$parameter == "k"], "50")
    expect_identical(knn$range[knn$parameter == "k"], ">= 1")
    expect_match(knn$meaning[knn$parameter == "k"], "Reference neighbours")
    graph <- params[params$method == "graph", ]
    expect_identical(graph$default[graph$parameter == "k"], "NULL")
    expect_true(all(nzchar(params$meaning)))
})

test_that("out-of-range hyper-parameters are refused naming the parameter", {
    skipWithoutEngine()
    data <- stackData()
    cases <- list(
        list(method = "knn", args = list(k = 0), "parameter 'k' must be >= 1"),
        list(method = "knn", args = list(k = -1), "parameter 'k' must be >= 1"),
        list(method = "knn", args = list(n_components = 0),
            "parameter 'n_components' must be >= 1"),
        list(method = "graph", args = list(max_epochs = 0),
            "parameter 'max_epochs' must be >= 1"),
        list(method = "graph", args = list(batch_size = 0),
            "parameter 'batch_size' must be >= 1"),
        list(method = "graph", args = list(latent = 0),
            "parameter 'latent' must be >= 1"),
        list(method = "graph", args = list(alpha = 2),
            "parameter 'alpha' must be between 0 and 1"),
        list(method = "diffusion", args = list(samples = 0),
            "parameter 'samples' must be >= 1"))
    for (case in cases) {
        expect_error(do.call(imputeSpatial, c(list(data$panel, data$reference,
            method = case$method, verbose = FALSE), case$args)), case[[3]])
    }
    expect_error(refineSpatial(data$panel, data$embeddings, lr = 0,
        verbose = FALSE), "parameter 'lr' must be >= 1e-08, got 0")
    expect_error(refineSpatial(data$panel, data$embeddings, output = "relu",
        verbose = FALSE), "parameter 'output' must be one of 'softplus'")
})

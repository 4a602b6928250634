# Real data: osmFISH (3405 cells x 33 genes) + Allen SSp reference, read
# through the engine, as SingleCellExperiment and as Seurat.

heldOut <- c("Gad2", "Tbr1", "Plp1", "Slc32a1", "Kcnip2")

test_that("reading osmFISH through the engine gives a spatial SCE", {
    data <- osmfishData()
    expect_equal(dim(data$spatial), c(33L, 3405L))
    expect_equal(ncol(SingleCellExperiment::reducedDim(data$spatial, "spatial")), 2)
    expect_true("ClusterName" %in% colnames(SummarizedExperiment::colData(
        data$spatial)))
})

test_that("imputeSpatial on an SCE imputes held-out genes and keeps the input", {
    data <- osmfishData()
    spatial <- data$spatial[setdiff(rownames(data$spatial), heldOut), ]
    before <- SummarizedExperiment::assay(spatial, "counts")
    out <- imputeSpatial(spatial, data$reference, method = "knn",
        genes = heldOut, verbose = FALSE)
    expect_identical(SummarizedExperiment::assay(out, "counts"), before)
    expect_identical(SummarizedExperiment::assay(spatial, "counts"), before)
    expect_equal(dim(SummarizedExperiment::assay(out, "knn")), dim(spatial))
    imputed <- SummarizedExperiment::assay(
        SingleCellExperiment::altExp(out, "imputed_knn"), "imputed")
    expect_identical(rownames(imputed), heldOut)
    truth <- logNormalised(SummarizedExperiment::assay(data$spatial,
        "counts"))[heldOut, ]
    agreement <- vapply(heldOut, function(g) stats::cor(imputed[g, ], truth[g, ],
        method = "spearman"), numeric(1))
    expect_gt(stats::median(agreement), 0.2)
    expect_identical(S4Vectors::metadata(out)$tessella$knn$method, "knn")
})

test_that("refineSpatial on an SCE denoises and adds embeddings", {
    data <- osmfishData()
    out <- refineSpatial(data$spatial, data$embeddings, max_epochs = 30,
        verbose = FALSE)
    refined <- SummarizedExperiment::assay(out, "refine")
    expect_equal(dim(refined), dim(data$spatial))
    expect_identical(dimnames(refined), dimnames(data$spatial))
    latent <- SingleCellExperiment::reducedDim(out, "TESSELLA_refine")
    expect_equal(dim(latent), c(3405L, 64L))
    expect_equal(nrow(SingleCellExperiment::altExp(out, "imputed_refine")),
        242L)
    truth <- logNormalised(SummarizedExperiment::assay(data$spatial, "counts"))
    agreement <- vapply(rownames(truth), function(g) stats::cor(refined[g, ],
        truth[g, ]), numeric(1))
    expect_gt(stats::median(agreement), 0.5)
    expect_identical(S4Vectors::metadata(out)$tessella$refine$method, "refine")
})

test_that("a Seurat object round-trips with result assays and reductions", {
    skip_if_not_installed("Seurat")
    data <- osmfishData()
    counts <- methods::as(SummarizedExperiment::assay(data$spatial, "counts"),
        "dgCMatrix")
    seurat <- SeuratObject::CreateSeuratObject(counts = counts[setdiff(
        rownames(counts), heldOut), ])
    before <- SeuratObject::GetAssayData(seurat, slot = "counts")
    out <- imputeSpatial(seurat, data$reference, method = "knn",
        genes = heldOut, verbose = FALSE)
    expect_true("knn" %in% SeuratObject::Assays(out))
    expect_identical(SeuratObject::GetAssayData(out, assay = "RNA",
        slot = "counts"), before)
    values <- SeuratObject::GetAssayData(out, assay = "knn", slot = "data")
    expect_equal(dim(values), c(33L, 3405L))
    expect_true(all(heldOut %in% rownames(values)))
    expect_identical(SeuratObject::Misc(out, slot = "tessella")$knn$method, "knn")
    refined <- refineSpatial(seurat, data$embeddings, genes = heldOut,
        max_epochs = 10, verbose = FALSE)
    expect_equal(dim(SeuratObject::Embeddings(refined, "TESSELLA_refine")),
        c(3405L, 64L))
})

test_that("benchmarkImputation reports per-gene scores and medians", {
    data <- osmfishData()
    scores <- benchmarkImputation(data$spatial, data$reference,
        methods = c("knn", "mean"), folds = 5, verbose = FALSE)
    expect_equal(nrow(scores), 66)
    summary <- attr(scores, "summary")
    expect_gt(summary["knn", "spearman"], 0.1)
    expect_true(is.na(summary["mean", "spearman"]))
    expect_true(all(is.na(scores$pearson[scores$method == "mean"])))
})

test_that("engine-side input errors arrive as one clear R error", {
    data <- osmfishData()
    renamed <- data$reference
    rownames(renamed) <- paste0("other", seq_len(nrow(renamed)))
    expect_error(imputeSpatial(data$spatial, renamed, verbose = FALSE),
        "share no genes")
    expect_error(imputeSpatial(data$spatial, data$reference, method = "nope"),
        "unknown method 'nope'")
    expect_error(refineSpatial(data$spatial, data$embeddings, genes = "NotAGene",
        verbose = FALSE), "not in the embeddings")
    negative <- data$spatial[1:5, 1:20]
    SummarizedExperiment::assay(negative, "counts")[1, 1] <- -1
    expect_error(imputeSpatial(negative, data$reference, verbose = FALSE),
        "negative values")
})

test_that("imputeSpatial runs diffusion from R with engine parameters", {
    data <- osmfishData()
    spatial <- data$spatial[setdiff(rownames(data$spatial), heldOut), ]
    out <- imputeSpatial(spatial, data$reference, method = "diffusion",
        genes = heldOut, max_epochs = 5, samples = 2, sampling_steps = 3,
        verbose = FALSE)
    imputed <- SummarizedExperiment::assay(
        SingleCellExperiment::altExp(out, "imputed_diffusion"), "imputed")
    expect_identical(rownames(imputed), heldOut)
    expect_true(all(is.finite(imputed)))
    measured <- logNormalised(SummarizedExperiment::assay(spatial, "counts"))
    expect_equal(as.matrix(SummarizedExperiment::assay(out, "diffusion")),
        as.matrix(measured), tolerance = 1e-5, ignore_attr = TRUE)
    expect_identical(S4Vectors::metadata(out)$tessella$diffusion$method,
        "diffusion")
})

# Seurat's anchor transfer (FindTransferAnchors + TransferData) on the
# benchmark's folds: the engine splits the genes, R runs Seurat per fold, and
# the engine scores the predictions with its own truth, metrics and
# clustering (options `external` and `external_seconds`).

.seuratDefaults <- list(dims = 30, k.anchor = 5, k.filter = 200,
    k.score = 30, k.weight = 50)

.seuratBenchmark <- function(spatial, ref, embeddings, options, settings,
    verbose) {
    if (!requireNamespace("Seurat", quietly = TRUE)) {
        .tessellaStop("methods = \"seurat\" needs the R package Seurat ",
            "(>= 4.0); install it (install.packages(\"Seurat\")) or leave ",
            "\"seurat\" out of methods.")
    }
    if (is.null(ref)) {
        .tessellaStop("methods = \"seurat\" needs a reference: pass ",
            "reference = .")
    }
    settings <- .seuratSettings(settings)
    folds <- .runEngine("folds", spatial, ref, embeddings,
        c(options, list(external = list("seurat"))))
    counts <- isTRUE(folds$spatial_is_counts) &&
        isTRUE(folds$reference_is_counts)
    if (!counts) {
        .tessellaStop("methods = \"seurat\" needs raw counts in x and in ",
            "the reference; choose count assays with assay = and ",
            "referenceAssay = .")
    }
    genes <- list(spatial = as.character(folds$spatial_genes),
        reference = as.character(folds$reference_genes))
    predictions <- vector("list", length(folds$folds))
    seconds <- 0
    for (i in seq_along(folds$folds)) {
        held <- as.character(unlist(folds$folds[[i]]))
        .tessellaMessage("seurat: fold ", i, " of ", length(predictions),
            verbose = verbose)
        start <- proc.time()[["elapsed"]]
        values <- .seuratFold(spatial, ref, genes, held,
            folds$target_sums[[i]], settings)
        seconds <- seconds + proc.time()[["elapsed"]] - start
        predictions[[i]] <- list(x = values, genes = as.list(held))
    }
    list(external = list(seurat = predictions),
        external_seconds = list(seurat = seconds))
}

.seuratSettings <- function(settings) {
    unknown <- setdiff(names(settings), names(.seuratDefaults))
    if (length(unknown) || (length(settings) && is.null(names(settings)))) {
        .tessellaStop("seurat = list(...) takes ",
            paste(names(.seuratDefaults), collapse = ", "), "; not ",
            paste(unknown, collapse = ", "), ".")
    }
    utils::modifyList(.seuratDefaults, as.list(settings))
}

# log1p(counts / total * targetSum), 0 for cells without counts: the
# engine's normalisation, as a dgCMatrix.
.logNormalise <- function(counts, totals, targetSum) {
    scale <- ifelse(totals > 0, targetSum / pmax(totals, 1e-12), 0)
    m <- methods::as(counts %*% Matrix::Diagonal(x = scale), "CsparseMatrix")
    m <- methods::as(m, "generalMatrix")
    m@x <- log1p(m@x)
    m
}

# A Seurat object whose data slot holds the given log-normalised values.
.seuratObject <- function(counts, data, features, cells) {
    dimnames(counts) <- list(features, cells)
    dimnames(data) <- list(features, cells)
    object <- SeuratObject::CreateSeuratObject(counts = counts)
    SeuratObject::SetAssayData(object, slot = "data", new.data = data)
}

# Predictions for the held-out genes of one fold: genes x spatial cells, on
# the engine's log-normalised scale.
.seuratFold <- function(spatial, ref, genes, held, targetSum, settings) {
    measured <- which(!genes$spatial %in% held)
    shared <- measured[nzchar(genes$reference[measured])]
    if (length(shared) < 3) {
        .tessellaStop("seurat needs at least 3 measured genes shared with ",
            "the reference in every fold; this fold has ", length(shared), ".")
    }
    features <- paste0("g", seq_along(shared))
    query <- spatial$x[measured, , drop = FALSE]
    queryCells <- paste0("q", seq_len(ncol(query)))
    queryFeatures <- paste0("m", seq_along(measured))
    queryFeatures[match(shared, measured)] <- features
    query <- .seuratObject(query, .logNormalise(query, Matrix::colSums(query),
        targetSum), queryFeatures, queryCells)
    refRows <- match(genes$reference[shared], ref$genes)
    refShared <- ref$x[refRows, , drop = FALSE]
    totals <- Matrix::colSums(refShared)
    keep <- which(totals > 0)
    refCells <- paste0("r", keep)
    reference <- .seuratObject(refShared[, keep, drop = FALSE],
        .logNormalise(refShared[, keep, drop = FALSE], totals[keep], targetSum),
        features, refCells)
    heldRows <- match(genes$reference[match(held, genes$spatial)], ref$genes)
    refdata <- .logNormalise(ref$x[heldRows, keep, drop = FALSE], totals[keep],
        targetSum)
    dimnames(refdata) <- list(paste0("h", seq_along(held)), refCells)
    transferred <- .seuratTransfer(reference, query, features, refdata,
        settings)
    values <- SeuratObject::GetAssayData(transferred, slot = "data")
    unname(as.matrix(values[rownames(refdata), queryCells, drop = FALSE]))
}

.seuratTransfer <- function(reference, query, features, refdata, settings) {
    dims <- seq_len(min(settings$dims, length(features) - 1))
    kFilter <- settings$k.filter
    if (is.na(kFilter) || min(ncol(reference), ncol(query)) <= kFilter) {
        kFilter <- NA
    }
    anchors <- .quietSeurat(Seurat::FindTransferAnchors(reference = reference,
        query = query, normalization.method = "LogNormalize",
        features = features, reduction = "cca", dims = dims,
        k.anchor = settings$k.anchor, k.filter = kFilter,
        k.score = settings$k.score, verbose = FALSE))
    nAnchors <- nrow(methods::slot(anchors, "anchors"))
    if (nAnchors < 2) {
        .tessellaStop("Seurat found ", nAnchors, " anchor(s) between the ",
            "spatial data and the reference in a fold: too few to transfer. ",
            "Try seurat = list(k.anchor = ...) larger, or leave \"seurat\" ",
            "out of methods.")
    }
    .quietSeurat(Seurat::TransferData(anchorset = anchors, refdata = refdata,
        weight.reduction = "cca", dims = dims,
        k.weight = min(settings$k.weight, nAnchors - 1), verbose = FALSE))
}

# Seurat warns on every fold that a gene panel is small (fewer than 50 CCA
# features; fewer neighbours than asked among few cells): expected here.
.quietSeurat <- function(expr) {
    expected <- paste0("Fewer than 50 features used as input for CCA|",
        "Requested number is larger than the number of available items")
    withCallingHandlers(expr, warning = function(w) {
        if (grepl(expected, conditionMessage(w))) {
            invokeRestart("muffleWarning")
        }
    })
}

# Engine results back into the user's object class: a copy of the input with
# new slots, all under the result's name. Existing assays are never touched;
# the slots of an earlier tessella result of the same name are replaced, a
# slot of that name made by anything else is an error. Results of other names
# stay as they are, so results stack.
#
# SingleCellExperiment / SpatialExperiment, for name "knn":
#   assay "knn"                measured genes as the method returns them
#   altExp "imputed_knn"       imputed genes (assay "imputed",
#                              rowData()$reliability)
#   reducedDim "TESSELLA_knn"  cell embedding (methods with a latent space)
#   metadata(x)$tessella$knn   provenance
# Seurat: assay "knn" (measured + imputed genes in its data layer; feature
# metadata "measured" and "reliability"), reduction "TESSELLA_knn" (tied to
# the default assay, so FindNeighbors() and FindClusters() find their graph by
# default), Misc(x, "tessella")$knn.

.checkName <- function(name) {
    if (!is.character(name) || length(name) != 1 || is.na(name) ||
        !grepl("^[A-Za-z][A-Za-z0-9._]*$", name)) {
        .tessellaStop("name must be one name that starts with a letter and ",
            "has only letters, digits, '.' and '_', e.g. \"knn\".")
    }
    name
}

# The name a result is stored under: `name`, else the method's name.
.resultName <- function(name, result) {
    .checkName(if (is.null(name)) result$provenance$method else name)
}

.latentMatrix <- function(latent, cells, prefix) {
    dimnames(latent) <- list(cells, paste0(prefix, seq_len(ncol(latent))))
    latent
}

.sceSlots <- function(name) {
    list(assay = name, altExp = paste0("imputed_", name),
        reducedDim = paste0("TESSELLA_", name))
}

.checkFreeSCE <- function(x, slots, name) {
    if (name %in% names(S4Vectors::metadata(x)$tessella)) {
        return(invisible(NULL))
    }
    taken <- c(
        if (slots$assay %in% SummarizedExperiment::assayNames(x))
            paste0("assay '", slots$assay, "'"),
        if (slots$altExp %in% SingleCellExperiment::altExpNames(x))
            paste0("altExp '", slots$altExp, "'"),
        if (slots$reducedDim %in% SingleCellExperiment::reducedDimNames(x))
            paste0("reducedDim '", slots$reducedDim, "'"))
    if (length(taken)) {
        .tessellaStop("x already has ", paste(taken, collapse = ", "),
            " not made by tessella; store the result under another name ",
            "with name = .")
    }
}

# Imputed values as a genes x cells matrix (in memory, or HDF5-backed when
# the result came through a file), without a copy where R allows.
.imputedValues <- function(result) {
    imputed <- result$imputed
    if (is.null(dim(imputed))) {
        imputed <- matrix(imputed, nrow = length(result$imputed_genes))
    }
    imputed
}

.imputedExperiment <- function(result, cells) {
    genes <- as.character(result$imputed_genes)
    imputed <- .imputedValues(result)
    if (!is.null(dimnames(imputed))) {
        dimnames(imputed) <- NULL
    }
    alt <- SingleCellExperiment::SingleCellExperiment(
        assays = list(imputed = imputed))
    dimnames(alt) <- list(genes, cells)
    reliability <- as.numeric(result$reliability)
    reliability[is.nan(reliability)] <- NA_real_
    SummarizedExperiment::rowData(alt)$reliability <- reliability
    alt
}

.assembleSCE <- function(x, result, name) {
    slots <- .sceSlots(name)
    .checkFreeSCE(x, slots, name)
    # Stored without dimnames (the assay getter gives it those of x): naming
    # the values would copy them.
    refined <- result$refined
    if (!is.null(dimnames(refined))) {
        dimnames(refined) <- NULL
    }
    SummarizedExperiment::assay(x, slots$assay, withDimnames = FALSE) <-
        refined
    written <- paste0("assay '", slots$assay, "'")
    alt <- NULL
    if (length(result$imputed_genes)) {
        alt <- .imputedExperiment(result, colnames(x))
        written <- c(written, paste0("altExp '", slots$altExp, "' (",
            nrow(alt), " genes)"))
    }
    SingleCellExperiment::altExp(x, slots$altExp) <- alt
    latent <- NULL
    if (!is.null(result$latent)) {
        latent <- .latentMatrix(result$latent, colnames(x), "TESSELLA_")
        written <- c(written, paste0("reducedDim '", slots$reducedDim, "'"))
    }
    SingleCellExperiment::reducedDim(x, slots$reducedDim) <- latent
    stored <- S4Vectors::metadata(x)$tessella
    stored[[name]] <- result$provenance
    S4Vectors::metadata(x)$tessella <- stored
    list(x = x, written = c(written,
        paste0("metadata(x)$tessella$", name)))
}

# Seurat forbids underscores in feature names; say what was renamed.
.seuratFeatures <- function(genes, name) {
    safe <- gsub("_", "-", genes, fixed = TRUE)
    if (any(safe != genes)) {
        .tessellaMessage(sum(safe != genes), " gene name(s) with '_' renamed ",
            "with '-' in the '", name, "' assay (Seurat does not allow '_').")
    }
    safe
}

.seuratAssay <- function(values) {
    if (utils::packageVersion("SeuratObject") >= "5.0.0") {
        return(getExportedValue("SeuratObject", "CreateAssay5Object")(
            data = values))
    }
    SeuratObject::CreateAssayObject(data = values)
}

.seuratSlots <- function(name) {
    list(assay = name, reduction = paste0("TESSELLA_", name))
}

# A key (alphanumeric, then "_") no other assay or reduction of x uses, so
# Seurat neither warns nor changes it; the slots being replaced give theirs up.
.freeKey <- function(x, stem, replacing) {
    keys <- SeuratObject::Key(x)
    keys <- keys[setdiff(names(keys), replacing)]
    stem <- gsub("[^[:alnum:]]", "", stem)
    key <- paste0(stem, "_")
    i <- 1
    while (key %in% keys) {
        i <- i + 1
        key <- paste0(stem, i, "_")
    }
    key
}

.checkFreeSeurat <- function(x, slots, name) {
    if (name %in% names(SeuratObject::Misc(x, slot = "tessella"))) {
        return(invisible(NULL))
    }
    taken <- c(
        if (slots$assay %in% SeuratObject::Assays(x))
            paste0("an assay '", slots$assay, "'"),
        if (slots$reduction %in% SeuratObject::Reductions(x))
            paste0("a reduction '", slots$reduction, "'"))
    if (length(taken)) {
        .tessellaStop("x already has ", paste(taken, collapse = " and "),
            " not made by tessella; store the result under another name ",
            "with name = .")
    }
}

# The assay of one result: values, and per gene whether it was measured and
# its reliability (NA where the method gives none). Seurat assays hold
# in-memory matrices: an HDF5-backed result is read into memory once.
.resultAssay <- function(x, result, name) {
    measured <- as.character(result$measured_genes)
    imputed <- as.character(result$imputed_genes)
    values <- rbind(result$refined, .imputedValues(result))
    if (methods::is(values, "DelayedArray")) {
        values <- as.matrix(values)
    }
    features <- .seuratFeatures(c(measured, imputed), name)
    dimnames(values) <- list(features, colnames(x))
    assay <- .seuratAssay(values)
    reliability <- c(rep(NA_real_, length(measured)),
        as.numeric(result$reliability))
    reliability[is.nan(reliability)] <- NA_real_
    assay[["measured"]] <- stats::setNames(
        rep(c(TRUE, FALSE), c(length(measured), length(imputed))), features)
    assay[["reliability"]] <- stats::setNames(reliability, features)
    assay
}

.assembleSeurat <- function(x, result, name) {
    slots <- .seuratSlots(name)
    .checkFreeSeurat(x, slots, name)
    replacing <- unlist(slots)
    assay <- .resultAssay(x, result, name)
    SeuratObject::Key(assay) <- .freeKey(x, tolower(name), replacing)
    x[[slots$assay]] <- assay
    written <- paste0("assay '", slots$assay, "'")
    if (slots$reduction %in% SeuratObject::Reductions(x)) {
        x[[slots$reduction]] <- NULL
    }
    if (!is.null(result$latent)) {
        key <- .freeKey(x, paste0("TESSELLA", name), replacing)
        x[[slots$reduction]] <- SeuratObject::CreateDimReducObject(
            embeddings = .latentMatrix(result$latent, colnames(x), key),
            key = key, assay = SeuratObject::DefaultAssay(x))
        written <- c(written, paste0("reduction '", slots$reduction, "'"))
    }
    stored <- SeuratObject::Misc(x, slot = "tessella")
    stored[[name]] <- result$provenance
    # Misc<- warns when it replaces; replacing our own entry is the point.
    misc <- methods::slot(x, "misc")
    misc[["tessella"]] <- stored
    methods::slot(x, "misc") <- misc
    list(x = x, written = c(written,
        paste0("Misc(x, \"tessella\")$", name)))
}

# Before running the engine: the name is valid and its slots are free.
.checkFree <- function(x, name) {
    name <- .checkName(name)
    if (methods::is(x, "Seurat")) {
        .checkFreeSeurat(x, .seuratSlots(name), name)
    } else if (methods::is(x, "SingleCellExperiment")) {
        .checkFreeSCE(x, .sceSlots(name), name)
    }
    name
}

# Store `result` in `x` under `name` (default: the method's name) and say
# where it went, and repeat the engine's notes (parameters it capped).
.assemble <- function(x, result, name = NULL, verbose = TRUE) {
    name <- .resultName(name, result)
    replaced <- name %in% names(if (methods::is(x, "Seurat"))
        SeuratObject::Misc(x, slot = "tessella") else
        S4Vectors::metadata(x)$tessella)
    assembled <- if (methods::is(x, "Seurat")) .assembleSeurat(x, result, name)
        else .assembleSCE(x, result, name)
    for (note in as.character(unlist(result$provenance$notes))) {
        .tessellaMessage(result$provenance$method, ": ", note)
    }
    .tessellaMessage("tessella: result '", name, "' (",
        result$provenance$method, ") ", if (replaced) "replaced in " else
        "written to ", paste(assembled$written, collapse = ", "), ".",
        verbose = verbose)
    .flagEmptyCells(assembled$x, result)
}

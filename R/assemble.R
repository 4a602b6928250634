# Engine results back into the user's object class: a copy of the input with
# new slots. Existing assays are never touched; a slot of an earlier tessella
# run is replaced, any other slot of the same name is an error.

.latentMatrix <- function(latent, cells) {
    dimnames(latent) <- list(cells, paste0("TESSELLA_", seq_len(ncol(latent))))
    latent
}

.checkFreeSCE <- function(x) {
    taken <- c(
        if ("refined" %in% SummarizedExperiment::assayNames(x)) "assay 'refined'",
        if ("imputed" %in% SingleCellExperiment::altExpNames(x)) "altExp 'imputed'",
        if ("TESSELLA" %in% SingleCellExperiment::reducedDimNames(x))
            "reducedDim 'TESSELLA'")
    if (length(taken) && is.null(S4Vectors::metadata(x)$tessella)) {
        .tessellaStop("x already has ", paste(taken, collapse = ", "),
            " not made by tessella; rename it first so it is not overwritten.")
    }
}

.assembleSCE <- function(x, result) {
    .checkFreeSCE(x)
    refined <- result$refined
    dimnames(refined) <- dimnames(x)
    SummarizedExperiment::assay(x, "refined", withDimnames = FALSE) <- refined
    genes <- as.character(result$imputed_genes)
    if (length(genes)) {
        imputed <- matrix(result$imputed, nrow = length(genes),
            dimnames = list(genes, colnames(x)))
        alt <- SingleCellExperiment::SingleCellExperiment(
            assays = list(imputed = imputed))
        SummarizedExperiment::rowData(alt)$reliability <-
            as.numeric(result$reliability)
        SingleCellExperiment::altExp(x, "imputed") <- alt
    }
    if (!is.null(result$latent)) {
        SingleCellExperiment::reducedDim(x, "TESSELLA") <-
            .latentMatrix(result$latent, colnames(x))
    }
    S4Vectors::metadata(x)$tessella <- result$provenance
    x
}

# Seurat forbids underscores in feature names; say what was renamed.
.seuratFeatures <- function(genes) {
    safe <- gsub("_", "-", genes, fixed = TRUE)
    if (any(safe != genes)) {
        .tessellaMessage(sum(safe != genes), " gene name(s) with '_' renamed ",
            "with '-' in the 'tessella' assay (Seurat does not allow '_').")
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

.assembleSeurat <- function(x, result) {
    if ("tessella" %in% SeuratObject::Assays(x) &&
        is.null(SeuratObject::Misc(x, slot = "tessella"))) {
        .tessellaStop("x already has an assay 'tessella' not made by ",
            "tessella; rename it first so it is not overwritten.")
    }
    genes <- c(as.character(result$measured_genes),
        as.character(result$imputed_genes))
    values <- rbind(result$refined,
        matrix(result$imputed, ncol = ncol(result$refined)))
    dimnames(values) <- list(.seuratFeatures(genes), colnames(x))
    x[["tessella"]] <- .seuratAssay(values)
    if (!is.null(result$latent)) {
        x[["TESSELLA"]] <- SeuratObject::CreateDimReducObject(
            embeddings = .latentMatrix(result$latent, colnames(x)),
            key = "TESSELLA_", assay = "tessella")
    }
    SeuratObject::Misc(x, slot = "tessella") <- result$provenance
    x
}

.assemble <- function(x, result) {
    if (methods::is(x, "Seurat")) {
        return(.assembleSeurat(x, result))
    }
    .assembleSCE(x, result)
}

#' Gene vectors from co-expression in an expression atlas
#'
#' `refineSpatial()` imputes a gene from the measured genes whose vectors
#' resemble its own. Protein-language vectors (ESM-2) say little about which
#' genes are expressed together; vectors from the principal axes of an
#' scRNA-seq atlas say it directly. Each atlas cell is library-size
#' normalised and log1p'd, each gene standardised, and a gene's vector is its
#' loadings on the top principal axes scaled by their singular values (the
#' cosine of two genes' vectors is their correlation over those axes).
#'
#' @param reference A SingleCellExperiment or Seurat object (cells as
#'   columns, genes as rows): the atlas. Never modified.
#' @param genes Genes to make vectors for; `NULL` takes every gene. Give the
#'   slide's genes and the genes to impute to keep a large atlas small.
#' @param nComponents Length of the vectors (at most the number of genes, and
#'   of cells minus one).
#' @param assay Assay (SCE) or layer of the default assay (Seurat) holding raw
#'   counts or log-normalised values.
#' @param maxCells Cells read (a seeded random sample above it).
#' @param seed Seed of the cell sample.
#'
#' @return A numeric matrix, genes x components, gene names as rownames, to
#'   pass as `embeddings =` to [refineSpatial()]. Genes that do not vary in
#'   the atlas get no vector (a message names them).
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     atlas <- exampleSpatial(seed = 2)
#'     vectors <- coexpressionEmbeddings(atlas, nComponents = 10)
#'     dim(vectors)
#'     sce <- exampleSpatial()
#'     sce <- refineSpatial(sce[1:20, ], vectors, genes = rownames(sce)[21:25],
#'         max_epochs = 5, verbose = FALSE)
#' }
coexpressionEmbeddings <- function(reference, genes = NULL, nComponents = 50,
    assay = "counts", maxCells = 20000, seed = 0) {
    parts <- .objectParts(reference, assay, "reference")
    options <- .engineOptions(genes = genes, n_components = nComponents,
        max_cells = maxCells, seed = seed)
    result <- .runEngine("coexpression", parts, options = options)
    values <- as.matrix(result$values)
    dimnames(values) <- list(unlist(result$genes),
        paste0("PC", seq_len(ncol(values))))
    values
}

#' tessella: impute and denoise genes in spatial transcriptomics
#'
#' Runs the tessella Python engine on SpatialExperiment, SingleCellExperiment
#' and Seurat objects and returns the same objects enriched.
#'
#' Main functions: [refineSpatial()] (reference-free, gene embeddings),
#' [imputeSpatial()] (from a single-cell reference), [benchmarkImputation()]
#' (k-fold over genes), [tessellaMethods()], [readH5adSpatial()]. The engine's
#' Python is the one chosen with `options(tessella.python = ...)` or
#' `TESSELLA_PYTHON`, else the one recorded at install (`make setup`), else
#' the declared basilisk environment ([tessellaPythonRequirements()]);
#' [tessellaPython()] says which and why.
#'
#' @keywords internal
#' @importClassesFrom Matrix dgCMatrix
"_PACKAGE"

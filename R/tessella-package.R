#' tessella: impute and denoise genes in spatial transcriptomics
#'
#' Runs the tessella Python engine on SpatialExperiment, SingleCellExperiment
#' and Seurat objects and returns the same objects enriched.
#'
#' Main functions: [refineSpatial()] (reference-free, gene embeddings),
#' [imputeSpatial()] (from a single-cell reference), [benchmarkImputation()]
#' (k-fold over genes), [tessellaMethods()]. The Python environment is declared
#' once (a basilisk environment with [tessellaPythonRequirements()]); set
#' `TESSELLA_PYTHON` or `options(tessella.python = ...)` to use an existing one.
#'
#' @keywords internal
#' @importClassesFrom Matrix dgCMatrix
"_PACKAGE"

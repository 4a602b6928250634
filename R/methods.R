#' Imputation methods the engine offers
#'
#' Lists the methods registered in the Python engine, so the R package never
#' keeps its own copy of the list.
#'
#' @return A data.frame with columns `method`, `summary`,
#'   `requires_reference` and `requires_embeddings`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     tessellaMethods()
#' }
tessellaMethods <- function() {
    as.data.frame(.runPython(.engineMethods))
}

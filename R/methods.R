#' Imputation methods the engine offers, and their hyper-parameters
#'
#' Lists the methods registered in the Python engine, so the R package never
#' keeps its own copy of the list; with `parameters = TRUE`, each method's
#' hyper-parameters (the `...` of [imputeSpatial()] and [refineSpatial()]).
#'
#' Each value is checked when the method is built: one outside its `range`
#' is an error naming the parameter and the range (for `k = 0`: "parameter
#' 'k' must be >= 1, got 0"). Limits set by the data are applied when
#' fitting: `k` above the number of reference cells, or knn's
#' `n_components` above the shared genes (or reference cells) less one, is
#' capped, with a message when the value was chosen (a default is capped
#' silently); the result's provenance keeps the message in `notes`.
#'
#' @param parameters `FALSE`: one row per method. `TRUE`: one row per
#'   (method, hyper-parameter). `seed`, `device` and `verbose`, which every
#'   method takes as arguments, are not listed.
#'
#' @return A data.frame. Methods: columns `method`, `summary`,
#'   `requires_reference`, `requires_embeddings`, `available` (FALSE for a
#'   peer whose Python package is not installed) and `install` (the command
#'   that installs it, e.g. `pip install 'tessella[peers]'`). Parameters: columns
#'   `method`, `parameter`, `type`, `default` (as text; `NULL` means the method
#'   chooses from the data or the device), `range` and `meaning`.
#' @export
#' @examples
#' if (nzchar(Sys.getenv("TESSELLA_PYTHON"))) {
#'     tessellaMethods()
#'     params <- tessellaMethods(parameters = TRUE)
#'     params[params$method == "knn", c("parameter", "default", "range")]
#' }
tessellaMethods <- function(parameters = FALSE) {
    if (!isTRUE(parameters)) {
        return(as.data.frame(.runPython(.engineMethods)))
    }
    table <- as.data.frame(.runPython(.engineParameters))
    table$default <- .rDefaults(as.character(table$default))
    table
}

.engineParameters <- function() {
    parts <- reticulate::import("tessella.parts")
    .engineGuard(parts$methods_parts(parameters = TRUE))
}

# Python's spelling of defaults as R users type them.
.rDefaults <- function(values) {
    spelled <- c(None = "NULL", True = "TRUE", False = "FALSE")
    hit <- values %in% names(spelled)
    values[hit] <- spelled[values[hit]]
    values
}

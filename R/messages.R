# User-facing messages go through these helpers: one place for their form.

.tessellaStop <- function(...) {
    stop(paste0(...), call. = FALSE)
}

.tessellaMessage <- function(..., verbose = TRUE) {
    if (isTRUE(verbose)) {
        message(paste0(...))
    }
    invisible(NULL)
}

.fixPython <- function() {
    paste0(
        "Fix: point the environment variable TESSELLA_PYTHON (or ",
        "options(tessella.python = ...)) at the python of an environment that ",
        "has the tessella engine installed, e.g. '.venv/bin/python' after ",
        "`make setup` in the tessella source tree; tessellaPythonRequirements() ",
        "lists the exact pins for such an environment."
    )
}

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
        "Fix: run `make setup` in the tessella source tree (it installs this ",
        "package and records its Python), or point ",
        "options(tessella.python = ...) or the environment variable ",
        "TESSELLA_PYTHON at the python of an environment with the tessella ",
        "engine (an absolute path, e.g. ",
        "'/path/to/tessella/.venv/bin/python'); ",
        "tessellaPythonRequirements() lists the exact pins for such an ",
        "environment. tessellaPython() shows which Python is in use and why."
    )
}

# An engine failure that is not an input error: tessella's bug, with the
# Python traceback; no advice about the Python environment, which is fine.
.internalErrorMessage <- function(traceback) {
    paste0("tessella hit an internal error: this is a bug in tessella ",
        utils::packageVersion("tessella"), ", not a problem with your data. ",
        "Please report it, with the Python traceback below and the output ",
        "of sessionInfo() and tessellaPython().\n", traceback)
}

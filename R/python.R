#' Python requirements of the tessella engine
#'
#' The exact versions the engine is tested with, one pip requirement per
#' element (the engine's own; the file also pins the Python-side R bridge,
#' which is never used from R). The same list declares the basilisk environment, so a reticulate
#' user can build an equivalent environment with
#' `pip install -r system.file("requirements.txt", package = "tessella")`
#' (install `torch` from a CPU or CUDA wheel of the pinned version first) and
#' the engine from the package's `engine` folder.
#'
#' @return A character vector of pip requirements such as `"numpy==1.26.4"`.
#' @export
#' @examples
#' tessellaPythonRequirements()
tessellaPythonRequirements <- function() {
    path <- system.file("requirements.txt", package = "tessella")
    lines <- trimws(readLines(path, warn = FALSE))
    extras <- which(startsWith(lines, "# ---- extras"))
    if (length(extras)) {
        lines <- lines[seq_len(extras[1] - 1)]
    }
    lines[nzchar(lines) & !startsWith(lines, "#")]
}

# The declared environment: Python 3.11, the pinned packages and the engine
# shipped in the package's `engine` folder. Built by basilisk on first use.
.tessellaEnvironment <- function() {
    basilisk::BasiliskEnvironment(
        envname = "tessella_env", pkgname = "tessella",
        packages = "python==3.11", pip = tessellaPythonRequirements(),
        paths = "engine"
    )
}

# The python chosen by the user, or NULL: options(tessella.python) first,
# then the TESSELLA_PYTHON environment variable; a venv folder is accepted.
.pythonOverride <- function() {
    path <- getOption("tessella.python", Sys.getenv("TESSELLA_PYTHON", ""))
    if (!nzchar(path)) {
        return(NULL)
    }
    if (dir.exists(path)) {
        path <- file.path(path, "bin", "python")
    }
    if (!file.exists(path)) {
        .tessellaStop("The tessella Python '", path, "' does not exist. ",
            .fixPython())
    }
    # Not normalizePath(path): a venv's python is a symlink to the base
    # interpreter, and following it would leave the venv.
    file.path(normalizePath(dirname(path)), basename(path))
}

# basilisk 1.10 runs an existing environment only when it looks like a conda
# one (conda-meta/) and BASILISK_EXTERNAL_CONDA names a conda stand-in; newer
# basilisk (>= 1.22) runs pip virtual environments as they are.
.basiliskCanRun <- function(envdir) {
    if (utils::packageVersion("basilisk") >= "1.22.0") {
        return(TRUE)
    }
    dir.exists(file.path(envdir, "conda-meta")) &&
        nzchar(Sys.getenv("BASILISK_EXTERNAL_CONDA"))
}

.runBasilisk <- function(env, fun, ...) {
    tryCatch(
        basilisk::basiliskRun(env = env, fun = fun, ..., shared = FALSE,
            fork = FALSE),
        error = function(err) {
            .tessellaStop("tessella could not run its Python environment: ",
                conditionMessage(err), "\n", .fixPython())
        }
    )
}

.runReticulate <- function(python, fun, ...) {
    if (reticulate::py_available(initialize = FALSE)) {
        active <- reticulate::py_config()$python
        if (normalizePath(active) != normalizePath(python)) {
            .tessellaStop("This R session already runs Python '", active,
                "'; tessella is set to use '", python, "'. Restart R, or point ",
                "TESSELLA_PYTHON at the Python already in use.")
        }
    }
    reticulate::use_python(python, required = TRUE)
    # reticulate 1.28 takes any pyproject.toml above the working directory for a
    # Poetry project (and warns); point its project option at a folder without one.
    if (is.null(getOption("reticulate.poetry.project"))) {
        old <- options(reticulate.poetry.project = tempdir())
        on.exit(options(old), add = TRUE)
    }
    if (!reticulate::py_module_available("tessella.parts")) {
        .tessellaStop("The Python '", python, "' has no tessella engine. ",
            .fixPython())
    }
    fun(...)
}

# The one runner every Python call goes through. `fun` receives plain R
# objects and returns plain R objects: no Python reference crosses back.
.runPython <- function(fun, ...) {
    python <- .pythonOverride()
    if (is.null(python)) {
        return(.runBasilisk(.tessellaEnvironment(), fun, ...))
    }
    envdir <- dirname(dirname(python))
    if (.basiliskCanRun(envdir)) {
        return(.runBasilisk(envdir, fun, ...))
    }
    .runReticulate(python, fun, ...)
}

# Runs in the Python environment's R process: call the engine on parts.
.engineCall <- function(verb, spatial, reference, embeddings, options) {
    parts <- reticulate::import("tessella.parts")
    parts$run_parts(verb, spatial, reference, embeddings, options)
}

.engineMethods <- function() {
    reticulate::import("tessella.parts")$methods_parts()
}

.engineReadH5ad <- function(path) {
    reticulate::import("tessella.parts")$read_h5ad_parts(path)
}

# Run one verb of the engine and turn its input errors into R errors.
.runEngine <- function(verb, spatial, reference = NULL, embeddings = NULL,
    options = list()) {
    result <- .runPython(.engineCall, verb = verb, spatial = spatial,
        reference = reference, embeddings = embeddings, options = options)
    if (!is.null(result$error)) {
        .tessellaStop(result$error)
    }
    result
}

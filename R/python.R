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

#' Which Python the tessella engine runs in, and why
#'
#' The engine's Python is chosen in this order:
#' 1. `options(tessella.python = ...)`, then the environment variable
#'    `TESSELLA_PYTHON` (the python of an environment, or its folder);
#' 2. the Python recorded when the package was installed (`make setup` in the
#'    tessella source tree writes its venv's python into the installed
#'    package, file `engine-python`);
#' 3. the declared basilisk environment ([tessellaPythonRequirements()]),
#'    built on first use (needs conda and the network once).
#'
#' `options(tessella.python = "basilisk")` skips 1 and 2. A chosen or
#' recorded Python that no longer exists (e.g. the source tree was moved or
#' deleted) is reported with the fix here, and is never used.
#'
#' @return A list: `python` (path, `NA` for the declared basilisk
#'   environment), `source` (why it was chosen), `route` (`"reticulate"`: in
#'   this R session; `"basilisk"`: in a separate R process), `exists`
#'   (whether the python is there) and `problem` (`NA`, or what is wrong and
#'   how to fix it).
#' @export
#' @examples
#' tessellaPython()
tessellaPython <- function() {
    choice <- .pythonChoice()
    route <- if (is.na(choice$python)) "basilisk" else
        if (.basiliskCanRun(dirname(dirname(choice$python)))) "basilisk" else
            "reticulate"
    c(choice[c("python", "source")], list(route = route,
        exists = is.na(choice$python) || file.exists(choice$python),
        problem = choice$problem))
}

# The file in the installed package that holds the python recorded at install.
.recordedFile <- function() {
    file.path(system.file(package = "tessella"), "engine-python")
}

.recordedPython <- function() {
    path <- .recordedFile()
    if (!file.exists(path)) {
        return(NA_character_)
    }
    lines <- trimws(readLines(path, warn = FALSE))
    lines <- lines[nzchar(lines)]
    if (length(lines)) lines[1] else NA_character_
}

# A venv folder stands for its bin/python. Not normalizePath(path): a venv's
# python is a symlink to the base interpreter, and following it would leave
# the venv.
.pythonPath <- function(path) {
    if (dir.exists(path)) {
        path <- file.path(path, "bin", "python")
    }
    if (!file.exists(path)) {
        return(path)
    }
    file.path(normalizePath(dirname(path)), basename(path))
}

# The python to use (NA: the declared basilisk environment), where the choice
# came from, and a problem (NA when none).
.pythonChoice <- function(recorded = .recordedPython()) {
    option <- getOption("tessella.python")
    variable <- Sys.getenv("TESSELLA_PYTHON", "")
    if (!is.null(option) && nzchar(option)) {
        path <- option
        source <- "options(tessella.python)"
    } else if (nzchar(variable)) {
        path <- variable
        source <- "environment variable TESSELLA_PYTHON"
    } else if (!is.na(recorded)) {
        path <- recorded
        source <- paste0("recorded at install (", .recordedFile(), ")")
    } else {
        path <- "basilisk"
        source <- "no Python chosen or recorded at install"
    }
    if (identical(path, "basilisk")) {
        return(list(python = NA_character_, source = paste0(source,
            ": the declared basilisk environment"), problem = NA_character_))
    }
    path <- .pythonPath(path)
    problem <- if (file.exists(path)) NA_character_ else
        .missingPython(path, source)
    list(python = path, source = source, problem = problem)
}

.missingPython <- function(path, source) {
    if (startsWith(source, "recorded")) {
        return(paste0("The tessella Python recorded at install, '", path,
            "', does not exist any more (was the tessella source tree moved ",
            "or deleted?). ", .fixPython()))
    }
    paste0("The tessella Python '", path, "' (", source, ") does not exist. ",
        .fixPython())
}

# The python to run: NULL for the declared basilisk environment. A python
# that does not exist stops here, with the fix.
.pythonOverride <- function() {
    choice <- .pythonChoice()
    if (!is.na(choice$problem)) {
        .tessellaStop(choice$problem)
    }
    if (is.na(choice$python)) NULL else choice$python
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

# An error out of a route is the environment's failure: the Python could not
# start, or the engine could not be imported. The engine's own failures come
# back as a value (.engineGuard()), never as an error.
.environmentFailure <- function(err) {
    .tessellaStop("tessella could not run its Python environment: ",
        conditionMessage(err), "\n", .fixPython())
}

.runBasilisk <- function(env, fun, ...) {
    tryCatch(
        basilisk::basiliskRun(env = env, fun = fun, ..., shared = FALSE,
            fork = FALSE),
        error = .environmentFailure
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
    tryCatch(fun(...), error = .environmentFailure)
}

# The one runner every Python call goes through. `fun` receives plain R
# objects and returns plain R objects: no Python reference crosses back.
# An engine failure that `fun` returned through .engineGuard() stops here as
# tessella's bug.
.runPython <- function(fun, ...) {
    result <- .runPythonRoute(fun, ...)
    if (is.list(result) && !is.null(result$tessellaInternalError)) {
        .tessellaStop(.internalErrorMessage(result$tessellaInternalError))
    }
    result
}

.runPythonRoute <- function(fun, ...) {
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

# Runs where the engine runs, once the engine module is imported (an import
# that fails is the environment's failure, reported with .fixPython()): the
# value of `expr`, or, when the engine fails, its Python traceback as
# list(tessellaInternalError = text). An input error is not a failure: the
# engine returns it as list(error = ...). Coming back as a value, the
# engine's bugs are never mistaken for environment failures by basilisk.
.engineGuard <- function(expr) {
    reticulate::py_clear_last_error()
    tryCatch(expr, error = function(err) {
        list(tessellaInternalError = .pythonErrorText(err))
    })
}

# The Python traceback of the last Python exception (reticulate), else the
# R error message.
.pythonErrorText <- function(err) {
    last <- tryCatch(reticulate::py_last_error(), error = function(e) NULL)
    text <- if (!is.null(last)) last$message
    if (is.character(text) && length(text) == 1 && nzchar(text)) {
        return(text)
    }
    conditionMessage(err)
}

# Runs in the Python environment's R process: call the engine on parts.
.engineCall <- function(verb, spatial, reference, embeddings, options) {
    parts <- reticulate::import("tessella.parts")
    .engineGuard(parts$run_parts(verb, spatial, reference, embeddings,
        options))
}

.engineMethods <- function() {
    parts <- reticulate::import("tessella.parts")
    .engineGuard(parts$methods_parts())
}

.engineReadH5ad <- function(path) {
    h5ad <- reticulate::import("tessella.h5ad")
    .engineGuard(h5ad$read_h5ad_parts(path))
}

# Run one verb of the engine and turn its input errors into R errors.
.runEngine <- function(verb, spatial, reference = NULL, embeddings = NULL,
    options = list()) {
    # input errors come back worded for R users (assay =, subset())
    options$audience <- "R"
    if (verb %in% c("refine", "impute", "predict")) {
        options <- c(options, .hdf5Options())
    }
    result <- .runPython(.engineCall, verb = verb, spatial = spatial,
        reference = reference, embeddings = embeddings, options = options)
    if (!is.null(result$error)) {
        .tessellaStop(result$error)
    }
    .readResultFile(result)
}

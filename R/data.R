#' Path of a file among tessella's real data sets
#'
#' The data sets (osmFISH, Visium, MOB, ...) live outside the package, in a
#' folder chosen by `options(tessella.data = ...)`, else the environment
#' variable `TESSELLA_DATA_DIR`, else the folder recorded when the package
#' was installed (`make setup` records `../shared/data` of the source tree).
#'
#' @param ... Path components below the data folder, e.g. `"osmfish"`,
#'   `"osmfish_spatial.h5ad"`.
#'
#' @return The absolute path of the file (an error, with the fix, when the
#'   folder or the file is not there).
#' @export
#' @examples
#' if (!inherits(try(tessellaDataFile(), silent = TRUE), "try-error")) {
#'     tessellaDataFile("visium_subset", "visium_mouse_brain.h5ad")
#' }
tessellaDataFile <- function(...) {
    root <- .dataDir()
    path <- file.path(root, ...)
    if (!file.exists(path)) {
        .tessellaStop("'", path, "' does not exist in the tessella data ",
            "folder (", root, ").")
    }
    normalizePath(path)
}

.dataDir <- function() {
    recorded <- file.path(system.file(package = "tessella"), "data-dir")
    candidates <- c(getOption("tessella.data", ""),
        Sys.getenv("TESSELLA_DATA_DIR", ""),
        if (file.exists(recorded)) readLines(recorded, warn = FALSE)[1] else "")
    candidates <- candidates[nzchar(candidates)]
    if (!length(candidates)) {
        .tessellaStop("No tessella data folder: set options(tessella.data = ",
            "...) or TESSELLA_DATA_DIR to the folder of the data sets (in the ",
            "tessella project: ../shared/data), or run `make setup`, which ",
            "records it.")
    }
    if (!dir.exists(candidates[1])) {
        .tessellaStop("The tessella data folder '", candidates[1], "' does ",
            "not exist; set options(tessella.data = ...) or TESSELLA_DATA_DIR.")
    }
    candidates[1]
}

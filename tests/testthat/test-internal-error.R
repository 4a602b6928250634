# An engine failure that is not an input error is a bug in tessella: it
# reaches R as an internal error with the Python traceback and a request to
# report it, never as advice about the Python environment, which only
# environment failures get. Input errors stay one line in R terms.

expectBug <- function(message, what) {
    expect_match(message, "internal error: this is a bug in tessella")
    expect_match(message, "Please report it")
    expect_match(message, "Traceback (most recent call last)", fixed = TRUE)
    expect_match(message, what, fixed = TRUE)
    expect_false(grepl("TESSELLA_PYTHON|could not run its Python environment",
        message))
}

# The engine asked for a verb it does not have: a mistake on the R side that
# the engine refuses with a plain ValueError (an invariant, not an input
# error), through the package's own engine path (.runEngine, .runPython, the
# route, tessella.parts.run_parts).
unknownVerbMessage <- function() {
    sce <- exampleSpatial(nCells = 30, nGenes = 8, seed = 1)
    spatial <- tessella:::.objectParts(sce, "counts", "x")
    err <- tryCatch(tessella:::.runEngine("no-such-verb", spatial),
        error = identity)
    expect_s3_class(err, "error")
    conditionMessage(err)
}

withVariable <- function(name, value, code) {
    old <- Sys.getenv(name, unset = NA)
    if (is.na(value)) Sys.unsetenv(name) else
        do.call(Sys.setenv, stats::setNames(list(value), name))
    on.exit(if (is.na(old)) Sys.unsetenv(name) else
        do.call(Sys.setenv, stats::setNames(list(old), name)))
    force(code)
}

test_that("an engine bug is an internal error with its traceback", {
    skipWithoutEngine()
    expectBug(unknownVerbMessage(), "ValueError: unknown verb 'no-such-verb'")
})

test_that("through basilisk too, an engine bug is not an environment failure", {
    skipWithoutEngine()
    envdir <- dirname(dirname(tessellaPython()$python))
    if (utils::packageVersion("basilisk") < "1.22.0" &&
        !dir.exists(file.path(envdir, "conda-meta"))) {
        skip(paste("basilisk", utils::packageVersion("basilisk"), "needs the",
            "conda stand-in (scripts/conda-standin.sh) to run a venv"))
    }
    withVariable("BASILISK_EXTERNAL_CONDA", envdir, {
        expect_identical(tessellaPython()$route, "basilisk")
        expectBug(unknownVerbMessage(),
            "ValueError: unknown verb 'no-such-verb'")
    })
})

test_that("an environment without the engine gets the environment advice", {
    skipWithoutEngine()
    python <- tessellaPython()$python
    envdir <- dirname(dirname(python))
    skip_if(utils::packageVersion("basilisk") >= "1.22.0" ||
        !dir.exists(file.path(envdir, "conda-meta")),
        "needs basilisk 1.10's conda stand-in to run a bare environment")
    bare <- tempfile("bare-env")
    system2(python, c("-m", "venv", "--without-pip", shQuote(bare)))
    dir.create(file.path(bare, "conda-meta"))
    old <- options(tessella.python = bare)
    on.exit(options(old))
    withVariable("BASILISK_EXTERNAL_CONDA", envdir, {
        err <- tryCatch(tessellaMethods(), error = identity)
    })
    expect_match(conditionMessage(err),
        "could not run its Python environment.*TESSELLA_PYTHON")
    expect_false(grepl("internal error", conditionMessage(err)))
})

# Loaded at the start of the engine's Python (first on PYTHONPATH): once
# tessella.parts is imported, its result_to_parts raises a KeyError, as a bug
# deep in the engine would. Nothing in the package knows about it.
breakEngine <- '
import importlib.abc
import importlib.util
import sys


def _broken(result):
    raise KeyError("deliberate internal error (test)")


class _BreakParts(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tessella.parts":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def run_then_break(module):
            run(module)
            module.result_to_parts = _broken

        spec.loader.exec_module = run_then_break
        return spec


sys.meta_path.insert(0, _BreakParts())
'

brokenScript <- '
suppressPackageStartupMessages(library(tessella))
sce <- exampleSpatial(nCells = 40, nGenes = 10, seed = 1)
problem <- function(expr) tryCatch({
    expr
    "no error"
}, error = conditionMessage)
bad <- sce[1:6, ]
SummarizedExperiment::assay(bad, "counts")[1, 1] <- -1
saveRDS(list(
    route = tessellaPython()$route,
    bug = problem(imputeSpatial(sce[1:6, ], sce, method = "mean",
        verbose = FALSE)),
    input = problem(imputeSpatial(bad, sce, method = "mean",
        verbose = FALSE))), commandArgs(trailingOnly = TRUE)[1])
'

test_that("a bug deep in the engine reaches imputeSpatial() as a bug", {
    skipWithoutEngine()
    skip_if(nzchar(Sys.getenv("_R_CHECK_PACKAGE_NAME_")),
        "R CMD check installs the package into a library of its own")
    dir <- tempfile("broken")
    dir.create(dir)
    writeLines(breakEngine, file.path(dir, "sitecustomize.py"))
    writeLines(brokenScript, file.path(dir, "broken.R"))
    out <- file.path(dir, "out.rds")
    # reticulate's route: basilisk unsets PYTHONPATH in its worker
    output <- suppressWarnings(system2(Sys.which("env"), c(
        "-u", "BASILISK_EXTERNAL_CONDA", "-u", "RETICULATE_PYTHON",
        paste0("TESSELLA_PYTHON=", tessellaPython()$python),
        paste0("PYTHONPATH=", dir), "OMP_NUM_THREADS=1",
        "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1",
        file.path(R.home("bin"), "Rscript"), file.path(dir, "broken.R"), out),
        stdout = TRUE, stderr = TRUE))
    expect_true(file.exists(out), info = paste(output, collapse = "\n"))
    res <- readRDS(out)
    expect_identical(res$route, "reticulate")
    expectBug(res$bug, "KeyError: 'deliberate internal error (test)'")
    expect_match(res$bug, "in _broken", fixed = TRUE)
    expect_match(res$input, "^x contains negative values")
    expect_false(grepl("\n", res$input, fixed = TRUE))
    expect_false(grepl("internal error|Traceback", res$input))
})

# Which Python runs the engine: option / TESSELLA_PYTHON, then the one
# recorded at install, then the declared basilisk environment.

withoutChoice <- function(code) {
    old <- options(tessella.python = NULL)
    variable <- Sys.getenv("TESSELLA_PYTHON", unset = NA)
    Sys.unsetenv("TESSELLA_PYTHON")
    on.exit({
        options(old)
        if (!is.na(variable)) Sys.setenv(TESSELLA_PYTHON = variable)
    })
    force(code)
}

test_that("tessellaPython() reports the python, where it came from and why", {
    info <- tessellaPython()
    expect_named(info, c("python", "source", "route", "exists", "problem"))
    expect_true(info$route %in% c("reticulate", "basilisk"))
    old <- options(tessella.python = "basilisk")
    on.exit(options(old))
    declared <- tessellaPython()
    expect_true(is.na(declared$python))
    expect_identical(declared$route, "basilisk")
    expect_match(declared$source, "declared basilisk environment")
})

test_that("the option wins over the variable, the variable over the record", {
    python <- tessellaPython()$python
    skip_if(is.na(python) || !file.exists(python), "no tessella Python")
    withoutChoice({
        Sys.setenv(TESSELLA_PYTHON = python)
        choice <- tessella:::.pythonChoice(recorded = "/gone/bin/python")
        expect_identical(choice$python, python)
        expect_match(choice$source, "TESSELLA_PYTHON")
        options(tessella.python = dirname(dirname(python)))
        choice <- tessella:::.pythonChoice(recorded = "/gone/bin/python")
        expect_identical(choice$python, python)
        expect_match(choice$source, "options")
    })
})

test_that("the engine recorded at install is used without any variable", {
    python <- tessellaPython()$python
    skip_if(is.na(python) || !file.exists(python), "no tessella Python")
    withoutChoice({
        choice <- tessella:::.pythonChoice(recorded = python)
        expect_identical(choice$python, python)
        expect_match(choice$source, "recorded at install")
        expect_true(is.na(choice$problem))
    })
})

test_that("a recorded engine that is gone is reported with the fix", {
    withoutChoice({
        choice <- tessella:::.pythonChoice(
            recorded = "/gone/tessella/.venv/bin/python")
        expect_match(choice$problem,
            "recorded at install.*does not exist any more")
        expect_match(choice$problem, "make setup")
        expect_match(choice$problem, "TESSELLA_PYTHON")
        none <- tessella:::.pythonChoice(recorded = NA_character_)
        expect_true(is.na(none$python))
        expect_match(none$source, "basilisk")
    })
})

test_that("a missing chosen python stops every engine call with the fix", {
    old <- options(tessella.python = "/nonexistent/bin/python")
    on.exit(options(old))
    expect_false(tessellaPython()$exists)
    expect_error(readH5adSpatial(tempfile()), "does not exist")
    expect_error(tessellaMethods(), "does not exist.*make setup")
})

test_that("the data folder is found, or its absence explained", {
    old <- options(tessella.data = tempdir())
    on.exit(options(old))
    expect_error(tessellaDataFile("nope.h5ad"),
        "does not exist in the tessella")
    options(tessella.data = file.path(tempdir(), "no-such-folder"))
    expect_error(tessellaDataFile("x"), "data folder .* does not exist")
})

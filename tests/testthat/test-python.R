test_that("the pins are exact and include the pins that matter", {
    pins <- tessellaPythonRequirements()
    expect_true(all(grepl("==", pins, fixed = TRUE)))
    expect_true("numpy==1.26.4" %in% pins)
    expect_true("torch==2.13.0" %in% pins)
    expect_false(any(startsWith(pins, "rpy2")))
})

test_that("a missing Python is reported with the fix", {
    withr_opts <- options(tessella.python = "/nonexistent/bin/python")
    on.exit(options(withr_opts))
    expect_error(tessellaMethods(), "does not exist.*TESSELLA_PYTHON")
})

test_that("a Python folder without an interpreter is refused", {
    empty <- tempfile("venv")
    dir.create(empty)
    old <- options(tessella.python = empty)
    on.exit(options(old))
    expect_error(tessellaMethods(), "does not exist")
})

test_that("methods come from the engine registry", {
    skipWithoutEngine()
    methods <- tessellaMethods()
    expect_true(all(c("refine", "knn", "mean") %in% methods$method))
    expect_true(methods$requires_embeddings[methods$method == "refine"])
})

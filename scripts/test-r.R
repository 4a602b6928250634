# Runs the R package's testthat suite against the installed package and ends
# with one summary line; exits non-zero when a test fails.
results <- as.data.frame(testthat::test_dir(
    "tests/testthat", package = "tessella", load_package = "installed",
    stop_on_failure = FALSE))
failed <- results$failed > 0 | results$error
skipped <- results$skipped & !failed
passed <- !failed & !skipped
cat(sprintf("testthat: %d passed, %d failed, %d skipped\n", sum(passed),
    sum(failed), sum(skipped)))
quit(status = if (any(failed)) 1 else 0)

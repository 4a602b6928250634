library(testthat)
library(tessella)

test_check("tessella")

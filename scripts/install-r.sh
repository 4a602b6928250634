#!/usr/bin/env bash
# Installs the tessella R package into an R library and records, inside the
# installed package, the Python engine it goes with (file `engine-python`), so
# that library(tessella) in any R session finds the engine without a variable
# (and, when TESSELLA_DATA_DIR is set, the folder of the real data sets).
#
#   scripts/install-r.sh PYTHON [LIBRARY]
#
# LIBRARY defaults to R's default library: the first entry of .libPaths() of
# a plain Rscript when it is writable, else R_LIBS_USER (created; R adds it to
# .libPaths() once it exists). The log of R CMD INSTALL goes to
# build/r-install.log and is shown only on failure.
set -euo pipefail
python=${1:?usage: install-r.sh PYTHON [LIBRARY]}
library=${2:-}
case "$python" in
    /*) ;;
    *) python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")" ;;
esac
test -x "$python" || { echo "error: no python at $python" >&2; exit 1; }
if [ -z "$library" ]; then
    library=$(Rscript -e '
        lib <- .libPaths()[1]
        if (file.access(lib, 2) != 0) {
            lib <- path.expand(Sys.getenv("R_LIBS_USER"))
            dir.create(lib, recursive = TRUE, showWarnings = FALSE)
        }
        cat(normalizePath(lib))')
fi
mkdir -p "$library" build
R CMD INSTALL --no-multiarch -l "$library" . > build/r-install.log 2>&1 \
    || { cat build/r-install.log; exit 1; }
printf '%s\n' "$python" > "$library/tessella/engine-python"
# The real data sets (tessellaDataFile() in R), when TESSELLA_DATA_DIR names them.
if [ -n "${TESSELLA_DATA_DIR:-}" ] && [ -d "$TESSELLA_DATA_DIR" ]; then
    (cd "$TESSELLA_DATA_DIR" && pwd) > "$library/tessella/data-dir"
fi
echo "tessella R package installed into $library (engine: $python)"

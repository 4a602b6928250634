# tessella: `make demo` and `make test` are the contract (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tessella-installed
# The R package goes into R's default library (the first writable entry of
# .libPaths(), else R_LIBS_USER); `make setup R_LIBRARY=/some/lib` picks another.
R_LIBRARY ?=
R_STAMP := $(VENV)/.tessella-r-installed
R_APT := r-base-core r-base-dev r-bioc-singlecellexperiment \
	r-bioc-summarizedexperiment r-cran-seurat r-cran-seuratobject r-cran-reticulate \
	r-bioc-basilisk r-bioc-hdf5array r-cran-testthat r-cran-matrix r-cran-roxygen2 r-cran-knitr \
	r-cran-rmarkdown r-cran-ggplot2
R_SOURCES := DESCRIPTION NAMESPACE $(wildcard R/*.R) $(wildcard inst/*.txt) \
	$(shell find python -name '*.py' 2>/dev/null)
export TESSELLA_DATA_DIR ?= $(abspath ../shared/data)
export TESSELLA_PYTHON := $(abspath $(PY))

.PHONY: setup setup-python setup-r test test-python test-r demo check-r bench-r bench-rds bench-diffusion lint clean \
	setup-peers bench-accuracy bench-pretraining bench-neighbors bench-scale bench-denoise

setup: setup-python setup-r

setup-python: $(STAMP)

setup-r: $(R_STAMP)

# Re-runs are a no-op until pyproject.toml or the pins change. R comes first:
# rpy2 (the .rds bridge) builds against it.
$(STAMP): pyproject.toml inst/requirements.txt
	scripts/install-apt.sh $(R_APT)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/install-apt.sh python3-venv
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# lets basilisk 1.10 run this venv (TESSELLA_PYTHON + BASILISK_EXTERNAL_CONDA)
	scripts/conda-standin.sh $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the local CPU wheel; never a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c inst/requirements.txt -e '.[dev,r]'
	touch $@

# Optional peer methods (tangram, gimvi, stplus) for benchmarks; not part of `setup`,
# so CI never depends on them. The pins keep torch 2.13.0 (CPU) in place. PyPI's
# torchvision (an stPlus dependency stPlus never uses) is built for CUDA torch and
# cannot load beside the CPU one, where it breaks `import scvi`: it is removed then.
setup-peers: setup-python
	$(PY) -m pip install -q -c inst/requirements.txt -e '.[peers]'
	$(PY) -c 'import torchvision' 2>/dev/null || $(PY) -m pip uninstall -y -q torchvision

# Debian's R and Bioconductor packages, then the R package into R's default
# library (or R_LIBRARY), recording this venv's python as its engine.
$(R_STAMP): $(R_SOURCES) $(STAMP)
	scripts/install-apt.sh $(R_APT)
	scripts/install-r.sh $(abspath $(PY)) $(R_LIBRARY)
	touch $@

test: test-python test-r

test-python: setup
	$(PY) -m pytest -q tests/python

test-r: setup
	Rscript scripts/test-r.R

demo: setup-python
	$(PY) scripts/demo.py --out results

# R CMD check of the built package, vignette included.
check-r: setup
	rm -rf build/r && mkdir -p build/r
	# SpatialExperiment (Suggests) is in no registry reachable here.
	cd build/r && R CMD build ../.. && _R_CHECK_FORCE_SUGGESTS_=false R CMD check --no-manual tessella_*.tar.gz

bench-r: setup
	Rscript bench/r_overhead.R

bench-rds: setup
	$(PY) bench/rds_roundtrip.py

bench-diffusion: setup
	$(PY) bench/diffusion_sampling.py

# Pretraining refine on two slides, then a small third one (issue 13's result).
bench-pretraining: setup-python
	$(PY) bench/pretraining.py --seeds 0 1 2 3 4 5 6 7 8 9

# A million cells: tessella impute per method at 100k, 300k and 1M cells (hours
# at 1M on 2 cores; time and peak RSS per run, data in results/scale).
bench-scale: setup-python
	$(PY) bench/scale.py --cells 100000,300000,1000000 --threads 2

# Neighbour-search backends: time and recall by reference size.
bench-neighbors: setup-python
	$(PY) bench/neighbors.py

# Denoising by molecular cross-validation on osmFISH and MOB (raw, smoothers,
# magic and scvi when installed, refine with and without ESM-2); one thread.
bench-denoise: setup-python
	$(PY) bench/denoise.py --threads 1

# Every method and every installed peer (make setup-peers; Seurat from R) on
# osmFISH and the breast-cancer pair, one harness; tables in results/.
bench-accuracy: setup
	$(PY) bench/accuracy_pairs.py results/pairs
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} Rscript bench/accuracy.R results/pairs results

lint: setup-python
	$(VENV)/bin/ruff check python tests scripts bench

clean:
	rm -rf $(VENV) .Rlib results build *.egg-info python/*.egg-info

# tessella: `make demo` and `make test` are the contract (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tessella-installed
export TESSELLA_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: setup test test-python demo bench lint clean

setup: $(STAMP)

# Re-runs are a no-op until pyproject.toml or constraints.txt change.
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || scripts/install-apt.sh python3-venv
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, from the local CPU wheel; never a CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

test: test-python

test-python: setup
	$(PY) -m pytest -q tests/python

demo: setup
	$(PY) scripts/demo.py --out results

bench: setup
	$(PY) bench/bench_predict.py

lint: setup
	$(VENV)/bin/ruff check python tests scripts bench

clean:
	rm -rf $(VENV) results build *.egg-info python/*.egg-info

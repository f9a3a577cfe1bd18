# Data Pipeline API — the two commands of the README are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export LC_ALL := C.UTF-8
export LANG := C.UTF-8
# Bytecode caches make every later test run and executor start-up faster (~5 s a run here).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test test-fast setup setup-dev setup-test lint format bench clean-data

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.installed          ## virtual environment with the runtime dependencies

setup-test: $(VENV)/.installed-dev ## ... plus test and lint tools

setup-dev: setup-test              ## ... and Chromium for the browser tests
	bash scripts/ensure-browser.sh

run: setup                         ## start the service (embedded PostgreSQL + demo source)
	$(PY) citu_app.py

test: setup-dev                    ## the whole test suite, against a real PostgreSQL + pgvector
	$(PY) -m pytest -q

test-fast: setup-test              ## the inner loop (< 1 min): unit and quick integration tests
	$(PY) -m pytest -q -n 2 -m "not slow" tests/unit tests/integration

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-data:                        ## remove the embedded database and task folders
	rm -rf var data_pipeline/training_data

# make test: set up .venv (Python 3.10+; 3.11 recommended), install the connector with its dev and demo extras, lint,
# run the fast tier. make test-all: the same, then the slow tier too (tests marked `slow`); CI runs make test-all.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY_SOURCES := source_courier courier_emulator unit_tests integration_tests demo bench scripts conftest.py

.PHONY: test test-all lint unit integration clean

# Tests run on pytest-xdist workers, one test file per worker at a time: module fixtures (an emulator, a
# packaged read) are set up once per file. Most tests wait on an emulator or a subprocess, so more workers than
# the 2 cores keep them busy: the fast tier on 6 (161 s against 180 s on 4 and 252 s on 2, 2026-12-05), the
# whole suite on 4, as its real-time fault tests share the cores with the rest.
PYTEST := $(BIN)/python -m pytest --dist loadfile

test: lint
	$(PYTEST) -n 6 -m "not slow"

test-all: lint
	$(PYTEST) -n 4

unit: $(STAMP)
	$(PYTEST) -n 4 unit_tests

integration: $(STAMP)
	$(PYTEST) -n 4 integration_tests

lint: $(STAMP)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy --strict source_courier/components.py
	$(BIN)/yamllint --strict source_courier/manifest.yaml metadata.yaml acceptance-test-config.yml
	$(BIN)/hadolint Dockerfile

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "Python 3.10 or newer is needed (3.11 recommended)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,demo]"
	touch $(STAMP)

# make demo: the connector through PyAirbyte into a local DuckDB cache, against the emulator (see demo/run_demo.py).
.PHONY: demo

demo: $(STAMP)
	$(BIN)/python demo/run_demo.py

# make bench: speed, memory and request economy against limits measured in the same run (see bench/__main__.py);
# writes bench/results.md. About 9 minutes on 2 cores; `$(BIN)/python -m bench --quick` tries a change in 4.
.PHONY: bench
BENCH_STAMP := $(VENV)/.installed-bench

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,demo,bench]"
	touch $(BENCH_STAMP)

# make soak: interruption and resume, 50 seeded scenarios of SIGKILL mid-sync and resume from the last state
# (see integration_tests/resume_soak.py). About 6 minutes on 2 cores; make test runs three of them.
.PHONY: soak

soak: $(STAMP)
	$(BIN)/python -m integration_tests.resume_soak --scenarios 50 --seed 1

# make builder-manifest: build/builder/manifest.yaml (schemas inlined) and build/builder/components.py, for import
# into Airbyte's Connector Builder on self-managed Airbyte; build/builder-cloud/manifest.yaml, the same without
# custom code, for Airbyte Cloud's Builder (see docs/courier.md, "Connector Builder").
.PHONY: builder-manifest

builder-manifest: $(STAMP)
	$(BIN)/python scripts/builder_manifest.py build/builder build/builder-cloud

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .demo

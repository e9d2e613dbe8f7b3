# orpr-kedro: every target creates the virtual environment it needs, with what it needs.
#   make run    runtime dependencies (first time), demo raw data when missing, kedro run
#   make test   runtime + dev extra (first time), the test suite
# Dependencies are declared in pyproject.toml by role (runtime, extras viz, docs,
# distributed, dev, tracking); constraints.txt pins every package.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --quiet -c constraints.txt
ENV ?= base
PIPELINE ?= __default__
# Optional: an index that serves the CPU torch build, for machines whose index is plain
# PyPI (where torch==2.13.0 is the CUDA build), e.g.
#   make run TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=

# Kedro telemetry stays off for this project (a committed .telemetry says the same).
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# idle OpenMP threads spin only briefly before they sleep (see src/orpr_kedro/__init__.py)
export GOMP_SPINCOUNT ?= 1000

.PHONY: install install-dev run demo-data test lint hooks viz viz-build docs bench bench-scale lock clean-data package check-wheel \
	tracking lock-tracking

# runtime: the package (editable) and what the pipelines import
$(BIN)/.installed: constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) setuptools  # the build backend of the editable install (pinned in constraints.txt)
	$(if $(TORCH_INDEX_URL),$(PIP) --no-deps --index-url $(TORCH_INDEX_URL) torch)
	$(PIP) --no-build-isolation -e .
	@touch $@

# an extra on top of the runtime: .installed-dev, .installed-viz, .installed-docs, ...
$(BIN)/.installed-%: $(BIN)/.installed
	$(PIP) --no-build-isolation -e ".[$*]"
	@touch $@

install: $(BIN)/.installed

install-dev: $(BIN)/.installed-dev

demo-data: install
	$(BIN)/kedro demo-data --env $(ENV)

run: demo-data
	$(BIN)/kedro run --env $(ENV) --pipelines $(PIPELINE)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (lint and format) on all Python, mypy on src/orpr_kedro/core (pyproject.toml)
lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# git hooks from .pre-commit-config.yaml (local hooks with the pinned tools; nothing fetched)
hooks: install-dev
	$(BIN)/pre-commit install

viz: $(BIN)/.installed-viz
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1 --port 4141

viz-build: $(BIN)/.installed-viz
	$(BIN)/kedro viz build

docs: $(BIN)/.installed-docs
	$(BIN)/mkdocs build --strict

# every benchmark but the scale one (the whole chain at 10k, 30k and 100k lanes: about two hours)
bench: install
	@for script in bench/bench_*.py; do [ "$$script" = bench/bench_scale.py ] && continue; \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench-scale: install
	$(BIN)/python bench/bench_scale.py

# re-pin from the full development environment (every extra but tracking)
lock: install-dev
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^pip==' | sed 's/+cpu$$//' > constraints.txt

# Wheel and configuration archive in dist/, built from the committed state only, so
# no uncommitted file and no conf/<env>/credentials.yml can end up in them.
package: install
	rm -rf build/package && mkdir -p build/package dist
	git archive --format=tar HEAD | tar -x -C build/package
	cd build/package && $(abspath $(BIN))/kedro package
	cp build/package/dist/* dist/

# The wheel in a clean virtual environment with the runtime dependencies only (no
# pytest, mkdocs, kedro-viz, statsmodels), running data_processing on the test env.
check-wheel: package
	.ci/check-wheel

# Optional experiment tracking (kedro-mlflow) in its own environment, so that the
# default .venv, `make run` and `make test` stay without it (docs/tracking.md).
TRACKING_VENV ?= .venv-tracking
tracking:
	@test -x $(TRACKING_VENV)/bin/python || $(PYTHON) -m venv $(TRACKING_VENV)
	$(TRACKING_VENV)/bin/python -m pip install --quiet -c constraints-tracking.txt setuptools
	$(TRACKING_VENV)/bin/python -m pip install --quiet -c constraints-tracking.txt --no-build-isolation -e ".[tracking]"

lock-tracking: tracking
	$(TRACKING_VENV)/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints-tracking.txt

clean-data:
	find data -type f ! -name .gitkeep -delete

# orpr-kedro: every target creates the virtual environment it needs.
#   make run    install (first time), generate the demo raw data when missing, kedro run
#   make test   install (first time), run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENV ?= base
PIPELINE ?= __default__

# Kedro telemetry stays off for this project (a committed .telemetry says the same).
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# idle OpenMP threads spin only briefly before they sleep (see src/orpr_kedro/__init__.py)
export GOMP_SPINCOUNT ?= 1000

.PHONY: install run demo-data test viz viz-build docs bench lint lock clean-data package tracking lock-tracking

$(BIN)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(BIN)/.installed

demo-data: install
	$(BIN)/kedro demo-data --env $(ENV)

run: demo-data
	$(BIN)/kedro run --env $(ENV) --pipelines $(PIPELINE)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

viz: install
	$(BIN)/kedro viz run --no-browser --host 127.0.0.1 --port 4141

viz-build: install
	$(BIN)/kedro viz build

docs: install
	$(BIN)/mkdocs build --strict

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' > constraints.txt

# Wheel and configuration archive in dist/, built from the committed state only, so
# no uncommitted file and no conf/<env>/credentials.yml can end up in them.
package: install
	rm -rf build/package && mkdir -p build/package dist
	git archive --format=tar HEAD | tar -x -C build/package
	cd build/package && $(abspath $(BIN))/kedro package
	cp build/package/dist/* dist/

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

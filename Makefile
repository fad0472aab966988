# Two commands do everything on a fresh machine:
#   make demo   # create/reuse .venv, install, run the main job, write out/index.html
#   make test   # create/reuse .venv, install, check style and types, run the test suite
# Both are idempotent: the install step reruns only when pyproject.toml or setup.py change.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ecocube-installed

# Data: the mirror beside this repository when present (tests, CI, demo), else the canonical
# public sources. The cache stays inside the repository (ignored by git).
ifneq ($(wildcard ../shared/data/MANIFEST.md),)
export ECOCUBE_DATA_MIRROR ?= $(abspath ../shared/data)
endif
export ECOCUBE_DATA_DIR ?= $(abspath .cache/data)
# Keep BLAS/torch from oversubscribing the 2 CPU cores of the dev/CI machines.
export OMP_NUM_THREADS ?= 2
export MPLBACKEND ?= Agg

.PHONY: install demo test lint clean services

$(STAMP): pyproject.toml setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $@

install: $(STAMP)

# System services some tests need (the STAC API backend; Chromium for the report render
# tests); idempotent.
services: install
	@bash scripts/services.sh
	@bash scripts/chromium.sh

demo: install services
	$(BIN)/ecocube demo --out out

test: install lint services
	@set +e; $(BIN)/python -m pytest -q --timeout=900 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

# Style and types; `make test` runs this first and stops on any finding.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/typecheck.py

clean:
	rm -rf out .cache build *.egg-info .pytest_cache

# Two commands from a clean clone: `make run` and `make test`. Both create .venv/ first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup run test lint bench chaos clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The main job on the embedded default (SQLite, in-process): no servers needed.
run: setup
	$(BIN)/dxcoder codeset load
	$(BIN)/dxcoder run samples/claims.csv -o .dxcoder/claims.results.csv

# The whole suite against real PostgreSQL, Redis and Celery workers.
test: setup
	scripts/ensure-services.sh
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check worker tasks tests bench celeryconfig.py
	$(BIN)/mypy worker tasks

bench: setup
	scripts/ensure-services.sh
	$(BIN)/python bench/bench_resolver.py
	$(BIN)/python bench/bench_pipeline.py

# Random faults over many concurrent jobs on throwaway servers (not part of `make test`):
# CHAOS_MINUTES (default 10), CHAOS_SEED (default 1), CHAOS_SETTLE (seconds, default 600).
chaos: setup
	scripts/ensure-services.sh
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) .dxcoder .pytest_cache

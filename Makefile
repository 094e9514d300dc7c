# Stageflow: `make run` serves a demo on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres

.PHONY: run install test test-install test-postgres bench bench-insights lint format schema screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

run: install
	$(BIN)/stageflow migrate
	$(BIN)/stageflow seed --demo
	$(BIN)/stageflow serve

test-install: $(VENV)/.installed-test

test: test-install lint
	$(BIN)/pytest

# The API and server suites again, on a PostgreSQL server (each test makes its own database).
test-postgres: test-install
	STAGEFLOW_TEST_POSTGRES=$(PG_ADMIN_URL) $(BIN)/pytest tests/api tests/e2e -m "not browser"

# Stageflow next to PostGraphile and a bare Starlette app, on PostgreSQL (PG_ADMIN_URL may
# create databases): bench/results/latest.json and latest.svg. BENCH_ARGS=--quick for a smoke run.
bench: test-install
	$(BIN)/python -m bench --admin-url $(PG_ADMIN_URL) $(BENCH_ARGS)

# Each insights figure timed on PostgreSQL (10k and 1M instances) and SQLite (10k and 100k),
# with the ratio: bench/results/insights.json. BENCH_ARGS, e.g. --postgres none, narrow it.
bench-insights: test-install
	$(BIN)/python -m bench.insights --admin-url $(PG_ADMIN_URL) $(BENCH_ARGS)

lint: test-install
	$(BIN)/ruff check server tests bench
	$(BIN)/ruff format --check server tests bench
	$(BIN)/mypy

format: test-install
	$(BIN)/ruff check --fix server tests bench
	$(BIN)/ruff format server tests bench

schema: install
	$(BIN)/stageflow export-schema --output schema.graphql

# The README's pictures, taken by the browser tests.
screenshots: test-install
	STAGEFLOW_SCREENSHOTS=1 $(BIN)/pytest tests/e2e -m browser

clean:
	rm -rf $(VENV) data test-results tests/e2e/.cache .pytest_cache .mypy_cache .ruff_cache

# lowlat — two commands on a fresh machine with only Python and make:
#   make run    create .venv if missing, install, run `lowlat run`
#   make test   lint, the test suite (compiled and NUMBA_DISABLE_JIT=1), core coverage
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed

.PHONY: run test install lint format coverage bench demo clean

run: $(STAMP)
	$(BIN)/lowlat run

install: $(STAMP)

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# uv installs exactly what uv.lock pins; --inexact keeps uv itself in the venv.
$(STAMP): pyproject.toml uv.lock | $(BIN)/uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --inexact --python $(BIN)/python
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -q
	NUMBA_DISABLE_JIT=1 $(BIN)/coverage run -m pytest -q tests/core tests/demo tests/feeds tests/book tests/signals
	$(BIN)/coverage combine -q
	$(BIN)/coverage report --include='lowlat/core/*'

# The bench group adds the peers the suites compare against (NautilusTrader); not installed
# by `make run`/`make test`.
bench: $(STAMP)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --inexact --group bench --python $(BIN)/python
	$(BIN)/lowlat bench

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -prune -exec rm -rf {} +

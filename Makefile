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

# The compiled run is bound by Numba compiling (a cold cache compiles every kernel once);
# the interpreted run (NUMBA_DISABLE_JIT=1) is plain Python. The interpreted run and two
# compiled workers (pytest-xdist, a test file at a time; the files that build the whole
# engine all on one worker, see tests/conftest.py) share the two cores; the interpreted
# run's output follows the compiled one's. Each run has its own --basetemp: pytest prunes
# old temporary directories under a shared root, including another run's live ones.
# Coverage (of lowlat/core, where it is enforced) traces tests/core only, compiled (the
# core's codegen runs at compile time) and interpreted (the kernels' lines): its tracer
# would slow the compilation, and the interpreted run, of everything else several times.
# Outside tests/core the interpreted run leaves out the multi-second stress tests (marked
# slow: whole sessions, SIGKILL loops): interpreted, their engine thread is a Python busy
# loop fighting the test for the GIL; they run compiled, and the kernels they drive run
# interpreted in the component tests.
INTERPRETED_TESTS := tests/demo tests/feeds tests/book tests/signals tests/execution tests/risk tests/venue tests/journal tests/control
INTERPRETED_LOG := .pytest-interpreted.log

test: lint
	rm -rf .coverage .coverage.* $(INTERPRETED_LOG) .pytest-tmp
	mkdir -p .pytest-tmp
	( NUMBA_DISABLE_JIT=1 $(BIN)/coverage run -m pytest -q --basetemp=.pytest-tmp/interpreted-core tests/core; core=$$?; \
	  NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -m "not slow" --basetemp=.pytest-tmp/interpreted $(INTERPRETED_TESTS); rest=$$?; \
	  test $$core -eq 0 && test $$rest -eq 0 ) > $(INTERPRETED_LOG) 2>&1 & \
	interpreted=$$!; \
	$(BIN)/coverage run -m pytest -q --basetemp=.pytest-tmp/core tests/core; core=$$?; \
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --basetemp=.pytest-tmp/compiled --ignore=tests/core; rest=$$?; \
	wait $$interpreted; status=$$?; \
	echo "--- NUMBA_DISABLE_JIT=1 tests/core $(INTERPRETED_TESTS)"; cat $(INTERPRETED_LOG); \
	test $$core -eq 0 && test $$rest -eq 0 && test $$status -eq 0
	$(BIN)/coverage combine -q
	$(BIN)/coverage report --include='lowlat/core/*'

# The bench group adds the peers the suites compare against (NautilusTrader); not installed
# by `make run`/`make test`.
bench: $(STAMP)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --locked --inexact --group bench --python $(BIN)/python
	$(BIN)/lowlat bench

clean:
	rm -rf $(VENV) .coverage .coverage.* .pytest_cache .pytest-tmp .ruff_cache .hypothesis $(INTERPRETED_LOG)
	find . -name __pycache__ -prune -exec rm -rf {} +

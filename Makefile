# The two commands a newcomer needs: `make run` and `make test`. Both set everything up themselves.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench browsers clean lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "aibroker needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)

# uv (from PyPI, into the venv: nothing needed beyond Python) installs the same packages as pip in a fraction of
# the time (side by side on the busy 2-core machine: pip 104-154 s, uv 30-43 s). The venv keeps its own pip.
# --compile-bytecode, as pip does: uv does not by default, and where PYTHONDONTWRITEBYTECODE is set every process
# then compiled its imports again (the app's imports: ~2.5 s -> ~7 s of CPU).
# constraints.txt pins every package (and uv) to the versions the suite last passed with, so a new release
# upstream cannot turn a clean checkout red (redis-py 8.2 did: a new warning on start-up lines); `make lock`
# refreshes the pins from the newest releases pyproject.toml allows; run `make test` after it.
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint constraints.txt uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --constraint constraints.txt -e '.[dev]'
	@touch $(STAMP)

LOCK_VENV := $(VENV)-lock
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet uv
	$(LOCK_VENV)/bin/uv pip install --quiet --python $(LOCK_VENV)/bin/python -e '.[dev]'
	{ echo '# The versions `make test` last passed with; `make lock` writes this file (see Makefile).'; \
	  $(LOCK_VENV)/bin/uv pip freeze --python $(LOCK_VENV)/bin/python --exclude-editable \
	    | grep -v -E '^(pip|setuptools)=='; } > constraints.txt
	rm -rf $(LOCK_VENV)  # the next make run/test reinstalls: the stamp is older than constraints.txt

## run: install, migrate and start everything on http://127.0.0.1:8000 (embedded Redis + SQLite)
run: $(STAMP)
	$(BIN)/aibroker migrate
	$(BIN)/aibroker dev

## test: install and run the whole test suite (TEST_REDIS_URL / TEST_DATABASE_URL use real servers)
# Three pytest processes (pytest-xdist), each taking whole test files: most tests wait on worker processes, a
# browser or Redis (the suite's processes used ~45 % of the 2 cores with two pytest processes), so a third one
# fills the waits (8:07 -> 5:42 measured on 2 cores; TEST_WORKERS=0 runs everything in one process). Files go out
# in collection order, where tests/conftest.py puts the `slow` ones first so the processes end together.
# Bytecode is cached (the usual gitignored __pycache__) even where PYTHONDONTWRITEBYTECODE is set: without the cache,
# each of the 100+ product processes the suite starts (workers, `serve`, `dev`, CLI runs) compiled aibroker's modules
# again (~0.5 s of CPU each), and each pytest process redid pytest's assertion rewriting of every test module (~6 s).
TEST_WORKERS ?= 3
test: $(STAMP) browsers
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## lint / typecheck: what CI runs before the tests
lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## bench: end-to-end reply latency with human-like pacing (other benchmarks: see bench/README.md)
bench: $(STAMP)
	$(BIN)/python -m bench.pipeline

## browsers: headless Chromium for the UI tests (Debian's package; Playwright drives it)
browsers:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) \
	      || echo "note: could not install chromium; browser tests will be skipped"; \
	  else echo "note: chromium not found; browser tests will be skipped"; fi; }

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

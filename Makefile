# FreshLoop — the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMPS := .make
PYTHON ?= python3

.PHONY: install assets system-deps migrate seed demo smoke lint test test-serial test-fast bench bench-quick clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# The stamp lives inside the virtualenv: a venv deleted or rebuilt gets its packages again.
$(VENV)/.deps-installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMPS) && touch $@

install: $(VENV)/.deps-installed assets

# Debian packages the browser tests and the demo need (chromium, CJK fonts, ffmpeg), installed
# when missing: as root, through sudo, or the script stops and prints the command to run.
system-deps:
	bash scripts/system_deps.sh

assets: $(STAMPS)/npm | $(PY)
	$(PY) scripts/copy_assets.py

migrate: install
	$(PY) manage.py migrate --noinput -v0

seed: migrate
	$(PY) manage.py demo_seed

demo: seed system-deps
	bash scripts/run_demo.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy src config tools
	$(VENV)/bin/lint-imports
	FRESHLOOP_ENV=test $(PY) manage.py makemigrations --check --dry-run

# One pytest worker per core, at most 8 (each flushes its own Redis database, 15 down to 8;
# docs/decisions/0011-pytest-xdist.md); test-serial for debugging.
PYTEST_PARALLEL = -n auto --maxprocesses 8 --dist load

test: lint system-deps
	$(VENV)/bin/pytest $(PYTEST_PARALLEL)

test-serial: lint system-deps
	$(VENV)/bin/pytest

test-fast: install
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not e2e" -q

# Start the demo server as `make demo` does, check that it answers, stop it.
smoke: seed
	bash scripts/smoke.sh

bench: install system-deps
	@for script in bench/[a-z]*.py; do $(PY) $$script || exit 1; done

bench-quick: install system-deps
	@for script in bench/[a-z]*.py; do $(PY) $$script --quick || exit 1; done

clean:
	rm -rf $(STAMPS) $(VENV) node_modules src/freshloop/web/static/vendor

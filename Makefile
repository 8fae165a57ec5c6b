# The two commands: `make run` and `make test`. Everything else supports them.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-server
DEV_STAMP := $(VENV)/.installed-dev
FRONTEND_STAMP := frontend/dist/index.html
NODE_STAMP := frontend/node_modules/.package-lock.json

# .PHONY targets are commands, not files.
.PHONY: run test install install-dev frontend schema lint typecheck migrations-check clean bench

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PY) not found); set PY=..."; exit 1; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[server,sdk]"
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(DEV_STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

$(NODE_STAMP): frontend/package.json frontend/package-lock.json frontend/tools/openapi/package.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is needed to build the web app (install Node.js 20+)"; exit 1; }
	cd frontend && (npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error)
	@touch $(NODE_STAMP)

$(FRONTEND_STAMP): $(NODE_STAMP) $(shell find frontend/src frontend/index.html -type f 2>/dev/null)
	cd frontend && npm run build

frontend: $(FRONTEND_STAMP)

# The OpenAPI schema (docs/openapi.yaml) and the web app's types generated from it
# (frontend/src/api/schema.ts): run after changing a serializer or an @extend_schema.
schema: install-dev $(NODE_STAMP)
	$(BIN)/python scripts/api_types.py

run: install frontend
	$(BIN)/python manage.py runyard_serve

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy .

migrations-check: install-dev
	$(BIN)/python manage.py makemigrations --check --dry-run

test: install-dev frontend
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python scripts/api_types.py --check
	cd frontend && npm test --silent
	$(BIN)/python -m pytest -n $${PYTEST_WORKERS:-2} --dist loadgroup $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) frontend/node_modules frontend/dist .runyard-data

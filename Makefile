# CareFlow — the two commands: `make run` and `make test` (both do their own set-up).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEPS   := $(VENV)/.deps-installed
PG_URL ?= $(CAREFLOW_TEST_POSTGRES_URL)
export CAREFLOW_DEMO_DB ?= sqlite:///instance/careflow.db
# Development only: unconfigured SMS/e-mail/WeChat go to a logging sandbox (a configured gateway wins).
run: export CAREFLOW_CHANNEL_SANDBOX ?= sms,email,wechat

.PHONY: run test test-sqlite test-postgres lint bench clean browser frontend

$(DEPS): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(DEPS)

run: $(DEPS) frontend
	mkdir -p instance
	DATABASE_URL=$${DATABASE_URL:-$(CAREFLOW_DEMO_DB)} $(BIN)/careflow db upgrade
	DATABASE_URL=$${DATABASE_URL:-$(CAREFLOW_DEMO_DB)} $(BIN)/careflow demo load
	@echo "CareFlow at http://127.0.0.1:8000  (log in with one of the users above)"
	DATABASE_URL=$${DATABASE_URL:-$(CAREFLOW_DEMO_DB)} $(BIN)/careflow serve --port 8000 --with-scheduler

lint: $(DEPS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint test-sqlite test-postgres

test-sqlite: $(DEPS) browser frontend
	env -u DATABASE_URL $(BIN)/pytest -q

# Runs the same suite against PostgreSQL when CAREFLOW_TEST_POSTGRES_URL (or PG_URL) is set.
test-postgres: $(DEPS) browser frontend
	@if [ -n "$(PG_URL)" ]; then DATABASE_URL="$(PG_URL)" $(BIN)/pytest -q; \
	else echo "PostgreSQL run skipped: set CAREFLOW_TEST_POSTGRES_URL=postgresql://user@host:5432/db"; fi

# The browser bundles from npm (the designer's bpmn-js and form-js editors, the task page's form-js viewer, the
# reports' charts), built by esbuild into web/static/build/ (not committed).
FRONTEND := web/static/build/.built
frontend: $(FRONTEND)
$(FRONTEND): frontend/package.json frontend/package-lock.json frontend/build.mjs $(wildcard frontend/src/*)
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund
	cd frontend && node build.mjs
	touch $(FRONTEND)

# Debian's chromium + CJK fonts for tests/browser (root or sudo); a no-op once both are there.
browser:
	@bash scripts/install-browser.sh

bench: $(DEPS)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache

# The front door. `make run` and `make test` work on a bare machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DOMAIN ?= example.com
# PostgreSQL and Redis used by the second test pass (and `make test-pg`).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/simple_analytics
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install install-dev run worker test test-fast test-sqlite test-pg test-faults test-soak test-cluster browser-deps proxy-deps lint lint-py typecheck lint-js fmt check event bench-ingest bench-soak clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.txt pyproject.toml
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	HOST=$(HOST) PORT=$(PORT) $(BIN)/simple-analytics serve

worker: install
	$(BIN)/simple-analytics worker

# Debian's Chromium for the browser tests (never a browser downloaded by a test tool).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium not installed: browser tests will skip (apt-get install chromium)"; fi; }

# Debian's nginx, HAProxy and PgBouncer for the reverse-proxy test
# (simple_analytics/tests/test_tracker_behind_nginx.py), the PgBouncer test and the
# multi-host test, which run their own copies: the services the packages start are stopped.
proxy-deps:
	@for bin in nginx haproxy pgbouncer; do \
		command -v $$bin >/dev/null 2>&1 || [ -x /usr/sbin/$$bin ] || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$bin >/dev/null; \
			service $$bin stop >/dev/null 2>&1 || true; \
		else echo "$$bin not installed: the tests that need it will skip (apt-get install $$bin)"; fi; }; \
	done

# Lint and types first, then the whole suite on SQLite, again on PostgreSQL + Redis, then
# the fault tests, a one-minute soak of the production processes and the multi-host test.
test: install-dev browser-deps proxy-deps
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-pg
	$(MAKE) --no-print-directory test-faults
	$(MAKE) --no-print-directory test-soak
	$(MAKE) --no-print-directory test-cluster

# The inner loop: the SQLite suite without browsers, server processes, fuzzers and property
# tests (about half the time); `make test` still runs everything.
test-fast: install-dev
	DATA_DIR=$$(mktemp -d) $(BIN)/pytest -m "not postgres and not slow" $(PYTEST_ARGS)

test-sqlite: install-dev
	DATA_DIR=$$(mktemp -d) $(BIN)/pytest -m "not postgres" $(PYTEST_ARGS)

test-pg: install-dev
	@$(BIN)/python scripts/services.py --check || { \
		if [ "$$CI" = "true" ]; then echo "PostgreSQL/Redis required under CI=true"; exit 1; fi; \
		echo "PostgreSQL or Redis not reachable: skipping the PostgreSQL + Redis pass"; exit 0; }; \
	DATA_DIR=$$(mktemp -d) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(BIN)/pytest -m "not browser" $(PYTEST_ARGS)

# System tests (systemtests/, one harness). Faults: PostgreSQL stopped, Redis stopped, a
# worker killed mid-rollup, SIGTERM under load, on a private PostgreSQL cluster and
# redis-server (never the shared ones). It skips when the PostgreSQL binaries or
# redis-server are missing, and fails then under CI=true.
test-faults: install-dev
	$(BIN)/python systemtests/faults.py

# The soak for one minute at a low rate: two web servers, two workers and a scheduler on
# the shared PostgreSQL (database sa_soak) and Redis (db 8). `make bench-soak` is the
# ten-minute run at 70% of the measured capacity.
test-soak: install-dev
	@$(BIN)/python scripts/services.py --check || { \
		if [ "$$CI" = "true" ]; then echo "PostgreSQL/Redis required under CI=true"; exit 1; fi; \
		echo "PostgreSQL or Redis not reachable: skipping the soak"; exit 0; }; \
	$(BIN)/python systemtests/soak.py --minutes 1 --rate 150

# The scale-out layout as hosts in network namespaces (systemtests/cluster.py): a balancer,
# two web hosts, PgBouncer, a primary and a streaming replica, two workers; a web host, the
# scheduler and PgBouncer fail under traffic. Needs root; skips without it (fails under CI=true).
test-cluster: install-dev proxy-deps
	$(BIN)/python systemtests/cluster.py

# ruff (lint and format), the import layers (pyproject's [tool.importlinter]), mypy with
# django-stubs over the product code, and ESLint over the browser JavaScript.
lint: lint-py typecheck lint-js

lint-py: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy simple_analytics accounts websites teams tracking goals stats dashboard api jobs core rollups reports bench systemtests scripts

# ESLint over the browser JavaScript, at the versions in package-lock.json (`npm ci` only
# when node_modules is missing or older than the lockfile). Without node/npm: skipped
# locally, a failure under CI=true.
lint-js:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		if [ "$$CI" = "true" ]; then echo "lint-js: node and npm are required under CI=true"; exit 1; fi; \
		echo "lint-js: node or npm not installed: skipping the JavaScript lint"; exit 0; \
	fi; \
	if [ ! -e node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
		npm ci --no-audit --no-fund --loglevel=error || exit 1; \
	fi; \
	node_modules/.bin/eslint --max-warnings=0 \
		dashboard/static/dashboard/*.js websites/static/websites/*.js tracking/static/tracking/pixel.js \
		accounts/tests/*.mjs

fmt: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: test

# A realistic PAGE_VIEW to a running server: make event SITE=<tracking id> DOMAIN=<its domain>
event:
	curl -sS -X POST "http://$(HOST):$(PORT)/api/event" -H 'Content-Type: text/plain' \
		-H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0' \
		--data '{"site":"$(SITE)","type":"PAGE_VIEW","url":"https://$(DOMAIN)/pricing?utm_source=news","referrer":"https://www.google.com/","screen":1440}' \
		-w '%{http_code}\n'

bench-ingest: install-dev
	$(BIN)/python bench/ingest.py

bench-soak: install-dev
	$(BIN)/python systemtests/soak.py

# README screenshots (docs/screenshots/) from `serve` with the demo data, in Debian's Chromium.
screenshots: install-dev browser-deps
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build *.egg-info

# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

UV_VERSION := 0.13.8
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --frozen

.PHONY: help install run serve migrate seed test test-fast test-browser lint typecheck format bench bench-large bench-faults bench-load bench-sockets bench-ceiling wrk schema clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

install: $(if $(shell command -v uv 2>/dev/null),,.tools/bin/uv) ## Create .venv with the locked dependencies
	$(UV) sync --frozen --quiet
	@mkdir -p var

migrate: install ## Apply database migrations
	$(RUN) python manage.py migrate --no-input

seed: migrate ## Load demo data if the database is empty
	$(RUN) python manage.py seed_demo --if-empty

run: seed ## Serve the app with demo data on http://$(HOST):$(PORT)
	$(RUN) python manage.py collectstatic --no-input -v0
	$(RUN) uvicorn config.asgi:application --host $(HOST) --port $(PORT) --lifespan off --ws-max-size 4096

test: install ## Run the whole suite (browser tests in their own process)
	$(RUN) pytest -q -p no:playwright
	$(MAKE) --no-print-directory test-browser

test-fast: install ## The suite without the browser tests
	$(RUN) pytest -q -p no:playwright

test-browser: install ## Browser tests in real Chromium (installs Debian's chromium if missing)
	@command -v chromium >/dev/null || { echo "installing Debian's chromium"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || { echo "error: chromium is not installed and could not be installed (apt-get install chromium)"; exit 1; }; }
	$(RUN) pytest -q -m browser messaging/tests/browser

lint: install ## ruff lint and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: install ## mypy with the Django and DRF plugins (config in pyproject.toml)
	$(RUN) mypy

format: install ## Apply ruff's formatting and fixes
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

schema: install ## Validate the OpenAPI schema
	$(RUN) python manage.py spectacular --validate --fail-on-warn --file /dev/null

bench: install wrk ## Every workload against the bare Django ceiling, small dataset, gunicorn (docs/benchmarks.md)
	$(RUN) python -m bench.run --preset small

bench-large: install wrk ## The same on the 1M-message dataset
	$(RUN) python -m bench.run --preset large

wrk: # The load generator of bench, bench-large and bench-ceiling
	@command -v wrk >/dev/null || { echo "installing Debian's wrk"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null) \
	  || { echo "error: wrk is not installed and could not be installed (apt-get install wrk)"; exit 1; }; }

bench-faults: install ## Redis and PostgreSQL outages under traffic (docs/hardening.md)
	$(RUN) python -m bench.faults

bench-load: install ## Locust's mixed day (3 min, gunicorn + uvicorn), then every message accounted for
	$(RUN) python -m bench.load --duration 180

bench-sockets: install ## 1,000 then 5,000 live sockets on two servers, every frame counted (docs/benchmarks.md)
	$(RUN) python -m bench.ws_bench --sockets 1000 --messages 500 --rate 50 --users 500
	$(RUN) python -m bench.ws_bench --sockets 5000 --messages 500 --rate 50 --users 2500

bench-ceiling: install wrk ## The bare Django ceiling per server shape, the product's stack as a ratio of it
	$(RUN) python -m bench.ruler

clean: ## Remove the environment, local database and caches
	rm -rf $(VENV) .tools var db.sqlite3 staticfiles .pytest_cache .ruff_cache .mypy_cache

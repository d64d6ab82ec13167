# The project's commands. `make help` lists them; `make synth` and `make test` work on a fresh
# machine with Python 3.11+, Node/npm and make: they install what they need first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= dev
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(CURDIR)/node_modules/.bin
# The pinned Node 22 and cdk CLI come first, so jsii runs on a supported Node.
export PATH := $(BIN):$(CURDIR)/$(VENV)/bin:$(PATH)
CDK := $(BIN)/cdk
MIGRATIONS ?= migrations

.PHONY: help install synth test lint diff guard deploy snapshot-update bench clean \
        migrate-create migrate-up migrate-down migrate-version migrate-plan squawk \
        access-plan access-apply go-tools backup db-dump db-restore local local-down local-reset

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

install: $(VENV)/.installed node_modules/.installed .ci/.system-packages ## Create the venv, install Python and npm dependencies

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is required (Node.js 18+)" >&2; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# PostgreSQL server binaries and Redis for the tests: installed from Debian if missing.
.ci/.system-packages: .ci/system-packages.sh
	@bash .ci/system-packages.sh
	@if command -v redis-server >/dev/null; then touch $@; fi

synth: install ## Synthesize every environment (cdk-nag included) into cdk.out
	@$(CDK) synth --quiet
	@echo "synthesized: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"

test: install go-tools ## Run the whole test suite (real PostgreSQL, cdk, golang-migrate; boto3 over HTTP)
	@$(PY) -m pytest

go-tools: install ## Build the pinned Go tools the tests run (golang-migrate) into .tools/, once
	@$(PY) -m devtools.gotools

lint: synth ## ruff, mypy (strict), cfn-lint over the synthesized templates, squawk over migrations
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check --quiet .
	@$(PY) -m mypy
	@$(VENV)/bin/cfn-lint cdk.out/*.template.json
	@$(MAKE) --no-print-directory squawk

squawk: install ## Lint the migrations with squawk (PostgreSQL migration linter)
	@$(VENV)/bin/squawk $(MIGRATIONS)/*.up.sql

diff: install ## Show what a deploy would change: make diff ENV=dev
	@$(CDK) diff -c env=$(ENV) DatabaseStack-$(ENV)

# The guard: ENV's new template against the deployed stack (or BASELINE=template-or-cdk.out).
# ALLOW="LogicalId:rule ..." accepts findings on purpose; GUARD=0 skips it in `make deploy`.
# Both count only on the make command line: an exported GUARD=0 or ALLOW left in a shell must
# not switch the guard off for every later deploy.
GUARD_OFF = $(and $(filter command line,$(origin GUARD)),$(filter 0,$(GUARD)))
GUARD_ARGS = $(if $(filter command line,$(origin ALLOW)),$(foreach allowed,$(ALLOW),--allow $(allowed)))
DEPLOY_OUT := cdk.out.deploy/$(ENV)
GUARD_SKIPPED = echo "guard skipped (GUARD=0): deploying without the check" >&2

guard: install ## Refuse a change that replaces/drops/unprotects a stateful resource: make guard ENV=prod
	@$(PY) -m ops guard --env $(ENV) $(if $(BASELINE),--baseline "$(BASELINE)") $(GUARD_ARGS)

# One shell line: the deploy runs only after the guard passed, even under `make -i`.
deploy: install ## Guard, then deploy what was guarded: make deploy ENV=dev [ALLOW=...] [GUARD=0]
	@rm -rf $(DEPLOY_OUT)
	@$(CDK) synth -c env=$(ENV) --quiet -o $(DEPLOY_OUT) DatabaseStack-$(ENV)
	@$(if $(GUARD_OFF),$(GUARD_SKIPPED),$(PY) -m ops guard --env $(ENV) --cdk-out $(DEPLOY_OUT) \
	    --new-stack-ok $(GUARD_ARGS)) \
	  && $(CDK) deploy --app $(DEPLOY_OUT) DatabaseStack-$(ENV) --require-approval broadening

snapshot-update: install ## Re-record the template snapshots after an intended change
	@$(PY) -m pytest tests/stack/test_snapshots.py tests/stack/test_document_db.py tests/stack/test_cache.py -k snapshot --snapshot-update

bench: install ## Synth benchmark: this app vs an empty app, medians and ratio
	@$(PY) bench/synth_bench.py

migrate-create: install ## New migration pair: make migrate-create NAME=add_orders
	@$(PY) -m ops migrate create $(NAME) --dir $(MIGRATIONS)

# The migrate-* targets use DATABASE_URL; `ENV=name` on the make command line selects that
# deployed environment instead (--env: over the RDS Data API). ENV's default (dev) is for
# diff/deploy only, so it is looked at here only when given on the command line.
MIGRATE_DB = $(if $(filter command line,$(origin ENV)),--env $(ENV))

migrate-up: install ## Apply pending migrations to MIGRATIONS_DATABASE_URL/DATABASE_URL (or ENV=prod)
	@$(PY) -m ops migrate up --dir $(MIGRATIONS) $(MIGRATE_DB)

migrate-down: install ## Roll back N migrations (default 1) on DATABASE_URL (or ENV=)
	@$(PY) -m ops migrate down $(or $(N),1) --dir $(MIGRATIONS) $(MIGRATE_DB)

migrate-version: install ## Show the migration version of DATABASE_URL (or ENV=)
	@$(PY) -m ops migrate version --dir $(MIGRATIONS) $(MIGRATE_DB)

migrate-plan: install ## Show what `migrate-up` would apply, without applying it (or ENV=)
	@$(PY) -m ops migrate plan --dir $(MIGRATIONS) $(MIGRATE_DB)

# The access-* targets: ENV=name on the command line reconciles that deployed environment (Data
# API); otherwise MIGRATIONS_DATABASE_URL/DATABASE_URL, with CONFIG_ENV's roles (default dev).
ACCESS_DB = $(if $(filter command line,$(origin ENV)),--env $(ENV),--config-env $(or $(CONFIG_ENV),dev))

access-plan: install ## What access-apply would change in the application roles (or ENV=)
	@$(PY) -m ops access plan $(ACCESS_DB)

access-apply: install ## Bring the application roles to access.roles (or ENV=)
	@$(PY) -m ops access apply $(ACCESS_DB)

backup: install ## On-demand backup, waited for: make backup ENV=prod TARGET=all [NATIVE=1]
	@$(PY) -m ops backup start --env $(ENV) --target $(or $(TARGET),all) $(if $(NATIVE),--native) --wait

DUMP ?= backups/$(shell date -u +%Y%m%dT%H%M%SZ).sql
# The owner's URL (make local writes it; DATABASE_URL there is the application's role).
OWNER_URL = $${MIGRATIONS_DATABASE_URL:-$$DATABASE_URL}
NO_URL = { echo "error: set MIGRATIONS_DATABASE_URL (or DATABASE_URL)=postgresql://..." >&2; exit 2; }
db-dump: ## Local PostgreSQL: pg_dump the owner's URL to DUMP (default backups/<UTC time>.sql)
	@test -n "$(OWNER_URL)" || $(NO_URL)
	@mkdir -p $(dir $(DUMP))
	@pg_dump --no-owner --no-privileges --file=$(DUMP).partial "$(OWNER_URL)"
	@mv $(DUMP).partial $(DUMP) && echo "dumped to $(DUMP)"

db-restore: ## Local PostgreSQL: restore DUMP as the owner in one transaction (all or nothing)
	@test -n "$(OWNER_URL)" || $(NO_URL)
	@test -f "$(DUMP)" || { echo "error: DUMP=$(DUMP) is not a file; pass DUMP=path/to/dump.sql" >&2; exit 2; }
	@psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$(DUMP)" "$(OWNER_URL)" >/dev/null
	@echo "restored $(DUMP)"

clean: ## Remove build output (keeps the venv and node_modules)
	@rm -rf cdk.out cdk.out.deploy .mypy_cache .ruff_cache

local: install ## Local data layer: PostgreSQL (migrated), DynamoDB (moto), documents (FerretDB), cache (Redis); writes .env
	@$(PY) -m devtools.local up

local-down: install ## Stop the local data layer (keeps its data in .local/)
	@$(PY) -m devtools.local down

local-reset: install ## Stop the local data layer and wipe .local/
	@$(PY) -m devtools.local reset

# intentlab: the Makefile is the one place that knows how to build, run and test.
#   make run    install what is missing, build (release), serve on SQLite at http://127.0.0.1:3000
#               (make run DEMO=1: with a simulated shop and experiments with known effects)
#   make test   install what is missing, run every suite: unit, integration (SQLite and PostgreSQL), end-to-end
#               (in Chromium, against the release browser bundle that `make run` serves)
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
CARGO := scripts/cargo.sh

.PHONY: help setup test-deps build release run openapi test test-unit test-sqlite test-postgres test-e2e test-ofrep test-sdk test-api-schema fuzz bench watch lint fmt clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-14s %s\n", $$1, $$2 }'

setup: ## Install the build toolchain when missing (wasm32 target, wasm-bindgen-cli, wasm-opt 116+)
	@scripts/setup-toolchain.sh

test-deps: ## Install what the tests need when missing (PostgreSQL, Chromium, playwright-core)
	@scripts/setup-test-deps.sh

build: setup ## Debug build of the server and the browser bundle (quick to compile)
	@scripts/build.sh dev

release: setup ## Optimised build of the server and the browser bundle
	@scripts/build.sh release

run: release ## Build and serve on SQLite (data in ./data; DATABASE_URL and INTENTLAB_ADDR override); DEMO=1 loads the demo shop first
	@if [ -n "$(DEMO)" ]; then target/release/intentlab demo --skip-if-loaded; fi
	target/release/intentlab serve

# The browser suites run what users get: the release bundle (split, optimized, precompressed), served by a debug
# server (same pages and files; its release build would add a quarter of an hour).
openapi: ## Write the API's OpenAPI document (generated from the code) to docs/openapi.json
	$(CARGO) run --quiet --bin intentlab -- openapi > docs/openapi.json

test: setup test-deps ## Every test suite; fails if any test fails
	@scripts/build.sh bundle release
	@scripts/build.sh server dev
	$(MAKE) --no-print-directory test-unit test-postgres test-e2e test-ofrep test-sdk test-api-schema

test-unit: ## Unit tests and the integration suite on SQLite (with the tests that apply to SQLite only)
	$(CARGO) test --workspace
	$(CARGO) test --test api -- --ignored sqlite_only

test-sqlite: test-unit

test-postgres: ## The integration suite on a throwaway PostgreSQL server (with the tests that apply to it only)
	scripts/with-postgres.sh bash -c '$(CARGO) test --test api && $(CARGO) test --test api -- --ignored postgres_only'

test-e2e: ## The Playwright suite in headless Chromium against a freshly started server and the built bundle
	scripts/with-server.sh node --test --test-concurrency=1 end2end/tests/*.test.mjs

test-ofrep: ## OFREP conformance with the real OpenFeature Python SDK and OFREP provider
	scripts/with-server.sh tests/ofrep/.venv/bin/python -m pytest -q tests/ofrep

test-api-schema: ## schemathesis: the whole API from its OpenAPI document, with a key of each scope
	scripts/with-server.sh tests/schemathesis/run.sh

fuzz: ## Property-based fuzzing of the input parsers and calculators, long (make test runs 3 000 cases per target)
	FUZZ_CASES=$${FUZZ_CASES:-200000} $(CARGO) test --release --test fuzz

test-sdk: ## Real analytics SDKs (Segment, RudderStack) against the tracking API
	scripts/with-server.sh tests/sdk/.venv/bin/python -m pytest -q tests/sdk

bench: release ## Benchmarks (release build; several minutes): assignment, ingest (SQLite, PostgreSQL), analysis vs pandas, pages
	$(CARGO) bench --bench assignment
	scripts/with-postgres.sh $(CARGO) bench --bench ingest
	@[ -x target/bench-venv/bin/python ] || { python3 -m venv target/bench-venv && target/bench-venv/bin/pip install -q -r benches/requirements.txt; }
	$(CARGO) bench --bench analysis
	$(CARGO) bench --bench pages

watch: ## Live-reloading development server (installs cargo-leptos first, ~23 min once)
	@scripts/setup-toolchain.sh --with-cargo-leptos
	@set -a; . target/toolchain.env; set +a; [ -n "$$RUSTUP_TOOLCHAIN" ] || unset RUSTUP_TOOLCHAIN; cargo leptos watch

lint: ## clippy (server and browser features) and rustfmt check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p app --lib --target wasm32-unknown-unknown --no-default-features --features hydrate -- -D warnings
	cargo fmt --all --check

fmt: ## Format the code (rustfmt of the default toolchain)
	cargo fmt --all

clean: ## Remove build output (keeps ./data)
	$(CARGO) clean

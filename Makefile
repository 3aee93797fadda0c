# frontrow — the two commands most people need are `make run` and `make test`.
CARGO ?= cargo

# PostgreSQL for the tests: the machine's server at 127.0.0.1:5432 (user postgres, trust auth).
# Each test creates its own database from a migrated template through this admin URL.
export FRONTROW_TEST_PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PG_HOST ?= 127.0.0.1
PG_PORT ?= 5432

.PHONY: run test test-memory test-postgres test-contract test-deploy pg-up tools cluster cluster-stop bench bench-concurrency bench-tools build release lint fmt check-layers clean

## Serve the API on 127.0.0.1:8080 with the embedded store and demo data.
run:
	$(CARGO) run --release -p frontrow

## Every test: unit and contract tests of every crate, then the black-box tests that start the
## real binary, once on the embedded store and once on PostgreSQL, then the OpenAPI contract
## check against the live binary, then the checks of the deployment files (deploy/).
test: pg-up tools test-memory test-postgres test-contract test-deploy

## Every phase selects the whole workspace, so cargo resolves one set of features and the build
## of the first phase serves them all (a `-p frontrow` build would compile a second set).
test-memory:
	$(CARGO) test --workspace --lib --bins --tests

## The black-box tests again, on PostgreSQL: those that follow FRONTROW_TEST_STORE (every file in
## tests/ but the ones that pick their stores themselves, which test-memory has run already).
FIXED_STORE_TESTS := balancer bounded_memory browser catalogue_import catalogue_push coherence exactly_once instances metrics_postgres outage restart signed_tokens
STORE_TESTS := $(filter-out $(FIXED_STORE_TESTS),$(basename $(notdir $(wildcard tests/*.rs))))
test-postgres: pg-up
	FRONTROW_TEST_STORE=postgres $(CARGO) test --workspace $(addprefix --test ,$(STORE_TESTS))

## The OpenAPI contract check: schemathesis, with every check and a fixed seed, against the debug
## `frontrow` on the embedded store with an ACTIVE token (tests/contract/). schemathesis is
## installed from PyPI into $(CONTRACT_VENV) once, at the pinned version. The binary is built as
## the black-box tests build it (`cargo build` would resolve features without the tests'
## dev-dependencies and compile a second set).
SCHEMATHESIS_VERSION ?= 4.32.5
CONTRACT_VENV ?= target/venv
BIN_DIR ?= $(or $(CARGO_TARGET_DIR),target)/debug
SCHEMATHESIS_STAMP := $(CONTRACT_VENV)/.schemathesis-$(SCHEMATHESIS_VERSION)
test-contract: $(SCHEMATHESIS_STAMP)
	$(CARGO) test --workspace --no-run --test openapi
	$(CONTRACT_VENV)/bin/python tests/contract/run.py $(BIN_DIR)/frontrow $(CONTRACT_VENV)/bin/schemathesis

$(SCHEMATHESIS_STAMP):
	python3 -m venv $(CONTRACT_VENV)
	$(CONTRACT_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)
	touch $@

## The deployment files: promtool checks the alert rules, the example Prometheus configuration
## and the rules' unit tests (deploy/prometheus/).
PROMTOOL ?= promtool
test-deploy: tools
	$(PROMTOOL) check rules deploy/prometheus/alerts.yml
	$(PROMTOOL) check config deploy/prometheus/prometheus.yml
	$(PROMTOOL) test rules deploy/prometheus/alerts_test.yml

## Starts the machine's PostgreSQL cluster if it is not accepting connections.
pg-up:
	@if pg_isready -q -h $(PG_HOST) -p $(PG_PORT); then exit 0; fi; \
	echo "PostgreSQL is not running at $(PG_HOST):$(PG_PORT); starting it"; \
	if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -n 1) main start || true; \
	fi; \
	for i in $$(seq 1 30); do pg_isready -q -h $(PG_HOST) -p $(PG_PORT) && exit 0; sleep 1; done; \
	echo "PostgreSQL did not come up at $(PG_HOST):$(PG_PORT). Start it (e.g. 'pg_ctlcluster --skip-systemctl-redirect \$$(ls /etc/postgresql) main start') or point FRONTROW_TEST_PG_URL at one."; \
	exit 1

## Installs what the tests and `make cluster` run beside cargo, from Debian's packages, when
## missing: HAProxy (`haproxy`: `make cluster`, tests/balancer.rs), promtool (`prometheus`:
## `make test-deploy`), and Chromium with its WebDriver and a Korean font (`chromium`,
## `chromium-driver`, `fonts-nanum`: tests/browser.rs).
tools:
	@missing=""; \
	command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
	command -v $(PROMTOOL) >/dev/null || missing="$$missing prometheus"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	[ -d /usr/share/fonts/truetype/nanum ] || missing="$$missing fonts-nanum"; \
	[ -z "$$missing" ] && exit 0; \
	command -v apt-get >/dev/null || { echo "missing:$$missing, and there is no apt-get to install them: install the Debian packages$$missing (or put haproxy and promtool on PATH)"; exit 1; }; \
	echo "installing Debian's packages:$$missing"; \
	sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

## Three release instances on 127.0.0.1:8081-8083 sharing the PostgreSQL database
## frontrow_cluster (created if missing; the first instance seeds the demo catalogue), behind
## HAProxy on 127.0.0.1:8080 (deploy/haproxy.cfg: round-robin, health checks on GET /ready).
## Returns once all answer; running it again restarts them. Logs and pids: target/cluster/.
CLUSTER_DB ?= frontrow_cluster
cluster: pg-up tools release
	@psql -h $(PG_HOST) -p $(PG_PORT) -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$(CLUSTER_DB)'" | grep -q 1 \
		|| { echo "creating the database $(CLUSTER_DB)"; createdb -h $(PG_HOST) -p $(PG_PORT) -U postgres $(CLUSTER_DB); }
	FRONTROW_BIN=$(or $(CARGO_TARGET_DIR),target)/release/frontrow \
	CLUSTER_DATABASE_URL=postgres://postgres@$(PG_HOST):$(PG_PORT)/$(CLUSTER_DB) deploy/cluster.sh start

## Stops what `make cluster` started (by its pid files); fine when nothing runs.
cluster-stop:
	deploy/cluster.sh stop

## Benchmarks (release builds; never part of `make test`): the benchmark scenarios (race, token spike,
## polling, booking flow + audit, raw-SQL race, catalogue with and without cache) against release
## `frontrow` instances on a fresh PostgreSQL database, plus what a waiting-room poll costs with
## 1,000 and 1,000,000 fans waiting. Writes docs/BENCHMARKS.md and docs/benchmarks.svg, then runs
## the concurrency study (bench-concurrency below).
## Sizes: BENCH_SCALE=0.1 for a quick run, or the BENCH_* variables of crates/bench/src/config.rs.
## The read scenarios use `oha` when $(OHA) exists (`make bench-tools` installs it once), else
## the benchmark's built-in open-model generator.
## `BENCH_ONLY=estimate make bench` runs only the named scenarios (`core` or `estimate`, see
## config.rs) and writes its report to target/bench/; the position benchmark goes with `core`.
OHA ?= target/tools/bin/oha
comma := ,
BENCH_CORE := $(if $(BENCH_ONLY),$(filter core,$(subst $(comma), ,$(BENCH_ONLY))),core)
bench: pg-up
	$(CARGO) build --release -p frontrow -p bench
	@mkdir -p target/bench
	$(if $(BENCH_CORE),$(CARGO) bench -p adapter-postgres --features testing --bench queue_position > target/bench/queue_position.md)
	$(if $(BENCH_CORE),@cat target/bench/queue_position.md)
	BENCH_EXTRA=target/bench/queue_position.md BENCH_OHA=$(OHA) target/release/frontrow-bench
	$(RELEASE_DIR)/frontrow-concurrency

## The concurrency study alone (also the last step of `make bench`): every locking strategy for
## the seat hold, the hot wallet and the payment, side by side at the SQL level on a fresh
## database, 3 interleaved runs each (CONCURRENCY_RUNS, CONCURRENCY_SCALE). Rewrites
## docs/CONCURRENCY.md and docs/concurrency.svg; exits 2 when a strategy that must be correct
## is not, or a control that must break does not.
RELEASE_DIR ?= $(or $(CARGO_TARGET_DIR),target)/release
bench-concurrency: pg-up
	$(CARGO) build --release -p bench --bin frontrow-concurrency
	$(RELEASE_DIR)/frontrow-concurrency

## Installs the `oha` load generator into target/tools, once (a few minutes of compiling).
bench-tools:
	@if [ -x $(OHA) ]; then echo "oha is installed: $(OHA)"; else $(CARGO) install oha --locked --root target/tools; fi

## Debug build of everything.
build:
	$(CARGO) build --workspace --all-targets

## Optimised binary at target/release/frontrow.
release:
	$(CARGO) build --release -p frontrow

## Formatting, lints (warnings are errors) and the layering rule.
lint: check-layers
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

## The domain and application crates must not depend on a framework, a driver, serde or crypto
## (names matched whole, with their family: actix-web, diesel-async, tokio-postgres, serde_json…).
check-layers:
	@for crate in domain application; do \
		if $(CARGO) tree -p $$crate -e normal --prefix none | grep -E '^(actix[-_a-z]*|diesel[-_a-z]*|tokio[-_a-z]*|serde[-_a-z]*|hmac|sha2|jsonwebtoken) '; then \
			echo "layering violated: $$crate depends on the crates above"; exit 1; \
		fi; \
	done; echo "layers ok: domain and application know no framework, driver, serde or crypto"

clean:
	$(CARGO) clean

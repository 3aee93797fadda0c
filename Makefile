# frontrow — the two commands most people need are `make run` and `make test`.
CARGO ?= cargo

.PHONY: run test build release lint fmt check-layers clean

## Serve the API on 127.0.0.1:8080 with the embedded store and demo data.
run:
	$(CARGO) run --release -p frontrow

## Every test: unit tests of every crate and the black-box tests that start the real binary.
test:
	$(CARGO) test --workspace --all-targets

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

## The domain and application crates must not depend on a framework, a driver or serde.
check-layers:
	@for crate in domain application; do \
		if $(CARGO) tree -p $$crate -e normal --prefix none | grep -E '^(actix|diesel|tokio-postgres|serde|tokio) '; then \
			echo "layering violated: $$crate depends on the crates above"; exit 1; \
		fi; \
	done; echo "layers ok: domain and application know no framework, driver or serde"

clean:
	$(CARGO) clean

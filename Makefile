# The two commands a new user needs: `make run` and `make test`.
CARGO ?= cargo
HARNESS := target/release/harness

.PHONY: run test lint ci setup bench

## Build, then run the main job: every script under suites/ on the reference
## target and on the Linux kernel (where privileges allow; otherwise those are
## skipped with the reason), then two stacks over a lossy link.
run: setup
	$(CARGO) build --release -p harness
	$(HARNESS) run suites/ --target all
	$(HARNESS) loopback --loss 1 --seed 7

## Scripts per second on the reference target; fixed cost and suite time on Linux.
bench: setup
	$(CARGO) build --release -p harness
	$(HARNESS) bench suites --rounds 200
	$(HARNESS) bench suites --target linux --transport tun
	$(HARNESS) bench suites --target linux --transport raw

## All tests of the workspace.
test: setup
	$(CARGO) test --workspace

## Formatting and lints, as CI runs them.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## What CI runs.
ci: lint test run

## Checks the toolchain; installs the rustfmt and clippy components if missing.
setup:
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
	@for c in rustfmt clippy; do \
	  rustup component list --installed 2>/dev/null | grep -q "^$$c" || rustup component add $$c; \
	done

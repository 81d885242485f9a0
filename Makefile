# The two set-up commands of README: `make demo` (the local demo) and `make test` (all CI runs).
.PHONY: demo local test checks bootstrap lint test-build unit demo-check templates bench deploy

demo: bootstrap
	bash scripts/demo.sh

# The demo's local S3 and function left running, with the commands to invoke it (Ctrl-C stops).
local: bootstrap
	bash scripts/demo.sh --local

# Everything CI runs, closing with the number of tests run (`tests: N passed, M failed`).
test:
	bash scripts/test.sh

checks: bootstrap lint unit demo-check templates

bootstrap:
	bash scripts/bootstrap.sh

lint:
	cargo fmt --check
	bash scripts/with-heartbeat.sh "cargo clippy" cargo clippy --all-targets -- -D warnings

# Compiling the tests and examples (no venv needed; `make test` runs it while pip installs).
test-build:
	bash scripts/with-heartbeat.sh "compiling the tests" cargo test --no-run

# Unit tests and the integration tests, which start their own moto server on 127.0.0.1
# (examples are built, not run). No fail-fast: a failing test binary leaves the others to run.
# Eight at once: the integration tests wait on the local S3 server, not on the CPU (the suite took
# 212 s with the default two threads, 141 s with eight, on a busy 2-core machine).
unit: bootstrap test-build
	cargo test --no-fail-fast -- --test-threads=8

# The demo end to end (cargo lambda watch + invoke), failing if any replica differs.
demo-check: bootstrap
	bash scripts/demo.sh --check

# Deployment templates: cfn-lint, sam validate --lint, checkov, cycle check, sam build.
templates:
	bash scripts/check-templates.sh

# Not part of test: the benchmarks, on moto and (when installed) Ceph RGW; each prints a table
# and appends it to BENCHMARKS.md.
bench:
	bash scripts/bench.sh

# Not part of test: build and deploy into the AWS account of your credentials (sam build, then
# sam deploy --guided); ARCHITECTURE=x86_64 where the aarch64 Rust target is missing.
deploy:
	bash scripts/deploy.sh

# Not part of test: seeded simulation histories (docs/simulation.md), release build.
# `make soak HISTORIES=100000` runs that many; `make soak SEED=123` replays one and prints it.
.PHONY: soak
HISTORIES ?= 10000
soak:
	cargo run --release --example soak -- $(if $(SEED),--seed $(SEED),$(HISTORIES)) $(SOAK_ARGS)

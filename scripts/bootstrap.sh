#!/usr/bin/env bash
# Creates ./.venv with the local tools (moto, cargo-lambda, zig) unless it is already up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
req=scripts/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: installing local tools into .venv (first run only)" >&2
python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip >/dev/null
.venv/bin/pip install --quiet -r "$req"
echo "$want" > "$stamp"

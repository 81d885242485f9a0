#!/usr/bin/env bash
# Creates the project's Python venvs (git-ignored) unless they are up to date:
#   .venv          moto (local S3), cargo-lambda, zig           scripts/requirements.txt
#   .venv-sam      aws-sam-cli, cfn-lint                         scripts/requirements-sam.txt
#   .venv-checkov  checkov                                       scripts/requirements-checkov.txt
# The deploy tools get venvs of their own because their pinned dependencies conflict.
set -euo pipefail
cd "$(dirname "$0")/.."

ensure() { # VENV REQUIREMENTS
  local venv=$1 req=$2 stamp="$1/.requirements.sha256" want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "bootstrap: installing $req into $venv (first run only, about a minute)" >&2
  local start=$SECONDS
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip >/dev/null
  # One short line per package, so a first run is never silent; pip's own closing lines list
  # every package on one line of a thousand columns. Its errors go to stderr, untouched.
  "$venv/bin/pip" install --progress-bar off -r "$req" | sed -un 's/^Collecting \([^ ]*\).*/  \1/p'
  echo "$want" >"$stamp"
  echo "bootstrap: $venv ready in $((SECONDS - start)) s" >&2
}

ensure .venv scripts/requirements.txt
if [ "${1:-}" = "--deploy-tools" ]; then
  ensure .venv-sam scripts/requirements-sam.txt
  ensure .venv-checkov scripts/requirements-checkov.txt
fi

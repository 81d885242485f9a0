#!/usr/bin/env bash
# Creates the project's Python venvs (git-ignored) unless they are up to date:
#   .venv          moto (local S3), cargo-lambda, zig           scripts/requirements.txt
#   .venv-sam      aws-sam-cli, cfn-lint                         scripts/requirements-sam.txt
#   .venv-checkov  checkov                                       scripts/requirements-checkov.txt
# The deploy tools get venvs of their own because their pinned dependencies conflict.
# With --rgw it also installs Ceph RGW, the second local S3 server (scripts/rgw.sh), from the
# system's packages unless they are there: one apt-get line, as root (about 25 s and 280 MB).
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

RGW_PACKAGES="radosgw ceph-mon ceph-osd ceph-common"

rgw() {
  if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null &&
    command -v ceph-osd >/dev/null && command -v radosgw-admin >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: Ceph RGW is missing; as root: apt-get install -y $RGW_PACKAGES" >&2
    return 1
  fi
  echo "bootstrap: installing Ceph RGW ($RGW_PACKAGES; first run only, about 30 s)" >&2
  local start=$SECONDS
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $RGW_PACKAGES; } >/dev/null
  echo "bootstrap: Ceph RGW ready in $((SECONDS - start)) s" >&2
}

ensure .venv scripts/requirements.txt
for arg in "$@"; do
  case $arg in
    --deploy-tools)
      ensure .venv-sam scripts/requirements-sam.txt
      ensure .venv-checkov scripts/requirements-checkov.txt
      ;;
    --rgw) rgw ;;
    *) echo "bootstrap: unknown option $arg (--deploy-tools, --rgw)" >&2; exit 2 ;;
  esac
done

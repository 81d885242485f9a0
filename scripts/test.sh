#!/usr/bin/env bash
# `make test`: every check CI runs, stage by stage, each closing with its time (`== lint: 1 m 52 s`),
# then the stages' times together and one closing line with the number of tests run, added up from
# cargo's `test result:` lines: `tests: N passed, M failed`. The first failing stage ends the run
# (as `make checks` would), still with the closing line.
#
# Two things run beside others, because one waits where the other computes: the venvs (and Ceph
# RGW, the second local S3 server: one apt-get line as root, once) install in
# the background while clippy and the test build compile (pip waits on the network and the disk),
# and the template checks (whose sam build compiles the function) run while the tests run (the
# tests wait on the local S3 server: about a core's worth of work on two). A stage that needs
# what runs beside it waits for it first; its output is shown then, in one piece.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
venvs_log=$(mktemp)
templates_log=$(mktemp)
trap 'rm -f "$log" "$venvs_log" "$templates_log"' EXIT

duration() { printf '%d m %02d s' $(($1 / 60)) $(($1 % 60)); }
times=()
status=0

# stage NAME COMMAND...: runs COMMAND under an `== NAME` header and closes it with its time.
stage() {
  local name=$1 start=$SECONDS rc
  shift
  echo "== $name"
  "$@"
  rc=$?
  local took=$((SECONDS - start))
  times+=("$(printf '%-12s %s' "$name" "$(duration "$took")")$([ "$rc" -eq 0 ] || echo '  FAILED')")
  if [ "$rc" -eq 0 ]; then
    echo "== $name: $(duration "$took")"
  else
    echo "== $name: FAILED after $(duration "$took") (exit $rc)"
    status=$rc
  fi
  return "$rc"
}

# Waits for the background venv installs and shows what they printed.
venvs() {
  local rc=0
  wait "$venvs_pid" || rc=$?
  venvs_pid=""
  cat "$venvs_log"
  return "$rc"
}

# Starts the template checks in the background, their output kept for the templates stage.
templates_beside() {
  (
    started=$SECONDS
    make --no-print-directory templates
    rc=$?
    echo "   (the template checks took $(duration $((SECONDS - started))) beside the tests)"
    exit "$rc"
  ) >"$templates_log" 2>&1 &
  templates_pid=$!
}

# Waits for the template checks and shows what they printed.
templates() {
  local rc=0
  wait "$templates_pid" || rc=$?
  templates_pid=""
  cat "$templates_log"
  return "$rc"
}

main() {
  local start=$SECONDS
  bash scripts/bootstrap.sh --deploy-tools --rgw >"$venvs_log" 2>&1 &
  venvs_pid=$!
  templates_pid=""
  stage lint make --no-print-directory lint &&
    stage "test build" make --no-print-directory test-build &&
    stage venvs venvs &&
    templates_beside &&
    stage tests make --no-print-directory unit &&
    stage demo-check make --no-print-directory demo-check &&
    stage templates templates
  # A stage failed before what runs beside it was needed: let it finish (a venv cut short would
  # be reinstalled next time; a sam build cut short leaves cargo's lock to the next run).
  [ -z "$venvs_pid" ] || wait "$venvs_pid"
  [ -z "$templates_pid" ] || wait "$templates_pid"
  echo "== stage times (venvs and templates ran beside other stages: their times are the waits)"
  printf '   %s\n' "${times[@]}"
  echo "   total        $(duration $((SECONDS - start)))"
  return "$status"
}
main 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"

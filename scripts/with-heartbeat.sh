#!/usr/bin/env bash
# with-heartbeat.sh LABEL COMMAND...: runs COMMAND and, while it runs, prints a line every 30 s
# counted from its own start, so a long compile under `make test` (cargo draws no progress
# through a pipe) or `sam build` is never a silent screen. Exits with COMMAND's status, at once:
# the ticker's sleep is stopped with it, so nothing holds the output open afterwards.
set -uo pipefail
label=$1
shift
start=$SECONDS
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 30 &
    nap=$!
    wait "$nap"
    echo "   $label: still at work ($((SECONDS - start)) s)"
  done
) &
ticker=$!
"$@"
status=$?
kill "$ticker" 2>/dev/null
wait "$ticker" 2>/dev/null
exit "$status"

#!/usr/bin/env bash
# The local demo: a moto S3 server, versioned buckets in us-east-1 and eu-west-1, the function
# served by `cargo lambda watch --only-lambda-apis` (the binary run here, so that `make test` can
# reuse the test build) and triggered by `cargo lambda invoke --data-file` with the events/
# fixtures (re-aimed at the objects just uploaded), then the objects written before replication
# backfilled, sources and replicas side by side, and `s3-replicator verify`.
#   --check   exit non-zero if any replica differs from its source, a latency sample is counted
#             twice or the function's log is damaged; then run the --walkthrough check (`make test`)
#   --local   set everything up, invoke nothing, print the walkthrough's commands and keep the
#             local S3 and `cargo lambda watch` running until Ctrl-C (`make local`)
#   --walkthrough  what --local prints, each command run in a fresh shell (no venv on PATH),
#             failing unless the comparison it ends with is clean (run by --check)
# DEMO_CONFIG=FILE uses another replication configuration than scripts/demo-replication-config.json.
# Every command shown runs as shown, pasted into a fresh shell at the repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
case "$mode" in
"" | --check | --local | --walkthrough) ;;
*) echo "usage: scripts/demo.sh [--check | --local | --walkthrough]" >&2 && exit 2 ;;
esac
check=""
[ "$mode" = "--check" ] && check="--check"
config_file="${DEMO_CONFIG:-scripts/demo-replication-config.json}"
if [ ! -f "$config_file" ] || [ ! -r "$config_file" ]; then
  echo "demo: DEMO_CONFIG=$config_file: no such readable file" >&2
  exit 2
fi

bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
if [ "$mode" = "--check" ]; then python scripts/demo_s3.py selftest; fi
# A folder per mode: `make demo` (or its --check) beside a running `make local` leaves it alone.
work=.local/demo
[ "$mode" = "--walkthrough" ] && work=.local/walk
[ "$mode" = "--local" ] && work=.local/local
rm -rf "$work" && mkdir -p "$work"
# The function's own log (JSON lines: its log and its EMF metrics) apart from cargo-lambda's:
# two writers of one file overwrite each other's lines.
fn_log="$work/function.log"
watch_log="$work/watch.log"
# What a fresh shell has: no venv, no cargo (commands shown are run this way).
fresh_shell() { env -i HOME="$HOME" PATH=/usr/local/bin:/usr/bin:/bin bash -c "$1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # PORT PID: until something listens, while PID lives (10 minutes at most)
  for _ in $(seq 1200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.5
  done
  echo "demo: nothing listens on port $1; see $work/*.log" >&2
  return 1
}
groups=()
cleanup() { for g in "${groups[@]}"; do kill -- "-$g" 2>/dev/null || true; done; }
trap cleanup EXIT

s3_port=$(free_port)
setsid python scripts/moto_server.py "$s3_port" --parent-pid $$ >"$work/moto.log" 2>&1 &
groups+=($!)
wait_port "$s3_port" $!
endpoint="http://127.0.0.1:$s3_port"
echo "== local S3 (moto) at $endpoint: creating demo-source (us-east-1) and demo-replica (eu-west-1)"
python scripts/demo_s3.py setup "$endpoint" "$work/events"

cat >"$work/function.env" <<ENV
AWS_ENDPOINT_URL=$endpoint
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_EC2_METADATA_DISABLED=true
S3_FORCE_PATH_STYLE=true
RUST_LOG=info
ENV
# Read by bash (`. function.env`) and by `cargo lambda watch --env-file` (dotenv): one line in
# single quotes, which both take literally, so an apostrophe in the JSON is written \u0027 (the
# same JSON). A configuration that does not parse is written as it is, for bash only: the
# function's init check below stops the demo with its error before cargo-lambda reads the file.
python3 - "$config_file" >>"$work/function.env" <<'PY'
import json, shlex, sys
text = open(sys.argv[1]).read()
try:
    text = json.dumps(json.loads(text)).replace("'", "\\u0027")
    print("REPLICATION_CONFIG='" + text + "'")
except ValueError:
    print("REPLICATION_CONFIG=" + shlex.quote(text))
PY

binary=target/debug/s3-replicator
if [ "$mode" = "--check" ] || [ "$mode" = "--walkthrough" ] && [ -x "$binary" ] &&
  [ -z "$(find src Cargo.toml Cargo.lock -newer "$binary" -print -quit)" ]; then
  # In `make test` the test build has just made the binary: a plain `cargo build` would
  # compile the AWS SDK again (the tests' dev-dependencies change its features).
  echo "== the function: $binary, as the test build left it"
else
  echo "== building the function (the first build compiles the AWS SDK: several minutes)"
  cargo build --bin s3-replicator
fi

# The function's init, run once before anything is served: a configuration it rejects stops the
# demo here with its whole message (run with nothing behind its Runtime API, a function that
# starts stops at its first request for an event instead).
init_error=$(
  set -a
  . "$work/function.env"
  set +a
  export AWS_LAMBDA_FUNCTION_NAME=init-check AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256
  export AWS_LAMBDA_RUNTIME_API="127.0.0.1:$(free_port)"
  timeout 60 "$binary" 2>&1 >/dev/null | grep -m 1 '^invalid configuration: '
) || true
if [ -n "$init_error" ]; then
  echo "demo: the function cannot start with $config_file:" >&2
  echo "  $init_error" >&2
  echo "demo: fix the configuration (docs/configuration.md) and run the demo again" >&2
  exit 1
fi

fn_port=$(free_port)
fn_pid=""
if [ "$mode" = "--local" ]; then
  # cargo lambda builds the function, runs it and rebuilds it when src/ changes. The function's
  # lines (JSON: it writes nothing else once started) go to its log, cargo-lambda's and the
  # compiler's text to watch.log.
  setsid bash -c 'cargo lambda watch -A 127.0.0.1 -P "$1" --env-file "$2" 2>&1 |
    python -u scripts/demo_s3.py split-log "$3" "$4"' _ "$fn_port" "$work/function.env" "$fn_log" "$watch_log" &
  groups+=($!)
  wait_port "$fn_port" $!
else
  # cargo lambda serves the Runtime API; the function is that binary, run here with the same
  # environment. The file is handed to cargo-lambda too, as `make local` does: it reads it
  # at start, so a form it cannot parse fails here, not only in `make local`.
  setsid cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$fn_port" --env-file "$work/function.env" >"$watch_log" 2>&1 &
  groups+=($!)
  wait_port "$fn_port" $!
  (
    set -a
    . "$work/function.env"
    set +a
    export AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256
    export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$fn_port/.rt"
    exec setsid "$binary"
  ) >"$fn_log" 2>&1 &
  fn_pid=$!
  groups+=($!)
fi

# The commands as shown: relative paths, the venv's tools named by path.
invoke_cmd() { # FILE
  echo ".venv/bin/cargo-lambda lambda invoke -A 127.0.0.1 -P $fn_port -F $1"
}
cli_cmd() { # ARGS...: the command-line tool on the demo's S3 and configuration (two lines)
  printf '(set -a; . %s\n   %s %s)\n' "$work/function.env" "$binary" "$*"
}

invoke() { # FIXTURE: one invocation, as its header shows it; a function that stops ends the demo
  local file="$work/events/$1" out=0 pid waited=0
  # Stamped as it is sent, so the latency the function measures is this demo's, not the fixture's.
  python scripts/demo_s3.py stamp "$file"
  fresh_shell "$(invoke_cmd "$file")" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ -n "$fn_pid" ] && ! kill -0 "$fn_pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      echo "demo: the function stopped; the end of its log ($fn_log):" >&2
      tail -n 5 "$fn_log" | cut -c1-300 | sed 's/^/  /' >&2
      exit 1
    fi
    if [ "$waited" -ge 1200 ]; then
      kill "$pid" 2>/dev/null || true
      echo "demo: no answer from the function within 120 s; see $fn_log" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" || out=$?
  return "$out"
}

invoke_batch() { # FIXTURE EXPECTED: a Batch Operations job, every task's resultString EXPECTED
  local out
  out=$(invoke "$1") || { echo "$out"; return 1; }
  # One line per task (key and result) rather than the raw answer.
  if ! echo "$out" | python scripts/demo_s3.py job-summary "$2" "$work/events/$1"; then
    echo "demo: a task's result is not \"$2\"" >&2
    return 1
  fi
}

# What `make local` prints: each event (re-aimed at the objects just uploaded, stamped with
# their write time), the Batch Operations task and the backfill for the objects written before
# replication, then a Batch Operations verify job naming every object a rule selects, and the
# comparison, which ends clean.
events=(object-created-put.json several-records.json key-with-special-characters.json
  non-matching-prefix.json object-removed-delete-marker.json object-restore-completed.json
  sqs-s3-notification.json sqs-sns-s3-notification.json eventbridge-object-created.json
  sqs-eventbridge-object-created.json)
steps=()
for f in "${events[@]}" batch-operations-1.0.json; do steps+=("$(invoke_cmd "$work/events/$f")"); done
steps+=("$(cli_cmd backfill --bucket demo-source)")
steps+=("$(invoke_cmd "$work/events/batch-operations-2.0-verify.json")")
steps+=(".venv/bin/python scripts/demo_s3.py show $endpoint")

if [ "$mode" = "--local" ]; then
  cat <<TEXT

== running until Ctrl-C
local S3:  $endpoint  (buckets demo-source and demo-replica; test/test credentials, path style)
function:  cargo lambda watch on 127.0.0.1:$fn_port, rebuilt when src/ changes; log: $fn_log
           (cargo-lambda's own lines and the builds: $watch_log)

In another shell at $PWD, paste these one by one (or all at once). The events name the objects
just uploaded (each replicates, or is skipped or ignored for the reason its name says); their
times are those of the writes, so the latency the function measures includes your wait.
TEXT
  printf '%s\n' "${steps[@]}" | sed 's/^/  /'
  cat <<TEXT

The last two: an S3 Batch Operations job in verify mode answers "same" for every object a rule
selects, and sources and replicas side by side end with "Every replica matches its source".
TEXT
  wait
  exit 0
fi

if [ "$mode" = "--walkthrough" ]; then
  echo "== make local's commands, each run in a fresh shell"
  status=0
  for step in "${steps[@]}"; do
    if fresh_shell "$step" >"$work/out.txt" 2>&1; then echo "ok $step"; else
      echo "FAIL $step" && sed 's/^/     /' "$work/out.txt" && status=1
    fi
    case "$step" in
    *batch-operations-2.0-verify.json)
      python scripts/demo_s3.py job-summary same "$work/events/batch-operations-2.0-verify.json" \
        <"$work/out.txt" >"$work/summary.txt" || { cat "$work/summary.txt" && status=1; } ;;
    esac
  done
  python scripts/demo_s3.py show "$endpoint" --check >"$work/out.txt" || { cat "$work/out.txt" && status=1; }
  tail -n 3 "$work/out.txt"
  # The events carry their writes' times: latency counts seconds here, not the fixtures' age.
  python scripts/demo_s3.py metrics "$fn_log" --check | tail -n 1 || status=1
  exit $status
fi

status=0
echo "(each == command runs as shown while this demo runs; \`make local\` keeps its S3 and function up to try them)"
echo
for fixture in "${events[@]}"; do
  echo "== $(invoke_cmd "$work/events/$fixture")"
  case "$fixture" in
  sqs-*) # an SQS batch answers with the messages to return to the queue: none, here
    out=$(invoke "$fixture") || status=1
    echo "$out"
    echo "$out" | grep -q '"batchItemFailures": *\[\]' || { echo "demo: messages failed" >&2; status=1; } ;;
  *) invoke "$fixture" || status=1 ;;
  esac
  echo
done

# The same binary as a command-line tool, on the function's S3 and configuration, as shown.
cli() { fresh_shell "$(cli_cmd "$@")"; }
echo "== $(invoke_cmd "$work/events/batch-operations-1.0.json")"
echo "   an S3 Batch Operations task replicates one object written before replication (no event names it)"
invoke_batch batch-operations-1.0.json replicated || status=1
echo
echo "== $(cli_cmd backfill --bucket demo-source)"
echo "   the command-line tool (the same binary) backfills the other objects written before replication"
cli backfill --bucket demo-source || status=1

python scripts/demo_s3.py show "$endpoint" $check || status=1
echo "(the function's log: $fn_log; cargo-lambda's: $watch_log)"

echo
echo "== metrics: CloudWatch Embedded Metric Format documents in the function's log"
python scripts/demo_s3.py metrics "$fn_log" $check || status=1
echo
jobs=$(python scripts/demo_s3.py verify-job "$endpoint" "$work/events/demo-verify-job.json")
echo "== $(invoke_cmd "$work/events/demo-verify-job.json")"
echo "   an S3 Batch Operations job in verify mode, one task per replica ($jobs: every key in demo-replica),"
echo "   the same proof as verify below, as a job runs it at any scale"
invoke_batch demo-verify-job.json same || status=1
echo
echo "== a bad deploy overwrites everything under reports/ in demo-source (other bytes, metadata"
echo "   and tags; S3 would send events for these writes, the demo sends none: the replicas keep the"
echo "   good versions); then restore --as-of brings each key back to its version of that time"
sleep 1.1 # S3's Last-Modified has one-second resolution: T falls between the two passes
as_of=$(date -u +%Y-%m-%dT%H:%M:%SZ) # whole seconds, as S3 records Last-Modified
sleep 1.1
echo "   $(python scripts/demo_s3.py bad-deploy "$endpoint" reports/) objects overwritten after $as_of"
echo "== $(cli_cmd restore --bucket demo-source --prefix reports/ --as-of "$as_of")"
cli restore --bucket demo-source --prefix reports/ --as-of "$as_of" || status=1
echo
echo "== $(cli_cmd repair --bucket demo-source)"
cat <<'TEXT'
   Restoring writes each good version again, as a new version: S3 would send an event for each and
   the function would replicate it; here repair does. It first verifies, and its `differs ...
   replica-marker` lines are expected: each replica holds the restored bytes, metadata and tags
   already, but names (replica-source-version-id) the version it was copied from, no longer the
   source's current one. Then it replicates those, and verify below finds nothing to repair.
TEXT
cli repair --bucket demo-source || status=1
echo
echo "== $(cli_cmd verify --bucket demo-source --deep)"
echo "   every replica proven: bytes, metadata, tags, ACL and the version it names"
cli verify --bucket demo-source --deep || status=1
if [ "$mode" = "--check" ]; then
  echo
  # With an apostrophe in the configuration (a rule ID here; prefixes may hold one too): the
  # environment file must stay readable by both bash and cargo-lambda.
  python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["Rules"][0]["ID"] += " (it'"'"'s the demo'"'"'s)"
json.dump(c, open(sys.argv[2], "w"))' "$config_file" "$work/walk-config.json"
  echo "== DEMO_CONFIG=$work/walk-config.json scripts/demo.sh --walkthrough (a rule ID with an apostrophe)"
  DEMO_CONFIG="$work/walk-config.json" bash scripts/demo.sh --walkthrough || status=1
  # A configuration the function rejects stops the demo at once, its whole message shown.
  python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); c["Rules"][0]["Destination"]["StorageClass"] = "FAST"
json.dump(c, open(sys.argv[2], "w"))' "$config_file" "$work/broken-config.json"
  echo "== DEMO_CONFIG=$work/broken-config.json scripts/demo.sh --walkthrough: stops at once"
  start=$SECONDS
  if DEMO_CONFIG="$work/broken-config.json" timeout 120 bash scripts/demo.sh --walkthrough >"$work/broken.txt" 2>&1 ||
    [ $((SECONDS - start)) -gt 30 ] || ! grep -q '"FAST" is not one of STANDARD' "$work/broken.txt"; then
    echo "demo: a broken configuration did not stop the demo at once with its whole message:" >&2
    cat "$work/broken.txt" >&2
    status=1
  else
    grep -A1 'cannot start' "$work/broken.txt" | cut -c1-120
  fi
fi
exit $status

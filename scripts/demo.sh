#!/usr/bin/env bash
# The local demo: a moto S3 server, versioned buckets in us-east-1 and eu-west-1, the function
# served by `cargo lambda watch --only-lambda-apis` (the binary run here, so that `make test` can
# reuse the test build) and triggered by `cargo lambda invoke --data-file` with the events/
# fixtures (re-aimed at the objects just uploaded), then the objects written before replication
# backfilled, sources and replicas side by side, and `s3-replicator verify`.
#   --check   exit non-zero if any replica differs from its source (used by `make test`)
#   --local   set everything up, invoke nothing, print the invoke commands and keep the local S3
#             and `cargo lambda watch` running until Ctrl-C (`make local`)
# DEMO_CONFIG=FILE uses another replication configuration than scripts/demo-replication-config.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
check=""
[ "$mode" = "--check" ] && check="--check"
config_file="${DEMO_CONFIG:-scripts/demo-replication-config.json}"

bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
work=.local/demo
rm -rf "$work" && mkdir -p "$work"

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
# The function's init error, if it failed to start (a bad configuration), on the terminal.
init_error() {
  grep -h -o 'invalid configuration: [^"]*' "$work/watch.log" 2>/dev/null | head -n 1
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
REPLICATION_CONFIG='$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$config_file")'
ENV

binary=target/debug/s3-replicator
fn_port=$(free_port)
fn_name=s3-replicator
if [ "$mode" = "--local" ]; then
  # cargo lambda builds the function and rebuilds it when src/ changes.
  echo "== building the function (the first build compiles the AWS SDK: several minutes)"
  cargo build --bin s3-replicator
  setsid cargo lambda watch -A 127.0.0.1 -P "$fn_port" --env-file "$work/function.env" >"$work/watch.log" 2>&1 &
  groups+=($!)
  wait_port "$fn_port" $!
else
  if [ "$mode" = "--check" ] && [ -x "$binary" ] && [ -z "$(find src Cargo.toml Cargo.lock -newer "$binary" -print -quit)" ]; then
    # In `make test` the test build has just made the binary: a plain `cargo build` would
    # compile the AWS SDK again (the tests' dev-dependencies change its features).
    echo "== the function: $binary, as the test build left it"
  else
    echo "== building the function (the first build compiles the AWS SDK: several minutes)"
    cargo build --bin s3-replicator
  fi
  # cargo lambda serves the Runtime API; the function is that binary, run here.
  setsid cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P "$fn_port" >"$work/watch.log" 2>&1 &
  groups+=($!)
  wait_port "$fn_port" $!
  fn_name=_
  (
    set -a
    . "$work/function.env"
    set +a
    export AWS_LAMBDA_FUNCTION_NAME=_ AWS_LAMBDA_FUNCTION_VERSION=1 AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256
    export AWS_LAMBDA_RUNTIME_API="http://127.0.0.1:$fn_port/.rt"
    exec setsid "$binary"
  ) >>"$work/watch.log" 2>&1 &
  groups+=($!)
fi

invoke() { # FIXTURE: one invocation, never waiting forever; an init error is shown, not hidden
  local out=0
  # Stamped as it is sent, so the latency the function measures is this demo's, not the fixture's.
  python scripts/demo_s3.py stamp "$work/events/$1"
  timeout 120 cargo lambda invoke "$fn_name" -A 127.0.0.1 -P "$fn_port" --data-file "$work/events/$1" || out=$?
  if err=$(init_error) && [ -n "$err" ]; then
    echo "demo: the function failed to start: $err" >&2
    echo "demo: fix $config_file (see README, Configuration reference); log: $work/watch.log" >&2
    exit 1
  fi
  [ "$out" -eq 124 ] && echo "demo: no answer from the function within 120 s; see $work/watch.log" >&2
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

if [ "$mode" = "--local" ]; then
  cat <<TEXT

== running until Ctrl-C
local S3:  $endpoint  (buckets demo-source and demo-replica; test/test credentials, path style)
function:  cargo lambda watch on 127.0.0.1:$fn_port, rebuilt when src/ changes; log: $work/watch.log

Invoke it with an event re-aimed at the objects just uploaded (each replicates, or is skipped or
ignored for the reason its name says):
TEXT
  for fixture in "$work"/events/*.json; do
    echo "  PATH=$PWD/.venv/bin:\$PATH cargo lambda invoke s3-replicator -A 127.0.0.1 -P $fn_port --data-file $fixture"
  done
  cat <<TEXT

Then compare sources and replicas:
  $PWD/.venv/bin/python scripts/demo_s3.py show $endpoint
TEXT
  wait
  exit 0
fi

status=0
for fixture in object-created-put.json several-records.json key-with-special-characters.json \
  non-matching-prefix.json object-removed-delete-marker.json object-restore-completed.json \
  sqs-s3-notification.json sqs-sns-s3-notification.json eventbridge-object-created.json \
  sqs-eventbridge-object-created.json; do
  echo "== cargo lambda invoke s3-replicator --data-file events/$fixture"
  case "$fixture" in
  sqs-*) # an SQS batch answers with the messages to return to the queue: none, here
    out=$(invoke "$fixture") || status=1
    echo "$out"
    echo "$out" | grep -q '"batchItemFailures": *\[\]' || { echo "demo: messages failed" >&2; status=1; } ;;
  *) invoke "$fixture" || status=1 ;;
  esac
  echo
done

# The same binary as a command-line tool, on the same configuration.
cli() {
  AWS_ENDPOINT_URL="$endpoint" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_EC2_METADATA_DISABLED=true S3_FORCE_PATH_STYLE=true \
    target/debug/s3-replicator "$@" --config "$config_file"
}
echo "== cargo lambda invoke --data-file events/batch-operations-1.0.json: an S3 Batch Operations task"
echo "   replicates one object written before replication (no event names it)"
invoke_batch batch-operations-1.0.json replicated || status=1
echo
echo "== s3-replicator backfill --bucket demo-source: the other objects written before replication"
cli backfill --bucket demo-source || status=1

python scripts/demo_s3.py show "$endpoint" $check
echo "(function log: $work/watch.log)"

echo
echo "== metrics: CloudWatch Embedded Metric Format documents in the function's log"
.venv/bin/python - "$work/watch.log" <<'PY' || status=1
import collections, json, sys
totals = collections.Counter()
latencies = []
documents = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if "_aws" not in doc:
        continue
    documents += 1
    seen_latency = False
    for directive in doc["_aws"]["CloudWatchMetrics"]:
        dims = directive["Dimensions"][0]
        for metric in directive["Metrics"]:
            name, value = metric["Name"], doc[metric["Name"]]
            label = name + "".join(f" {d}={doc[d]}" for d in dims if d not in ("SourceBucket",))
            if name == "ReplicationLatency" and not seen_latency:
                # Several dimension sets can name one document's samples: count them once.
                seen_latency = True
                latencies.extend(value if isinstance(value, list) else [value])
            totals[label] += len(value) if isinstance(value, list) else value
if not documents:
    sys.exit("demo: the function wrote no EMF document")
print(f"{documents} documents (namespace S3Replicator); summed over the demo's invocations:")
for label, total in sorted(totals.items()):
    if not label.startswith("ReplicationLatency"):
        print(f"  {label}: {total:g}")
if latencies:
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(f"  ReplicationLatency (event time to replica written): p50 {pick(0.5):.0f} ms, "
          f"p99 {pick(0.99):.0f} ms over {len(latencies)} replicas")
PY

echo
echo "== cargo lambda invoke: an S3 Batch Operations job in verify mode, one task per replica, the"
echo "   same proof as verify below, as a job runs it at any scale"
jobs=$(python scripts/demo_s3.py verify-job "$endpoint" "$work/events/demo-verify-job.json")
echo "   ($jobs tasks: every key in demo-replica)"
invoke_batch demo-verify-job.json same || status=1
echo
echo "== a bad deploy overwrites everything under reports/ in demo-source (other bytes, metadata"
echo "   and tags); then s3-replicator restore --as-of brings each key back to its version of that time"
sleep 1.1 # S3's Last-Modified has one-second resolution: T falls between the two passes
as_of=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.1
echo "   $(python scripts/demo_s3.py bad-deploy "$endpoint" reports/) objects overwritten after $as_of"
cli restore --bucket demo-source --prefix reports/ --as-of "$as_of" || status=1
echo
echo "== s3-replicator repair --bucket demo-source: the restored versions replicated, as the events"
echo "   S3 sends for them would (the replicas hold the same bytes, but name the versions overwritten)"
cli repair --bucket demo-source || status=1
echo
echo "== s3-replicator verify --bucket demo-source --deep: every replica proven"
cli verify --bucket demo-source --deep || status=1
exit $status

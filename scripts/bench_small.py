"""Benchmark: 300 small objects (1 KiB, with user metadata) on the local S3, in one run on one
server: the function replicating them from their events (the release binary under `cargo lambda
watch`'s Runtime API, invoked one event after another over its Invoke API), `rclone copy` and
`aws s3 sync`. Seconds, objects/s, S3 requests per object (from the server's request log), the
ratio to rclone, and the function's per-event latency p50/p99 (invoke to answer): back to back,
and for STEADY_EVENTS more objects whose events are sent at a steady STEADY_RATE per second.

Usage: bench_small.py AWS_CLI   (make bench passes the aws command of its own venv)
Prints a table and appends it, dated, to BENCHMARKS.md.
"""

import datetime
import json
import os
import subprocess
import sys
import time
import urllib.request

from bench_common import (ROOT, bucket, free_port, rclone_env, record, s3_record,
                          served_requests, start_moto, wait_for)

OBJECTS = 300
STEADY_EVENTS = 100
STEADY_RATE = 10  # events per second, well under what one function instance serves here


def main():
    aws = sys.argv[1]
    fn_port = free_port()
    log = ROOT / "target/bench-small-moto.log"
    moto, endpoint, s3 = start_moto(log)
    procs = [moto]
    try:
        for b in ("small-src", "small-fn", "small-rclone", "small-aws"):
            bucket(s3, b)
        events = []
        for n in range(OBJECTS):
            key = f"small/object-{n:04}.txt"
            put = s3.put_object(Bucket="small-src", Key=key, Body=os.urandom(1024),
                                Metadata={"n": str(n), "team": "bench"})
            events.append({"Records": [s3_record("small-src", key, put, n)]})

        env = dict(os.environ)
        env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1",
                    "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_EC2_METADATA_DISABLED": "true", "S3_FORCE_PATH_STYLE": "true",
                    "DESTINATION_BUCKET": "small-fn", "DESTINATION_REGION": "us-east-1",
                    "RUST_LOG": "warn"})
        watch = subprocess.Popen([str(ROOT / ".venv/bin/cargo-lambda"), "lambda", "watch",
                                  "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(fn_port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        procs.append(watch)
        wait_for(fn_port, watch)
        env.update({"AWS_LAMBDA_FUNCTION_NAME": "_", "AWS_LAMBDA_FUNCTION_VERSION": "1",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                    "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{fn_port}/.rt"})
        function = subprocess.Popen([str(ROOT / "target/release/s3-replicator")], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(function)
        invoke_url = f"http://127.0.0.1:{fn_port}/2015-03-31/functions/_/invocations"

        def invoke(event):
            request = urllib.request.Request(invoke_url, data=json.dumps(event).encode(),
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.loads(answer.read())

        # One warm-up invocation (the first object), not counted.
        invoke(events[0])
        before = served_requests(log)
        latencies = []
        started = time.monotonic()
        for event in events[1:]:
            t = time.monotonic()
            answer = invoke(event)
            latencies.append(time.monotonic() - t)
            assert answer.get("replicated") == 1, answer
        fn_seconds = time.monotonic() - started
        fn_requests = served_requests(log) - before
        objects = OBJECTS - 1

        before = served_requests(log)
        started = time.monotonic()
        subprocess.run(["rclone", "copy", "local:small-src", "local:small-rclone"], check=True,
                       env=rclone_env(endpoint), capture_output=True)
        rclone_seconds = time.monotonic() - started
        rclone_requests = served_requests(log) - before

        before = served_requests(log)
        aws_env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                       AWS_DEFAULT_REGION="us-east-1")
        started = time.monotonic()
        subprocess.run([aws, "s3", "sync", "s3://small-src", "s3://small-aws", "--endpoint-url",
                        endpoint, "--only-show-errors"], check=True, env=aws_env)
        aws_seconds = time.monotonic() - started
        aws_requests = served_requests(log) - before

        # Latency at a steady rate: each event is sent at its time (or when the one before it
        # is answered, if that is later).
        steady_events = []
        for n in range(STEADY_EVENTS):
            key = f"steady/object-{n:04}.txt"
            put = s3.put_object(Bucket="small-src", Key=key, Body=os.urandom(1024),
                                Metadata={"n": str(n), "team": "bench"})
            steady_events.append({"Records": [s3_record("small-src", key, put, OBJECTS + n)]})
        steady = []
        started = time.monotonic()
        for i, event in enumerate(steady_events):
            wait = started + i / STEADY_RATE - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            t = time.monotonic()
            answer = invoke(event)
            steady.append(time.monotonic() - t)
            assert answer.get("replicated") == 1, answer
    finally:
        for p in reversed(procs):
            p.terminate()

    def pct(samples, q):
        samples = sorted(samples)
        return samples[min(len(samples) - 1, int(q * len(samples)))] * 1000
    rows = [
        ("s3-replicator, one event per invocation (release build, cargo lambda watch)",
         fn_seconds, fn_requests, objects),
        ("rclone copy (server-side copies)", rclone_seconds, rclone_requests, OBJECTS),
        ("aws s3 sync", aws_seconds, aws_requests, OBJECTS),
    ]
    base = rclone_seconds / OBJECTS
    lines = [
        f"### {datetime.date.today().isoformat()}: {OBJECTS} small objects (1 KiB, user "
        f"metadata), moto on 127.0.0.1, {os.cpu_count()} cores",
        "",
        "| tool | seconds | objects/s | S3 requests per object | time per object vs rclone |",
        "|---|---|---|---|---|",
    ]
    for name, seconds, requests, n in rows:
        lines.append(f"| {name} | {seconds:.1f} | {n / seconds:.0f} | {requests / n:.2f} | "
                     f"{seconds / n / base:.2f}x |")
    lines += ["", "Function latency per event (invoke to answer): "
              f"at a steady {STEADY_RATE} events/s ({STEADY_EVENTS} events) "
              f"p50 {pct(steady, 0.5):.0f} ms, p99 {pct(steady, 0.99):.0f} ms; "
              f"sent one after another, p50 {pct(latencies, 0.5):.0f} ms, "
              f"p99 {pct(latencies, 0.99):.0f} ms."]
    record("\n".join(lines))


if __name__ == "__main__":
    main()

"""Benchmark: 300 small objects (1 KiB, with user metadata) on the local S3, in one run on one
server: the function replicating them from their events (the release binary under `cargo lambda
watch`'s Runtime API, invoked one event after another over its Invoke API), `rclone copy` and
`aws s3 sync`. Seconds, objects/s, S3 requests per object (from the server's request log), the
ratio to rclone, and the function's per-event latency p50/p99 (invoke to answer).

Usage: bench_small.py AWS_CLI   (make bench passes the aws command of its own venv)
Prints a table and appends it, dated, to BENCHMARKS.md.
"""

import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.request

import boto3

from bench_multipart import free_port, wait_for
from bench_verify import rclone_env

ROOT = pathlib.Path(__file__).resolve().parent.parent
OBJECTS = 300


def count_requests(log):
    time.sleep(0.3)
    return sum(1 for line in log.read_text(errors="replace").splitlines() if '" 2' in line
               or '" 3' in line or '" 4' in line)


def record(bucket, key, put, n):
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:BENCH"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1024, "eTag": put["ETag"].strip('"'),
                              "versionId": put["VersionId"], "sequencer": f"{n:016X}"}}}


def main():
    aws = sys.argv[1]
    port, fn_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = ROOT / "target/bench-small-moto.log"
    with log.open("w") as err:
        moto = subprocess.Popen([sys.executable, str(ROOT / "scripts/moto_server.py"), str(port),
                                 "--parent-pid", str(os.getpid())],
                                stdout=subprocess.DEVNULL, stderr=err)
    procs = [moto]
    try:
        wait_for(port, moto)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=boto3.session.Config(s3={"addressing_style": "path"}))
        for b in ("small-src", "small-fn", "small-rclone", "small-aws"):
            s3.create_bucket(Bucket=b)
            s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        events = []
        for n in range(OBJECTS):
            key = f"small/object-{n:04}.txt"
            put = s3.put_object(Bucket="small-src", Key=key, Body=os.urandom(1024),
                                Metadata={"n": str(n), "team": "bench"})
            events.append({"Records": [record("small-src", key, put, n)]})

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
        before = count_requests(log)
        latencies = []
        started = time.monotonic()
        for event in events[1:]:
            t = time.monotonic()
            answer = invoke(event)
            latencies.append(time.monotonic() - t)
            assert answer.get("replicated") == 1, answer
        fn_seconds = time.monotonic() - started
        fn_requests = count_requests(log) - before
        objects = OBJECTS - 1

        before = count_requests(log)
        started = time.monotonic()
        subprocess.run(["rclone", "copy", "local:small-src", "local:small-rclone"], check=True,
                       env=rclone_env(endpoint), capture_output=True)
        rclone_seconds = time.monotonic() - started
        rclone_requests = count_requests(log) - before

        before = count_requests(log)
        aws_env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                       AWS_DEFAULT_REGION="us-east-1")
        started = time.monotonic()
        subprocess.run([aws, "s3", "sync", "s3://small-src", "s3://small-aws", "--endpoint-url",
                        endpoint, "--only-show-errors"], check=True, env=aws_env)
        aws_seconds = time.monotonic() - started
        aws_requests = count_requests(log) - before
    finally:
        for p in reversed(procs):
            p.terminate()

    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
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
    lines += ["", f"Function latency per event (invoke to answer): p50 {pct(0.5):.0f} ms, "
              f"p99 {pct(0.99):.0f} ms, events sent one after another."]
    table = "\n".join(lines)
    print(table)
    with (ROOT / "BENCHMARKS.md").open("a") as f:
        f.write("\n" + table + "\n")


if __name__ == "__main__":
    main()

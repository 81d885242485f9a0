"""Benchmark with real round trips: 200 objects of 1 KiB copied by each contender at the same
concurrency (8), through a small proxy in front of the local S3 that holds every request for a
round trip: 10 ms to the source bucket (same region), 70 ms to any other bucket (cross-region).
On the local S3 alone a request costs a millisecond, which measures the server, not the round
trips that decide speed on AWS.

Contenders: s5cmd cp (8 workers), aws s3 sync (8 concurrent requests), rclone copy (8
transfers), the function under a small Runtime API emulator with 8 environments (one event per
object, each environment taking the next event as soon as it is free), and backfill
(--concurrency 8), then backfill again over the bucket it just filled (in sync).

Reports seconds, time against s5cmd, S3 requests per object by operation (counted at the
proxy), the function's event latency p50/p99 (from the emulator handing an event over to the
answer): one event at a time, against one blind CopyObject through the proxy timed by the
harness and against the floor of one cross-region round trip; and at 8 at once, against
s5cmd's time per object per worker. Then the function's cost per million objects from the
measured requests and durations.

Usage: bench_latency.py AWS_CLI S5CMD [--rgw]   (make bench passes its venv's commands)
With --rgw the local S3 behind the proxy is a throwaway Ceph RGW (scripts/rgw.sh), which answers
requests in parallel, instead of moto: the function's own endpoint, source and destinations
alike (single-part objects only: RGW's server-side copies of 1 KiB objects work there).
Prints a table and appends it, dated, to BENCHMARKS.md.
"""

import collections
import datetime
import http.client
import http.server
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import boto3

from bench_common import (ROOT, bucket, free_port, load_average, rclone_env, record, s3_record,
                          start_moto, start_rgw, wait_for)

OBJECTS = 200
CONCURRENCY = 8
# The one-at-a-time pair: the first 100 objects (small/object-0000 to -0099).
ONE_AT_A_TIME = 100
ONE_PREFIX = "small/object-00"
ONE_EVENT_AT_A_TIME = 50
BATCH = 1000
RECORD_CONCURRENCY = 64
SOURCE = "lat-src"
SOURCE_TRIP = 0.010
REMOTE_TRIP = 0.070
# The batch again with every round trip DILATION times longer: the ideal then asks the local S3
# for DILATION times fewer requests per second, within what moto serves on 2 cores, so the
# ratio measures the function's own concurrency, not the harness's ceiling. At 30 times the
# ideal asked for about 113 requests/s, near moto's 80 to 190 here, and the same binary
# measured 1.2x to 2.5x from one run to the next; at 60 times it asks for about 57.
DILATION = 60
DILATED_EVENTS = 9
# US East (N. Virginia), December 2026.
PUT_CLASS = 0.005 / 1000
GET_CLASS = 0.0004 / 1000
LAMBDA_REQUEST = 0.20 / 1_000_000
LAMBDA_GB_SECOND_ARM = 0.0000133334
NATIVE_REPLICATION_PUT = 0.005 / 1000  # the replica PUT native replication charges
CROSS_REGION_GB = 0.02


def operation(method, path, query, headers):
    """The S3 operation of a request, from its method, query and headers."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    keyed = path.strip("/").count("/") >= 1
    for sub, name in (("versions", "ListObjectVersions"), ("acl", "ObjectAcl"),
                      ("tagging", "ObjectTagging"), ("location", "GetBucketLocation"),
                      ("uploads", "MultipartUpload"), ("versioning", "BucketVersioning"),
                      ("ownershipControls", "OwnershipControls"),
                      ("object-lock", "ObjectLockConfiguration")):
        if sub in q:
            return f"{method} {name}"
    if method == "GET" and not keyed:
        return "ListObjects"
    if method == "PUT" and "x-amz-copy-source" in headers:
        return "CopyObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject",
            "DELETE": "DeleteObject", "POST": "POST"}.get(method, method)


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, dilation=1):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream
        self.dilation = dilation
        self.counts = collections.Counter()
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            counts, self.counts = self.counts, collections.Counter()
        return counts


class NoDelay(http.server.BaseHTTPRequestHandler):
    """A handler whose answers go out at once. Headers and body leave in two writes: without
    TCP_NODELAY, Nagle's algorithm and the client's delayed ACK hold the body up to 40 ms, a
    delay neither S3 nor the Lambda Runtime API adds."""
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass


class Handler(NoDelay):
    """Relays each request to the local S3 after its bucket's round trip."""

    def relay(self):
        url = urllib.parse.urlsplit(self.path)
        first = url.path.strip("/").split("/", 1)[0]
        time.sleep((SOURCE_TRIP if first == SOURCE else REMOTE_TRIP) * self.server.dilation)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "expect", "keep-alive")}
        with self.server.lock:
            lowered = {k.lower() for k in headers}
            self.server.counts[operation(self.command, url.path, url.query, lowered)] += 1
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        # A HEAD answer says the object's length, with no body.
        length = answer.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay


class RuntimeApi(http.server.ThreadingHTTPServer):
    """The Lambda Runtime API for several environments: each `next` takes the next event."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.events = queue.Queue()
        self.handed = {}
        self.answered = {}
        self.lock = threading.Lock()


class RuntimeHandler(NoDelay):
    """`next` hands out the next event; a response or error records the answer."""

    def do_GET(self):
        request_id, event = self.server.events.get()
        with self.server.lock:
            self.server.handed[request_id] = time.monotonic()
        body = json.dumps(event).encode()
        deadline = int(time.time() * 1000) + 300_000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        answer = self.rfile.read(length)
        request_id = self.path.split("/invocation/")[1].split("/")[0]
        with self.server.lock:
            self.server.answered[request_id] = (time.monotonic(), answer)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def one_event(api, s3, key, name, n):
    """Puts `key` in the source, hands its event alone to `api`'s environment and waits for the
    answer: seconds from handing the event over to the answer."""
    put = s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(1024))
    api.events.put((name, {"Records": [s3_record(SOURCE, key, put, n)]}))
    while name not in api.answered:
        time.sleep(0.001)
    return api.answered[name][0] - api.handed[name]


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


def timed(command, env):
    start = time.monotonic()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        sys.exit(f"bench: {command[0]} failed: {done.stderr.decode(errors='replace')[-400:]}")
    return time.monotonic() - start


def percentile_99(values):
    """The 99th percentile of `values` (the largest, for fewer than 100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def cpu_seconds(pid):
    """The CPU time (user and system) a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    aws, s5cmd = sys.argv[1], sys.argv[2]
    on_rgw = "--rgw" in sys.argv[3:]
    if on_rgw:
        stop_rgw, endpoint, s3 = start_rgw()
        server, load_before = "Ceph RGW", load_average()
    else:
        moto, endpoint, s3 = start_moto()
        server, load_before = "moto", None
    proxy = Proxy(("127.0.0.1", int(endpoint.rsplit(":", 1)[1])))
    proxied = "http://" + serve(proxy)
    procs = [] if on_rgw else [moto]
    rows, notes = [], []
    try:
        batch_puts, one_latencies, blind_trips, batch_cpu = [], [], [], []
        dilated_latencies = []
        for b in (SOURCE, "lat-s5", "lat-aws", "lat-rc", "lat-fn", "lat-bf", "lat-batch",
                  "lat-s5-one", "lat-bf-one", "lat-trip", "lat-dilated", "lat-s5-dil", "lat-bf-dil"):
            bucket(s3, b)
        puts = []
        for n in range(OBJECTS):
            key = f"small/object-{n:04}.txt"
            puts.append((key, s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(1024),
                                            Metadata={"n": str(n)})))
        creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                 "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}
        env = dict(os.environ, **creds)
        results, objects_of, peer_of = {}, {}, {}

        def measure(name, run, objects=OBJECTS, peer="s5cmd cp (8 workers)"):
            proxy.take()
            seconds = run()
            results[name] = (seconds, proxy.take())
            objects_of[name], peer_of[name] = objects, peer

        measure("s5cmd cp (8 workers)", lambda: timed(
            [s5cmd, "--endpoint-url", proxied, "--numworkers", str(CONCURRENCY), "cp",
             f"s3://{SOURCE}/*", "s3://lat-s5/"], env))
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg:
            cfg.write(f"[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = {CONCURRENCY}\n"
                      "  addressing_style = path\n")
        measure("aws s3 sync (8 requests)", lambda: timed(
            [aws, "s3", "sync", f"s3://{SOURCE}", "s3://lat-aws", "--endpoint-url", proxied,
             "--only-show-errors"], dict(env, AWS_CONFIG_FILE=cfg.name)))
        rclone = subprocess.run(["which", "rclone"], capture_output=True, text=True).stdout.strip()
        if rclone:
            measure("rclone copy (8 transfers)", lambda: timed(
                [rclone, "copy", f"local:{SOURCE}", "local:lat-rc", "--transfers",
                 str(CONCURRENCY), "--checkers", str(CONCURRENCY)], rclone_env(proxied)))

        # The function: 8 environments on one emulated Runtime API, one event per object.
        api = RuntimeApi()
        api_at = serve(api)
        fn_env = dict(env, AWS_ENDPOINT_URL=proxied, S3_FORCE_PATH_STYLE="true",
                      DESTINATION_BUCKET="lat-fn", DESTINATION_REGION="us-east-1",
                      REPLICATE_PREFIXES="small/",
                      RUST_LOG="warn", AWS_LAMBDA_FUNCTION_NAME="bench",
                      AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
                      AWS_LAMBDA_RUNTIME_API=api_at)
        binary = str(ROOT / "target/release/s3-replicator")
        for _ in range(CONCURRENCY):
            procs.append(subprocess.Popen([binary], env=fn_env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        # One warm-up event per environment, not counted: an object no rule selects (the rules
        # replicate small/), read once, so each environment has started and connected.
        for i in range(CONCURRENCY):
            key = f"warm/{i}"
            put = s3.put_object(Bucket=SOURCE, Key=key, Body=b"warm")
            api.events.put((f"warm-{i}", {"Records": [s3_record(SOURCE, key, put, i)]}))
        while len(api.answered) < CONCURRENCY:
            time.sleep(0.05)

        def function():
            start = time.monotonic()
            for n, (key, put) in enumerate(puts):
                api.events.put((f"req-{n}", {"Records": [s3_record(SOURCE, key, put, n)]}))
            while sum(1 for k in api.answered if k.startswith("req-")) < OBJECTS:
                time.sleep(0.01)
            return time.monotonic() - start
        measure("the function, 8 environments", function)
        latencies = sorted((api.answered[k][0] - api.handed[k]) * 1000
                           for k in api.answered if k.startswith("req-"))
        failed = [k for k, (_, a) in api.answered.items() if b"errorType" in a]
        if failed:
            sys.exit(f"bench: invocations failed: {[(k, api.answered[k][1][:300]) for k in failed[:2]]}")

        # One invocation of BATCH records (an SQS batch can hold 10,000), RECORD_CONCURRENCY
        # keys at once, in a ninth environment of its own.
        for n in range(BATCH):
            key = f"batch/object-{n:04}.txt"
            batch_puts.append((key, s3.put_object(Bucket=SOURCE, Key=key, Body=os.urandom(1024))))
        batch_api = RuntimeApi()
        batch_env = dict(fn_env, DESTINATION_BUCKET="lat-batch", REPLICATE_PREFIXES="batch/",
                         RECORD_CONCURRENCY=str(RECORD_CONCURRENCY),
                         AWS_LAMBDA_RUNTIME_API=serve(batch_api))
        batch_env_proc = subprocess.Popen([binary], env=batch_env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        procs.append(batch_env_proc)

        def batch(runtime=batch_api, environment=batch_env_proc):
            start = time.monotonic()
            records = [s3_record(SOURCE, key, put, n) for n, (key, put) in enumerate(batch_puts)]
            cpu_before = cpu_seconds(environment.pid)
            runtime.events.put(("batch", {"Records": records}))
            while "batch" not in runtime.answered:
                time.sleep(0.05)
            batch_cpu.append(cpu_seconds(environment.pid) - cpu_before)
            if b"errorType" in runtime.answered["batch"][1]:
                sys.exit(f"bench: the batch failed: {runtime.answered['batch'][1][:300]}")
            return time.monotonic() - start
        measure(f"the function, one invocation of {BATCH} records ({RECORD_CONCURRENCY} keys at once)",
                batch)

        # The same batch, every round trip DILATION times longer, into a bucket of its own; its
        # ideal from single events through the same proxy (the first one connects, not counted).
        dilated = Proxy(proxy.upstream, DILATION)
        dilated_at = "http://" + serve(dilated)
        dilated_api = RuntimeApi()
        dilated_proc = subprocess.Popen(
            [binary], env=dict(batch_env, AWS_ENDPOINT_URL=dilated_at,
                               DESTINATION_BUCKET="lat-dilated", REPLICATE_PREFIXES="",
                               AWS_LAMBDA_RUNTIME_API=serve(dilated_api)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(dilated_proc)
        for n in range(DILATED_EVENTS + 1):
            took = one_event(dilated_api, s3, f"dilated/one-{n:04}.txt", f"dilated-{n}", n)
            if n:
                dilated_latencies.append(took)
        dilated.take()
        dilated_seconds = batch(dilated_api, dilated_proc)
        dilated_requests = sum(dilated.take().values())
        # Backfill into an empty destination against s5cmd, 8 at once each, through the
        # dilated proxy: moto's queue, which grows with requests per object, drops out.
        s5_dilated = timed([s5cmd, "--endpoint-url", dilated_at, "--numworkers", str(CONCURRENCY),
                            "cp", f"s3://{SOURCE}/{ONE_PREFIX}*", "s3://lat-s5-dil/"], env)
        bf_env = dict(fn_env, DESTINATION_BUCKET="lat-bf")
        bf_env.pop("AWS_LAMBDA_RUNTIME_API")
        bf_dilated = timed([binary, "backfill", "--bucket", SOURCE, "--prefix", ONE_PREFIX,
                            "--concurrency", str(CONCURRENCY)],
                           dict(bf_env, AWS_ENDPOINT_URL=dilated_at, DESTINATION_BUCKET="lat-bf-dil"))
        backfill = [binary, "backfill", "--bucket", SOURCE, "--concurrency", str(CONCURRENCY)]
        measure("backfill --concurrency 8 (empty destination)", lambda: timed(backfill, bf_env))
        measure("backfill --concurrency 8 (in sync)", lambda: timed(backfill, bf_env))

        # One at a time: round trips alone decide (at 8 at once, moto answering one request at
        # a time adds a queue that grows with each contender's requests per object).
        # The peer is `aws s3 sync` with one request at a time: s5cmd's `--numworkers 1` still
        # overlaps copies (its time per object comes out below one round trip).
        with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as cfg_one:
            cfg_one.write("[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 1\n"
                          "  addressing_style = path\n")
        one = f"aws s3 sync (1 request at a time, {ONE_AT_A_TIME} objects)"
        measure(one, lambda: timed(
            [aws, "s3", "sync", f"s3://{SOURCE}", "s3://lat-s5-one", "--endpoint-url", proxied,
             "--exclude", "*", "--include", f"{ONE_PREFIX}*", "--only-show-errors"],
            dict(env, AWS_CONFIG_FILE=cfg_one.name)),
            objects=ONE_AT_A_TIME, peer=None)
        measure(f"backfill --concurrency 1 (empty destination, {ONE_AT_A_TIME} objects)",
                lambda: timed([binary, "backfill", "--bucket", SOURCE, "--prefix", ONE_PREFIX,
                               "--concurrency", "1"], dict(bf_env, DESTINATION_BUCKET="lat-bf-one")),
                objects=ONE_AT_A_TIME, peer=one)

        # One event at a time, last (its objects would count in the runs above): round trips
        # alone decide its latency, as on AWS, where S3 queues no one. At 8 at once, moto's
        # one-request-at-a-time queue adds to every request, more so for five per object than
        # for s5cmd's one. Its unit: one blind CopyObject through the proxy, timed by the
        # harness one at a time.
        for n in range(ONE_EVENT_AT_A_TIME):
            one_latencies.append(
                one_event(api, s3, f"small/one-{n:04}.txt", f"one-{n}", OBJECTS + n) * 1000)
        via_proxy = boto3.client("s3", endpoint_url=proxied, region_name="us-east-1",
                                 aws_access_key_id="test", aws_secret_access_key="test",
                                 config=boto3.session.Config(s3={"addressing_style": "path"}))
        via_proxy.head_bucket(Bucket="lat-trip")  # connected before timing
        for n in range(ONE_EVENT_AT_A_TIME):
            start = time.monotonic()
            via_proxy.copy_object(Bucket="lat-trip", Key=f"copy-{n}",
                                  CopySource={"Bucket": SOURCE, "Key": f"small/one-{n:04}.txt"})
            blind_trips.append((time.monotonic() - start) * 1000)
    finally:
        for p in procs:
            p.kill()
        if on_rgw:
            stop_rgw()

    s5_seconds = results["s5cmd cp (8 workers)"][0]
    trip = s5_seconds * CONCURRENCY / OBJECTS  # a blind CopyObject, per worker
    header = ("| contender | seconds | time vs the peer at the same concurrency | requests/object "
              "| by operation (per object) |")
    lines = [header, "|---|---|---|---|---|"]
    for name, (seconds, counts) in results.items():
        objects = BATCH if "records" in name else objects_of[name]
        total = sum(counts.values())
        ops = ", ".join(f"{op} {n / objects:.2f}" for op, n in counts.most_common())
        peer = results[peer_of[name]][0] if peer_of[name] else seconds
        lines.append(f"| {name} | {seconds:.2f} | {seconds / peer:.2f}x | "
                     f"{total / objects:.2f} | {ops} |")
    p50 = statistics.median(latencies)
    p99 = percentile_99(latencies)
    fn_counts = results["the function, 8 environments"][1]
    put_class = sum(n for op, n in fn_counts.items()
                    if op in ("CopyObject", "PutObject", "ListObjects", "POST")
                    or op.startswith(("PUT ", "POST ")) or "ListObjectVersions" in op)
    get_class = sum(fn_counts.values()) - put_class
    one_p50 = statistics.median(one_latencies)
    one_p99 = percentile_99(one_latencies)
    blind = statistics.median(blind_trips)
    # Lambda is billed for the duration of one event as AWS would see it: moto's queue at
    # 8 at once is no part of it.
    mean_s = statistics.mean(one_latencies) / 1000
    per_million = 1_000_000 / OBJECTS
    s3_cost = (put_class * PUT_CLASS + get_class * GET_CLASS) * per_million
    lambda_cost = 1_000_000 * (LAMBDA_REQUEST + mean_s * 0.125 * LAMBDA_GB_SECOND_ARM)
    native = 1_000_000 * NATIVE_REPLICATION_PUT + CROSS_REGION_GB * 1_000_000 * 1024 / 2**30
    notes.append(f"- Event latency, one event at a time ({ONE_EVENT_AT_A_TIME} new keys, handed "
                 f"the event to its answer): p50 {one_p50:.0f} ms, p99 {one_p99:.0f} ms; that is "
                 f"{one_p50 / blind:.2f} and {one_p99 / blind:.2f} blind CopyObject trips "
                 f"({blind:.0f} ms, the harness's own CopyObject through the proxy, one at a "
                 f"time), and {one_p50 / (REMOTE_TRIP * 1000):.2f} cross-region round trips of "
                 f"70 ms (the floor).")
    notes.append(f"- Event latency, 8 environments at once: p50 {p50:.0f} ms, p99 {p99:.0f} ms; "
                 f"{p50 / (trip * 1000):.2f} times s5cmd's time per object per worker "
                 f"({trip * 1000:.0f} ms, one blind CopyObject at 8 at once). Both include "
                 f"{server}'s queue, which grows with requests per object.")
    batch_seconds, batch_counts = results[next(n for n in results if "records" in n)]
    batch_requests = sum(batch_counts.values())
    ideal = -(-BATCH // RECORD_CONCURRENCY) * one_p50 / 1000
    notes.append(f"- One invocation of {BATCH} records, {RECORD_CONCURRENCY} keys at once: "
                 f"{batch_seconds:.2f} s, {batch_seconds / ideal:.2f}x the ideal for its "
                 f"concurrency ({BATCH}/{RECORD_CONCURRENCY} rounds of one event's p50 alone, "
                 f"{ideal:.2f} s). The ideal asks the harness for "
                 f"{batch_requests / ideal:.0f} requests/s; it gave {batch_requests / batch_seconds:.0f}. "
                 f"The function's own CPU for the batch: {batch_cpu[0]:.2f} s "
                 f"({batch_cpu[0] * 1000 / BATCH:.2f} ms per record), "
                 f"{batch_cpu[0] / ideal:.2f} of one core over the ideal's time.")
    dilated_ideal = -(-BATCH // RECORD_CONCURRENCY) * statistics.median(dilated_latencies)
    notes.append(f"- The same {BATCH} records with every round trip {DILATION} times longer "
                 f"({SOURCE_TRIP * DILATION * 1000:.0f} ms and {REMOTE_TRIP * DILATION * 1000:.0f} ms): "
                 f"{dilated_seconds:.1f} s, {dilated_seconds / dilated_ideal:.2f}x the ideal "
                 f"({dilated_ideal:.1f} s from a single event's p50 of {DILATED_EVENTS} through "
                 f"the same proxy), asking the harness for {dilated_requests / dilated_ideal:.0f} "
                 f"requests/s; the function's CPU {batch_cpu[1]:.2f} s.")
    notes.append(f"- Backfill into an empty destination, {CONCURRENCY} at once, {ONE_AT_A_TIME} "
                 f"objects, with the same {DILATION} times longer round trips: {bf_dilated:.1f} s, "
                 f"{bf_dilated / s5_dilated:.2f}x s5cmd cp ({CONCURRENCY} workers, "
                 f"{s5_dilated:.1f} s) over the same objects and proxy.")
    notes.append(f"- Cost per million 1 KiB objects, from this run's requests and durations: S3 "
                 f"requests ${s3_cost:.2f} ({put_class / OBJECTS:.2f} PUT-class and "
                 f"{get_class / OBJECTS:.2f} GET-class per object), Lambda ${lambda_cost:.2f} "
                 f"(arm64, 128 MB, {mean_s * 1000:.0f} ms mean), ${s3_cost + lambda_cost:.2f} in "
                 f"all; native S3 Replication ${native:.2f} (the replica PUT and cross-region "
                 f"transfer). Data transfer between regions is charged alike for both.")
    title = (f"{datetime.date.today()}: {OBJECTS} objects of 1 KiB, {CONCURRENCY} at once, "
             f"through a proxy holding each request {SOURCE_TRIP * 1000:.0f} ms (source) or "
             f"{REMOTE_TRIP * 1000:.0f} ms (destination), {server} on 127.0.0.1")
    if on_rgw:
        title += (f"; {os.cpu_count()} cores, load average {load_before:.1f} at the start, "
                  f"{load_average():.1f} at the end")
    record(f"### {title}\n\n" + "\n".join(lines + [""] + notes))


if __name__ == "__main__":
    main()

"""Benchmark: the 1 GiB multipart copy of bench_multipart.py on a throwaway Ceph RGW
(scripts/rgw.sh), which answers requests in parallel where moto answers one at a time. In one run
on one server: the function's copy with parts in parallel (MULTIPART_CONCURRENCY 16) against the
same copy one part at a time (MULTIPART_CONCURRENCY 1), and `s5cmd cp` (one server-side
CopyObject, one stream) - time, ETag equality with the source, the function's peak RSS.

RGW cannot be the function's own endpoint for a multipart source: HeadObject ignores `partNumber`
(no part count, no part's size) and GetObjectAttributes fails, so the source's part layout cannot
be read (docs/development.md#ceph-rgw). The copy is first tried that way (server-side, the
layout kept) and its outcome recorded; the timed copies stream to RGW as another endpoint (the
same server, named in the rule's `Endpoint`), in parts of their own of the default size
(MULTIPART_PART_SIZE, 256 MiB), so their ETag cannot be the source's.

Usage: bench_rgw_multipart.py S5CMD   (make bench passes its venv's s5cmd)
Prints a table and appends it, dated, to BENCHMARKS.md.
"""

import datetime
import json
import os
import re
import subprocess
import sys
import time

from bench_common import ROOT, bucket, load_average, record, start_rgw
from bench_multipart import KEY, MIB, PART, SIZE, upload

# The streamed copies' parts: the default size. Until #40's fix, parts above 8 MiB (streamed,
# not buffered) were refused by RGW 16.2 (XAmzContentSHA256Mismatch, 400), and this used 8 MiB.
STREAM_PART_LABEL = "in parts of its own (default size)"


def function_copy(endpoint, src, version, etag, dst, concurrency, elsewhere):
    """bench_copy's JSON line; with `elsewhere`, a rule streaming to `dst` on `endpoint` named
    as another endpoint. A copy that fails gives its error instead."""
    env = dict(os.environ)
    if elsewhere:
        env.update({
            "REPLICATION_CONFIG": json.dumps({"Rules": [{
                "ID": "rgw", "Priority": 1, "Status": "Enabled", "Filter": {},
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {"Bucket": dst, "Region": "us-east-1", "Endpoint": endpoint,
                                "ForcePathStyle": True,
                                "Credentials": {"AccessKeyIdVariable": "DEST_KEY",
                                                "SecretAccessKeyVariable": "DEST_SECRET"}}}]}),
            "DEST_KEY": "test", "DEST_SECRET": "test", "ALLOW_PLAIN_HTTP_ENDPOINTS": "true",
        })
        env.pop("MULTIPART_PART_SIZE", None)
    binary = ROOT / "target/release/examples/bench_copy"
    started = time.monotonic()
    out = subprocess.run(
        [str(binary), endpoint, src, KEY, version, etag.strip('"'), dst, str(concurrency)],
        capture_output=True, text=True, env=env)
    if out.returncode != 0:
        error = (out.stderr.strip() or out.stdout.strip()).splitlines()
        return {"seconds": time.monotonic() - started, "error": error[-1] if error else "?"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def s5cmd_copy(s5cmd, endpoint, src, dst, s3):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_REGION="us-east-1")
    started = time.monotonic()
    subprocess.run([s5cmd, "--endpoint-url", endpoint, "cp", f"s3://{src}/{KEY}",
                    f"s3://{dst}/{KEY}"], check=True, env=env, capture_output=True)
    seconds = time.monotonic() - started
    return {"seconds": seconds, "etag": s3.head_object(Bucket=dst, Key=KEY)["ETag"],
            "peak_rss_kib": None}


def main():
    s5cmd = sys.argv[1]
    # The source and three replicas, in the OSD's memory.
    stop, endpoint, s3 = start_rgw(memory_mib=6144)
    loads = [load_average()]
    try:
        src = bucket(s3, "bench-source")
        print(f"uploading {SIZE / MIB:.0f} MiB in {PART // MIB} MiB parts to RGW ...", flush=True)
        version, _ = upload(s3, src)
        # RGW answers CompleteMultipartUpload with an empty ETag: the object's is read.
        etag = s3.head_object(Bucket=src, Key=KEY, VersionId=version)["ETag"]
        own = function_copy(endpoint, src, version, etag, bucket(s3, "bench-own"), 16, False)
        rows = [
            (f"s3-replicator, parts in parallel (16 at once), streamed {STREAM_PART_LABEL}",
             function_copy(endpoint, src, version, etag, bucket(s3, "bench-parallel"), 16, True)),
            (f"s3-replicator, one part at a time, streamed {STREAM_PART_LABEL}",
             function_copy(endpoint, src, version, etag, bucket(s3, "bench-sequential"), 1, True)),
            ("s5cmd cp (one server-side CopyObject)",
             s5cmd_copy(s5cmd, endpoint, src, bucket(s3, "bench-s5cmd"), s3)),
        ]
        loads.append(load_average())
    finally:
        stop()
    failed = [name for name, r in rows if "error" in r]
    if failed:
        sys.exit(f"bench: {failed}: {[r['error'] for _, r in rows if 'error' in r]}")
    parallel, sequential, peer = (r["seconds"] for _, r in rows)
    lines = [
        f"### {datetime.date.today().isoformat()}: 1 GiB multipart object ({SIZE} bytes, "
        f"{PART // MIB} MiB parts) on Ceph RGW on 127.0.0.1, {os.cpu_count()} cores, load average "
        f"{loads[0]:.1f} at the start, {loads[-1]:.1f} at the end",
        "",
        "| method | seconds | time vs one part at a time | time vs s5cmd | ETag equals source's "
        "| peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        rss = f"{r['peak_rss_kib'] / 1024:.0f} MiB" if r["peak_rss_kib"] else "n/a"
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['seconds'] / sequential:.2f}x | "
                     f"{r['seconds'] / peer:.2f}x | "
                     f"{'yes' if r['etag'] == etag else 'no (' + r['etag'] + ')'} | {rss} |")
    reason = re.search(r'code: "(\w+)", message: "([^"]*)"', own.get("error", ""))
    reason = f"{reason[1]}, {reason[2]}" if reason else own.get("error", "")[:300]
    outcome = (f"failed after {own['seconds']:.1f} s: `{reason}`" if "error" in own
               else f"took {own['seconds']:.1f} s, ETag "
               f"{'kept' if own['etag'] == etag else 'not kept (' + own['etag'] + ')'}")
    lines += ["", f"- Parts in parallel against one at a time: **{parallel / sequential:.2f}x** "
              "the time, same run, same part layout.",
              "- RGW as the function's own endpoint (server-side, the source's layout kept, 16 "
              f"parts at once): {outcome}."]
    record("\n".join(lines))


if __name__ == "__main__":
    main()

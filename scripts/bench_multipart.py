"""Benchmark: replicate a 1 GiB multipart object on the local S3 and compare, in one run on one
server, the function's parallel part copy, the same with one part at a time, and `rclone copy`
(server-side) - time, ETag equality with the source, and the function's peak RSS.

Prints a table and appends it, dated, to BENCHMARKS.md. Run with `make bench`.
Ratios, not absolute times, are what carry over: moto is far slower than S3 per request.
"""

import datetime
import json
import os
import subprocess
import time

from bench_common import ROOT, bucket, rclone_env, record, start_moto

MIB = 1024 * 1024
PART = 16 * MIB  # a common uploader part size (aws cli: 8 MiB; many SDKs: 8-16 MiB)
SIZE = 1024 * MIB + 5 * MIB + 123  # 1 GiB and an uneven last part
KEY = "bench/one-gib.bin"


def upload(s3, bucket):
    """A multipart upload with PART-sized parts; returns (version id, ETag)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=KEY)["UploadId"]
    parts, offset, number = [], 0, 1
    chunk = os.urandom(PART)
    while offset < SIZE:
        length = min(PART, SIZE - offset)
        body = chunk[:length]
        etag = s3.upload_part(Bucket=bucket, Key=KEY, UploadId=upload_id,
                              PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
        offset += length
        number += 1
    done = s3.complete_multipart_upload(Bucket=bucket, Key=KEY, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    return done["VersionId"], done["ETag"]


def function_copy(endpoint, src, version, etag, dst, concurrency):
    binary = ROOT / "target/release/examples/bench_copy"
    out = subprocess.run(
        [str(binary), endpoint, src, KEY, version, etag.strip('"'), dst, str(concurrency)],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rclone_copy(endpoint, src, dst, s3):
    env = rclone_env(endpoint)
    started = time.monotonic()
    subprocess.run(["rclone", "copyto", f"local:{src}/{KEY}", f"local:{dst}/{KEY}"],
                   check=True, env=env, capture_output=True)
    seconds = time.monotonic() - started
    return {"seconds": seconds, "etag": s3.head_object(Bucket=dst, Key=KEY)["ETag"],
            "peak_rss_kib": None}


def main():
    moto, endpoint, s3 = start_moto()
    try:
        src = bucket(s3, "bench-source")
        print(f"uploading {SIZE / MIB:.0f} MiB in {PART // MIB} MiB parts ...", flush=True)
        version, etag = upload(s3, src)
        rows = [
            ("s3-replicator, parallel part copy (16 at once)",
             function_copy(endpoint, src, version, etag, bucket(s3, "bench-parallel"), 16)),
            ("s3-replicator, one part at a time",
             function_copy(endpoint, src, version, etag, bucket(s3, "bench-sequential"), 1)),
            ("rclone copyto (server-side copy)",
             rclone_copy(endpoint, src, bucket(s3, "bench-rclone"), s3)),
        ]
    finally:
        moto.terminate()
    base = rows[2][1]["seconds"]
    lines = [
        f"### {datetime.date.today().isoformat()}: 1 GiB multipart object ({SIZE} bytes, "
        f"{PART // MIB} MiB parts), moto on 127.0.0.1, {os.cpu_count()} cores",
        "",
        "| method | seconds | time vs rclone | ETag equals source's | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows:
        rss = f"{r['peak_rss_kib'] / 1024:.0f} MiB" if r["peak_rss_kib"] else "n/a"
        lines.append(f"| {name} | {r['seconds']:.1f} | {r['seconds'] / base:.2f}x | "
                     f"{'yes' if r['etag'] == etag else 'no (' + r['etag'] + ')'} | {rss} |")
    record("\n".join(lines))


if __name__ == "__main__":
    main()

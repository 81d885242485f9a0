"""Benchmark: replicate a 1 GiB multipart object on the local S3 and compare, in one run on one
server, the function's parallel part copy, the same with one part at a time, and `rclone copy`
(server-side) - time, ETag equality with the source, and the function's peak RSS.

Prints a table and appends it, dated, to BENCHMARKS.md. Run with `make bench`.
Ratios, not absolute times, are what carry over: moto is far slower than S3 per request.
"""

import datetime
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
PART = 16 * MIB  # a common uploader part size (aws cli: 8 MiB; many SDKs: 8-16 MiB)
SIZE = 1024 * MIB + 5 * MIB + 123  # 1 GiB and an uneven last part
KEY = "bench/one-gib.bin"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("moto server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit("moto server did not start")


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


def bucket(s3, name):
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def function_copy(endpoint, src, version, etag, dst, concurrency):
    binary = ROOT / "target/release/examples/bench_copy"
    out = subprocess.run(
        [str(binary), endpoint, src, KEY, version, etag.strip('"'), dst, str(concurrency)],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def rclone_copy(endpoint, src, dst, s3):
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.update({
        "RCLONE_CONFIG_LOCAL_TYPE": "s3", "RCLONE_CONFIG_LOCAL_PROVIDER": "Other",
        "RCLONE_CONFIG_LOCAL_ENDPOINT": endpoint, "RCLONE_CONFIG_LOCAL_ACCESS_KEY_ID": "test",
        "RCLONE_CONFIG_LOCAL_SECRET_ACCESS_KEY": "test", "RCLONE_CONFIG_LOCAL_REGION": "us-east-1",
        "RCLONE_CONFIG_LOCAL_FORCE_PATH_STYLE": "true",
    })
    started = time.monotonic()
    subprocess.run(["rclone", "copyto", f"local:{src}/{KEY}", f"local:{dst}/{KEY}"],
                   check=True, env=env, capture_output=True)
    seconds = time.monotonic() - started
    return {"seconds": seconds, "etag": s3.head_object(Bucket=dst, Key=KEY)["ETag"],
            "peak_rss_kib": None}


def main():
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen([sys.executable, str(ROOT / "scripts/moto_server.py"), str(port),
                             "--parent-pid", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, moto)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=boto3.session.Config(s3={"addressing_style": "path"}))
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
    table = "\n".join(lines)
    print()
    print(table)
    bench = ROOT / "BENCHMARKS.md"
    if not bench.exists():
        bench.write_text("# Benchmarks\n\nProduced by `make bench` (scripts/bench_multipart.py). "
                         "Each table is one run; compare ratios within a table, not across "
                         "machines.\n")
    with bench.open("a") as f:
        f.write("\n" + table + "\n")


if __name__ == "__main__":
    main()

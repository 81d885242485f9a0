"""Benchmark: prove a replica of 1,000 objects complete on the local S3, in one run on one server:
`s3-replicator verify` (listings), `verify --deep`, and `rclone check` on the same bucket pair.
Reports seconds, S3 requests per object (counted from the server's request log), and which of
the damaged keys each tool found.

Damage made after the replica is complete: one replica deleted, one single-part replica and one
multipart replica overwritten with other bytes of the same size, one replica's user metadata
changed (same bytes), and one object only in the destination.

Prints a table and appends it, dated, to BENCHMARKS.md. Run with `make bench`.
"""

import datetime
import os
import subprocess
import sys
import time


from bench_common import ROOT, bucket, rclone_env, record, served_requests, start_moto

MIB = 1024 * 1024
SMALL = 990
MULTIPART = 10


def replicator_env(endpoint, dst):
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
        "S3_FORCE_PATH_STYLE": "true", "DESTINATION_BUCKET": dst,
    })
    return env


class Requests:
    """Counts the requests the server logged since the last call."""

    def __init__(self, log):
        self.log, self.seen = log, 0

    def since(self):
        lines = served_requests(self.log)
        count, self.seen = lines - self.seen, lines
        return count


def multipart(s3, name, key):
    upload = s3.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, os.urandom(5 * MIB)), (2, b"tail")):
        etag = s3.upload_part(Bucket=name, Key=key, UploadId=upload, PartNumber=number,
                              Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=name, Key=key, UploadId=upload,
                                 MultipartUpload={"Parts": parts})


def main():
    log = ROOT / "target/bench-verify-moto.log"
    moto, endpoint, s3 = start_moto(log)
    binary = str(ROOT / "target/release/s3-replicator")
    try:
        src, dst = bucket(s3, "verify-source"), bucket(s3, "verify-replica")
        print(f"writing {SMALL} small and {MULTIPART} multipart objects ...", flush=True)
        for n in range(SMALL):
            s3.put_object(Bucket=src, Key=f"data/{n % 10}/object {n}.txt",
                          Body=f"object {n} ".encode() * 100, Metadata={"n": str(n)})
        for n in range(MULTIPART):
            multipart(s3, src, f"big/part {n}.bin")
        env = replicator_env(endpoint, dst)
        subprocess.run([binary, "backfill", "--bucket", src], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        damaged = {
            "data/0/object 10.txt": "deleted",
            "data/1/object 21.txt": "other bytes, same size",
            "big/part 3.bin": "multipart, other bytes, same size",
            "data/2/object 32.txt": "metadata changed",
            "data/9/stray.txt": "extra",
        }
        s3.delete_object(Bucket=dst, Key="data/0/object 10.txt")
        size = s3.head_object(Bucket=dst, Key="data/1/object 21.txt")["ContentLength"]
        s3.put_object(Bucket=dst, Key="data/1/object 21.txt", Body=b"x" * size)
        size = s3.head_object(Bucket=dst, Key="big/part 3.bin")["ContentLength"]
        s3.put_object(Bucket=dst, Key="big/part 3.bin", Body=b"y" * size)
        head = s3.head_object(Bucket=dst, Key="data/2/object 32.txt")
        s3.copy_object(Bucket=dst, Key="data/2/object 32.txt",
                       CopySource={"Bucket": dst, "Key": "data/2/object 32.txt"},
                       MetadataDirective="REPLACE",
                       Metadata={**head["Metadata"], "n": "changed"})
        s3.put_object(Bucket=dst, Key="data/9/stray.txt", Body=b"stray")

        requests = Requests(log)
        requests.since()
        rows = []
        for name, command, cmd_env in (
            ("s3-replicator verify (listings)", [binary, "verify", "--bucket", src], env),
            ("s3-replicator verify --deep", [binary, "verify", "--bucket", src, "--deep"], env),
            ("rclone check --combined", ["rclone", "check", f"local:{src}", f"local:{dst}",
                                         "--combined", "-"], rclone_env(endpoint)),
        ):
            started = time.monotonic()
            out = subprocess.run(command, env=cmd_env, capture_output=True, text=True)
            seconds = time.monotonic() - started
            text = out.stdout + out.stderr
            found = [key for key in damaged if any(
                key in line and not line.startswith(("same", "= ")) for line in text.splitlines())]
            rows.append((name, seconds, requests.since(), found))
    finally:
        moto.terminate()
    objects = SMALL + MULTIPART
    base = rows[2][1]
    lines = [
        f"### {datetime.date.today().isoformat()}: verify a replica of {objects} objects "
        f"({MULTIPART} multipart) after damage, moto on 127.0.0.1, {os.cpu_count()} cores",
        "",
        "| tool | seconds | time vs rclone | S3 requests (per object) | damaged keys found |",
        "|---|---|---|---|---|",
    ]
    for name, seconds, count, found in rows:
        missed = [f"{damaged[k]}" for k in damaged if k not in found]
        verdict = f"{len(found)} of {len(damaged)}" + (
            f" (missed: {', '.join(missed)})" if missed else "")
        lines.append(f"| {name} | {seconds:.1f} | {seconds / base:.2f}x | "
                     f"{count} ({count / objects:.3f}) | {verdict} |")
    record("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "scripts"))
    main()

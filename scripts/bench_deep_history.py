"""Benchmark: the requests `backfill` makes over a destination with deep history (one key with
3,000 versions: three pages of its listing of versions), for 1, 3 and 10 keys missing there.
Backfill no longer lists a destination's versions (it once did, to copy keys never written
there without reading them first: each such copy then listed the key's history after it, so
the listing spared nothing); every key missing there is read (a HEAD) before its copy, and
the destination's depth of history costs nothing. The dry run's prediction is printed beside
the run's count (counted from the server's request log).

Prints a table and appends it, dated, to BENCHMARKS.md. Run with `make bench`
(BINARY=path picks another build of s3-replicator).
"""

import collections
import datetime
import json
import os
import re
import subprocess
import time

from bench_common import ROOT, bucket, start_moto

VERSIONS = int(os.environ.get('VERSIONS', 3000))
MISSING = tuple(int(n) for n in os.environ.get("MISSING", "1,3,10").split(","))
LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)?([A-Z]+) (\S+) HTTP/[\d.]+(?:\x1b\[0m)?" \d{3} ')


def operations(log, skip):
    """The requests the server logged after the first `skip`, by operation; and how many."""
    time.sleep(0.3)
    lines = [m for m in (LINE.search(l) for l in log.read_text(errors="replace").splitlines())
             if m]
    counts = collections.Counter()
    for m in lines[skip:]:
        method, path = m.group(1), m.group(2)
        if "versions" in path.split("?", 1)[-1] and "?" in path:
            counts["ListObjectVersions"] += 1
        elif method == "GET" and path.split("?")[0].strip("/").count("/") == 0:
            counts["ListObjectsV2" if "list-type" in path else f"GET {path.split('?')[-1]}"] += 1
        elif method == "PUT" and "x-id=CopyObject" in path:
            counts["CopyObject"] += 1
        elif method == "HEAD":
            counts["HeadObject"] += 1
        else:
            counts[f"{method} {path.split('?')[-1].split('&')[0] if '?' in path else 'object'}"] += 1
    return counts, len(lines)


def main():
    log = ROOT / "target/bench-deep-history-moto.log"
    moto, endpoint, s3 = start_moto(log)
    binary = os.environ.get("BINARY", str(ROOT / "target/release/s3-replicator"))
    try:
        src, dst = bucket(s3, "deep-src"), bucket(s3, "deep-dst")
        print(f"writing {VERSIONS} versions of one key at the destination ...", flush=True)
        for n in range(VERSIONS):
            s3.put_object(Bucket=dst, Key="archive/log.txt", Body=f"entry {n}".encode())
        config = json.dumps({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
                                        "Filter": {"Prefix": ""},
                                        "DeleteMarkerReplication": {"Status": "Enabled"},
                                        "Destination": {"Bucket": f"arn:aws:s3:::{dst}"}}]})
        env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_EC2_METADATA_DISABLED="true", S3_FORCE_PATH_STYLE="true",
                   REPLICATION_CONFIG=config)
        rows = []
        for missing in MISSING:
            for n in range(missing):
                s3.put_object(Bucket=src, Key=f"new-{missing}/{n}.txt", Body=b"new")
            dry = subprocess.run([binary, "backfill", "--bucket", src, "--dry-run"], env=env,
                                 capture_output=True, text=True)
            predicted = re.search(r"about (\d+) PUT/COPY/LIST and (\d+) GET/HEAD", dry.stdout)
            _, before = operations(log, 0)
            run = subprocess.run([binary, "backfill", "--bucket", src], env=env,
                                 capture_output=True, text=True)
            counts, _ = operations(log, before)
            total = sum(counts.values())
            print(f"{missing} missing: {dict(counts)}", flush=True)
            rows.append((missing, counts["ListObjectVersions"], counts["HeadObject"],
                         counts["CopyObject"], total,
                         int(predicted.group(1)) + int(predicted.group(2)) if predicted else -1,
                         run.stdout.strip().splitlines()[-1]))
        date = datetime.date.today().isoformat()
        table = [f"### Backfill over a destination with deep history ({date})", "",
                 f"One key at the destination with {VERSIONS} versions "
                 f"({-(-VERSIONS // 1000)} pages of its listing of versions); N keys missing "
                 "there (each run adds N new keys to the source, so the earlier ones are in "
                 "sync). Requests of the run counted from moto's log, beside the dry run's "
                 "prediction. No page of the destination's versions is listed: each missing "
                 "key is read (HeadObject) before its copy, and each copy is proven after it "
                 "lands by a ListObjectVersions of its own key there (S3 lets `If-None-Match: *` "
                 "land on a delete marker put after the read, which must stand). The release "
                 "before listed them "
                 "while the missing keys outnumbered the pages, and each key copied without "
                 "its read then had its history listed after the copy (S3 lets such a write "
                 "land on a delete marker): one ListObjectVersions, priced as a PUT, for each "
                 "HeadObject spared. Off AWS (moto here) a HEAD answered 404 is also checked "
                 "against the key's listing of versions (a server such as Ceph RGW answers a "
                 "plain 404 over a delete marker): one ListObjectVersions per missing key that "
                 "AWS S3 does not need.",
                 "",
                 "| keys missing | ListObjectVersions | HeadObject | CopyObject | requests | "
                 "dry run predicted | closing line |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            table.append("| " + " | ".join(str(c) for c in r) + " |")
        from bench_common import record
        record("\n".join(table))
    finally:
        moto.terminate()


if __name__ == "__main__":
    main()

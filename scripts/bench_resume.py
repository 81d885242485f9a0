"""Benchmark: a multipart copy whose invocations are too short for it. A proxy in front of the
local S3 holds every UploadPartCopy for PART_DELAY seconds (as a large part takes on AWS); the
function gets INVOCATION seconds per invocation with a MARGIN-second time margin, cut off at its
deadline as Lambda does, and is invoked again until the copy lands. Reports the invocations and
S3 requests it took against the computed minimum.

Then the switched case: the proxy holds each UploadPartCopy for its bytes at RATE, and one source
part takes longer than a whole invocation, so the copy switches to parts of its own
(docs/semantics.md#how-many-invocations-a-large-object-takes). Same report.

Prints a table and appends it, dated, to BENCHMARKS.md. Run with `make bench`.
"""

import collections
import datetime
import http.client
import http.server
import json
import math
import os
import socket
import subprocess
import threading
import time
import urllib.parse

from bench_common import ROOT, bucket, record, start_moto

MIB = 1024 * 1024
PARTS = 6
PART = 5 * MIB  # S3's smallest part
KEY = "bench/resumed.bin"
CONCURRENCY = 2
PART_DELAY = 2.0
INVOCATION = 6.0
MARGIN = 1
# The switched case: part copies at RATE bytes/s; a source of a 32 MiB part (8 s: longer than an
# invocation) and a 20 MiB one (5 s: it lands and gives the pace).
RATE = 4 * MIB
SWITCH_PARTS = [32 * MIB, 20 * MIB]


def operation(method, path, query, headers):
    """The S3 operation of a request."""
    q = urllib.parse.parse_qs(query, keep_blank_values=True)
    copy = "x-amz-copy-source" in headers
    if method == "HEAD":
        return "HeadObject (part size)" if "partNumber" in q else "HeadObject"
    if method == "PUT" and "partNumber" in q:
        return "UploadPartCopy" if copy else "UploadPart (fingerprint, progress record)"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in q else "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    if method == "GET" and "uploadId" in q:
        return "ListParts"
    for sub, name in (("uploads", "ListMultipartUploads"), ("acl", "GetObjectAcl"),
                      ("tagging", "GetObjectTagging"), ("location", "GetBucketLocation"),
                      ("ownershipControls", "GetBucketOwnershipControls"),
                      ("object-lock", "GetObjectLockConfiguration"),
                      ("versions", "ListObjectVersions")):
        if sub in q:
            return name
    return "CopyObject" if copy else f"{method} object"


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream, hold):
        super().__init__(("127.0.0.1", 0), Relay)
        self.upstream = upstream
        self.hold = hold
        self.counts = collections.Counter()
        self.lock = threading.Lock()


class Relay(http.server.BaseHTTPRequestHandler):
    """Relays each request to the local S3; an UploadPartCopy after PART_DELAY seconds."""
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def relay(self):
        url = urllib.parse.urlsplit(self.path)
        lowered = {k.lower() for k in self.headers.keys()}
        op = operation(self.command, url.path, url.query, lowered)
        with self.server.lock:
            self.server.counts[op] += 1
        if op == "UploadPartCopy":
            time.sleep(self.server.hold(self.headers.get("x-amz-copy-source-range", "")))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "expect", "keep-alive")}
        conn = http.client.HTTPConnection(*self.server.upstream, timeout=120)
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for k, v in answer.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        length = answer.getheader("Content-Length") if self.command == "HEAD" else None
        self.send_header("Content-Length", length or str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay


def fixed_hold(_range):
    return PART_DELAY


def rate_hold(copy_range):
    """Seconds for a part copy of `bytes=a-b` at RATE."""
    first, last = copy_range.removeprefix("bytes=").split("-")
    return (int(last) - int(first) + 1) / RATE


def upload(s3, name, sizes=None):
    sizes = sizes or [PART] * (PARTS - 1) + [123]
    upload_id = s3.create_multipart_upload(Bucket=name, Key=KEY)["UploadId"]
    chunk = os.urandom(max(sizes))
    parts = []
    for n, size in enumerate(sizes, start=1):
        etag = s3.upload_part(Bucket=name, Key=KEY, UploadId=upload_id, PartNumber=n,
                              Body=chunk[:size])["ETag"]
        parts.append({"PartNumber": n, "ETag": etag})
    done = s3.complete_multipart_upload(Bucket=name, Key=KEY, UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    return done["VersionId"], done["ETag"]


def minimum():
    """Invocations and requests at least: each invocation's parts start while they can end
    before the margin, CONCURRENCY at a time, PART_DELAY each; one uninterrupted copy of N
    parts costs 2N + 7 requests, and each further invocation reads again what decides the copy
    (three reads, N - 1 part sizes) and finds its upload (ListMultipartUploads, ListParts). The
    progress record is written again after each invocation's first part lands, and before the
    first parts of each invocation that resumes the upload."""
    waves = max(1, math.floor((INVOCATION - MARGIN) / PART_DELAY))
    invocations = math.ceil(PARTS / (CONCURRENCY * waves))
    requests = (2 * PARTS + 7 + (invocations - 1) * (3 + (PARTS - 1) + 2)
                + invocations + (invocations - 1))
    return invocations, requests


def minimum_switched():
    """Invocations and requests at least in the switched case. The first invocation starts both
    source parts with no pace known: the short one lands and gives the pace, the long one is cut
    off. The second finds it cannot finish, aborts the upload and copies OWN-byte parts of its
    own (the largest of 5 MiB doubling whose copy takes at most half of what is left), as many
    waves of CONCURRENCY as fit; later invocations go on. Requests: each invocation's reads
    (three, and the source's part sizes), ListMultipartUploads and ListParts from the second on;
    CreateMultipartUpload and the fingerprint twice, one abort; every part copy; the record
    written before each invocation's first parts (but where the upload was just created) and
    after its first landing; Complete and the read-back HEAD."""
    window = INVOCATION - MARGIN
    own = 5 * MIB
    while (own * 2) / RATE <= window / 2 and own * 2 < max(SWITCH_PARTS):
        own *= 2
    parts = math.ceil(sum(SWITCH_PARTS) / own)
    later = math.ceil(parts / (CONCURRENCY * max(1, math.floor(window / (own / RATE)))))
    invocations = 1 + later
    requests = (invocations * (3 + len(SWITCH_PARTS) - 1 + 1)  # reads, part sizes, uploads
                + (invocations - 1)  # ListParts of the upload found
                + 2 * 2 + 1  # CreateMultipartUpload and its fingerprint, twice; the abort
                + len(SWITCH_PARTS) + parts  # every part copy
                + invocations  # the record raised after each invocation's first landing
                + max(0, invocations - 2)  # lowered before the first parts, from the third on
                + 3)  # Complete, the read-back HEAD, and 2N + 7's seventh
    return invocations, requests, parts


def run(s3, endpoint, hold, name, sizes=None):
    """Replicates one multipart object through a proxy holding part copies by `hold`: the
    bench's answer, the replica's ETag, uploads left, the source's ETag, requests by operation."""
    proxy = Proxy(("127.0.0.1", urllib.parse.urlsplit(endpoint).port), hold)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        src = bucket(s3, f"{name}-src")
        dst = bucket(s3, f"{name}-dst")
        version, etag = upload(s3, src, sizes)
        binary = os.environ.get("BENCH_RESUME_BINARY",
                                str(ROOT / "target/release/examples/bench_resume"))
        out = subprocess.run(
            [str(binary), f"http://127.0.0.1:{proxy.server_address[1]}", src, KEY, version,
             etag.strip('"'), dst, str(CONCURRENCY), str(INVOCATION), str(MARGIN)],
            check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        replica = s3.head_object(Bucket=dst, Key=KEY)
        uploads = s3.list_multipart_uploads(Bucket=dst).get("Uploads", [])
    finally:
        proxy.shutdown()
    return result, replica, uploads, etag, proxy.counts


def main():
    moto, endpoint, s3 = start_moto()
    try:
        result, replica, uploads, etag, counts = run(s3, endpoint, fixed_hold, "bench-resume")
        switched = run(s3, endpoint, rate_hold, "bench-switch", SWITCH_PARTS)
    finally:
        moto.terminate()
    replica = replica["ETag"]
    least_invocations, least_requests = minimum()
    total = sum(counts.values())
    lines = [
        f"### {datetime.date.today().isoformat()}: a multipart copy resumed across invocations "
        f"({PARTS} parts of {PART // MIB} MiB, {CONCURRENCY} at once, each part copy held "
        f"{PART_DELAY:.0f} s by a proxy, invocations of {INVOCATION:.0f} s with a {MARGIN} s "
        f"margin), moto on 127.0.0.1, {os.cpu_count()} cores",
        "",
        "| | measured | computed minimum |",
        "|---|---|---|",
        f"| invocations | {result['invocations']} | {least_invocations} |",
        f"| S3 requests | {total} | {least_requests} |",
        f"| UploadPartCopy | {counts['UploadPartCopy']} | {PARTS} |",
        f"| CreateMultipartUpload | {counts['CreateMultipartUpload']} | 1 |",
        f"| replica's ETag equals source's | {'yes' if replica == etag else 'no'} | yes |",
        f"| uploads left behind | {len(uploads)} | 0 |",
        f"| seconds | {result['seconds']:.1f} | |",
        "",
        "Requests by operation: " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())),
    ]
    result, replica, uploads, etag, counts = switched
    least_invocations, least_requests, own_parts = minimum_switched()
    layout = replica.get("Metadata", {}).get("replica-layout", "the source's")
    lines += [
        "",
        f"The switched case: a source of {len(SWITCH_PARTS)} parts "
        f"({' + '.join(str(p // MIB) for p in SWITCH_PARTS)} MiB), each part copy held for its "
        f"bytes at {RATE // MIB} MiB/s (the {max(SWITCH_PARTS) // MIB} MiB part: "
        f"{max(SWITCH_PARTS) / RATE:.0f} s, longer than an invocation), the same invocations",
        "",
        "| | measured | computed minimum |",
        "|---|---|---|",
        f"| invocations | {result['invocations']} | {least_invocations} |",
        f"| S3 requests | {sum(counts.values())} | {least_requests} |",
        f"| UploadPartCopy | {counts['UploadPartCopy']} | {len(SWITCH_PARTS) + own_parts} |",
        f"| CreateMultipartUpload | {counts['CreateMultipartUpload']} | 2 |",
        f"| AbortMultipartUpload (the abandoned upload) | {counts['AbortMultipartUpload']} | 1 |",
        f"| replica's layout | {layout} ({replica['ETag']}) | own |",
        f"| uploads left behind | {len(uploads)} | 0 |",
        f"| landed | {'yes' if result['landed'] else 'no'} | yes |",
        f"| seconds | {result['seconds']:.1f} | |",
        "",
        "Requests by operation: " + ", ".join(f"{op} {n}" for op, n in sorted(counts.items())),
    ]
    record("\n".join(lines))


if __name__ == "__main__":
    main()

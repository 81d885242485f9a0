"""The demo's S3 side: creates the buckets and sample objects, writes the events for them, and
prints sources and replicas side by side.

  demo_s3.py setup ENDPOINT OUT_DIR   buckets, objects, and OUT_DIR/<fixture>.json events (their
                                      times the time of the write they report; the verify job
                                      naming every object a rule selects)
  demo_s3.py show ENDPOINT [--check]  the side-by-side table; --check exits 1 on any difference
  demo_s3.py stamp FILE               every event time in FILE set to now (latency is measured
                                      from it), just before the event is sent
  demo_s3.py verify-job ENDPOINT FILE a Batch Operations verify job (schema 2.0) with one task
                                      per replica in the replica bucket
  demo_s3.py bad-deploy ENDPOINT PREFIX  overwrites every current object under PREFIX in the
                                      source with other bytes, metadata and tags (no events)
  demo_s3.py metrics LOG [--check]    sums the CloudWatch EMF documents in the function's LOG;
                                      --check exits 1 on a line that is not JSON (a damaged log),
                                      a latency sample counted more than once or over an hour, or
                                      OperationsReplicated other than the replicas the log says
                                      the function wrote
  demo_s3.py split-log FN OTHER       copies stdin line by line as it comes: the function's JSON
                                      lines to FN, every other line (cargo-lambda's, the
                                      compiler's) to OTHER
  demo_s3.py selftest                 checks this script's own counting and wording
  demo_s3.py job-summary EXPECTED     reads a Batch Operations answer on stdin and prints one
                                      line per task within 120 columns; exits 1 unless every
                                      task's resultString is EXPECTED
"""

import datetime

import json
import pathlib
import sys
import textwrap
import unicodedata
import urllib.parse

import boto3

SOURCE, REPLICA = "demo-source", "demo-replica"
MARKER = "replica-source-version-id"
ROOT = pathlib.Path(__file__).resolve().parent.parent
# Objects written before replication was set up (the demo backfills them).
EXISTING = ["shared/archive/2019 report.txt", "reports/2025/annual.csv"]
# The fixtures the demo invokes, in order.
FIXTURES = [
    "object-created-put.json",
    "several-records.json",
    "key-with-special-characters.json",
    "non-matching-prefix.json",
    "object-removed-delete-marker.json",
    "object-restore-completed.json",
    # The same events through SQS (S3 → SQS, S3 → SNS → SQS) and EventBridge.
    "sqs-s3-notification.json",
    "sqs-sns-s3-notification.json",
    "eventbridge-object-created.json",
    "sqs-eventbridge-object-created.json",
    # S3 Batch Operations tasks naming objects written before replication (EXISTING).
    "batch-operations-1.0.json",
    "batch-operations-2.0-verify.json",
]


def client(endpoint):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )


def sample(key):
    """Metadata, tags and ACL per key, so the table shows each kind of fidelity."""
    extra = {"ContentType": "text/plain", "Metadata": {"department": "finance"}}
    if key.endswith(".csv"):
        extra.update(ContentType="text/csv", Tagging="classification=internal&year=2026")
    if key.endswith(".jpg"):
        extra.update(ContentType="image/jpeg", ACL="public-read", CacheControl="max-age=86400")
    if key == "reports/2026/summary.txt":
        extra.update(Tagging="classification=confidential", ContentLanguage="en")
    return extra


def setup(endpoint, out_dir):
    s3 = client(endpoint)
    for bucket, region in ((SOURCE, "us-east-1"), (REPLICA, "eu-west-1")):
        kwargs = {} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=bucket, **kwargs)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in FIXTURES:
        event = json.loads((ROOT / "events" / name).read_text())
        aim(s3, event)
        (out / name).write_text(json.dumps(event, indent=2, ensure_ascii=False))
        # As S3 stamps them: when the object was written (the demo stamps again as it sends).
        stamp(out / name)
    # Objects that existed before replication: no event names them; the backfill step copies them.
    for key in EXISTING:
        s3.put_object(Bucket=SOURCE, Key=key, Body=f"written before replication: {key}\n".encode(),
                      **sample(key))
    # The fixture's verify job re-aimed at every object the walkthrough replicates: once the
    # events, the Batch Operations task and the backfill have run, each task answers `same`.
    selected = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=SOURCE)
                for o in page.get("Contents", []) if rule_for(o["Key"]) is not None]
    job = json.loads((out / "batch-operations-2.0-verify.json").read_text())
    job["tasks"] = [{"taskId": f"verify-task-{n}", "s3Key": urllib.parse.quote_plus(key, safe="/"),
                     "s3VersionId": None, "s3Bucket": SOURCE} for n, key in enumerate(selected, 1)]
    (out / "batch-operations-2.0-verify.json").write_text(json.dumps(job, indent=2))


def aim(s3, event):
    """Points an event of any source at SOURCE, writing (or deleting) the object it names."""
    if "Records" in event and event["Records"] and "body" in event["Records"][0]:
        for message in event["Records"]:  # SQS: each body is an event of its own
            body = json.loads(message["body"])
            if body.get("Type") == "Notification":  # an SNS envelope
                inner = json.loads(body["Message"])
                aim(s3, inner)
                body["Message"] = json.dumps(inner)
            else:
                aim(s3, body)
            message["body"] = json.dumps(body)
        return
    if event.get("source") == "aws.s3":  # EventBridge
        obj = event["detail"]["object"]
        event["detail"]["bucket"]["name"] = SOURCE
        key = urllib.parse.unquote_plus(obj["key"])
        if event["detail-type"] == "Object Deleted":
            obj["version-id"] = s3.delete_object(Bucket=SOURCE, Key=key)["VersionId"]
        else:
            put = write(s3, key)
            obj.update({"version-id": put["VersionId"], "etag": put["ETag"].strip('"')})
        return
    for record in event.get("Records", []):
        obj = record["s3"]["object"]
        record["s3"]["bucket"]["name"] = SOURCE
        key = urllib.parse.unquote_plus(obj["key"])
        if record["eventName"].startswith("ObjectRemoved"):
            obj["versionId"] = s3.delete_object(Bucket=SOURCE, Key=key)["VersionId"]
            continue
        if not record["eventName"].startswith("ObjectCreated"):
            continue  # shown being ignored
        put = write(s3, key)
        obj.update(versionId=put["VersionId"], eTag=put["ETag"].strip('"'), size=put["size"])


def write(s3, key):
    body = f"demo content of {key}\n".encode()
    put = s3.put_object(Bucket=SOURCE, Key=key, Body=body, **sample(key))
    return {**put, "size": len(body)}


def describe(s3, bucket, key, version=None):
    args = {"Bucket": bucket, "Key": key}
    if version:
        args["VersionId"] = version
    try:
        head = s3.head_object(**args)
    except s3.exceptions.ClientError:
        return None
    tags = s3.get_object_tagging(**args)["TagSet"]
    acl = s3.get_object_acl(**args)["Grants"]
    public = any(g["Grantee"].get("URI", "").endswith("AllUsers") for g in acl)
    meta = head.get("Metadata", {})
    return {
        "version": head.get("VersionId"),
        "marker": meta.get(MARKER),
        "ETag": head["ETag"],
        "size": f"{head['ContentLength']} B",
        "Content-Type": head.get("ContentType"),
        "Cache-Control": head.get("CacheControl"),
        "Content-Language": head.get("ContentLanguage"),
        "storage class": head.get("StorageClass", "STANDARD"),
        "tags": ",".join(f"{t['Key']}={t['Value']}" for t in sorted(tags, key=lambda t: t["Key"])),
        "ACL": "public-read" if public else "private",
        # The replica's own entries (replica-*) are shown on the version line, not compared.
        "user metadata": ",".join(
            f"{k}={v}" for k, v in sorted(meta.items()) if not k.startswith("replica-")),
    }


# Compared one by one; the closing line names exactly these.
FIELDS = ["ETag", "size", "Content-Type", "Cache-Control", "Content-Language", "user metadata",
          "tags", "ACL", "storage class"]


def rule_for(key):
    """The demo configuration's rule for a key (highest priority among matching prefixes)."""
    config = json.loads((ROOT / "scripts" / "demo-replication-config.json").read_text())
    matching = [r for r in config["Rules"]
                if r["Status"] == "Enabled" and key.startswith(r.get("Filter", {}).get("Prefix", ""))]
    return max(matching, key=lambda r: r["Priority"], default=None)


def width_of(text):
    """Columns a string takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def fit(text, columns):
    """`text` cut to `columns` terminal columns (with an ellipsis), padded to exactly that."""
    text = "-" if text in (None, "") else str(text)
    if width_of(text) > columns:
        out = ""
        for c in text:
            if width_of(out + c) > columns - 1:
                break
            out += c
        text = out + "…"
    return text + " " * (columns - width_of(text))


LABEL, SIDE = 17, 50  # 2 + 17 + 50 + 1 + 50 = 120 columns


def show(endpoint, check):
    s3 = client(endpoint)
    listing = s3.list_object_versions(Bucket=SOURCE)
    latest = [v for v in listing.get("Versions", []) if v["IsLatest"]]
    problems = []
    print(f"\n  {' ' * LABEL}{fit('source: ' + SOURCE + ' (us-east-1)', SIDE)} "
          f"replica: {REPLICA} (eu-west-1)")
    for v in sorted(latest, key=lambda v: v["Key"]):
        key = v["Key"]
        src = describe(s3, SOURCE, key, v["VersionId"])
        dst = describe(s3, REPLICA, key)
        rule = rule_for(key)
        print(f"\n{key}")
        if rule is None:
            print(f"  {' ' * LABEL}{fit('no rule matches: not replicated', SIDE)} "
                  f"{'(none)' if dst is None else 'REPLICATED'}")
            if dst is not None:
                problems.append(f"{key}: replicated although no rule matches")
            continue
        if dst is None:
            print(f"  {' ' * LABEL}{fit('rule ' + rule['ID'], SIDE)} NOT REPLICATED")
            problems.append(f"{key}: no replica")
            continue
        expected = dict(src)
        expected["storage class"] = rule["Destination"].get("StorageClass", src["storage class"])
        for field in FIELDS:
            same = expected[field] == dst[field]
            mark = "  " if same else "≠ "
            right = "same" if same else dst[field]
            if field == "storage class" and same and dst[field] != src[field]:
                right = f"{dst[field]} (rule {rule['ID']})"
            print(f"{mark}{fit(field, LABEL)}{fit(src[field], SIDE)} {fit(right, SIDE).rstrip()}")
            if not same:
                problems.append(f"{key}: {field} {expected[field]!r} != {dst[field]!r}")
        ok = dst["marker"] == src["version"]
        right = "its replica (replica-source-version-id)" if ok else f"replica of {dst['marker']}"
        print(f"{'  ' if ok else '≠ '}{fit('version', LABEL)}{fit(src['version'], SIDE)} "
              f"{fit(right, SIDE).rstrip()}")
        if not ok:
            problems.append(f"{key}: replica marker {dst['marker']!r} != {src['version']!r}")
    deleted = [m["Key"] for m in listing.get("DeleteMarkers", []) if m["IsLatest"]]
    for key in sorted(deleted):
        replica_deleted = any(
            m["Key"] == key and m["IsLatest"]
            for m in s3.list_object_versions(Bucket=REPLICA, Prefix=key).get("DeleteMarkers", []))
        print(f"\n{key}\n  {' ' * LABEL}{fit('deleted (delete marker is current)', SIDE)} "
              f"{'deleted (delete marker is current)' if replica_deleted else 'NOT DELETED'}")
        if not replica_deleted:
            problems.append(f"{key}: delete marker not replicated")
    print()
    if problems:
        print("DIFFERENCES (≠):\n  " + "\n  ".join(problems))
        if check:
            sys.exit(1)
    else:
        print(textwrap.fill(
            "Every replica matches its source: " + ", ".join(FIELDS[:-1])
            + ", storage class as its rule sets it, and the replica marker naming the source "
            "version; delete markers replicated where the rule enables them.", width=120))


def stamp(path):
    """Sets every event time in the fixture (nested SQS and SNS bodies included) to now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    event_time = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def walk(node):
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "eventTime" or (name == "time" and "detail-type" in node):
                    node[name] = event_time if name == "eventTime" else event_time[:19] + "Z"
                elif name in ("body", "Message") and isinstance(value, str) and value.startswith("{"):
                    inner = json.loads(value)
                    walk(inner)
                    node[name] = json.dumps(inner)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    path = pathlib.Path(path)
    event = json.loads(path.read_text())
    walk(event)
    path.write_text(json.dumps(event, indent=2, ensure_ascii=False))


def verify_job(endpoint, path):
    """A schema 2.0 verify job naming every replica's key (as S3 names keys: URL-encoded)."""
    s3 = client(endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=REPLICA)
            for o in page.get("Contents", [])]
    job = {
        "invocationSchemaVersion": "2.0",
        "invocationId": "ZGVtby12ZXJpZnktam9i",
        "job": {"id": "demo-verify-job", "userArguments": {"Mode": "verify"}},
        "tasks": [{"taskId": f"task-{n}", "s3Key": urllib.parse.quote_plus(key, safe="/"),
                   "s3VersionId": None, "s3Bucket": SOURCE} for n, key in enumerate(keys, 1)],
    }
    pathlib.Path(path).write_text(json.dumps(job, indent=2))
    return len(keys)


def bad_deploy(endpoint, prefix):
    """A faulty deploy: every current object under PREFIX overwritten; how many."""
    s3 = client(endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=SOURCE, Prefix=prefix) for o in page.get("Contents", [])]
    for key in keys:
        s3.put_object(Bucket=SOURCE, Key=key, Body=b"encrypted by ransomware\n",
                      ContentType="application/octet-stream", Metadata={"department": "nobody"},
                      Tagging="state=lost")
    return len(keys)


def job_summary(expected, answer, keys_by_task):
    """One line per task: key and resultString, within 120 columns; False if any is not EXPECTED."""
    results = answer.get("results", [])
    good = all(r.get("resultCode") == "Succeeded" and r.get("resultString") == expected
               for r in results) and bool(results)
    codes = {}
    for r in results:
        codes[r.get("resultCode")] = codes.get(r.get("resultCode"), 0) + 1
    print(f"  {len(results)} task{'' if len(results) == 1 else 's'}: " + ", ".join(f"{n} {c}" for c, n in sorted(codes.items())))
    for r in results:
        key = keys_by_task.get(r.get("taskId"), r.get("taskId"))
        print(f"  {fit(key, 60)} {fit(r.get('resultString'), 57).rstrip()}")
    return good


def metrics(path, check):
    """The function's EMF documents summed: counts per metric and the latency percentiles."""
    totals, latencies, documents, problems = {}, [], 0, []
    # The replicas the function's log says it wrote: one line for each copy of an event's (or a
    # Batch task's) version, one for each copy convergence made of the source's current one.
    written = 0
    for n, line in enumerate(open(path, errors="replace"), 1):
        try:
            doc = json.loads(line)
        except ValueError:
            problems.append(f"{path}:{n} is not a JSON line: {line.strip()[:80]!r}")
            continue
        if isinstance(doc, dict) and "_aws" not in doc:
            message = (doc.get("fields") or {}).get("message")
            written += message in ("replicated", "re-asserted the source's current version")
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        documents += 1
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            dims = directive["Dimensions"][0]
            for metric in directive["Metrics"]:
                name, value = metric["Name"], doc[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                if name == "ReplicationLatency":
                    # Each sample is written twice: by source (what the alarm watches) and by
                    # source and destination. The second names each replica once.
                    if "DestinationBucket" in dims:
                        latencies.extend(values)
                    continue
                label = name + "".join(f" {d}={doc[d]}" for d in dims if d != "SourceBucket")
                totals[label] = totals.get(label, 0) + sum(values)
    if not documents:
        sys.exit("demo: the function wrote no EMF document")
    print(f"{documents} documents (namespace S3Replicator); summed over the demo's invocations:")
    for label, total in sorted(totals.items()):
        print(f"  {label}: {total:g}")
    replicated = sum(t for label, t in totals.items() if label.startswith("OperationsReplicated"))
    if latencies:
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        print(f"  ReplicationLatency (event time to replica written): p50 {pick(0.5):.0f} ms, "
              f"p99 {pick(0.99):.0f} ms over {len(latencies)} "
              f"replica{'' if len(latencies) == 1 else 's'}")
    print(f"  replicas the log says were written: {written}")
    if replicated != written:
        problems.append(f"OperationsReplicated {replicated:g}, but the log says {written} "
                        "replicas were written")
    if len(latencies) > replicated:
        problems.append(f"{len(latencies)} latency samples for {replicated:g} replicas written")
    if latencies and latencies[-1] > 3600_000:
        problems.append(f"a latency of {latencies[-1] / 3600_000:.0f} hours: events not stamped")
    if problems and check:
        sys.exit("demo: " + "\n  ".join(problems))
    return len(latencies)


def selftest():
    """The counting and wording above, on made-up input."""
    import contextlib
    import io
    import tempfile
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        job_summary("same", {"results": [{"taskId": "t", "resultCode": "Succeeded",
                                          "resultString": "same"}]}, {"t": "k"})
    assert "  1 task: 1 Succeeded" in out.getvalue(), out.getvalue()

    def emf(dims, **values):
        return json.dumps({"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
            "Namespace": "S3Replicator", "Dimensions": [dims],
            "Metrics": [{"Name": n} for n in values]}]},
            "SourceBucket": "s", "DestinationBucket": "d", **values})
    with tempfile.NamedTemporaryFile("w", suffix=".log") as log:
        log.write(emf(["SourceBucket", "DestinationBucket"], OperationsReplicated=2,
                      ReplicationLatency=[5.0, 7.0]) + "\n")
        log.write(emf(["SourceBucket"], ReplicationLatency=[5.0, 7.0]) + "\n")
        log.write(json.dumps({"fields": {"message": "replicated"}}) + "\n")
        log.flush()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                metrics(log.name, True)
            raise AssertionError("a replica written and not counted passed")
        except SystemExit:
            pass
        log.write(json.dumps({"fields": {"message": "re-asserted the source's current version"}})
                  + "\n")
        log.flush()
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            assert metrics(log.name, True) == 2
        assert "over 2 replicas" in printed.getvalue(), printed.getvalue()
        log.write('cargo-lambda overwrote this{"level":"INFO"}\n')
        log.flush()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                metrics(log.name, True)
            raise AssertionError("a damaged log line passed")
        except SystemExit:
            pass
    with tempfile.TemporaryDirectory() as d:
        fn, other = f"{d}/function.log", f"{d}/watch.log"
        split_log(io.StringIO(' INFO starting Runtime server\n{"level":"INFO"}\n   Compiling x\n'),
                  fn, other)
        assert open(fn).read() == '{"level":"INFO"}\n', open(fn).read()
        assert open(other).read().count("\n") == 2
    print("demo_s3.py selftest: ok")


def split_log(lines, fn_path, other_path):
    """Each line as it comes: a JSON line (the function's log and metrics) to fn_path, any other
    (cargo-lambda's own, the compiler's) to other_path."""
    with open(fn_path, "a") as fn, open(other_path, "a") as other:
        for line in iter(lines.readline, ""):
            out = fn if line.startswith("{") else other
            out.write(line)
            out.flush()


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "show":
        show(sys.argv[2], "--check" in sys.argv)
    elif sys.argv[1] == "stamp":
        stamp(sys.argv[2])
    elif sys.argv[1] == "verify-job":
        print(verify_job(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "bad-deploy":
        print(bad_deploy(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "metrics":
        metrics(sys.argv[2], "--check" in sys.argv)
    elif sys.argv[1] == "split-log":
        split_log(sys.stdin, sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "selftest":
        selftest()
    elif sys.argv[1] == "job-summary":
        # argv: EXPECTED JOB_FILE; the answer on stdin.
        job = json.loads(pathlib.Path(sys.argv[3]).read_text())
        keys = {t["taskId"]: urllib.parse.unquote_plus(t["s3Key"]) for t in job["tasks"]}
        sys.exit(0 if job_summary(sys.argv[2], json.load(sys.stdin), keys) else 1)

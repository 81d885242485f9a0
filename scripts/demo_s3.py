"""The demo's S3 side: creates the buckets and sample objects, writes the events for them, and
prints sources and replicas side by side.

  demo_s3.py setup ENDPOINT OUT_DIR   buckets, objects, and OUT_DIR/<fixture>.json events
  demo_s3.py show ENDPOINT [--check]  the side-by-side table; --check exits 1 on any difference
"""

import json
import pathlib
import sys
import urllib.parse

import boto3

SOURCE, REPLICA = "demo-source", "demo-replica"
MARKER = "replica-source-version-id"
ROOT = pathlib.Path(__file__).resolve().parent.parent
# The fixtures the demo invokes, in order.
FIXTURES = [
    "object-created-put.json",
    "several-records.json",
    "key-with-special-characters.json",
    "non-matching-prefix.json",
    "object-removed-delete-marker.json",
    "object-restore-completed.json",
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
        for record in event["Records"]:
            obj = record["s3"]["object"]
            record["s3"]["bucket"]["name"] = SOURCE
            key = urllib.parse.unquote_plus(obj["key"])
            if record["eventName"].startswith("ObjectRemoved"):
                obj["versionId"] = s3.delete_object(Bucket=SOURCE, Key=key)["VersionId"]
                continue
            if not record["eventName"].startswith("ObjectCreated"):
                continue  # shown being ignored
            body = f"demo content of {key}\n".encode()
            put = s3.put_object(Bucket=SOURCE, Key=key, Body=body, **sample(key))
            obj.update(versionId=put["VersionId"], eTag=put["ETag"].strip('"'), size=len(body))
        (out / name).write_text(json.dumps(event, indent=2, ensure_ascii=False))


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
    return {
        "version": head.get("VersionId"),
        "etag": head["ETag"],
        "size": head["ContentLength"],
        "type": head.get("ContentType"),
        "class": head.get("StorageClass", "STANDARD"),
        "meta": head.get("Metadata", {}),
        "tags": ",".join(f"{t['Key']}={t['Value']}" for t in sorted(tags, key=lambda t: t["Key"])),
        "acl": "public-read" if public else "private",
    }


def show(endpoint, check):
    s3 = client(endpoint)
    listing = s3.list_object_versions(Bucket=SOURCE)
    latest = [v for v in listing.get("Versions", []) if v["IsLatest"]]
    rows, problems = [], []
    for v in sorted(latest, key=lambda v: v["Key"]):
        src = describe(s3, SOURCE, v["Key"], v["VersionId"])
        dst = describe(s3, REPLICA, v["Key"])
        rows.append((v["Key"], src, dst))
        if v["Key"].startswith("tmp/"):
            if dst is not None:
                problems.append(f"{v['Key']}: replicated although no rule matches")
            continue
        if dst is None:
            problems.append(f"{v['Key']}: no replica")
            continue
        for field in ("etag", "size", "type", "tags", "acl"):
            if src[field] != dst[field]:
                problems.append(f"{v['Key']}: {field} {src[field]!r} != {dst[field]!r}")
        if dst["meta"].get(MARKER) != src["version"]:
            problems.append(f"{v['Key']}: replica marker {dst['meta'].get(MARKER)!r} != {src['version']!r}")
    width = max(len(k) for k, _, _ in rows) if rows else 10
    print(f"\n{'key':<{width}}  {'source (us-east-1)':<58}  replica (eu-west-1)")
    print("-" * (width + 120))
    for key, src, dst in rows:
        left = fmt(src)
        right = fmt(dst) if dst else "(not replicated)"
        print(f"{key:<{width}}  {left:<58}  {right}")
        if dst:
            print(f"{'':<{width}}  {'version ' + src['version']:<58}  "
                  f"version {dst['version']}, {MARKER}={dst['meta'].get(MARKER)}")
    deleted = [m["Key"] for m in listing.get("DeleteMarkers", []) if m["IsLatest"]]
    for key in sorted(deleted):
        replica_deleted = any(
            m["Key"] == key and m["IsLatest"]
            for m in s3.list_object_versions(Bucket=REPLICA, Prefix=key).get("DeleteMarkers", []))
        print(f"{key:<{width}}  {'deleted (delete marker is current)':<58}  "
              f"{'deleted (delete marker is current)' if replica_deleted else 'NOT DELETED'}")
        if not replica_deleted:
            problems.append(f"{key}: delete marker not replicated")
    print()
    if problems:
        print("DIFFERENCES:\n  " + "\n  ".join(problems))
        if check:
            sys.exit(1)
    else:
        print("Every replica matches its source (bytes/ETag, metadata, tags, ACL, delete "
              "markers); storage class per rule.")


def fmt(d):
    meta = ",".join(f"{k}={v}" for k, v in sorted(d["meta"].items()) if not k.startswith("replica-"))
    return f"{d['etag'][:10]}…\" {d['size']}B {d['type']} {d['class']} [{d['tags']}] {d['acl']} {meta}"


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "show":
        show(sys.argv[2], "--check" in sys.argv)
    else:
        sys.exit(__doc__)

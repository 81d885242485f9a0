"""What the benchmarks share: the local S3 (moto, its request log), the rclone remote over it,
an S3 event record, and recording a table in BENCHMARKS.md."""

import datetime
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
# One line per request in moto's (werkzeug's) log: ... "GET /bucket?list-type=2 HTTP/1.1" 200 -
# (werkzeug colours an error answer's request: ANSI codes inside the quotes, counted too).
REQUEST_LINE = re.compile(r'"(?:\x1b\[[0-9;]*m)?[A-Z]+ \S+ HTTP/[\d.]+(?:\x1b\[0m)?" \d{3} ')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc):
    for _ in range(600):
        if proc.poll() is not None:
            sys.exit("a server the benchmark started exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def start_moto(log=None):
    """The local S3, its request log written to `log` if given: (process, endpoint, client)."""
    port = free_port()
    err = subprocess.DEVNULL
    if log is not None:
        log.parent.mkdir(exist_ok=True)
        err = log.open("w")
    moto = subprocess.Popen([sys.executable, str(ROOT / "scripts/moto_server.py"), str(port),
                             "--parent-pid", str(os.getpid())],
                            stdout=subprocess.DEVNULL, stderr=err)
    if log is not None:
        err.close()
    wait_for(port, moto)
    endpoint = f"http://127.0.0.1:{port}"
    return moto, endpoint, client(endpoint)


def client(endpoint):
    """An S3 client on a local server, path-style, with the dummy credentials both servers take."""
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=boto3.session.Config(s3={"addressing_style": "path"}))


def start_rgw(memory_mib=2048):
    """A throwaway Ceph RGW (scripts/rgw.sh), gone when this process ends: (stop, endpoint,
    client). `stop()` stops it at once."""
    script = str(ROOT / "scripts/rgw.sh")
    # On a loaded machine a start can time out (rgw.sh gives each step 30 to 60 s): tried again.
    for attempt in range(3):
        directory = pathlib.Path(tempfile.mkdtemp(prefix="bench-rgw-"))
        started = subprocess.run(["bash", script, "start", str(directory), "--parent-pid",
                                  str(os.getpid()), "--memory", str(memory_mib)],
                                 capture_output=True, text=True)
        if started.returncode == 0:
            break
        subprocess.run(["bash", script, "stop", str(directory)], check=False)
        print(f"bench: RGW did not start (exit {started.returncode}): "
              f"{started.stderr.strip()[-300:]}", file=sys.stderr)
    else:
        sys.exit("bench: RGW did not start three times")
    endpoint = started.stdout.strip().splitlines()[-1]
    return (lambda: subprocess.run(["bash", script, "stop", str(directory)], check=False),
            endpoint, client(endpoint))


def load_average():
    """The machine's 1-minute load average: the benchmarks share it with other work."""
    return os.getloadavg()[0]


def bucket(s3, name):
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def served_requests(log):
    """The requests the server has logged so far (it logs each after answering)."""
    time.sleep(0.3)
    return sum(1 for line in log.read_text(errors="replace").splitlines()
               if REQUEST_LINE.search(line))


def rclone_env(endpoint):
    """rclone's environment with a remote `local:` on the local S3."""
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.update({
        "RCLONE_CONFIG_LOCAL_TYPE": "s3", "RCLONE_CONFIG_LOCAL_PROVIDER": "Other",
        "RCLONE_CONFIG_LOCAL_ENDPOINT": endpoint, "RCLONE_CONFIG_LOCAL_ACCESS_KEY_ID": "test",
        "RCLONE_CONFIG_LOCAL_SECRET_ACCESS_KEY": "test", "RCLONE_CONFIG_LOCAL_REGION": "us-east-1",
        "RCLONE_CONFIG_LOCAL_FORCE_PATH_STYLE": "true",
    })
    return env


def record(table):
    """Prints a benchmark's table and appends it to BENCHMARKS.md."""
    print()
    print(table)
    bench = ROOT / "BENCHMARKS.md"
    if not bench.exists():
        bench.write_text("# Benchmarks\n\nProduced by `make bench` (scripts/bench_*.py). Each "
                         "table is one run; compare ratios within a table, not across "
                         "machines.\n")
    with bench.open("a") as f:
        f.write("\n" + table + "\n")


def s3_record(bucket, key, put, n):
    """The S3 event record of the PutObject answer `put` for `key`, n-th in sequence."""
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:BENCH"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1024, "eTag": put["ETag"].strip('"'),
                              "versionId": put["VersionId"], "sequencer": f"{n:016X}"}}}

"""Init time and size: process start to the first poll of the Lambda Runtime API, for the
function and for a hello-world `lambda_runtime` binary (examples/hello_runtime.rs) built with the
same release profile. Each binary is started RUNS times, in turn with the other, against a
minimal Runtime API on 127.0.0.1 (TCP_NODELAY on its sockets) that answers nothing: the clock
stops at the first `GET /runtime/invocation/next`, then the process is killed. Prints a table and
appends it to BENCHMARKS.md."""

import http.server
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time

from bench_common import ROOT, record

RUNS = 101


class Poll(http.server.BaseHTTPRequestHandler):
    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        if self.path.endswith("/runtime/invocation/next"):
            self.server.polled.set()
        # No invocation comes: the process is killed while it waits.
        time.sleep(2)

    def do_POST(self):
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def init_ms(binary, env, server):
    """Milliseconds from process start to the first runtime poll."""
    server.polled.clear()
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    if not server.polled.wait(10):
        proc.kill()
        sys.exit(f"{binary} never polled the runtime API")
    took = (time.perf_counter() - start) * 1000
    proc.kill()
    proc.wait()
    return took


def main():
    server = Server(("127.0.0.1", 0), Poll)
    server.polled = threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_SESSION_TOKEN": "test", "HOME": "/nonexistent",
    }
    function_env = dict(env, DESTINATION_BUCKET="replica", DESTINATION_REGION="eu-west-1")
    release = ROOT / "target/release"
    binaries = [
        ("s3-replicator (the function)", release / "s3-replicator", function_env),
        ("hello-world lambda_runtime", release / "examples/hello_runtime", env),
    ]
    for _, binary, benv in binaries:
        init_ms(str(binary), benv, server)  # page cache warm
    # Starts alternate between the binaries, so that the machine's drift (its clock speed, its
    # neighbours) weighs on both alike: run in blocks, one run here put the function at 0.88x.
    times = {name: [] for name, _, _ in binaries}
    for _ in range(RUNS):
        for name, binary, benv in binaries:
            times[name].append(init_ms(str(binary), benv, server))
    rows, medians = [], {}
    for name, binary, _ in binaries:
        ordered = sorted(times[name])
        medians[name] = statistics.median(ordered)
        p90 = ordered[int(len(ordered) * 0.9)]
        size = binary.stat().st_size / 1e6
        rows.append((name, size, medians[name], p90))
    hello = medians["hello-world lambda_runtime"]
    lines = [
        f"### {time.strftime('%Y-%m-%d')}: init (process start to first runtime poll) and size, "
        f"release profile, median of {RUNS} starts, {os.cpu_count()} cores",
        "",
        "| binary | size (MB, stripped) | init p50 (ms) | init p90 (ms) | init vs hello-world |",
        "|---|---|---|---|---|",
    ]
    for name, size, p50, p90 in rows:
        lines.append(f"| {name} | {size:.1f} | {p50:.1f} | {p90:.1f} | {p50 / hello:.2f}x |")
    record("\n".join(lines))


if __name__ == "__main__":
    main()

"""Benchmark: what emitting CloudWatch EMF metrics adds to replicating small objects. Runs
examples/bench_metrics (the handler on the in-memory store, every S3 call a 1 ms round trip)
three times and records the median overhead. Appends a table, dated, to BENCHMARKS.md.
"""

import datetime
import json
import os
import subprocess

from bench_common import ROOT, record

OBJECTS, LATENCY_MS, RUNS = 300, 1, 3


def main():
    binary = ROOT / "target/release/examples/bench_metrics"
    runs = [json.loads(subprocess.run([str(binary), str(OBJECTS), str(LATENCY_MS)], check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for _ in range(RUNS)]
    runs.sort(key=lambda r: r["overhead_percent"])
    median = runs[len(runs) // 2]
    every = ", ".join("%.1f %%" % r["overhead_percent"] for r in runs)
    lines = [
        f"### {datetime.date.today().isoformat()}: metrics overhead, {OBJECTS} small in-order objects "
        f"through the handler on the in-memory store ({LATENCY_MS} ms per S3 call), "
        f"{os.cpu_count()} cores, median of {RUNS} runs",
        "",
        "| | seconds | objects/s |",
        "|---|---|---|",
        f"| without metrics | {median['seconds_without_metrics']:.2f} | "
        f"{OBJECTS / median['seconds_without_metrics']:.0f} |",
        f"| with CloudWatch EMF (flushed after every invocation) | "
        f"{median['seconds_with_metrics']:.2f} | {OBJECTS / median['seconds_with_metrics']:.0f} |",
        "",
        f"Overhead: {median['overhead_percent']:.1f} % (all runs: {every}); "
        "metrics add no S3 request.",
    ]
    record("\n".join(lines))


if __name__ == "__main__":
    main()

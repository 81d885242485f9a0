//! What emitting metrics costs: small in-order objects replicated through the handler on the
//! in-memory store (every S3 call a round trip of LATENCY_MS, as a fast local S3), first with no
//! metrics recorder, then with the function's CloudWatch EMF collector flushing after every
//! invocation (to a sink, as to stdout). Prints one JSON line; `make bench` records it.
//!
//! Usage: bench_metrics [OBJECTS] [LATENCY_MS]

use std::time::{Duration, Instant};

use s3_replicator::fake::FakeS3;
use s3_replicator::{handle, Config, Replicator};
use serde_json::json;

async fn run(objects: usize, latency: Duration, label: &str) -> f64 {
    let s3 = FakeS3::new().with_latency(latency);
    s3.create_bucket("src", "us-east-1");
    s3.create_bucket("dst", "eu-west-1");
    let config = Config::from_shorthand("dst", Some("eu-west-1".into()), None, None).unwrap();
    let replicator = Replicator::new(config, s3.clone(), s3.clone(), "us-east-1");
    let started = Instant::now();
    for n in 0..objects {
        let key = format!("{label}/object-{n}");
        let written = s3.put("src", &key, &[b'x'; 1024]);
        let event = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-30T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "src"},
                   "object": {"key": key, "size": 1024, "eTag": written.etag.trim_matches('"'),
                              "versionId": written.version_id, "sequencer": format!("{n:016X}")}}}]});
        handle(&replicator, event).await.unwrap();
        if let Some(collector) = COLLECTOR.get() {
            collector.flush(std::io::sink()).unwrap();
        }
    }
    started.elapsed().as_secs_f64()
}

static COLLECTOR: std::sync::OnceLock<&'static metrics_cloudwatch_embedded::Collector> =
    std::sync::OnceLock::new();

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let objects = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let latency = Duration::from_millis(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1));
    run(20, latency, "warm-up").await;
    let without = run(objects, latency, "without").await;
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(s3_replicator::metrics::NAMESPACE)
        .init()
        .unwrap();
    s3_replicator::metrics::describe();
    COLLECTOR.set(collector).ok();
    let with = run(objects, latency, "with").await;
    println!(
        "{}",
        json!({"objects": objects, "latency_ms": latency.as_millis() as u64,
               "seconds_without_metrics": without, "seconds_with_metrics": with,
               "overhead_percent": (with / without - 1.0) * 100.0})
    );
}

//! Replicates one object version with the library, as the function does, and prints one JSON
//! line: seconds, the replica's ETag, and the process's peak RSS. Driven by
//! `scripts/bench_multipart.py` (`make bench`).
//!
//! Usage: bench_copy ENDPOINT SOURCE_BUCKET KEY VERSION_ID ETAG DESTINATION_BUCKET CONCURRENCY
//!
//! Settings it does not fix (`REPLICATION_CONFIG`, a rule's credential variables, part sizes)
//! are read from its environment: `scripts/bench_rgw.py` streams to another endpoint that way.

use std::time::Instant;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, src, key, version, etag, dst, concurrency] = args.as_slice() else {
        return Err("usage: bench_copy ENDPOINT SOURCE_BUCKET KEY VERSION_ID ETAG DESTINATION_BUCKET CONCURRENCY".into());
    };
    let sdk = aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .http_client(s3_replicator::sdk::https_client())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "bench",
        )))
        .build();
    let env = [
        ("DESTINATION_BUCKET", dst.as_str()),
        ("DESTINATION_REGION", "us-east-1"),
        ("S3_FORCE_PATH_STYLE", "true"),
        ("MULTIPART_CONCURRENCY", concurrency.as_str()),
    ];
    // A REPLICATION_CONFIG of the environment names the destination itself (the shorthand may
    // not be combined with it).
    let configured = std::env::var("REPLICATION_CONFIG").is_ok();
    let replicator = s3_replicator::wiring::build(&sdk, |name| {
        if configured && name.starts_with("DESTINATION_") {
            return std::env::var(name).ok();
        }
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| std::env::var(name).ok())
    })?;
    let mut event: Value = serde_json::from_str(include_str!("../events/object-created-put.json"))?;
    let record = &mut event["Records"][0];
    record["s3"]["bucket"]["name"] = json!(src);
    record["s3"]["object"]["key"] =
        json!(form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>());
    record["s3"]["object"]["versionId"] = json!(version);
    record["s3"]["object"]["eTag"] = json!(etag);

    let started = Instant::now();
    s3_replicator::handle(&replicator, event).await?;
    let seconds = started.elapsed().as_secs_f64();

    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let head = client.head_object().bucket(dst).key(key).send().await?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak_rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        json!({"seconds": seconds, "etag": head.e_tag(), "peak_rss_kib": peak_rss_kib})
    );
    Ok(())
}

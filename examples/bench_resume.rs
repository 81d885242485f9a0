//! Replicates one multipart object version as Lambda would when each invocation has too little
//! time for the whole copy: every invocation gets a deadline (cut off there, as Lambda does) and
//! the next is made until the copy lands. Prints one JSON line: invocations, seconds. Driven by
//! `scripts/bench_resume.py` (`make bench`), behind a proxy that slows every part copy.
//!
//! Usage: bench_resume ENDPOINT SOURCE_BUCKET KEY VERSION_ID ETAG DESTINATION_BUCKET
//!        CONCURRENCY INVOCATION_SECONDS MARGIN_SECONDS

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use serde_json::{json, Value};

/// Invocations made at most before the run counts as one that never finishes.
const MOST: u32 = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, src, key, version, etag, dst, concurrency, seconds, margin] = args.as_slice()
    else {
        return Err("usage: bench_resume ENDPOINT SOURCE_BUCKET KEY VERSION_ID ETAG DESTINATION_BUCKET CONCURRENCY INVOCATION_SECONDS MARGIN_SECONDS".into());
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
        ("MULTIPART_TIME_MARGIN_SECONDS", margin.as_str()),
    ];
    let replicator = s3_replicator::wiring::build(&sdk, |name| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })?;
    let mut event: Value = serde_json::from_str(include_str!("../events/object-created-put.json"))?;
    let record = &mut event["Records"][0];
    record["s3"]["bucket"]["name"] = json!(src);
    record["s3"]["object"]["key"] =
        json!(form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>());
    record["s3"]["object"]["versionId"] = json!(version);
    record["s3"]["object"]["eTag"] = json!(etag);

    let budget = Duration::from_secs_f64(seconds.parse()?);
    let started = Instant::now();
    let mut invocations = 0;
    let landed = loop {
        if invocations == MOST {
            break false;
        }
        invocations += 1;
        // Lambda's deadline, and its cut: the invocation's future is dropped there.
        let deadline = SystemTime::now() + budget;
        let answer = tokio::time::timeout(
            budget,
            s3_replicator::handle_until(&replicator, event.clone(), Some(deadline)),
        )
        .await;
        // Landed; or landed with no time left after it, and found in sync by the next.
        if matches!(answer, Ok(Ok(ref s)) if s.replicated + s.skipped == 1) {
            break true;
        }
    };
    println!(
        "{}",
        json!({"invocations": invocations, "landed": landed,
               "seconds": started.elapsed().as_secs_f64()})
    );
    Ok(())
}

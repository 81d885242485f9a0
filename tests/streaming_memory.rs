//! The streamed copy's memory is bounded by parts in flight × part size, not by the object: a
//! 64 MiB object streamed in 8 MiB parts, 2 at a time, must not raise the process's peak RSS
//! anywhere near 64 MiB. Alone in its test binary so that nothing else allocates meanwhile.

mod common;

use common::*;
use s3_replicator::handle;
use serde_json::json;

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}

#[tokio::test]
async fn streamed_copy_memory_is_bounded_by_parts_in_flight() {
    let remote = start_moto();
    let local = client();
    let remote_client = client_for(&remote.endpoint);
    let src = versioned_bucket(&local, "mem-src", "us-east-1").await;
    let dst = versioned_bucket(&remote_client, "mem-dst", "us-east-1").await;
    let p = {
        let data = body(64 * MIB);
        put(&local, &src, "big.bin", &data).await
    }; // the test's own copy of the bytes is freed here
    let config = json!({"Rules": [{"Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst, "Region": "us-east-1", "Endpoint": remote.endpoint,
            "ForcePathStyle": true}}]})
    .to_string();
    let part = (8 * MIB).to_string();
    let replicator = replicator(
        &server().endpoint,
        &[
            ("REPLICATION_CONFIG", &config),
            ("MULTIPART_PART_SIZE", &part),
            ("MULTIPART_CONCURRENCY", "2"),
        ],
    );
    let event = created_event(std::slice::from_ref(&p));

    let before = status_kib("VmRSS:");
    // Resets VmHWM (peak RSS) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset peak RSS");
    let summary = handle(&replicator, event).await.expect("replicates");
    let growth_mib = status_kib("VmHWM:").saturating_sub(before) / 1024;

    assert_eq!(summary.replicated, 1);
    let head = remote_client
        .head_object()
        .bucket(&dst)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(64 * MIB as i64));
    // 2 parts of 8 MiB in flight; the SDK may hold a second copy of each while sending.
    assert!(
        growth_mib <= 40,
        "peak RSS grew by {growth_mib} MiB streaming a 64 MiB object"
    );
}

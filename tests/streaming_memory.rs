//! A streamed copy's memory is bounded whatever the object and its parts: each part streams from
//! the source's GetObject into the destination's UploadPart, and only parts of up to 8 MiB are
//! buffered (so the SDK can retry them). Two copies, measured one after the other: a 64 MiB
//! object in 8 MiB parts, and a multipart source whose own parts are 40 MiB (the layout is kept
//! for ETag parity, so the part size is the source's). Alone in its test binary so that nothing
//! else allocates meanwhile.

mod common;

use common::*;
use s3_replicator::handle;
use serde_json::{json, Value};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}

/// How much the peak RSS grows while the event is handled, in MiB.
async fn peak_growth_mib(replicator: &s3_replicator::wiring::LiveReplicator, event: Value) -> u64 {
    let before = status_kib("VmRSS:");
    // Resets VmHWM (peak RSS) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset peak RSS");
    let summary = handle(replicator, event).await.expect("replicates");
    assert_eq!(summary.replicated, 1);
    status_kib("VmHWM:").saturating_sub(before) / 1024
}

#[tokio::test]
async fn streamed_copy_memory_is_bounded_whatever_the_part_size() {
    let remote = start_moto();
    let local = client();
    let remote_client = client_for(&remote.endpoint);
    let src = versioned_bucket(&local, "mem-src", "us-east-1").await;
    let dst = versioned_bucket(&remote_client, "mem-dst", "us-east-1").await;
    let single = {
        let data = body(64 * MIB);
        put(&local, &src, "big.bin", &data).await
    }; // the test's own copy of the bytes is freed here
    let large_parts = {
        let parts = vec![body(40 * MIB), body(40 * MIB), body(MIB)];
        multipart_source(&local, &src, "large-parts.bin", &parts).await
    };
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
            // The other endpoint is a local server, on plain http.
            ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
            ("MULTIPART_PART_SIZE", &part),
            ("MULTIPART_CONCURRENCY", "2"),
        ],
    );

    for p in [&single, &large_parts] {
        let growth = peak_growth_mib(&replicator, created_event(std::slice::from_ref(p))).await;
        let head = remote_client
            .head_object()
            .bucket(&dst)
            .key(&p.key)
            .send()
            .await
            .unwrap();
        assert_eq!(head.content_length(), Some(p.size as i64));
        if p.etag.contains('-') {
            // A multipart source keeps its layout, hence its ETag.
            assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
        }
        // 2 parts in flight, each buffering at most 8 MiB (the SDK may hold a second copy).
        assert!(
            growth <= 40,
            "peak RSS grew by {growth} MiB streaming {} ({} bytes)",
            p.key,
            p.size
        );
    }
}

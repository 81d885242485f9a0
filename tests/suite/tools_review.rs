//! Issue 35, an outside review of the tools: each defect it proved, tried through the binary
//! against the local S3 as an operator would (`verify`, `repair`, `backfill`, a Batch
//! Operations job through the Lambda runtime).

use std::time::Duration;

use crate::common::*;
use aws_sdk_s3::Client;
use serde_json::json;

async fn pause() {
    // Last-Modified has whole seconds: what follows is later in the one order of writes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// `s3-replicator ARGS` against `endpoint`: exit status and stdout.
fn cli_at(endpoint: &str, config: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn cli(config: &str, args: &[&str]) -> (Option<i32>, String) {
    cli_at(&server().endpoint, config, args)
}

/// The user metadata `racer` of the key's current object (the moto hook's write sets it).
async fn racer(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    head.metadata()?.get("racer").cloned()
}

/// A source key with its replica at a destination named `race-*`, where the moto hook makes a
/// user's same-bytes write (other metadata) slip in before the next write a tool makes there.
async fn raced(moto: &Server, body: &[u8]) -> (Client, String, String) {
    let s3 = client_for(&moto.endpoint);
    let src = versioned_bucket(&s3, "rv-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "race-dst", "us-east-1").await;
    put(&s3, &src, "k", body).await;
    // The first copy meets no object there: the hook waits for the next write.
    let (code, out) = cli_at(
        &moto.endpoint,
        &config(&dst),
        &["backfill", "--bucket", &src],
    );
    assert_eq!(code, Some(0), "{out}");
    (s3, src, dst)
}

/// Repair hid a stale replica on `If-Match`; a user's same-bytes write that slipped in between
/// passed the condition and was hidden under the marker. The marker is proven to lie on the
/// replica read, or withdrawn: the later write stays current, and nothing is called damage.
#[tokio::test]
async fn repair_never_hides_a_same_bytes_write_that_slips_in_before_its_delete() {
    let moto = start_moto_with(&[("MOTO_RACE_BEFORE_WRITES", "1")]);
    let (s3, src, dst) = raced(&moto, b"payload").await;
    s3.delete_object()
        .bucket(&src)
        .key("k")
        .send()
        .await
        .unwrap();
    pause().await;
    let (code, out) = cli_at(&moto.endpoint, &config(&dst), &["repair", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        racer(&s3, &dst, "k").await.as_deref(),
        Some("slipped-in"),
        "the user's later write stays current: {out}"
    );
    assert!(out.contains("1 skipped"), "counted as a later write: {out}");
    let (code, out) = cli_at(&moto.endpoint, &config(&dst), &["verify", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 newer-at-destination"), "{out}");
}

/// Repair and backfill copied the source's newer version on `If-Match` over a user's same-bytes
/// write that slipped in after the read: the copy is proven to lie on the replica read, or
/// withdrawn, and the later write stands.
#[tokio::test]
async fn repair_and_backfill_never_copy_over_a_same_bytes_write_that_slips_in() {
    let moto = start_moto_with(&[("MOTO_RACE_BEFORE_WRITES", "1")]);
    for tool in ["repair", "backfill"] {
        let (s3, src, dst) = raced(&moto, b"old").await;
        pause().await;
        put(&s3, &src, "k", b"new").await;
        pause().await;
        let (code, out) = cli_at(&moto.endpoint, &config(&dst), &[tool, "--bucket", &src]);
        assert_eq!(code, Some(0), "{tool}: {out}");
        assert_eq!(
            racer(&s3, &dst, "k").await.as_deref(),
            Some("slipped-in"),
            "{tool}: the user's later write stays current: {out}"
        );
        assert_eq!(body_of(&s3, &dst, "k", None).await, b"old", "{tool}");
        let (code, out) = cli_at(
            &moto.endpoint,
            &config(&dst),
            &["verify", "--bucket", &src, "--deep"],
        );
        assert_eq!(code, Some(0), "{tool}: {out}");
        assert!(out.contains("1 newer-at-destination"), "{tool}: {out}");
    }
}

/// A rule with a tag filter (delete markers not replicated) and a key deleted in the source
/// whose newest tagged version never reached the destination: the engine (and a Batch task)
/// copies that version; `verify` called the key `extra` or said nothing, and `repair` and
/// `backfill` left it. Every tool now judges it as the engine does.
#[tokio::test]
async fn a_tag_filtered_rule_owes_a_deleted_key_its_newest_version_in_every_tool() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv-tag-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv-tag-dst", "us-east-1").await;
    let config = json!({"Rules": [{"ID": "tagged", "Priority": 1, "Status": "Enabled",
        "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "t", "Value": "y"}]}},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst, "Region": "us-east-1"}}]})
    .to_string();
    let tagged = |body: &'static [u8]| {
        let (s3, src) = (s3.clone(), src.clone());
        async move {
            put_with(&s3, &src, "k", body, |b| b.tagging("t=y")).await;
        }
    };
    tagged(b"v1").await;
    let (code, out) = cli(&config, &["backfill", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    tagged(b"v2, never replicated").await;
    s3.delete_object()
        .bucket(&src)
        .key("k")
        .send()
        .await
        .unwrap();

    let (code, out) = cli(&config, &["verify", "--bucket", &src]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("1 stale"), "{out}");
    let (code, out) = cli(&config, &["repair", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("repair: 1 replicated"), "{out}");
    assert_eq!(body_of(&s3, &dst, "k", None).await, b"v2, never replicated");
    let (code, out) = cli(&config, &["verify", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
}

/// A Batch task answered `missing` (no code) or `same` where a destination bucket is gone: a
/// HEAD there answers a missing bucket as a missing key. The task now fails with the code.
#[tokio::test]
async fn a_batch_task_fails_with_the_code_where_a_destination_bucket_is_gone() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv-gone-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv-gone-dst", "us-east-1").await;
    let gone = unique_bucket("rv-gone-never");
    let config = json!({"Rules": [
        {"ID": "a", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": dst, "Region": "us-east-1"}},
        {"ID": "b", "Priority": 2, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": gone, "Region": "us-east-1"}}]})
    .to_string();
    put(&s3, &src, "a", b"1").await;
    put(&s3, &src, "d", b"3").await;
    cli(&config, &["backfill", "--bucket", &src]);
    s3.delete_object()
        .bucket(&src)
        .key("d")
        .send()
        .await
        .unwrap();
    for mode in ["verify", "replicate"] {
        let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv",
            "job": {"id": "job", "userArguments": {"Mode": mode}},
            "tasks": [{"taskId": "a", "s3Key": "a", "s3VersionId": null, "s3Bucket": src},
                      {"taskId": "d", "s3Key": "d", "s3VersionId": null, "s3Bucket": src}]});
        let (answer, _) =
            crate::metrics::invoke(job, &[("REPLICATION_CONFIG", &config)], 60_000).await;
        let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
        for result in answer["results"].as_array().unwrap() {
            assert_ne!(result["resultCode"], "Succeeded", "{mode}: {answer}");
            assert!(
                result["resultString"]
                    .as_str()
                    .unwrap()
                    .contains("DstBucketNotFound"),
                "{mode}: {answer}"
            );
        }
    }
}

/// The source's object moved to GLACIER after it was replicated: `verify` said `same` and
/// `backfill` "already in sync", where a Batch task says `skipped: archived`, as the table of
/// states says every tool does.
#[tokio::test]
async fn an_object_archived_after_replication_is_skipped_in_every_tool() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv-cold-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv-cold-dst", "us-east-1").await;
    let config = json!({"Rules": [{"ID": "ia", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst, "Region": "us-east-1", "StorageClass": "STANDARD_IA"}}]})
    .to_string();
    put(&s3, &src, "g", b"gg").await;
    cli(&config, &["backfill", "--bucket", &src]);
    // As a lifecycle transition would.
    s3.copy_object()
        .bucket(&src)
        .key("g")
        .copy_source(format!("{src}/g"))
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .send()
        .await
        .unwrap();
    let (code, out) = cli(&config, &["verify", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 skipped"), "{out}");
    let (code, out) = cli(&config, &["backfill", "--bucket", &src, "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 to replicate, 0 already in sync, 1 skipped"),
        "{out}"
    );
}

/// A key whose replica is of an older source version: the run lists the source's versions
/// (never an older version over a newer one's replica) and, after copying over the replica on
/// `If-Match`, the key's versions at the destination (the proof). The dry run counted neither:
/// it said 3 PUT-class requests where a counting proxy saw the run make 5.
#[tokio::test]
async fn the_dry_run_counts_the_listings_a_copy_over_an_older_replica_makes() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv-cost-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv-cost-dst", "us-east-1").await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst, "Region": "us-east-1"}}]})
    .to_string();
    for i in 0..6 {
        put(&s3, &src, &format!("k{i}"), &vec![b'x'; i + 1]).await;
    }
    cli(&config, &["backfill", "--bucket", &src]);
    pause().await;
    put(&s3, &src, "k1", b"changed").await;
    let (code, out) = cli(&config, &["backfill", "--bucket", &src, "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    // Checked against the requests the run makes, counted by a proxy (issue 35).
    assert!(
        out.contains("about 5 PUT/COPY/LIST and 10 GET/HEAD requests"),
        "{out}"
    );
}

/// The seconds of the `Last-Modified` of `key`'s current entry (a delete marker's included).
async fn current_second(s3: &Client, bucket: &str, key: &str) -> (bool, i64) {
    let listed = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    let object = listed
        .versions()
        .iter()
        .filter(|v| v.is_latest() == Some(true))
        .map(|v| (false, v.last_modified().unwrap().secs()));
    let marker = listed
        .delete_markers()
        .iter()
        .filter(|m| m.is_latest() == Some(true))
        .map(|m| (true, m.last_modified().unwrap().secs()));
    object.chain(marker).next().unwrap()
}

/// A user deletes our replica at the destination in the very second the source's version was
/// written, and the source's bucket name sorts after the destination's: the one order of writes
/// (seconds, then bucket name) judges the source's version the later write. Verify called the
/// key `missing` and backfill put the replica back, while repair let the marker stand and exited
/// 0, so verify stayed unclean after repair. Every tool now follows the order: repair puts the
/// replica back and verify is then clean.
#[tokio::test]
async fn a_same_second_delete_against_the_name_order_is_judged_alike_by_every_tool() {
    let s3 = client();
    let src = versioned_bucket(&s3, "zz-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "aa-dst", "us-east-1").await;
    let mut same_second = false;
    for _ in 0..10 {
        // Start early in a second, so the write, its replica and the delete share it.
        while chrono_subsec_millis() > 200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        put(&s3, &src, "k", b"v").await;
        let (code, out) = cli(&config(&dst), &["backfill", "--bucket", &src]);
        assert_eq!(code, Some(0), "{out}");
        s3.delete_object()
            .bucket(&dst)
            .key("k")
            .send()
            .await
            .unwrap();
        let (_, written) = current_second(&s3, &src, "k").await;
        let (marker, deleted) = current_second(&s3, &dst, "k").await;
        if marker && written == deleted {
            same_second = true;
            break;
        }
        pause().await;
    }
    assert!(
        same_second,
        "the machine never wrote, copied and deleted within one second"
    );
    let (code, out) = cli(&config(&dst), &["verify", "--bucket", &src]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("1 missing"), "{out}");
    let (code, out) = cli(&config(&dst), &["repair", "--bucket", &src]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !current_second(&s3, &dst, "k").await.0,
        "repair puts the replica back over the earlier delete: {out}"
    );
    let (code, out) = cli(&config(&dst), &["verify", "--bucket", &src]);
    assert_eq!(code, Some(0), "verify is clean after repair: {out}");
}

fn chrono_subsec_millis() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis()
}

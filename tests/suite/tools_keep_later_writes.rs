//! The operator's tools keep every protection the engine has (issue: tools that destroy data):
//! `repair`, `backfill` and `backfill --all-versions`, run through the binary against the local
//! S3, never replace a later write or a later delete at the destination, two-way setups included.

use crate::common::*;
use serde_json::json;

fn one_way(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string()
}

fn cli(config: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Two buckets replicating into each other, with `key` written on A and replicated to B.
async fn two_way(key: &str) -> (aws_sdk_s3::Client, String, String) {
    let s3 = client();
    let a = versioned_bucket(&s3, "tw-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "tw-b", "eu-west-1").await;
    let a1 = put(&s3, &a, key, b"a1 from A").await;
    let summary = s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &one_way(&b))]),
        created_event(&[a1]),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    (s3, a, b)
}

#[tokio::test]
async fn repair_never_puts_older_bytes_over_a_later_write_in_the_other_bucket() {
    let (s3, a, b) = two_way("k.txt").await;
    // A user overwrites the key on B, later than A's write (S3's clock has one-second steps).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &b, "k.txt", b"b1 written on B").await;

    let (code, stdout) = cli(&one_way(&b), &["verify", "--bucket", &a, "--deep"]);
    assert_eq!(code, Some(0), "a later write is not damage: {stdout}");
    assert!(stdout.contains("newer-at-destination"), "{stdout}");
    let (code, stdout) = cli(&one_way(&b), &["repair", "--bucket", &a]);
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(body_of(&s3, &b, "k.txt", None).await, b"b1 written on B");
    assert_eq!(version_count(&s3, &b, "k.txt").await, 2, "nothing written");
}

#[tokio::test]
async fn backfill_never_resurrects_a_key_deleted_in_the_other_bucket() {
    let (s3, a, b) = two_way("gone.txt").await;
    s3.delete_object()
        .bucket(&b)
        .key("gone.txt")
        .send()
        .await
        .unwrap();
    for args in [
        &["backfill", "--bucket", &a][..],
        &["backfill", "--bucket", &a, "--all-versions"][..],
        &["repair", "--bucket", &a][..],
    ] {
        let (code, stdout) = cli(&one_way(&b), args);
        assert_eq!(code, Some(0), "{args:?}: {stdout}");
        let head = s3.head_object().bucket(&b).key("gone.txt").send().await;
        assert!(head.is_err(), "{args:?} brought the key back: {stdout}");
    }
    assert_eq!(
        version_count(&s3, &b, "gone.txt").await,
        1,
        "nothing written"
    );
}

#[tokio::test]
async fn backfill_all_versions_puts_no_history_over_a_later_destination_write() {
    let s3 = client();
    let a = versioned_bucket(&s3, "hv-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "hv-b", "eu-west-1").await;
    put(&s3, &a, "k.txt", b"v1").await;
    put(&s3, &a, "k.txt", b"v2").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &b, "k.txt", b"written on B later").await;

    let (code, stdout) = cli(
        &one_way(&b),
        &["backfill", "--bucket", &a, "--all-versions"],
    );
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(body_of(&s3, &b, "k.txt", None).await, b"written on B later");
    assert_eq!(
        version_count(&s3, &b, "k.txt").await,
        1,
        "no history on top"
    );
}

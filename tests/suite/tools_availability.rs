//! One destination that fails (issue 35): its listing refused or the bucket gone. It is
//! reported once with its reason and counted, the others are still verified, backfilled and
//! repaired, and the run exits non-zero. Through the binary against the local S3: the failing
//! destination is a bucket that does not exist (moto does not enforce IAM without set-up).

use crate::common::*;
use serde_json::json;

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

fn two_destinations(good: &str, gone: &str) -> String {
    let rule = |id: &str, priority: u32, bucket: &str| {
        json!({"ID": id, "Priority": priority, "Status": "Enabled", "Filter": {},
            "DeleteMarkerReplication": {"Status": "Enabled"},
            "Destination": {"Bucket": bucket}})
    };
    json!({"Rules": [rule("good", 1, good), rule("gone", 2, gone)]}).to_string()
}

/// Backfill merged every destination's listing first: one destination that could not be listed
/// aborted the run, and the healthy destination got nothing. Now the healthy one is backfilled,
/// verified and repaired, the other named once with its reason, and every run exits 1.
#[tokio::test]
async fn a_destination_that_fails_is_reported_and_the_others_are_still_served() {
    let s3 = client();
    let src = versioned_bucket(&s3, "av-src", "us-east-1").await;
    let good = versioned_bucket(&s3, "av-good", "eu-west-1").await;
    let gone = unique_bucket("av-gone");
    let config = two_destinations(&good, &gone);
    for key in ["a.txt", "b.txt"] {
        put(&s3, &src, key, key.as_bytes()).await;
    }
    let unavailable = |stdout: &str| {
        stdout.lines().any(|l| {
            l.starts_with("unavailable")
                && l.contains(&format!("-> {gone}"))
                && l.contains("NoSuchBucket")
        })
    };

    let (code, stdout) = cli(&config, &["verify", "--bucket", &src]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(unavailable(&stdout), "{stdout}");
    assert!(
        stdout.ends_with(
            "verify: 0 same, 2 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors, 1 destination unavailable\n"
        ),
        "{stdout}"
    );

    let (code, stdout) = cli(&config, &["backfill", "--bucket", &src, "--dry-run"]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(unavailable(&stdout), "{stdout}");
    assert!(
        stdout.contains(
            "backfill (dry run): 2 to replicate, 0 already in sync, 0 skipped, 0 failed, 1 destination unavailable\n"
        ),
        "{stdout}"
    );

    let (code, stdout) = cli(&config, &["backfill", "--bucket", &src]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(unavailable(&stdout), "{stdout}");
    // Named once, not once per key.
    assert_eq!(
        stdout.lines().filter(|l| l.contains(gone.as_str())).count(),
        1,
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last().unwrap_or_default(),
        "backfill: 2 replicated, 0 already in sync, 0 skipped, 0 failed, 1 destination unavailable"
    );
    for key in ["a.txt", "b.txt"] {
        assert_eq!(body_of(&s3, &good, key, None).await, key.as_bytes());
    }

    // Damage at the healthy destination is still repaired.
    s3.delete_object()
        .bucket(&good)
        .key("a.txt")
        .send()
        .await
        .unwrap();
    put(&s3, &src, "a.txt", b"a, rewritten").await;
    let (code, stdout) = cli(&config, &["repair", "--bucket", &src]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(unavailable(&stdout), "{stdout}");
    assert_eq!(
        stdout.lines().last().unwrap_or_default(),
        "repair: 1 replicated, 0 already in sync, 0 skipped, 0 failed, 1 destination unavailable"
    );
    assert_eq!(body_of(&s3, &good, "a.txt", None).await, b"a, rewritten");
    let (code, stdout) = cli(&config, &["verify", "--bucket", &src]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.ends_with(
            "verify: 2 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors, 1 destination unavailable\n"
        ),
        "{stdout}"
    );
}

/// `backfill --all-versions` lists no destination up front: a gone destination failed every key
/// there (one `failed` line a key, `N failed`), without the `unavailable` line the table
/// promises. It is now found once, named once and counted; the healthy destination gets every
/// version all the same.
#[tokio::test]
async fn backfill_all_versions_names_a_gone_destination_once() {
    let s3 = client();
    let src = versioned_bucket(&s3, "aw-src", "us-east-1").await;
    let good = versioned_bucket(&s3, "aw-good", "eu-west-1").await;
    let gone = unique_bucket("aw-gone");
    let config = two_destinations(&good, &gone);
    for key in ["a.txt", "b.txt", "c.txt"] {
        put(&s3, &src, key, b"old").await;
        put(&s3, &src, key, key.as_bytes()).await;
    }
    let (code, stdout) = cli(&config, &["backfill", "--bucket", &src, "--all-versions"]);
    assert_eq!(code, Some(1), "{stdout}");
    let named: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains(gone.as_str()))
        .collect();
    assert_eq!(named.len(), 1, "{stdout}");
    assert!(
        named[0].starts_with("unavailable") && named[0].contains("NoSuchBucket"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last().unwrap_or_default(),
        "backfill: 3 replicated, 0 already in sync, 0 skipped, 0 failed, 1 destination unavailable"
    );
    for key in ["a.txt", "b.txt", "c.txt"] {
        assert_eq!(body_of(&s3, &good, key, None).await, key.as_bytes());
    }
}

//! `verify` against the local S3: a replicated bucket proves complete from listings; damage in the
//! destination is found with the right status (listings see bytes, --deep also metadata), and
//! the binary's exit status and closing line say so.

use crate::common::*;
use s3_replicator::tools::compare::{verify, Options, Status, Tally};
use serde_json::json;

const KEYS: &[&str] = &[
    "a.txt",
    "dir/with space.txt",
    "dir/1+1=2.txt",
    "dir/50% off.txt",
    "dir/café ✓ 日本.txt",
    "dir/tagged.txt",
    "logs/x.log",
];

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst, "StorageClass": "STANDARD_IA"}}]})
    .to_string()
}

struct Replicated {
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
    config: String,
}

async fn replicated() -> Replicated {
    let s3 = client();
    let src = versioned_bucket(&s3, "vf-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "vf-dst", "eu-west-1").await;
    let mut puts = Vec::new();
    for key in KEYS {
        puts.push(
            put_with(&s3, &src, key, key.as_bytes(), |b| {
                b.metadata("owner", "ops").tagging("team=storage")
            })
            .await,
        );
    }
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    puts.push(multipart_source(&s3, &src, "big.bin", &parts).await);
    let config = config(&dst);
    let summary = s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&puts),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, KEYS.len() + 1);
    Replicated {
        s3,
        src,
        dst,
        config,
    }
}

async fn run(t: &Replicated, deep: bool) -> Vec<s3_replicator::tools::compare::Finding> {
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &t.config)]);
    let options = Options {
        bucket: t.src.clone(),
        prefix: String::new(),
        deep,
        explain_missing: true,
    };
    verify(&replicator, &options).await.unwrap()
}

async fn backfill(
    replicator: &s3_replicator::wiring::LiveReplicator,
    bucket: &str,
    all_versions: bool,
) -> (
    s3_replicator::tools::backfill::Tally,
    Vec<s3_replicator::tools::backfill::Failure>,
) {
    let options = s3_replicator::tools::backfill::Options {
        bucket: bucket.to_owned(),
        prefix: String::new(),
        all_versions,
        concurrency: 8,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    s3_replicator::tools::backfill::backfill(
        replicator,
        &options,
        &s3_replicator::tools::progress::Quiet,
        &stop,
    )
    .await
    .unwrap()
}

/// How many objects a bucket's listing holds (one page: the tests' buckets are small).
async fn key_count(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    listed.key_count().unwrap_or(0) as usize
}

fn cli(config: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    command
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config);
    command
}

/// Deletes every version of a key: the replica is gone for good (not hidden by a delete marker).
async fn purge(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    for id in version_ids(s3, bucket, key).await {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .version_id(id)
            .send()
            .await
            .unwrap();
    }
}

/// Writes other bytes over a replica, keeping its metadata: a damaged replica that still claims
/// to be its source version's.
async fn forge(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, bytes: &[u8]) {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let metadata = head.metadata().cloned().unwrap_or_default();
    put_with(s3, bucket, key, bytes, |b| {
        b.set_metadata(Some(metadata))
            .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
    })
    .await;
}

fn status_of(findings: &[s3_replicator::tools::compare::Finding], key: &str) -> (Status, String) {
    let f = findings.iter().find(|f| f.key == key).unwrap();
    (f.status, f.detail.clone())
}

#[tokio::test]
async fn verify_finds_exactly_the_damaged_replicas() {
    let t = replicated().await;
    let clean = Tally::of(&run(&t, true).await);
    assert_eq!(
        clean.to_string(),
        "verify: 8 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors"
    );
    assert!(clean.complete());

    // Damage: a replica gone for good, one whose bytes are not its source's although it claims
    // to be its replica, one with other metadata (same bytes, so only --deep can tell), and an
    // object only the destination has. And later writes at the destination, which are not
    // damage: an object written over a replica, and a replica deleted there.
    purge(&t.s3, &t.dst, "a.txt").await;
    forge(
        &t.s3,
        &t.dst,
        "dir/50% off.txt",
        b"bytes that are not the source's",
    )
    .await;
    // Later than the source's writes by S3's one-second clock (a tie is broken by ETag).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&t.s3, &t.dst, "dir/with space.txt", b"other bytes").await;
    t.s3.delete_object()
        .bucket(&t.dst)
        .key("dir/1+1=2.txt")
        .send()
        .await
        .unwrap();
    t.s3.copy_object()
        .bucket(&t.dst)
        .key("logs/x.log")
        .copy_source(format!("{}/logs/x.log", t.dst))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("owner", "someone-else")
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    put(&t.s3, &t.dst, "stray.txt", b"not from the source").await;

    let listed = run(&t, false).await;
    assert_eq!(status_of(&listed, "a.txt").0, Status::Missing);
    let (status, detail) = status_of(&listed, "dir/50% off.txt");
    assert_eq!(status, Status::Differs);
    assert!(
        detail.contains("etag") && detail.contains("size"),
        "{detail}"
    );
    let (status, detail) = status_of(&listed, "dir/with space.txt");
    assert_eq!(status, Status::NewerAtDestination);
    assert!(
        detail.contains("etag") && detail.contains("storage-class"),
        "{detail}"
    );
    assert_eq!(
        status_of(&listed, "dir/1+1=2.txt").0,
        Status::NewerAtDestination,
        "deleted at the destination after its replica arrived"
    );
    assert_eq!(status_of(&listed, "stray.txt").0, Status::Extra);
    assert_eq!(
        status_of(&listed, "logs/x.log").0,
        Status::Same,
        "listings see bytes only"
    );
    assert_eq!(
        Tally::of(&listed).to_string(),
        "verify: 4 same, 1 missing, 1 differs, 0 stale, 0 unproven, 0 skipped, 2 newer-at-destination, 1 extra, 0 errors"
    );

    let deep = run(&t, true).await;
    // Its metadata replaced without our entries: an original written there, later than the
    // source's write.
    let (status, detail) = status_of(&deep, "logs/x.log");
    assert_eq!(status, Status::NewerAtDestination);
    assert!(
        detail.contains("user-metadata") && detail.contains("replica-marker"),
        "{detail}"
    );
    assert_eq!(
        Tally::of(&deep).to_string(),
        "verify: 3 same, 1 missing, 1 differs, 0 stale, 0 unproven, 0 skipped, 3 newer-at-destination, 1 extra, 0 errors"
    );
    let same = deep
        .iter()
        .find(|f| f.key == "dir/café ✓ 日本.txt")
        .unwrap();
    assert!(
        same.version_id.is_some(),
        "deep checks name the source version"
    );
}

#[tokio::test]
async fn verify_command_exits_1_with_a_report_and_its_closing_line() {
    let t = replicated().await;
    purge(&t.s3, &t.dst, "a.txt").await;
    let report = std::env::temp_dir().join(format!("verify-{}.csv", t.src));
    let out = cli(&t.config)
        .args(["verify", "--bucket", &t.src, "--report"])
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("verify: 7 same, 1 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors")
    );
    let csv = std::fs::read_to_string(&report).unwrap();
    assert!(csv.starts_with("source_bucket,key,version_id,destination,status,detail\n"));
    assert!(
        csv.contains(&format!("{},a.txt,,{},missing,", t.src, t.dst)),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + 8);

    // A configuration error is exit status 2.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .args(["verify", "--bucket", &t.src])
        .env("REPLICATION_CONFIG", "{} x")
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid configuration"));
}

#[tokio::test]
async fn backfill_replicates_existing_objects_once_and_verify_then_proves_them() {
    let s3 = client();
    let src = versioned_bucket(&s3, "bf-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "bf-dst", "eu-west-1").await;
    // Written before any replication: no events exist for them.
    for key in KEYS {
        put_with(&s3, &src, key, key.as_bytes(), |b| {
            b.metadata("owner", "ops").tagging("team=storage")
        })
        .await;
    }
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    let big = multipart_source(&s3, &src, "big.bin", &parts).await;
    let config = config(&dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);

    let (first, failures) = backfill(&replicator, &src, false).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        first.to_string(),
        "backfill: 8 replicated, 0 already in sync, 0 skipped, 0 failed"
    );
    let (again, _) = backfill(&replicator, &src, false).await;
    assert_eq!(
        again.to_string(),
        "backfill: 0 replicated, 8 already in sync, 0 skipped, 0 failed"
    );
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), big.etag);

    let options = Options {
        bucket: src.clone(),
        prefix: String::new(),
        deep: true,
        explain_missing: true,
    };
    let tally = Tally::of(&verify(&replicator, &options).await.unwrap());
    assert_eq!(
        tally.to_string(),
        "verify: 8 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors"
    );
}

#[tokio::test]
async fn backfill_all_versions_copies_each_history_oldest_first_and_only_once() {
    let s3 = client();
    let src = versioned_bucket(&s3, "bfv-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "bfv-dst", "eu-west-1").await;
    for key in ["one.txt", "dir/two words.txt"] {
        for n in 1..=3 {
            put(&s3, &src, key, format!("{key} v{n}").as_bytes()).await;
        }
    }
    // Deleted at the source: its history is replicated, and so is the delete marker.
    put(&s3, &src, "gone.txt", b"gone v1").await;
    s3.delete_object()
        .bucket(&src)
        .key("gone.txt")
        .send()
        .await
        .unwrap();
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string();
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);

    let (first, failures) = backfill(&replicator, &src, true).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        first.to_string(),
        "backfill: 3 replicated, 0 already in sync, 0 skipped, 0 failed",
        "3 keys (7 versions and 1 delete marker), each counted once at its destination"
    );
    for key in ["one.txt", "dir/two words.txt"] {
        let ids = version_ids(&s3, &dst, key).await;
        let mut history = Vec::new();
        for id in ids.iter().rev() {
            history.push(String::from_utf8(body_of(&s3, &dst, key, Some(id)).await).unwrap());
        }
        assert_eq!(
            history,
            [1, 2, 3].map(|n| format!("{key} v{n}")),
            "the destination's history keeps the source's order"
        );
    }
    let gone = s3.head_object().bucket(&dst).key("gone.txt").send().await;
    assert!(
        gone.is_err(),
        "the delete marker is current in the destination"
    );
    assert_eq!(version_count(&s3, &dst, "gone.txt").await, 1);

    let (again, failures) = backfill(&replicator, &src, true).await;
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        again.to_string(),
        "backfill: 0 replicated, 3 already in sync, 0 skipped, 0 failed"
    );
    assert_eq!(version_count(&s3, &dst, "one.txt").await, 3);
}

/// 200 objects written before any replication: backfill, prove, damage, find, repair, prove.
#[tokio::test]
async fn repair_fixes_exactly_what_verify_deep_finds_in_200_backfilled_objects() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rp-dst", "eu-west-1").await;
    let names = ["plain", "with space", "1+1=2", "50% off", "café ✓ 日本"];
    let mut keys = Vec::new();
    for n in 0..198 {
        let key = format!("d{}/{} {n}.txt", n % 7, names[n % names.len()]);
        if n % 3 == 0 {
            put_with(&s3, &src, &key, key.as_bytes(), |b| {
                b.metadata("owner", "ops").tagging("team=storage")
            })
            .await;
        } else {
            put(&s3, &src, &key, key.as_bytes()).await;
        }
        keys.push(key);
    }
    for key in ["big/one.bin", "big/two + two.bin"] {
        multipart_source(&s3, &src, key, &[body(5 * MIB), b"tail".to_vec()]).await;
        keys.push(key.to_owned());
    }
    let config = config(&dst);

    let out = cli(&config)
        .args(["backfill", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("backfill: 200 replicated, 0 already in sync, 0 skipped, 0 failed")
    );
    let verify_line = |args: &[&str]| {
        let out = cli(&config).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), stdout)
    };
    let (code, stdout) = verify_line(&["verify", "--bucket", &src, "--deep"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.ends_with(
        "verify: 200 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
    ));

    // Damage. The metadata edit keeps the replica marker, so only a check of the metadata
    // itself (not the marker) can tell, and only a forced rewrite can fix it. The overwrite is a
    // later write at the destination: reported, and never replaced.
    let (deleted, overwritten, edited) = (&keys[10], &keys[21], &keys[33]);
    purge(&s3, &dst, deleted).await;
    put(&s3, &dst, overwritten, b"other bytes").await;
    let replica = s3
        .head_object()
        .bucket(&dst)
        .key(edited)
        .send()
        .await
        .unwrap();
    let mut metadata = replica.metadata().cloned().unwrap_or_default();
    metadata.insert("owner".to_owned(), "someone-else".to_owned());
    s3.copy_object()
        .bucket(&dst)
        .key(edited)
        .copy_source(format!(
            "{dst}/{}",
            percent_encoding::utf8_percent_encode(edited, percent_encoding::NON_ALPHANUMERIC)
        ))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .set_metadata(Some(metadata))
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    put(&s3, &dst, "d1/stray.txt", b"not from the source").await;

    let (code, stdout) = verify_line(&["verify", "--bucket", &src, "--deep"]);
    assert_eq!(code, Some(1), "{stdout}");
    let reported: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with("verify:"))
        .collect();
    assert_eq!(reported.len(), 4, "{stdout}");
    for (status, key) in [
        ("missing", deleted.as_str()),
        ("newer-at-destination", overwritten.as_str()),
        ("differs", edited.as_str()),
        ("extra", "d1/stray.txt"),
    ] {
        assert!(
            reported
                .iter()
                .any(|l| one_space(l).starts_with(&format!("{status} {key} -> "))),
            "{status} {key}: {stdout}"
        );
    }
    assert!(
        stdout.ends_with(
            "verify: 197 same, 1 missing, 1 differs, 0 stale, 0 unproven, 0 skipped, 1 newer-at-destination, 1 extra, 0 errors\n"
        ),
        "{stdout}"
    );

    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("repair: 2 replicated, 0 already in sync, 0 skipped, 0 failed")
    );
    let (code, stdout) = verify_line(&["verify", "--bucket", &src, "--deep"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.ends_with(
            "verify: 199 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 1 newer-at-destination, 1 extra, 0 errors\n"
        ),
        "{stdout}"
    );
    assert_eq!(
        body_of(&s3, &dst, overwritten, None).await,
        b"other bytes",
        "repair never replaces a later write"
    );
}

/// Ctrl-C: the keys in hand finish, no new one starts, and the closing line says what is left.
#[tokio::test]
async fn backfill_interrupted_by_ctrl_c_stops_cleanly_and_says_what_is_left() {
    let s3 = client();
    let src = versioned_bucket(&s3, "int-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "int-dst", "eu-west-1").await;
    const N: usize = 150;
    for n in 0..N {
        put(&s3, &src, &format!("k{n:03}"), b"x").await;
    }
    let child = cli(&config(&dst))
        .args(["backfill", "--bucket", &src, "--concurrency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the first replica exists, as a user would press Ctrl-C.
    while key_count(&s3, &dst).await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping"));
    let lines: Vec<&str> = stdout.lines().collect();
    let left: usize = lines[lines.len() - 2]
        .strip_prefix("interrupted: ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let done = key_count(&s3, &dst).await;
    assert!(left > 0 && done > 0, "{stdout}");
    assert_eq!(
        done + left,
        N,
        "every key is either replicated or reported as left"
    );
    assert!(lines[lines.len() - 1].starts_with(&format!("backfill: {done} replicated")));
}

/// A mistyped --bucket is the source's bucket missing, not a destination's.
#[tokio::test]
async fn a_mistyped_source_bucket_is_named_as_the_source() {
    let s3 = client();
    let dst = versioned_bucket(&s3, "typo-dst", "eu-west-1").await;
    let out = cli(&config(&dst))
        .args(["verify", "--bucket", "no-such-source-bucket-typo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("verify: SrcBucketNotFound: source bucket not found: "),
        "{stderr}"
    );
    assert!(!stderr.contains("destination"), "{stderr}");
}

/// Once the process catches SIGINT (its Ctrl-C handler is in place), as Linux shows it.
async fn catches_sigint(pid: u32) {
    for _ in 0..500 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .unwrap_or(0);
        // SIGINT is signal 2: bit 1 of the mask.
        if caught & (1 << 1) != 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the process never caught SIGINT");
}

/// verify is on the tools' runner: Ctrl-C checks no new key, and the lines, the report and the
/// closing line hold the keys checked so far, with what was left (exit 130), as backfill does.
#[tokio::test]
async fn verify_interrupted_by_ctrl_c_reports_what_it_checked_and_what_is_left() {
    let s3 = client();
    let src = versioned_bucket(&s3, "vint-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "vint-dst", "eu-west-1").await;
    const N: usize = 150;
    for n in 0..N {
        put(&s3, &src, &format!("k{n:03}"), b"x").await;
    }
    let report = std::env::temp_dir().join(format!("{src}-report.csv"));
    let child = cli(&config(&dst))
        .args(["verify", "--bucket", &src, "--deep", "--concurrency", "1"])
        .arg("--report")
        .arg(&report)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    catches_sigint(child.id()).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stopping"));
    let lines: Vec<&str> = stdout.lines().collect();
    let left: usize = lines[lines.len() - 2]
        .strip_prefix("interrupted: ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let missing: usize = lines[lines.len() - 1]
        .strip_prefix("verify: 0 same, ")
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(left > 0, "{stdout}");
    assert_eq!(
        missing + left,
        N,
        "every key is either checked or reported as left"
    );
    let rows = std::fs::read_to_string(&report).unwrap().lines().count();
    assert_eq!(
        rows,
        1 + missing,
        "the report holds the keys checked so far"
    );
    std::fs::remove_file(&report).ok();
}

/// A key whose check fails (moto cannot read the tags of a GLACIER object, which a tag-filtered
/// rule needs) is an error in every tool's exit status and closing line, never a quiet success.
#[tokio::test]
async fn repair_and_dry_run_exit_non_zero_when_a_key_could_not_be_checked() {
    let s3 = client();
    let src = versioned_bucket(&s3, "ex-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "ex-dst", "eu-west-1").await;
    put(&s3, &src, "fine.txt", b"fine").await;
    put_with(&s3, &src, "cold.txt", b"cold", |b| {
        b.storage_class(aws_sdk_s3::types::StorageClass::Glacier)
    })
    .await;
    let config = json!({"Rules": [{"ID": "tagged", "Priority": 1, "Status": "Enabled",
        "Filter": {"Tag": {"Key": "replicate", "Value": "yes"}},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string();
    let unreadable = s3
        .get_object_tagging()
        .bucket(&src)
        .key("cold.txt")
        .send()
        .await;
    assert!(
        unreadable.is_err(),
        "the local S3 reads a GLACIER object's tags now"
    );

    let out = cli(&config)
        .args(["backfill", "--bucket", &src, "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("backfill (dry run): ") && l.ends_with(", 1 failed")),
        "the closing line counts it: {stdout}"
    );
    assert!(
        one_space(&stdout).contains("failed cold.txt -> "),
        "{stdout}"
    );

    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("repair: 0 replicated, 0 already in sync, 0 skipped, 1 failed"),
        "{stdout}"
    );
}

/// One odd key never stops a run: a key with a control character is listed, backfilled and
/// verified like any other.
#[tokio::test]
async fn a_key_with_a_control_character_is_backfilled_and_verified() {
    let s3 = client();
    let src = versioned_bucket(&s3, "cc-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "cc-dst", "eu-west-1").await;
    for key in ["plain.txt", "odd\u{1}key.txt", "tab\tkey.txt"] {
        put(&s3, &src, key, key.as_bytes()).await;
    }
    let config = config(&dst);
    let out = cli(&config)
        .args(["backfill", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("backfill: 3 replicated, 0 already in sync, 0 skipped, 0 failed")
    );
    let out = cli(&config)
        .args(["verify", "--bucket", &src, "--deep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.ends_with(
        "verify: 3 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
    ));
}

/// A key deleted in the source whose delete never reached the destination (its event was lost)
/// is `stale`, not `extra`: damage, exit 1, and `repair` leaves what the engine would.
#[tokio::test]
async fn a_replica_of_a_key_deleted_in_the_source_is_stale_and_repair_settles_it() {
    let s3 = client();
    for delete_markers in ["Enabled", "Disabled"] {
        let src = versioned_bucket(&s3, "st-src", "us-east-1").await;
        let dst = versioned_bucket(&s3, "st-dst", "eu-west-1").await;
        let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
            "Filter": {}, "DeleteMarkerReplication": {"Status": delete_markers},
            "Destination": {"Bucket": dst}}]})
        .to_string();
        let v1 = put(&s3, &src, "k.txt", b"v1").await;
        let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
        s3_replicator::handle(&replicator, created_event(&[v1]))
            .await
            .unwrap();
        // v2's event and the delete's are lost.
        let v2 = put(&s3, &src, "k.txt", b"v2").await;
        s3.delete_object()
            .bucket(&src)
            .key("k.txt")
            .send()
            .await
            .unwrap();

        let out = cli(&config)
            .args(["verify", "--bucket", &src])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{delete_markers}: {stdout}");
        assert!(
            stdout.ends_with(
                "verify: 0 same, 0 missing, 0 differs, 1 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
            ),
            "{delete_markers}: {stdout}"
        );
        let out = cli(&config)
            .args(["repair", "--bucket", &src])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{delete_markers}: {stdout}");
        let head = s3.head_object().bucket(&dst).key("k.txt").send().await;
        match delete_markers {
            // Deleted at the destination too.
            "Enabled" => assert!(head.is_err(), "{stdout}"),
            // The destination follows the source's newest object version.
            _ => assert_eq!(
                head.unwrap()
                    .metadata()
                    .and_then(|m| m.get("replica-source-version-id"))
                    .cloned(),
                v2.version_id.clone(),
                "{stdout}"
            ),
        }
        let out = cli(&config)
            .args(["verify", "--bucket", &src])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{delete_markers}: {stdout}");
    }
}

/// What the engine deliberately leaves (an archived object) is `skipped` with its reason, as
/// backfill says, not `missing`: not damage, and repair copies nothing.
#[tokio::test]
async fn an_object_the_engine_skips_is_skipped_not_missing() {
    let s3 = client();
    let src = versioned_bucket(&s3, "sk-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "sk-dst", "eu-west-1").await;
    put_with(&s3, &src, "cold.txt", b"cold", |b| {
        b.storage_class(aws_sdk_s3::types::StorageClass::Glacier)
    })
    .await;
    let config = config(&dst);
    let out = cli(&config)
        .args(["verify", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        one_space(&stdout).contains("skipped cold.txt -> ") && stdout.contains("GLACIER"),
        "{stdout}"
    );
    assert!(stdout.ends_with(
        "verify: 0 same, 0 missing, 0 differs, 0 stale, 0 unproven, 1 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
    ), "{stdout}");
    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(version_count(&s3, &dst, "cold.txt").await, 0);
}

/// Two-way: an object written on B and replicated to A is in sync from A's side (its replica
/// in A names B's version; B's original carries no marker). And only our own four `replica-*`
/// entries are ignored: a user's `replica-note` that differs is a difference.
#[tokio::test]
async fn two_way_pairs_are_same_and_only_our_metadata_entries_are_ignored() {
    let s3 = client();
    let a = versioned_bucket(&s3, "tw-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "tw-b", "eu-west-1").await;
    let b1 = put_with(&s3, &b, "from-b.txt", b"written on B", |p| {
        p.metadata("owner", "b")
    })
    .await;
    let b_to_a = config(&a);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &b_to_a)]),
        created_event(&[b1]),
    )
    .await
    .unwrap();
    let a1 = put_with(&s3, &a, "note.txt", b"written on A", |p| {
        p.metadata("replica-note", "mine")
    })
    .await;
    let a_to_b = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": b, "StorageClass": "STANDARD_IA"}}]})
    .to_string();
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &a_to_b)]),
        created_event(&[a1]),
    )
    .await
    .unwrap();
    let out = cli(&a_to_b)
        .args(["verify", "--bucket", &a, "--deep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.ends_with(
        "verify: 2 same, 0 missing, 0 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
    ), "{stdout}");

    // The user's own replica-* entry edited at B, ours kept: a difference.
    let head = s3
        .head_object()
        .bucket(&b)
        .key("note.txt")
        .send()
        .await
        .unwrap();
    let mut metadata = head.metadata().cloned().unwrap_or_default();
    metadata.insert("replica-note".to_owned(), "edited".to_owned());
    s3.copy_object()
        .bucket(&b)
        .key("note.txt")
        .copy_source(format!("{b}/note.txt"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .set_metadata(Some(metadata))
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    let out = cli(&a_to_b)
        .args(["verify", "--bucket", &a, "--deep"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("note.txt") && stdout.contains("user-metadata"),
        "{stdout}"
    );
}

/// `--deep` compares everything the engine promises to copy: every ACL grant (not only READ)
/// and the source's additional checksum algorithm.
#[tokio::test]
async fn deep_verify_sees_a_lost_write_acp_grant_and_another_checksum() {
    let s3 = client();
    let src = versioned_bucket(&s3, "dp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "dp-dst", "eu-west-1").await;
    let other = "id=\"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be\"";
    let grants = put_with(&s3, &src, "grants.txt", b"shared", |p| {
        p.grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
            .grant_write_acp(other)
    })
    .await;
    let summed = put_with(&s3, &src, "summed.txt", b"checksummed", |p| {
        p.checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
    })
    .await;
    let config = config(&dst);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&[grants, summed]),
    )
    .await
    .unwrap();
    let deep = |expect: i32| {
        let out = cli(&config)
            .args(["verify", "--bucket", &src, "--deep"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(expect), "{stdout}");
        stdout
    };
    deep(0);

    // The WRITE_ACP grant lost at the destination; READ kept.
    s3.put_object_acl()
        .bucket(&dst)
        .key("grants.txt")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .send()
        .await
        .unwrap();
    // The replica rewritten in place (our metadata kept) with another checksum algorithm.
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("summed.txt")
        .send()
        .await
        .unwrap();
    put_with(&s3, &dst, "summed.txt", b"checksummed", |p| {
        p.set_metadata(head.metadata().cloned())
            .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
            .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
    })
    .await;
    let stdout = deep(1);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("grants.txt") && l.contains("acl")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("summed.txt") && l.contains("checksum")),
        "{stdout}"
    );
}

/// A replica that names its source's version and has its size, but comes in a part layout the
/// rule never writes (one CopyObject keeps the source's ETag here): someone rewrote it, and its
/// bytes cannot be told from other bytes of that size (review: bytes replayed in parts under a
/// replica's metadata passed as `unproven`). It is `differs`, and repair writes the replica
/// again. (Where the rule's copy takes a layout of its own, `unproven` stands: own_layouts.)
#[tokio::test]
async fn a_replica_in_a_layout_the_rule_never_writes_is_damage() {
    // No additional checksums on either side (as objects written before S3 kept them): nothing
    // but the ETag could prove the bytes.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config(&server().endpoint, "us-east-1"))
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .build(),
    );
    let src = versioned_bucket(&s3, "up-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "up-dst", "eu-west-1").await;
    let v1 = put(&s3, &src, "k.bin", b"the same bytes").await;
    let config = config(&dst);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&[v1]),
    )
    .await
    .unwrap();
    // The replica rewritten as a one-part upload of the same bytes, our metadata kept.
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("k.bin")
        .send()
        .await
        .unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket(&dst)
        .key("k.bin")
        .set_metadata(head.metadata().cloned())
        .set_content_type(head.content_type().map(str::to_owned))
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&dst)
        .key("k.bin")
        .upload_id(id)
        .part_number(1)
        .body(b"the same bytes".to_vec().into())
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket(&dst)
        .key("k.bin")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let versions = version_count(&s3, &dst, "k.bin").await;
    let out = cli(&config)
        .args(["verify", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.ends_with(
        "verify: 0 same, 0 missing, 1 differs, 0 stale, 0 unproven, 0 skipped, 0 newer-at-destination, 0 extra, 0 errors\n"
    ), "{stdout}");
    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        version_count(&s3, &dst, "k.bin").await,
        versions + 1,
        "the replica written again: {stdout}"
    );
    let out = cli(&config)
        .args(["verify", "--bucket", &src])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}

/// `backfill --dry-run` says what the real run then does, count for count: missing keys to
/// replicate, replicas in sync, a later write at the destination and an archived object skipped.
#[tokio::test]
async fn backfill_dry_run_predicts_the_real_run() {
    let s3 = client();
    let src = versioned_bucket(&s3, "dr-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "dr-dst", "eu-west-1").await;
    let synced = put(&s3, &src, "synced.txt", b"synced").await;
    let config = config(&dst);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&[synced]),
    )
    .await
    .unwrap();
    put(&s3, &src, "one.txt", b"one").await;
    put(&s3, &src, "two words.txt", b"two").await;
    put(&s3, &src, "theirs.txt", b"ours, older").await;
    put_with(&s3, &src, "cold.txt", b"cold", |b| {
        b.storage_class(aws_sdk_s3::types::StorageClass::Glacier)
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &dst, "theirs.txt", b"written at the destination later").await;

    let run = |args: &[&str]| {
        let out = cli(&config).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        stdout
    };
    let predicted = run(&["backfill", "--bucket", &src, "--dry-run"]);
    assert!(
        predicted.contains(
            "backfill (dry run): 2 to replicate, 1 already in sync, 2 skipped, 0 failed\n"
        ),
        "{predicted}"
    );
    // one.txt and "two words.txt": 6 bytes. PUT class: the source's listing and listing of
    // versions (the rule keeps versions after a delete), the destination's listing, two
    // CopyObjects, each proven by the listing of its key's versions there after it lands
    // (issue 35), and for each key the listing of its versions at the destination, since its
    // HEAD there answers 404 and moto is not AWS S3 (another server may answer a plain 404 over a
    // delete marker). GET class: the regions of both buckets, the source's Object Lock and Object
    // Ownership; per key copied its current version, its ACL, the destination's current object
    // and the ordering check after; cold.txt's current version and ACL (the run reads it to
    // find it archived) and the destination's current object, read beside; the check's reads of theirs.txt, whose listed size differs (the
    // source's current version and the destination's: a later write there).
    assert!(
        predicted.contains("backfill (dry run): 6 B to copy; about 9 PUT/COPY/LIST and 17 GET/HEAD requests, $0.0001"),
        "{predicted}"
    );
    let done = run(&["backfill", "--bucket", &src]);
    assert_eq!(
        done.lines().last().unwrap_or_default(),
        "backfill: 2 replicated, 1 already in sync, 2 skipped, 0 failed"
    );
}

/// `backfill --dry-run` counts a small multipart source as the engine copies it, in its own
/// three parts (2N + 7 = 13 requests), not as one CopyObject as its size alone would suggest.
#[tokio::test]
async fn backfill_dry_run_counts_a_multipart_copy_as_the_engine_makes_it() {
    let s3 = client();
    let src = versioned_bucket(&s3, "drm-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "drm-dst", "eu-west-1").await;
    let parts = vec![body(5 * MIB), body(5 * MIB), b"tail".to_vec()];
    multipart_source(&s3, &src, "parts.bin", &parts).await;
    let config = config(&dst);
    let out = cli(&config)
        .args(["backfill", "--bucket", &src, "--dry-run"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The copy: PUT class ListMultipartUploads, Create, the fingerprint part, 3
    // UploadPartCopy, Complete; GET class three reads (the source's current version and ACL,
    // the destination's current object), 2 part-size HEADs, the ordering check: 7 + 6 = 2N + 7
    // for N = 3. Besides, the listings (the source's, its versions', the destination's), the
    // regions of both buckets, the source's Object Lock and Object Ownership, and the key's
    // listing of versions at the destination, which answered its HEAD 404 (moto is not AWS S3),
    // and the listing that proves the copy after it lands.
    assert!(
        stdout.contains(
            "backfill (dry run): 10.00 MiB to copy; about 12 PUT/COPY/LIST and 10 GET/HEAD requests"
        ),
        "{stdout}"
    );
}

/// Under owner override the replica belongs to the destination's owner with none of the
/// source's grants: `--deep` reports a replica that has any.
#[tokio::test]
async fn deep_verify_checks_the_acl_owner_override_promises() {
    let s3 = client();
    let src = versioned_bucket(&s3, "oo-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "oo-dst", "eu-west-1").await;
    let v1 = put_with(&s3, &src, "shared.txt", b"shared", |p| {
        p.acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
    })
    .await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst, "Account": "123456789012",
            "AccessControlTranslation": {"Owner": "Destination"}}}]})
    .to_string();
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&[v1]),
    )
    .await
    .unwrap();
    let deep = || {
        let out = cli(&config)
            .args(["verify", "--bucket", &src, "--deep"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = deep();
    assert_eq!(code, Some(0), "the public grant does not follow: {stdout}");
    s3.put_object_acl()
        .bucket(&dst)
        .key("shared.txt")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let (code, stdout) = deep();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("acl(owner-override)"), "{stdout}");
}

/// A lifecycle rule at the destination moves replicas down the storage classes, keeping their
/// ETags: that is not damage, and repair does not fight the rule by copying them back.
#[tokio::test]
async fn a_replica_moved_down_by_a_destination_lifecycle_rule_is_same() {
    let s3 = client();
    let src = versioned_bucket(&s3, "lc-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "lc-dst", "eu-west-1").await;
    let v1 = put(&s3, &src, "k.txt", b"kept cold").await;
    let config = config(&dst);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(&[v1]),
    )
    .await
    .unwrap();
    // As a transition does it: the same object, another class, metadata kept.
    s3.copy_object()
        .bucket(&dst)
        .key("k.txt")
        .copy_source(format!("{dst}/k.txt"))
        .storage_class(aws_sdk_s3::types::StorageClass::GlacierIr)
        .send()
        .await
        .unwrap();
    let versions = version_count(&s3, &dst, "k.txt").await;
    for args in [
        &["verify", "--bucket", &src][..],
        &["verify", "--bucket", &src, "--deep"][..],
    ] {
        let out = cli(&config).args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}");
        assert!(stdout.contains("verify: 1 same,"), "{args:?}: {stdout}");
    }
    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(version_count(&s3, &dst, "k.txt").await, versions);
}

/// A bucket with Object Lock enabled (and so versioning), in us-east-1.
async fn locked_bucket(s3: &aws_sdk_s3::Client, label: &str) -> String {
    let name = unique_bucket(label);
    s3.create_bucket()
        .bucket(&name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("create bucket with Object Lock");
    name
}

async fn legal_hold_of(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    head.object_lock_legal_hold_status() == Some(&aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
}

/// S3 raises no event when a legal hold is put on after the upload: deep verify reports the
/// difference, and repair carries it over.
#[tokio::test]
async fn a_legal_hold_put_on_after_replication_is_reported_and_repaired() {
    let s3 = client();
    let src = locked_bucket(&s3, "lh-src").await;
    let dst = locked_bucket(&s3, "lh-dst").await;
    let p = put(&s3, &src, "held.txt", b"evidence").await;
    let config = config(&dst);
    s3_replicator::handle(
        &replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert!(!legal_hold_of(&s3, &dst, "held.txt").await);
    s3.put_object_legal_hold()
        .bucket(&src)
        .key("held.txt")
        .version_id(p.version_id.as_deref().unwrap())
        .legal_hold(
            aws_sdk_s3::types::ObjectLockLegalHold::builder()
                .status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let deep = || {
        let out = cli(&config)
            .args(["verify", "--bucket", &src, "--deep"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, stdout) = deep();
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("held.txt") && l.contains("object-lock")),
        "{stdout}"
    );
    let out = cli(&config)
        .args(["repair", "--bucket", &src])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(legal_hold_of(&s3, &dst, "held.txt").await);
    let (code, stdout) = deep();
    assert_eq!(code, Some(0), "{stdout}");
}

/// The text with each run of spaces as one: the tools align their lines in columns.
fn one_space(text: &str) -> String {
    text.lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

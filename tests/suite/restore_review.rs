//! Issue 36, the outside review of restore: each defect it proved, tried through the binary
//! against the local S3 (`restore --from` on the command line, a Batch Operations task through
//! the Lambda runtime).

use std::time::Duration;

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use serde_json::{json, Value};

async fn pause() {
    // Last-Modified has whole seconds: T falls strictly between what comes before and after.
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// T, strictly between what came before and what comes after.
async fn instant_t() -> String {
    pause().await;
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    pause().await;
    aws_smithy_types::DateTime::from_millis(ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

fn rule(id: &str, dst: &str, markers: bool) -> Value {
    let status = if markers { "Enabled" } else { "Disabled" };
    json!({"ID": id, "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": status}, "Destination": {"Bucket": dst}})
}

fn config(dst: &str) -> String {
    json!({"Rules": [rule("all", dst, true)]}).to_string()
}

/// `s3-replicator ARGS`: exit status and output.
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
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn backfill(config: &str, bucket: &str) {
    let (code, out) = cli(config, &["backfill", "--bucket", bucket]);
    assert_eq!(code, Some(0), "{out}");
}

async fn delete_version(s3: &Client, bucket: &str, key: &str, version: &str) {
    s3.delete_object()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .send()
        .await
        .unwrap();
}

/// What the key is now: its bytes, or `None` (absent or a delete marker).
async fn now_of(s3: &Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let got = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(got.body.collect().await.unwrap().to_vec())
}

/// The version current at T deleted for good, an older one kept: the replica, holding the
/// version of T (recorded before T), decides; the older version was restored as "the state at T".
#[tokio::test]
async fn a_lost_version_of_t_is_restored_from_the_replica_never_the_older_one_kept() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv36-lost-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv36-lost-dst", "us-east-1").await;
    let config = config(&dst);
    put(&s3, &src, "k", b"v1: last month").await;
    backfill(&config, &src);
    pause().await;
    let v2 = put(&s3, &src, "k", b"v2: as of T").await;
    backfill(&config, &src);
    let t = instant_t().await;
    delete_version(&s3, &src, "k", v2.version_id.as_deref().unwrap()).await;
    put(&s3, &src, "k", b"ransomed").await;
    let (code, out) = cli(
        &config,
        &["restore", "--bucket", &src, "--as-of", &t, "--from", &dst],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 restored"), "{out}");
    assert_eq!(
        now_of(&s3, &src, "k").await.unwrap(),
        b"v2: as of T",
        "{out}"
    );
}

/// A key the bucket's own history shows deleted at T (its marker current then and now; the rule
/// replicates no markers; the deleted version since expired): never brought back from the
/// replica's copy of the expired version.
#[tokio::test]
async fn a_key_deleted_at_t_stays_deleted_though_its_expired_version_has_a_replica() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv36-gdpr-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv36-gdpr-dst", "us-east-1").await;
    let config = json!({"Rules": [rule("all", &dst, false)]}).to_string();
    let v1 = put(&s3, &src, "k", b"someone who asked to be forgotten").await;
    backfill(&config, &src);
    pause().await;
    s3.delete_object()
        .bucket(&src)
        .key("k")
        .send()
        .await
        .unwrap();
    delete_version(&s3, &src, "k", v1.version_id.as_deref().unwrap()).await;
    let t = instant_t().await;
    let (code, out) = cli(
        &config,
        &["restore", "--bucket", &src, "--as-of", &t, "--from", &dst],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 restored"), "{out}");
    assert_eq!(now_of(&s3, &src, "k").await, None, "{out}");
}

/// An object written in the replica bucket itself (no record) is no write of the bucket: it
/// neither hides the replica of the version the bucket lost (the key was counted newer, and
/// hidden with --delete-newer) nor is copied into the bucket that never held its key.
#[tokio::test]
async fn an_object_written_in_the_replica_bucket_never_stands_for_the_buckets_state() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv36-direct-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv36-direct-dst", "us-east-1").await;
    let config = config(&dst);
    let v = put(&s3, &src, "a/invoice", b"genuine, present at T").await;
    backfill(&config, &src);
    pause().await;
    put(
        &s3,
        &dst,
        "a/invoice",
        b"someone else's object in the replica bucket",
    )
    .await;
    put(&s3, &dst, "a/only-there", b"never in the source").await;
    let t = instant_t().await;
    delete_version(&s3, &src, "a/invoice", v.version_id.as_deref().unwrap()).await;
    put(&s3, &src, "a/invoice", b"ransomed").await;
    let (code, out) = cli(
        &config,
        &[
            "restore",
            "--bucket",
            &src,
            "--as-of",
            &t,
            "--from",
            &dst,
            "--delete-newer",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        now_of(&s3, &src, "a/invoice").await.unwrap(),
        b"genuine, present at T",
        "{out}"
    );
    assert_eq!(now_of(&s3, &src, "a/only-there").await, None, "{out}");
}

/// Two-way A<->B (the documented configuration: a rule each way): a key written on B, whose copy
/// in A was deleted for good and then overwritten, was hidden in A although B holds at T the
/// very write A held. Its state at T is B's write.
#[tokio::test]
async fn two_way_a_write_of_the_other_side_the_bucket_lost_is_restored_not_hidden() {
    let s3 = client();
    let a = versioned_bucket(&s3, "rv36-pair-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "rv36-pair-b", "us-east-1").await;
    let pair = json!({"Rules": [rule("a-to-b", &b, true), rule("b-to-a", &a, true)]}).to_string();
    put(&s3, &b, "k", b"signed on B's side").await;
    backfill(&pair, &b);
    let t = instant_t().await;
    for v in version_ids(&s3, &a, "k").await {
        delete_version(&s3, &a, "k", &v).await;
    }
    put(&s3, &a, "k", b"ransomed").await;
    let (code, out) = cli(
        &pair,
        &[
            "restore",
            "--bucket",
            &a,
            "--as-of",
            &t,
            "--from",
            &b,
            "--delete-newer",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        now_of(&s3, &a, "k").await.unwrap(),
        b"signed on B's side",
        "{out}"
    );
    // One way only (no rule brings B's writes into A): not provable, left alone, never hidden.
    let one_way = config(&b);
    put(&s3, &a, "k", b"ransomed again").await;
    let (code, out) = cli(
        &one_way,
        &[
            "restore",
            "--bucket",
            &a,
            "--as-of",
            &t,
            "--from",
            &b,
            "--delete-newer",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("0 deleted"), "{out}");
    assert_eq!(
        now_of(&s3, &a, "k").await.unwrap(),
        b"ransomed again",
        "{out}"
    );
}

/// A `null` version overwritten while versioning was off: the replica of an older `null` write
/// (other bytes, other size) was taken for the one current at T, whose replica is gone.
#[tokio::test]
async fn the_replica_of_another_null_write_is_never_restored_for_the_null_version_of_t() {
    let s3 = client();
    let src = unique_bucket("rv36-null-src");
    s3.create_bucket().bucket(&src).send().await.unwrap();
    let dst = versioned_bucket(&s3, "rv36-null-dst", "us-east-1").await;
    let config = config(&dst);
    put(&s3, &src, "k", b"older null write").await;
    backfill(&config, &src);
    pause().await;
    put(&s3, &src, "k", b"the null write current at T").await;
    backfill(&config, &src);
    s3.put_bucket_versioning()
        .bucket(&src)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The replica of the write current at T is lost in the replica bucket.
    let newest = version_ids(&s3, &dst, "k").await.remove(0);
    delete_version(&s3, &dst, "k", &newest).await;
    let t = instant_t().await;
    put(&s3, &src, "k", b"ransomed").await;
    let (code, out) = cli(
        &config,
        &["restore", "--bucket", &src, "--as-of", &t, "--from", &dst],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("the replica holds no copy of version null"),
        "{out}"
    );
    assert_eq!(now_of(&s3, &src, "k").await.unwrap(), b"ransomed", "{out}");
}

/// Where the bucket lost the key's whole history, an attacker's multipart upload begun before T
/// and completed after it stood at its initiation in the replica's history: restored as the
/// state at T. Its replica landed after T, so its completion may fall either side: uncertain.
#[tokio::test]
async fn a_replica_of_a_multipart_upload_straddling_t_is_uncertain_never_the_state_at_t() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv36-mpu-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rv36-mpu-dst", "us-east-1").await;
    let config = config(&dst);
    put(&s3, &src, "k", b"good").await;
    backfill(&config, &src);
    pause().await;
    let upload = s3
        .create_multipart_upload()
        .bucket(&src)
        .key("k")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let t = instant_t().await;
    let part = s3
        .upload_part()
        .bucket(&src)
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"ransomed"))
        .send()
        .await
        .unwrap();
    let parts = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    s3.complete_multipart_upload()
        .bucket(&src)
        .key("k")
        .upload_id(id)
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    backfill(&config, &src);
    for v in version_ids(&s3, &src, "k").await {
        delete_version(&s3, &src, "k", &v).await;
    }
    let (code, out) = cli(
        &config,
        &["restore", "--bucket", &src, "--as-of", &t, "--from", &dst],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 uncertain"), "{out}");
    assert_eq!(now_of(&s3, &src, "k").await, None, "{out}");
    let (code, out) = cli(
        &config,
        &[
            "restore",
            "--bucket",
            &src,
            "--as-of",
            &t,
            "--from",
            &dst,
            "--uncertain",
            "after",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(now_of(&s3, &src, "k").await.unwrap(), b"good", "{out}");
}

/// The function (the binary, under a Lambda runtime) given one Batch restore job of the
/// manifest's rows, with the userArguments `restore --manifest-out` printed.
async fn run_job(manifest: &std::path::Path, printed: &str, config: &str) -> Value {
    let arguments = printed
        .split("userArguments ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .unwrap_or_else(|| panic!("no userArguments in {printed}"));
    let arguments: Value = serde_json::from_str(arguments).unwrap();
    let tasks: Vec<Value> = std::fs::read_to_string(manifest)
        .unwrap()
        .lines()
        .enumerate()
        .map(|(i, row)| {
            let cols: Vec<&str> = row.split(',').collect();
            json!({"taskId": format!("t{i}"), "s3Bucket": cols[0], "s3Key": cols[1],
                   "s3VersionId": cols[2]})
        })
        .collect();
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-rv",
        "job": {"id": "job-rv", "userArguments": arguments}, "tasks": tasks});
    let (answer, _) = crate::metrics::invoke(job, &[("REPLICATION_CONFIG", config)], 60_000).await;
    serde_json::from_str(&answer).unwrap_or(Value::String(answer))
}

fn manifest_path(label: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{}.csv", unique_bucket(label)))
}

/// A Batch restore task with `From` and a row naming the bucket's `null` version took the
/// replica bucket's own `null` version (an object it held before its versioning, no record).
#[tokio::test]
async fn a_batch_restore_from_a_replica_takes_the_replica_of_the_null_version_never_its_own() {
    let s3 = client();
    let src = unique_bucket("rv36-bnull-src");
    s3.create_bucket().bucket(&src).send().await.unwrap();
    let dst = unique_bucket("rv36-bnull-dst");
    s3.create_bucket().bucket(&dst).send().await.unwrap();
    let enable = |bucket: &str| {
        s3.put_bucket_versioning()
            .bucket(bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
    };
    put(
        &s3,
        &dst,
        "k",
        b"the replica bucket's own object, from before",
    )
    .await;
    enable(&dst).await.unwrap();
    let config = config(&dst);
    put(&s3, &src, "k", b"good, as of T").await;
    enable(&src).await.unwrap();
    backfill(&config, &src);
    let t = instant_t().await;
    put(&s3, &src, "k", b"ransomed").await;
    pause().await;
    let manifest = manifest_path("rv36-bnull");
    let path = manifest.to_str().unwrap();
    let (code, printed) = cli(
        &config,
        &[
            "restore",
            "--bucket",
            &src,
            "--as-of",
            &t,
            "--from",
            &dst,
            "--manifest-out",
            path,
        ],
    );
    assert_eq!(code, Some(0), "{printed}");
    let answer = run_job(&manifest, &printed, &config).await;
    assert_eq!(answer["results"][0]["resultString"], "restored", "{answer}");
    assert_eq!(
        now_of(&s3, &src, "k").await.unwrap(),
        b"good, as of T",
        "{answer}"
    );
}

/// A Batch restore job carries when its plan read the bucket (`ReadAt`): a key written between
/// `--manifest-out` and the job is newer than the plan and left as it is (a task replaced it);
/// a key not written since is restored.
#[tokio::test]
async fn a_batch_restore_task_never_replaces_a_write_made_after_the_plan() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rv36-plan-src", "us-east-1").await;
    let config = config("unused");
    put(&s3, &src, "a", b"41 orders").await;
    put(&s3, &src, "b", b"good").await;
    let t = instant_t().await;
    put(&s3, &src, "a", b"ransomed").await;
    put(&s3, &src, "b", b"ransomed").await;
    pause().await;
    let manifest = manifest_path("rv36-plan");
    let path = manifest.to_str().unwrap();
    let (code, printed) = cli(
        &config,
        &[
            "restore",
            "--bucket",
            &src,
            "--as-of",
            &t,
            "--manifest-out",
            path,
        ],
    );
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("\"ReadAt\""), "{printed}");
    put(
        &s3,
        &src,
        "a",
        b"42 orders, by the recovered app after the plan",
    )
    .await;
    let answer = run_job(&manifest, &printed, &config).await;
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{answer}");
    assert!(
        results[0]["resultString"]
            .as_str()
            .unwrap()
            .starts_with("newer"),
        "{answer}"
    );
    assert_eq!(
        now_of(&s3, &src, "a").await.unwrap(),
        b"42 orders, by the recovered app after the plan",
        "{answer}"
    );
    assert_eq!(results[1]["resultString"], "restored", "{answer}");
    assert_eq!(now_of(&s3, &src, "b").await.unwrap(), b"good", "{answer}");
}

/// A delete slipping in between the read and the conditional write makes S3 answer 404
/// NoSuchKey (AWS documents it for conditional writes): the copy counted the key `skipped: the
/// version of T was deleted during the run` (it was not), the delete marker `failed` with exit
/// status 1. Both are `newer`: written since the run read it.
#[tokio::test]
async fn a_delete_that_slips_in_before_the_write_makes_the_key_newer_never_failed() {
    let moto = start_moto_with(&[("MOTO_RACE_BEFORE_WRITES", "delete")]);
    let s3 = client_for(&moto.endpoint);
    let bucket = versioned_bucket(&s3, "race-rv-delete", "us-east-1").await;
    put(&s3, &bucket, "copied", b"good").await;
    let t = instant_t().await;
    put(&s3, &bucket, "copied", b"bad").await;
    put(&s3, &bucket, "hidden", b"after T").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config("unused"))
        .args([
            "restore",
            "--bucket",
            &bucket,
            "--as-of",
            &t,
            "--delete-newer",
        ])
        .output()
        .unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.contains(
            "0 restored, 0 already as of T, 0 deleted, 2 newer, 0 skipped, 0 uncertain, 0 failed"
        ),
        "{out}"
    );
    assert_eq!(now_of(&s3, &bucket, "copied").await, None, "{out}");
    assert_eq!(now_of(&s3, &bucket, "hidden").await, None, "{out}");
}

/// The dry run's request estimate: the listing that proves where a copy landed lists the key's
/// name as a prefix, so every key under it (one LIST was priced, whatever it listed); and the
/// "already as of T" check was priced at six reads where it stops after two HEADs that differ.
#[tokio::test]
async fn a_dry_run_prices_the_proving_listing_and_the_check_as_the_run_makes_them() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "rv36-price", "us-east-1").await;
    put(&s3, &bucket, "logs", b"the key to restore").await;
    for chunk in 0..20 {
        let puts = (0..50).map(|i| {
            let key = format!("logs/{:05}", chunk * 50 + i);
            let (s3, bucket) = (s3.clone(), bucket.clone());
            async move { put(&s3, &bucket, &key, b"x").await }
        });
        futures::future::join_all(puts).await;
    }
    let t = instant_t().await;
    put(&s3, &bucket, "logs", b"overwritten after T").await;
    let args = [
        "restore",
        "--bucket",
        &bucket,
        "--as-of",
        &t,
        "--prefix",
        "logs",
        "--dry-run",
    ];
    let (code, out) = cli(&config("unused"), &args);
    assert_eq!(code, Some(0), "{out}");
    // Listing 1,002 entries: 2 pages; the copy; the proving listing of 1,003: 2 pages.
    assert!(out.contains("about 5 PUT/COPY/LIST"), "{out}");

    let bucket = versioned_bucket(&s3, "rv36-price-same", "us-east-1").await;
    for i in 0..3 {
        put_with(&s3, &bucket, &format!("m{i}"), b"payload", |p| {
            p.metadata("state", "good")
        })
        .await;
    }
    let t = instant_t().await;
    for i in 0..3 {
        put_with(&s3, &bucket, &format!("m{i}"), b"payload", |p| {
            p.metadata("state", "pwned")
        })
        .await;
    }
    let (code, out) = cli(
        &config("unused"),
        &["restore", "--bucket", &bucket, "--as-of", &t, "--dry-run"],
    );
    assert_eq!(code, Some(0), "{out}");
    // The bucket checks: 2 reads; each key: the check's two HEADs (they differ), the copy's
    // HEAD, tags and ACL.
    assert!(out.contains("and 17 GET/HEAD"), "{out}");
}

//! Issue 36, restore you can bet a bucket on: each way restore was found wrong, tried through the
//! binary against the local S3 as a new user would (`restore` on the command line, a Batch
//! Operations job through the Lambda runtime).

use std::time::Duration;

use crate::common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, StorageClass};
use aws_sdk_s3::Client;
use serde_json::{json, Value};

async fn pause() {
    // Last-Modified has whole seconds: T falls strictly between what comes before and after.
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    aws_smithy_types::DateTime::from_millis(ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
}

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// `s3-replicator restore ARGS` against `endpoint`: exit status and stdout.
fn restore_at(endpoint: &str, config: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config)
        .arg("restore")
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

fn restore(config: &str, args: &[&str]) -> (Option<i32>, String) {
    restore_at(&server().endpoint, config, args)
}

/// The function (the binary, under a Lambda runtime) given one event with this configuration.
async fn invoke(event: Value, config: &str) -> Value {
    let (answer, _) =
        crate::metrics::invoke(event, &[("REPLICATION_CONFIG", config)], 60_000).await;
    serde_json::from_str(&answer).unwrap_or(Value::String(answer))
}

async fn replicate(puts: &[Put], config: &str) {
    let answer = invoke(created_event(puts), config).await;
    assert!(answer.to_string().contains("\"replicated\""), "{answer}");
}

async fn storage_class(s3: &Client, bucket: &str, key: &str) -> String {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    head.storage_class()
        .map_or("STANDARD".to_owned(), |c| c.as_str().to_owned())
}

async fn metadata(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> std::collections::HashMap<String, String> {
    let head = s3
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    head.metadata().cloned().unwrap_or_default()
}

/// A Batch Operations job with a manifest of the replica bucket (as a user may list either side
/// of a pair) used to retarget each task by the version's `replica-source-bucket`: it wrote the
/// source's older version over the source's later update and answered `Succeeded`. A job writes
/// only into the bucket its manifest names.
#[tokio::test]
async fn a_batch_restore_job_writes_only_into_the_bucket_its_manifest_names() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pit36-batch-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pit36-batch-dst", "eu-west-1").await;
    let config = config(&dst);
    let v1 = put(&s3, &src, "k", b"first").await;
    replicate(std::slice::from_ref(&v1), &config).await;
    let replica_v1 = replica_version_of(&s3, &dst, "k", v1.version_id.as_deref().unwrap())
        .await
        .unwrap();
    pause().await;
    let v2 = put(&s3, &src, "k", b"the source's later update").await;
    replicate(std::slice::from_ref(&v2), &config).await;

    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-36",
        "job": {"id": "job-36", "userArguments": {"Mode": "restore", "ReadAt": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}},
        "tasks": [{"taskId": "t0", "s3Bucket": dst, "s3Key": "k", "s3VersionId": replica_v1}]});
    let answer = invoke(job, &config).await;
    assert_eq!(
        body_of(&s3, &src, "k", None).await,
        b"the source's later update",
        "the source, which no manifest named, is untouched: {answer}"
    );
    assert_eq!(version_count(&s3, &src, "k").await, 2, "{answer}");
    assert_eq!(answer["results"][0]["resultCode"], "Succeeded", "{answer}");
    assert_eq!(answer["results"][0]["resultString"], "restored", "{answer}");
    assert_eq!(body_of(&s3, &dst, "k", None).await, b"first", "{answer}");
}

/// S3 stamps a multipart upload's object with the upload's initiation: an attacker's upload
/// begun before T and completed after it counted as the state at T and survived the restore.
/// History cannot prove when it completed: the key is `uncertain`, left alone, with both
/// candidates; `--uncertain after` brings the version below back.
#[tokio::test]
async fn a_multipart_overwrite_begun_before_t_and_completed_after_is_uncertain_never_kept() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit36-mpu", "us-east-1").await;
    let good = put(&s3, &bucket, "k", b"good").await;
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket(&bucket)
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"ransomed"))
        .send()
        .await
        .unwrap();
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("k")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let config = config("unused");
    let (code, out) = restore(&config, &["--bucket", &bucket, "--as-of", &t]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("uncertain  k"), "{out}");
    assert!(
        out.contains(good.version_id.as_deref().unwrap()),
        "both candidates: {out}"
    );
    assert!(
        out.contains("0 restored, 0 already as of T, 0 deleted, 0 newer, 0 skipped, 1 uncertain"),
        "{out}"
    );
    assert_eq!(
        body_of(&s3, &bucket, "k", None).await,
        b"ransomed",
        "left alone"
    );

    let (code, out) = restore(
        &config,
        &["--bucket", &bucket, "--as-of", &t, "--uncertain", "after"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(body_of(&s3, &bucket, "k", None).await, b"good", "{out}");
}

/// One T, one answer: T equal to a version's Last-Modified. A replica whose record carries its
/// original's time in milliseconds (as records once did: the event's time) counted after T
/// from the replica, while in place it counted at T.
#[tokio::test]
async fn the_same_t_gives_the_same_answer_in_place_and_from_the_replica() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pit36-same-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pit36-same-dst", "eu-west-1").await;
    let config = config(&dst);
    let v1 = put(&s3, &src, "k", b"first").await;
    replicate(std::slice::from_ref(&v1), &config).await;
    pause().await;
    let v2 = put(&s3, &src, "k", b"second").await;
    // Replicated a second later (a delivery delay): the replica's own time does not cap it.
    pause().await;
    replicate(std::slice::from_ref(&v2), &config).await;
    let stamped = s3.head_object().bucket(&src).key("k").send().await.unwrap();
    let secs = stamped.last_modified().unwrap().secs();
    let t = rfc3339(secs * 1000);

    // The replica of v2 with a record in milliseconds, 400 ms into its original's second.
    let replica = replica_version_of(&s3, &dst, "k", v2.version_id.as_deref().unwrap())
        .await
        .unwrap();
    let mut meta = metadata(&s3, &dst, "k").await;
    meta.insert(
        "replica-original-time".into(),
        (secs * 1000 + 400).to_string(),
    );
    s3.copy_object()
        .bucket(&dst)
        .key("k")
        .copy_source(format!("{dst}/k?versionId={replica}"))
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .set_metadata(Some(meta))
        .send()
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&dst)
        .key("k")
        .version_id(&replica)
        .send()
        .await
        .unwrap();

    let (code, out) = restore(&config, &["--bucket", &src, "--as-of", &t]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 restored, 1 already as of T"),
        "in place: {out}"
    );
    // The source's whole history lost: the replica's answer is the same version.
    for v in [&v1, &v2] {
        s3.delete_object()
            .bucket(&src)
            .key("k")
            .version_id(v.version_id.as_deref().unwrap())
            .send()
            .await
            .unwrap();
    }
    let (code, out) = restore(&config, &["--bucket", &src, "--as-of", &t, "--from", &dst]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(body_of(&s3, &src, "k", None).await, b"second", "{out}");
}

/// A version and the delete marker over it in one second were re-sorted (versions ahead of
/// delete markers): the key's state at T became the deleted version, and `--delete-newer`
/// brought a deleted key back. S3's own stack order decides.
#[tokio::test]
async fn a_delete_marker_in_its_versions_second_keeps_the_key_deleted_at_t() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit36-second", "us-east-1").await;
    let mut key = None;
    for i in 0..10 {
        let k = format!("k{i}");
        put(&s3, &bucket, &k, b"deleted before T").await;
        s3.delete_object()
            .bucket(&bucket)
            .key(&k)
            .send()
            .await
            .unwrap();
        let listed = s3
            .list_object_versions()
            .bucket(&bucket)
            .prefix(&k)
            .send()
            .await
            .unwrap();
        let secs = |t: Option<&aws_smithy_types::DateTime>| t.unwrap().secs();
        if secs(listed.versions()[0].last_modified())
            == secs(listed.delete_markers()[0].last_modified())
        {
            key = Some(k);
            break;
        }
    }
    let key = key.expect("a version and its delete marker in one second");
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, &key, b"written after T").await;
    let (code, out) = restore(
        &config("unused"),
        &["--bucket", &bucket, "--as-of", &t, "--delete-newer"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 restored") && out.contains("1 deleted"),
        "{out}"
    );
    assert!(
        s3.head_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .is_err(),
        "deleted at T, deleted now: {out}"
    );
}

/// `--from` with a rule that sets a storage class: every key was rewritten, untouched ones
/// included, into the replica's class. Untouched keys stay as they are; a restored one gets
/// the source's own class back.
#[tokio::test]
async fn restore_from_a_replica_takes_its_bytes_and_not_what_the_rule_changed() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pit36-class-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pit36-class-dst", "eu-west-1").await;
    let config = json!({"Rules": [{"ID": "ia", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst, "StorageClass": "STANDARD_IA"}}]})
    .to_string();
    let a = put(&s3, &src, "untouched", b"a").await;
    let b = put(&s3, &src, "ransomed", b"b").await;
    replicate(&[a, b], &config).await;
    assert_eq!(storage_class(&s3, &dst, "untouched").await, "STANDARD_IA");
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &src, "ransomed", b"ransomed").await;
    let (code, out) = restore(&config, &["--bucket", &src, "--as-of", &t, "--from", &dst]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 restored, 1 already as of T"), "{out}");
    assert_eq!(version_count(&s3, &src, "untouched").await, 1, "{out}");
    assert_eq!(body_of(&s3, &src, "ransomed", None).await, b"b");
    assert_eq!(
        storage_class(&s3, &src, "ransomed").await,
        "STANDARD",
        "{out}"
    );
    assert_eq!(
        storage_class(&s3, &src, "untouched").await,
        "STANDARD",
        "{out}"
    );
}

/// `--from --delete-newer` hid keys the replica never held (outside the rules' filter) although
/// the bucket's own history shows them present at T.
#[tokio::test]
async fn a_key_the_replica_never_held_is_never_hidden_on_its_word() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pit36-held-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pit36-held-dst", "eu-west-1").await;
    let config = json!({"Rules": [{"ID": "r", "Priority": 1, "Status": "Enabled",
        "Filter": {"Prefix": "r/"}, "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string();
    let replicated = put(&s3, &src, "r/a", b"replicated").await;
    put(&s3, &src, "x/b", b"outside the filter").await;
    replicate(std::slice::from_ref(&replicated), &config).await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    let (code, out) = restore(
        &config,
        &[
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
    assert!(out.contains("0 deleted"), "{out}");
    assert_eq!(
        body_of(&s3, &src, "x/b", None).await,
        b"outside the filter",
        "{out}"
    );
}

/// A copy conditional on the ETag let a later write with the same bytes (other metadata) pass,
/// and replaced it. The version below the new one is checked: ours is withdrawn, the key newer.
#[tokio::test]
async fn a_same_bytes_write_that_slips_in_before_the_copy_is_never_replaced() {
    let moto = start_moto_with(&[("MOTO_RACE_BEFORE_WRITES", "1")]);
    let s3 = client_for(&moto.endpoint);
    let bucket = versioned_bucket(&s3, "race-copy", "us-east-1").await;
    put(&s3, &bucket, "k", b"good").await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, "k", b"bad!").await;
    let (code, out) = restore_at(
        &moto.endpoint,
        &config("unused"),
        &["--bucket", &bucket, "--as-of", &t],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 restored") && out.contains("1 newer"),
        "{out}"
    );
    assert_eq!(body_of(&s3, &bucket, "k", None).await, b"bad!", "{out}");
    assert_eq!(
        metadata(&s3, &bucket, "k")
            .await
            .get("racer")
            .map(String::as_str),
        Some("slipped-in"),
        "the racer's write is current: {out}"
    );
}

/// `--delete-newer` read, then deleted on the ETag: a same-bytes write that slipped in between
/// was hidden. The marker is proven to lie on the version read, or withdrawn.
#[tokio::test]
async fn a_same_bytes_write_that_slips_in_before_the_delete_is_never_hidden() {
    let moto = start_moto_with(&[("MOTO_RACE_BEFORE_WRITES", "1")]);
    let s3 = client_for(&moto.endpoint);
    let bucket = versioned_bucket(&s3, "race-delete", "us-east-1").await;
    put(&s3, &bucket, "old", b"before T").await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, "new", b"after T").await;
    let (code, out) = restore_at(
        &moto.endpoint,
        &config("unused"),
        &["--bucket", &bucket, "--as-of", &t, "--delete-newer"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 deleted") && out.contains("1 newer"),
        "{out}"
    );
    assert_eq!(
        metadata(&s3, &bucket, "new")
            .await
            .get("racer")
            .map(String::as_str),
        Some("slipped-in"),
        "the racer's write is current: {out}"
    );
}

/// A dry run counted an archived version `restored` with its bytes, where the real run skips
/// it; and the reason spoke of replication. Count for count, the dry run is the real run.
#[tokio::test]
async fn a_dry_run_skips_an_archived_version_as_the_real_run_does() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit36-glacier", "us-east-1").await;
    put_with(&s3, &bucket, "k", b"archived", |p| {
        p.storage_class(StorageClass::Glacier)
    })
    .await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, "k", b"bad!").await;
    let config = config("unused");
    let (code, dry) = restore(&config, &["--bucket", &bucket, "--as-of", &t, "--dry-run"]);
    assert_eq!(code, Some(0), "{dry}");
    let (code, real) = restore(&config, &["--bucket", &bucket, "--as-of", &t]);
    assert_eq!(code, Some(0), "{real}");
    let counts = "0 restored, 0 already as of T, 0 deleted, 0 newer, 1 skipped";
    assert!(
        dry.contains(&format!("restore (dry run): {counts}")),
        "{dry}"
    );
    assert!(real.contains(&format!("restore: {counts}")), "{real}");
    assert!(dry.contains("0 B to copy"), "{dry}");
    for out in [&dry, &real] {
        assert!(out.contains("archived (GLACIER)"), "{out}");
        assert!(
            !out.contains("replicat"),
            "a restore is no replication: {out}"
        );
    }
}

/// Control characters in a key print as escapes (a key could otherwise clear the line or
/// recolour the terminal), in every row restore prints, `uncertain` ones included.
#[tokio::test]
async fn control_characters_in_a_key_print_as_escapes() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit36-ctl", "us-east-1").await;
    let key = "evil\u{1b}[2K\u{7}key";
    put(&s3, &bucket, key, b"good").await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, key, b"bad!").await;
    let (code, out) = restore(
        &config("unused"),
        &["--bucket", &bucket, "--as-of", &t, "--dry-run"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("evil\\u{1b}[2K\\u{7}key"), "{out}");
}

/// A dry run prices a multipart version by the requests its copy really makes: create, one
/// UploadPartCopy a part, complete (and the layout's reads), not one CopyObject.
#[tokio::test]
async fn a_dry_run_prices_a_multipart_version_by_its_parts() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit36-parts", "us-east-1").await;
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    multipart_source(&s3, &bucket, "big", &parts).await;
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put(&s3, &bucket, "big", b"overwritten").await;
    // The operator knows the upload completed before T (S3 records only its start).
    let (code, out) = restore(
        &config("unused"),
        &[
            "--bucket",
            &bucket,
            "--as-of",
            &t,
            "--dry-run",
            "--uncertain",
            "before",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("would restore  big"), "{out}");
    // The listing and bucket checks: 1 LIST and 2 reads; the copy: HEAD, tags, ACL and the
    // second part's HEAD; create, two UploadPartCopy, complete and the layout's fingerprint
    // (not one CopyObject); the listing that proves where it landed.
    assert!(
        out.contains("about 8 PUT/COPY/LIST and 6 GET/HEAD requests"),
        "{out}"
    );
}

/// `--from` brought SSE-KMS objects back under the replica's KMS key (the rule's
/// `ReplicaKmsKeyID`) instead of their own.
#[tokio::test]
async fn restore_from_a_replica_keeps_the_objects_own_kms_key() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pit36-kms-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pit36-kms-dst", "eu-west-1").await;
    let (own_key, replica_key) = (
        "arn:aws:kms:us-east-1:123456789012:key/own-key",
        "arn:aws:kms:eu-west-1:123456789012:key/replica-key",
    );
    let config = json!({"Rules": [{"ID": "kms", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"},
        "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
        "Destination": {"Bucket": dst,
            "EncryptionConfiguration": {"ReplicaKmsKeyID": replica_key}}}]})
    .to_string();
    let kms = |p: aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder| {
        p.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id(own_key)
    };
    let v1 = put_with(&s3, &src, "k", b"good", kms).await;
    replicate(std::slice::from_ref(&v1), &config).await;
    let key_of = |bucket: String| {
        let s3 = s3.clone();
        async move {
            let head = s3
                .head_object()
                .bucket(bucket)
                .key("k")
                .send()
                .await
                .unwrap();
            head.ssekms_key_id().map(str::to_owned)
        }
    };
    assert_eq!(key_of(dst.clone()).await.as_deref(), Some(replica_key));
    pause().await;
    let t = rfc3339(now_ms());
    pause().await;
    put_with(&s3, &src, "k", b"bad!", kms).await;
    let (code, out) = restore(&config, &["--bucket", &src, "--as-of", &t, "--from", &dst]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 restored"), "{out}");
    assert_eq!(body_of(&s3, &src, "k", None).await, b"good");
    assert_eq!(key_of(src.clone()).await.as_deref(), Some(own_key), "{out}");
}

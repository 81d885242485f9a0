//! Large objects against the local S3, with the multipart threshold forced low so that 64 MiB
//! objects take the multipart path: byte-identical replicas, ETag parity with a multipart source
//! (uneven last part), and full metadata on a multipart replica.

use crate::common::*;
use aws_sdk_s3::Client;
use s3_replicator::handle;

/// Env forcing 64 MiB objects through the multipart path, in 16 MiB parts.
fn env(dst: &str) -> Vec<(&str, String)> {
    vec![
        ("DESTINATION_BUCKET", dst.to_owned()),
        ("MULTIPART_THRESHOLD", (8 * MIB).to_string()),
        ("MULTIPART_PART_SIZE", (16 * MIB).to_string()),
        ("MULTIPART_CONCURRENCY", "4".to_owned()),
    ]
}

async fn replicate(dst: &str, put: &Put) -> s3_replicator::Summary {
    let env = env(dst);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    handle(
        &replicator(&server().endpoint, &env),
        created_event(std::slice::from_ref(put)),
    )
    .await
    .expect("replicates")
}

async fn no_uploads_left(s3: &Client, bucket: &str) {
    let uploads = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "incomplete uploads left: {:?}",
        uploads.uploads()
    );
}

#[tokio::test]
async fn object_over_the_threshold_is_copied_in_parts_with_identical_bytes() {
    let s3 = client();
    let src = versioned_bucket(&s3, "big-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "big-dst", "eu-west-1").await;
    let data = body(64 * MIB + 3);
    let p = put_with(&s3, &src, "single.bin", &data, |b| {
        b.metadata("kind", "single")
    })
    .await;
    assert_eq!(replicate(&dst, &p).await.replicated, 1);
    assert_eq!(body_of(&s3, &dst, "single.bin", None).await, data);
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("single.bin")
        .send()
        .await
        .unwrap();
    // Copied in 16 MiB parts (5 of them), so the ETag is a multipart one; the size was checked.
    assert!(
        head.e_tag().unwrap().ends_with("-5\""),
        "{:?}",
        head.e_tag()
    );
    assert_eq!(
        head.metadata().unwrap().get("kind").map(String::as_str),
        Some("single")
    );
    assert_eq!(
        head.metadata().unwrap().get("replica-source-version-id"),
        p.version_id.as_ref()
    );
    no_uploads_left(&s3, &dst).await;
}

#[tokio::test]
async fn multipart_source_with_uneven_last_part_keeps_its_etag_and_metadata() {
    let s3 = client();
    let src = versioned_bucket(&s3, "mp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "mp-dst", "eu-west-1").await;
    let data = body(64 * MIB);
    let parts: Vec<Vec<u8>> = [20 * MIB, 20 * MIB, 20 * MIB, 4 * MIB]
        .iter()
        .scan(0, |start, len| {
            let part = data[*start..*start + len].to_vec();
            *start += len;
            Some(part)
        })
        .collect();
    let p = multipart_source(&s3, &src, "parts.bin", &parts).await;
    assert!(p.etag.ends_with("-4"));
    assert_eq!(replicate(&dst, &p).await.replicated, 1);

    let head = s3
        .head_object()
        .bucket(&dst)
        .key("parts.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.e_tag().unwrap().trim_matches('"'),
        p.etag,
        "ETag parity"
    );
    assert_eq!(body_of(&s3, &dst, "parts.bin", None).await, data);
    assert_eq!(head.content_type(), Some("application/x-big"));
    assert_eq!(head.cache_control(), Some("no-store"));
    assert_eq!(
        head.metadata().unwrap().get("origin").map(String::as_str),
        Some("multipart")
    );
    let tags = s3
        .get_object_tagging()
        .bucket(&dst)
        .key("parts.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].key(), "size");
    assert!(grants_read(&s3, &dst, "parts.bin").await);
    no_uploads_left(&s3, &dst).await;
}

#[tokio::test]
async fn small_multipart_source_is_copied_in_its_parts_for_etag_parity() {
    let s3 = client();
    let src = versioned_bucket(&s3, "smp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "smp-dst", "eu-west-1").await;
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    let p = multipart_source(&s3, &src, "small.bin", &parts).await;
    // Default settings: below the threshold, yet copied part by part.
    let summary = handle(
        &replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("small.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
}

async fn uploads(s3: &Client, bucket: &str) -> Vec<String> {
    let out = s3
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.uploads()
        .iter()
        .filter_map(|u| u.upload_id().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn copy_inside_the_time_margin_starts_no_call_and_leaves_no_upload() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rs-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rs-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "resume.bin").await;
    let replicator = replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]);
    let event = created_event(std::slice::from_ref(&p));

    // No time left: no S3 call is started, so nothing is half-made.
    let now = std::time::SystemTime::now();
    let err = s3_replicator::handle_until(&replicator, event.clone(), Some(now))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("DeadlineReached"), "{err}");
    assert!(uploads(&s3, &dst).await.is_empty(), "no upload was created");
    assert_eq!(version_count(&s3, &dst, "resume.bin").await, 0);

    // Lambda's retry, with time, replicates.
    handle(&replicator, event).await.unwrap();
    assert_eq!(body_of(&s3, &dst, "resume.bin", None).await, data);
}

/// A rule failing `UploadPartCopy` of the parts `parts` with a retryable `SlowDown`.
fn fail_parts(
    parts: std::ops::RangeInclusive<u32>,
) -> impl Fn(s3_replicator::faults::Call) -> Option<s3_replicator::error::S3Failure> + Send + Sync {
    move |call| {
        (call.operation == "UploadPartCopy" && call.part.is_some_and(|n| parts.contains(&n)))
            .then(|| s3_replicator::faults::slow_down("UploadPartCopy"))
    }
}

#[tokio::test]
async fn copy_stopped_by_a_transient_failure_resumes_only_the_missing_parts() {
    let s3 = client();
    let src = versioned_bucket(&s3, "tf-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "tf-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "resume.bin").await;
    let env = [
        ("DESTINATION_BUCKET", dst.as_str()),
        ("MULTIPART_CONCURRENCY", "1"),
    ];
    let event = created_event(std::slice::from_ref(&p));

    let first = faulty_replicator(&env, fail_parts(3..=4));
    let err = handle(&first, event.clone()).await.unwrap_err();
    assert!(err.to_string().contains("DstPutObjectFailed"), "{err}");
    assert_eq!(uploads(&s3, &dst).await.len(), 1, "kept for the retry");
    assert_eq!(version_count(&s3, &dst, "resume.bin").await, 0);

    // The retry may not copy parts 1 and 2 again: it must resume the upload it proves its own.
    let retry = faulty_replicator(&env, fail_parts(1..=2));
    let summary = handle(&retry, event).await.unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(
        retry.destination().injected(),
        0,
        "parts 1 and 2 were not copied again"
    );
    assert!(uploads(&s3, &dst).await.is_empty());
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("resume.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(marker_of(&s3, &dst, "resume.bin").await, p.version_id);
    assert_eq!(body_of(&s3, &dst, "resume.bin", None).await, data);
}

#[tokio::test]
async fn interrupted_copy_of_an_older_version_is_never_completed_into_a_newer_one() {
    let s3 = client();
    let src = versioned_bucket(&s3, "ov-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "ov-dst", "eu-west-1").await;
    let env = [
        ("DESTINATION_BUCKET", dst.as_str()),
        ("MULTIPART_CONCURRENCY", "1"),
    ];
    // Same bytes, same layout, same ETag: only the replica marker tells v1's copy from v2's.
    let (v1, _) = four_part_source(&s3, &src, "k.bin").await;
    let first = faulty_replicator(&env, fail_parts(3..=4));
    handle(&first, created_event(std::slice::from_ref(&v1)))
        .await
        .unwrap_err();
    assert_eq!(uploads(&s3, &dst).await.len(), 1, "v1's upload is left");

    let (v2, data) = four_part_source(&s3, &src, "k.bin").await;
    let plain = replicator(&server().endpoint, &env);
    handle(&plain, created_event(std::slice::from_ref(&v2)))
        .await
        .unwrap();
    assert_eq!(marker_of(&s3, &dst, "k.bin").await, v2.version_id);
    assert_eq!(
        uploads(&s3, &dst).await.len(),
        1,
        "v1's upload was not used for v2"
    );

    // v1's retry comes after v2's replica is current: it is superseded (one replica a version)
    // and writes nothing; its interrupted upload is left to the destination's lifecycle rule.
    let late = handle(&plain, created_event(std::slice::from_ref(&v1)))
        .await
        .unwrap();
    assert_eq!((late.replicated, late.skipped), (0, 1));
    assert_eq!(marker_of(&s3, &dst, "k.bin").await, v2.version_id);
    assert_eq!(body_of(&s3, &dst, "k.bin", None).await, data);
}

/// Starts an upload on the destination key with the source's first `parts` parts copied, as a
/// user's own tool (or an interrupted copy by something else) leaves it; `from` is the byte
/// offset part 1 is copied from.
async fn partial_upload(s3: &Client, p: &Put, dst: &str, parts: usize, from: usize) -> String {
    let id = s3
        .create_multipart_upload()
        .bucket(dst)
        .key(&p.key)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    for n in 0..parts {
        let start = from + n * 20 * MIB;
        s3.upload_part_copy()
            .bucket(dst)
            .key(&p.key)
            .upload_id(&id)
            .part_number(n as i32 + 1)
            .copy_source(format!(
                "{}/{}?versionId={}",
                p.bucket,
                p.key,
                p.version_id.as_deref().unwrap()
            ))
            .copy_source_range(format!("bytes={start}-{}", start + 20 * MIB - 1))
            .send()
            .await
            .unwrap();
    }
    id
}

#[tokio::test]
async fn uploads_not_proven_ours_are_never_completed_or_aborted() {
    let s3 = client();
    let src = versioned_bucket(&s3, "fu-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "fu-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "foreign.bin").await;
    // One with the right parts, one with the right sizes but shifted bytes: neither is ours.
    let mut theirs = vec![
        partial_upload(&s3, &p, &dst, 2, 0).await,
        partial_upload(&s3, &p, &dst, 2, MIB).await,
    ];
    let summary = handle(
        &replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    let mut left = uploads(&s3, &dst).await;
    left.sort();
    theirs.sort();
    assert_eq!(left, theirs, "other people's uploads are left as they were");
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("foreign.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(marker_of(&s3, &dst, "foreign.bin").await, p.version_id);
    assert_eq!(body_of(&s3, &dst, "foreign.bin", None).await, data);
}

#[tokio::test]
async fn upload_aborted_by_someone_else_fails_the_record_and_is_never_a_skip() {
    let s3 = client();
    let src = versioned_bucket(&s3, "na-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "na-dst", "eu-west-1").await;
    let (p, _) = four_part_source(&s3, &src, "gone.bin").await;
    // A lifecycle rule or another invocation aborted the upload before Complete.
    let aborted = faulty_replicator(&[("DESTINATION_BUCKET", dst.as_str())], |call| {
        (call.operation == "CompleteMultipartUpload").then(|| s3_replicator::error::S3Failure {
            operation: "CompleteMultipartUpload",
            kind: s3_replicator::error::S3FailureKind::NotFound,
            code: Some("NoSuchUpload".into()),
            status: Some(404),
            message: "The specified upload does not exist.".into(),
        })
    });
    let err = handle(&aborted, created_event(std::slice::from_ref(&p)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("DstPutObjectFailed"), "{err}");
    assert_eq!(version_count(&s3, &dst, "gone.bin").await, 0);
}

#[tokio::test]
async fn resumed_upload_holding_other_bytes_is_refused_by_the_sources_checksum() {
    let s3 = client();
    let src = versioned_bucket(&s3, "cs-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "cs-dst", "eu-west-1").await;
    // A single-part source with a full-object CRC32, copied in parts of our own layout: its
    // ETag cannot be the source's, so only the checksum can prove the bytes.
    let data = body(20 * MIB);
    let p = put_with(&s3, &src, "big.bin", &data, |b| {
        b.checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Crc32)
    })
    .await;
    let env = [
        ("DESTINATION_BUCKET", dst.as_str()),
        ("MULTIPART_THRESHOLD", "5242880"),
        ("MULTIPART_PART_SIZE", "5242880"),
        ("MULTIPART_CONCURRENCY", "1"),
    ];
    let event = created_event(std::slice::from_ref(&p));
    let first = faulty_replicator(&env, fail_parts(3..=4));
    handle(&first, event.clone()).await.unwrap_err();
    let kept = uploads(&s3, &dst).await;
    assert_eq!(kept.len(), 1, "kept for the retry");
    // Someone with write access swaps part 1 for other bytes of the same size.
    s3.upload_part()
        .bucket(&dst)
        .key("big.bin")
        .upload_id(&kept[0])
        .part_number(1)
        .body(vec![b'!'; 5 * MIB].into())
        .send()
        .await
        .unwrap();
    let err = handle(&replicator(&server().endpoint, &env), event)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ReplicaMismatch"), "{err}");
    assert_eq!(
        version_count(&s3, &dst, "big.bin").await,
        0,
        "no wrong replica"
    );
}

/// Issue 38, scaled down: 6 parts copied 2 at once, each part copy taking 3 s, an invocation of
/// 5 s with a 1 s margin, cut off at its deadline as Lambda does (the future is dropped: no code
/// of ours runs at the cut). The upload is proven ours from its start, and no part is started
/// that would not finish before the margin, so the retry resumes it: one upload, 6 part copies.
#[tokio::test]
async fn a_copy_cut_off_at_its_deadline_is_resumed_by_the_retry_with_no_part_copied_twice() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};
    let s3 = client();
    let src = versioned_bucket(&s3, "cut-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "cut-dst", "eu-west-1").await;
    let data = body(30 * MIB);
    let p = put(&s3, &src, "slow.bin", &data).await;
    let part = (5 * MIB).to_string();
    let vars = function_env(&[
        ("DESTINATION_BUCKET", dst.as_str()),
        ("MULTIPART_THRESHOLD", part.as_str()),
        ("MULTIPART_PART_SIZE", part.as_str()),
        ("MULTIPART_CONCURRENCY", "2"),
        ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
    ]);
    let (creates, copies) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let (c, k) = (creates.clone(), copies.clone());
    let slow = s3_replicator::wiring::build_with(
        &sdk_config(&server().endpoint, "us-east-1"),
        |name| vars.get(name).cloned(),
        move |d| {
            s3_replicator::faults::Faulty::new(d, |_| None).delaying(move |call| {
                match call.operation {
                    "CreateMultipartUpload" => c.fetch_add(1, Ordering::Relaxed),
                    "UploadPartCopy" => k.fetch_add(1, Ordering::Relaxed),
                    _ => return None,
                };
                (call.operation == "UploadPartCopy").then_some(Duration::from_secs(3))
            })
        },
    )
    .expect("valid configuration");
    let event = created_event(std::slice::from_ref(&p));
    let deadline = SystemTime::now() + Duration::from_secs(5);
    let first = tokio::time::timeout(
        Duration::from_secs(5),
        s3_replicator::handle_until(&slow, event.clone(), Some(deadline)),
    )
    .await;
    assert!(
        !matches!(first, Ok(Ok(_))),
        "the first invocation cannot finish"
    );
    assert_eq!(version_count(&s3, &dst, "slow.bin").await, 0);
    // Lambda's retry, with time.
    let summary = handle(&slow, event).await.unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(body_of(&s3, &dst, "slow.bin", None).await, data);
    assert_eq!(creates.load(Ordering::Relaxed), 1, "one upload");
    assert_eq!(copies.load(Ordering::Relaxed), 6, "no part copied twice");
    no_uploads_left(&s3, &dst).await;
}

/// An object uploaded as one empty part (review finding of the sixth session): its only part
/// has no byte range to name, and `bytes=0-(0 - 1)` overflowed (a panic in a debug build, a
/// range of 2^64 - 1 in a release one); every delivery failed. Copied as one empty part, the
/// source's ETag.
#[tokio::test]
async fn a_multipart_source_of_one_empty_part_keeps_its_etag() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emp-dst", "eu-west-1").await;
    let p = multipart_source(&s3, &src, "empty.bin", &[Vec::new()]).await;
    assert!(p.etag.ends_with("-1"), "{}", p.etag);
    let summary = handle(
        &replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("empty.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(head.content_length(), Some(0));
}

/// A source uploaded in parts whose last part is empty (S3 sets no minimum on the last part):
/// its layout was refused ("no 2-part layout"), every delivery failed. Copied in its parts, the
/// last one empty, the source's ETag (second review of the sixth session).
#[tokio::test]
async fn a_multipart_source_whose_last_part_is_empty_keeps_its_etag() {
    let s3 = client();
    let src = versioned_bucket(&s3, "elp-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "elp-dst", "eu-west-1").await;
    let data = body(5 * MIB);
    let p = multipart_source(&s3, &src, "tail.bin", &[data.clone(), Vec::new()]).await;
    assert!(p.etag.ends_with("-2"), "{}", p.etag);
    let summary = handle(
        &replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("tail.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(head.content_length(), Some(data.len() as i64));
}

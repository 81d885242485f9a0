//! Large objects against the local S3, with the multipart threshold forced low so that 64 MiB
//! objects take the multipart path: byte-identical replicas, ETag parity with a multipart source
//! (uneven last part), and full metadata on a multipart replica.

mod common;

use aws_sdk_s3::Client;
use common::*;
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
async fn copy_interrupted_by_the_deadline_resumes_on_the_next_invocation() {
    let s3 = client();
    let src = versioned_bucket(&s3, "rs-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "rs-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "resume.bin").await;
    let replicator = replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]);
    let event = created_event(std::slice::from_ref(&p));

    // Too little time left: no part is started, the upload stays, the invocation fails.
    let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let err = s3_replicator::handle_until(&replicator, event.clone(), Some(soon))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("CopyInterrupted"), "{err}");
    assert_eq!(
        uploads(&s3, &dst).await.len(),
        1,
        "the upload is kept for the retry"
    );
    assert_eq!(version_count(&s3, &dst, "resume.bin").await, 0);

    // Lambda's retry: resumes that upload and finishes it.
    let summary = handle(&replicator, event).await.unwrap();
    assert_eq!(summary.replicated, 1);
    assert!(uploads(&s3, &dst).await.is_empty());
    let head = s3
        .head_object()
        .bucket(&dst)
        .key("resume.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(body_of(&s3, &dst, "resume.bin", None).await, data);
}

/// Starts an upload on the destination key with the source's first `parts` parts copied, as an
/// interrupted invocation leaves it; `from` is the byte offset part 1 is copied from.
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
async fn partial_upload_left_by_an_interrupted_copy_is_finished() {
    let s3 = client();
    let src = versioned_bucket(&s3, "pu-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "pu-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "partial.bin").await;
    partial_upload(&s3, &p, &dst, 2, 0).await;
    let summary = handle(
        &replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);
    assert!(
        uploads(&s3, &dst).await.is_empty(),
        "the partial upload was used, not left"
    );
    assert_eq!(body_of(&s3, &dst, "partial.bin", None).await, data);
}

#[tokio::test]
async fn foreign_upload_with_matching_sizes_is_never_completed() {
    let s3 = client();
    let src = versioned_bucket(&s3, "fu-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "fu-dst", "eu-west-1").await;
    let (p, data) = four_part_source(&s3, &src, "foreign.bin").await;
    // Same part sizes, wrong bytes (shifted by 1 MiB): only the ETag check can tell.
    partial_upload(&s3, &p, &dst, 2, MIB).await;
    let replicator = replicator(&server().endpoint, &[("DESTINATION_BUCKET", &dst)]);
    let event = created_event(std::slice::from_ref(&p));
    let err = handle(&replicator, event.clone()).await.unwrap_err();
    assert!(err.to_string().contains("ReplicaMismatch"), "{err}");
    assert_eq!(
        version_count(&s3, &dst, "foreign.bin").await,
        0,
        "no wrong replica was written"
    );
    assert!(
        uploads(&s3, &dst).await.is_empty(),
        "the foreign upload was aborted"
    );
    // The retry starts afresh and succeeds.
    handle(&replicator, event).await.unwrap();
    assert_eq!(body_of(&s3, &dst, "foreign.bin", None).await, data);
}

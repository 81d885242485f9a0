//! Large objects against the local S3, with the multipart threshold forced low so that 64 MiB
//! objects take the multipart path: byte-identical replicas, ETag parity with a multipart source
//! (uneven last part), and full metadata on a multipart replica.

mod common;

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ObjectCannedAcl, Permission};
use aws_sdk_s3::Client;
use common::*;
use s3_replicator::handle;

const MIB: usize = 1024 * 1024;

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

/// Deterministic, non-repeating bytes, so a misplaced range would show.
fn body(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
        .collect()
}

/// Uploads `parts` as a multipart upload with metadata, tags and a public-read ACL.
async fn multipart_source(s3: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> Put {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-big")
        .cache_control("no-store")
        .metadata("origin", "multipart")
        .tagging("size=large")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(Into::into))
                .build(),
        );
    }
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    Put {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: out.version_id().map(str::to_owned),
        etag: out.e_tag().unwrap().trim_matches('"').to_owned(),
        size: parts.iter().map(Vec::len).sum(),
    }
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
    let acl = s3
        .get_object_acl()
        .bucket(&dst)
        .key("parts.bin")
        .send()
        .await
        .unwrap();
    assert!(acl
        .grants()
        .iter()
        .any(|g| g.permission() == Some(&Permission::Read)));
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

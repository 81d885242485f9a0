//! Single-part sources copied in parts of our own layout (above a lowered `MULTIPART_THRESHOLD`):
//! the replica's ETag is `…-N` and its checksum cannot be the source's full-object one. Every
//! checksum algorithm still replicates (SHA-1 and SHA-256 as composite checksums, which is all S3
//! allows for an upload), verify says `unproven` rather than `same`, and a redelivered event
//! recognises the replica it already wrote.

use crate::common::*;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, ChecksumType};
use s3_replicator::handle;
use s3_replicator::tools::compare::{verify, Options, Status};

/// Objects above 5 MiB copied in 5 MiB parts of our own.
fn env(dst: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DESTINATION_BUCKET", dst.to_owned()),
        ("MULTIPART_THRESHOLD", (5 * MIB).to_string()),
        ("MULTIPART_PART_SIZE", (5 * MIB).to_string()),
        ("MULTIPART_CONCURRENCY", "2".to_owned()),
    ]
}

fn own_layout(dst: &str) -> s3_replicator::wiring::LiveReplicator {
    let env = env(dst);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    replicator(&server().endpoint, &env)
}

#[tokio::test]
async fn sha_objects_copied_in_parts_of_our_own_replicate_with_a_composite_checksum() {
    let s3 = client();
    let src = versioned_bucket(&s3, "sha-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "sha-dst", "eu-west-1").await;
    let data = body(12 * MIB);
    let mut puts = Vec::new();
    for (key, algorithm) in [
        ("sha256.bin", ChecksumAlgorithm::Sha256),
        ("sha1.bin", ChecksumAlgorithm::Sha1),
    ] {
        puts.push(put_with(&s3, &src, key, &data, |b| b.checksum_algorithm(algorithm)).await);
    }
    let replicator = own_layout(&dst);
    // S3 refuses a SHA upload as FULL_OBJECT: asking for the source's type failed every record.
    let summary = handle(&replicator, created_event(&puts))
        .await
        .expect("replicates");
    assert_eq!(summary.replicated, 2);
    for p in &puts {
        assert_eq!(body_of(&s3, &dst, &p.key, None).await, data, "{}", p.key);
        let head = s3
            .head_object()
            .bucket(&dst)
            .key(&p.key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert!(
            head.e_tag().unwrap().ends_with("-3\""),
            "{:?}",
            head.e_tag()
        );
        // The same algorithm, composite: a checksum of our three parts' checksums.
        assert_eq!(head.checksum_type(), Some(&ChecksumType::Composite));
        let value = head.checksum_sha256().or(head.checksum_sha1());
        assert!(value.is_some_and(|v| v.ends_with("-3")), "{value:?}");
    }
    // Nothing proves these bytes from listings and heads (a composite checksum of our layout is
    // no full-object SHA, the ETag no MD5 of the object): unproven, never `same`.
    let options = Options {
        bucket: src.clone(),
        prefix: String::new(),
        deep: false,
        explain_missing: true,
    };
    let findings = verify(&replicator, &options).await.unwrap();
    assert_eq!(findings.len(), 2);
    for f in &findings {
        assert_eq!(f.status, Status::Unproven, "{}: {}", f.key, f.detail);
    }
    // Deep too: the replica's checksum is the one an upload in our parts can carry for the
    // source's (composite for a SHA), no damage that repair would rewrite over and over.
    let deep = Options {
        deep: true,
        ..options
    };
    let findings = verify(&replicator, &deep).await.unwrap();
    for f in &findings {
        assert_eq!(f.status, Status::Unproven, "deep {}: {}", f.key, f.detail);
    }
}

#[tokio::test]
async fn a_redelivered_event_of_an_unversioned_source_finds_its_replica_in_our_parts() {
    let s3 = client();
    let src = unique_bucket("ru-src");
    s3.create_bucket().bucket(&src).send().await.unwrap();
    let dst = versioned_bucket(&s3, "ru-dst", "eu-west-1").await;
    let data = body(11 * MIB);
    let p = put(&s3, &src, "k.bin", &data).await;
    assert_eq!(p.version_id, None);
    let replicator = own_layout(&dst);
    let event = created_event(std::slice::from_ref(&p));
    assert_eq!(
        handle(&replicator, event.clone()).await.unwrap().replicated,
        1
    );
    // The `null` version's replica is told by its write (second, size, ETag): its ETag is ours.
    let again = handle(&replicator, event).await.unwrap();
    assert_eq!((again.replicated, again.skipped), (0, 1));
    assert_eq!(version_count(&s3, &dst, "k.bin").await, 1);
}

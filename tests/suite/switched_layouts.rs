//! A part of the source's own layout that no invocation can copy (issue 38, scaled down): part
//! copies slowed by a delaying wrapper to 4 MiB/s, invocations of 6 s with a 1 s margin, cut off
//! at their deadline as Lambda does. A source part of 32 MiB takes 8 s: it never lands. The copy
//! remembers the pace in its progress record, switches to parts of our own that can finish (the
//! replica's ETag is then its own, its record says so, its bytes are proven by the checksum), and
//! never starts the hopeless part again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumType, CompletedPart};
use aws_sdk_s3::Client;

use crate::common::*;
use s3_replicator::aws_s3::AwsS3;
use s3_replicator::faults::Faulty;
use s3_replicator::replicate::Replicator;
use s3_replicator::tools::compare::{verify, Options, Status};

/// The function with its destination calls slowed.
type Slow = Replicator<AwsS3, Faulty<AwsS3>>;

/// Bytes per second of a part copy.
const PACE: u64 = 4 * MIB as u64;
const INVOCATION: Duration = Duration::from_secs(6);

/// A multipart source of `parts` with a full-object CRC32 checksum (what S3 gives every new
/// object, in CRC64NVME; moto computes CRC32).
async fn checksummed_source(s3: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> Put {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .metadata("origin", "multipart")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .checksum_type(ChecksumType::FullObject)
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
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(Into::into))
                .set_checksum_crc32(out.checksum_crc32().map(Into::into))
                .build(),
        );
    }
    let whole = parts.concat();
    let crc = s3_replicator::copy::multipart::checksum_of("CRC32", &whole).unwrap();
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .checksum_crc32(crc)
        .checksum_type(ChecksumType::FullObject)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
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
        size: whole.len(),
    }
}

/// The function with part copies at [`PACE`], counting part copies by their size, invocation
/// by invocation (the map's key).
fn slow_function(
    dst: &str,
    copies: Arc<Mutex<HashMap<(u32, u64), u32>>>,
    invocation: Arc<Mutex<u32>>,
) -> Slow {
    let vars = function_env(&[
        ("DESTINATION_BUCKET", dst),
        ("MULTIPART_CONCURRENCY", "2"),
        ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
    ]);
    s3_replicator::wiring::build_with(
        &sdk_config(&server().endpoint, "us-east-1"),
        |name| vars.get(name).cloned(),
        move |d| {
            Faulty::new(d, |_| None).delaying(move |call| {
                let bytes = call.bytes.filter(|_| call.operation == "UploadPartCopy")?;
                let n = *invocation.lock().unwrap();
                *copies.lock().unwrap().entry((n, bytes)).or_default() += 1;
                Some(Duration::from_secs_f64(bytes as f64 / PACE as f64))
            })
        },
    )
    .expect("valid configuration")
}

/// Invokes until the copy has landed (at most `most` invocations), each cut off at its
/// deadline; the invocations it took.
async fn invoke_until_replicated(
    function: &Slow,
    put: &Put,
    invocation: &Mutex<u32>,
    most: u32,
) -> u32 {
    let event = created_event(std::slice::from_ref(put));
    for n in 1..=most {
        // Lambda retries a minute or more after a cut; a second here, so that a provisional pace
        // record is read, as there, after its parts' time has passed (LastModified's seconds).
        if n > 1 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        *invocation.lock().unwrap() = n;
        let deadline = SystemTime::now() + INVOCATION;
        let answer = tokio::time::timeout(
            INVOCATION,
            s3_replicator::handle_until(function, event.clone(), Some(deadline)),
        )
        .await;
        // Landed, or landed with no time left after it: the retry finds it in sync.
        if matches!(answer, Ok(Ok(ref s)) if s.replicated + s.skipped == 1) {
            return n;
        }
    }
    panic!("not replicated in {most} invocations");
}

/// Part copies of `bytes` made in each invocation.
fn copies_of(copies: &Mutex<HashMap<(u32, u64), u32>>, bytes: u64) -> Vec<(u32, u32)> {
    let mut made: Vec<(u32, u32)> = copies
        .lock()
        .unwrap()
        .iter()
        .filter(|((_, b), _)| *b == bytes)
        .map(|((n, _), count)| (*n, *count))
        .collect();
    made.sort();
    made
}

async fn replica_is_ours_in_our_layout(s3: &Client, dst: &str, put: &Put, data: &[u8]) {
    assert_eq!(body_of(s3, dst, &put.key, None).await, data);
    let head = s3
        .head_object()
        .bucket(dst)
        .key(&put.key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_ne!(head.e_tag().unwrap().trim_matches('"'), put.etag);
    let metadata = head.metadata().unwrap();
    assert_eq!(
        metadata.get("replica-layout").map(String::as_str),
        Some("own")
    );
    assert_eq!(
        metadata.get("origin").map(String::as_str),
        Some("multipart")
    );
    // The bytes proven: the source's full-object checksum, checked by the destination.
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    let crc = s3_replicator::copy::multipart::checksum_of("CRC32", data).unwrap();
    assert_eq!(head.checksum_crc32(), Some(crc.as_str()));
    let uploads = s3
        .list_multipart_uploads()
        .bucket(dst)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
}

/// A replica in parts of our own keeps no ETag parity and only the source's full-object CRC32
/// agrees: a CRC proves bytes against accidents, never against a writer, so `verify` says
/// `unproven` (docs/security.md, "What proves bytes"), which is not damage.
async fn verify_says_unproven_by_a_crc(dst: &str, src: &str) {
    let env = [("DESTINATION_BUCKET", dst)];
    let replicator = replicator(&server().endpoint, &env);
    for deep in [false, true] {
        let options = Options {
            bucket: src.to_owned(),
            prefix: String::new(),
            deep,
            explain_missing: true,
        };
        let findings = verify(&replicator, &options).await.unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].status,
            Status::Unproven,
            "deep {deep}: {}",
            findings[0].detail
        );
    }
}

/// The 20 MiB part lands in the first invocation (5 s, before the deadline) and gives the pace;
/// the 32 MiB one is cut off. The second invocation does not start it again: it switches to
/// parts of our own that finish.
#[tokio::test]
async fn a_source_part_too_slow_for_an_invocation_is_copied_in_parts_of_our_own() {
    let s3 = client();
    let src = versioned_bucket(&s3, "slowpart-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "slowpart-dst", "eu-west-1").await;
    let data = body(52 * MIB);
    let parts = vec![data[..32 * MIB].to_vec(), data[32 * MIB..].to_vec()];
    let p = checksummed_source(&s3, &src, "slow.bin", &parts).await;
    let (copies, invocation) = (Arc::default(), Arc::default());
    let function = slow_function(&dst, Arc::clone(&copies), Arc::clone(&invocation));
    let took = invoke_until_replicated(&function, &p, &invocation, 10).await;
    assert!(took >= 2, "the 32 MiB part cannot land in the first");
    // The 32 MiB part was started once an invocation at most, and never again once a pace was
    // remembered: in the first only, or (on a machine so loaded that the 20 MiB part had not
    // landed before the first cut, leaving no pace) in the first two.
    let slow = copies_of(&copies, 32 * MIB as u64);
    assert!(
        slow == vec![(1, 1)] || slow == vec![(1, 1), (2, 1)],
        "{slow:?}"
    );
    assert!(
        took as usize > slow.len(),
        "the switch came after the last start: {slow:?}"
    );
    replica_is_ours_in_our_layout(&s3, &dst, &p, &data).await;
    verify_says_unproven_by_a_crc(&dst, &src).await;
    // A redelivered event finds the replica in our layout: nothing is written again.
    let env = [("DESTINATION_BUCKET", dst.as_str())];
    let again = s3_replicator::handle(
        &replicator(&server().endpoint, &env),
        created_event(std::slice::from_ref(&p)),
    )
    .await
    .unwrap();
    assert_eq!((again.replicated, again.skipped), (0, 1));
    assert_eq!(version_count(&s3, &dst, "slow.bin").await, 1);
}

/// Every part of the first invocation is cut off, so none gives a pace: the record, written
/// before they started, says the most they could have had (their time until the cut), and the
/// next invocation that has no more time than that leaves them alone and switches. (On a machine
/// so loaded that the first invocation's parts started late, the second may have more time
/// than they had and try them once more: then the third switches.)
#[tokio::test]
async fn parts_cut_off_before_any_landed_are_not_started_again() {
    let s3 = client();
    let src = versioned_bucket(&s3, "allcut-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "allcut-dst", "eu-west-1").await;
    let data = body(64 * MIB);
    let parts = vec![data[..32 * MIB].to_vec(), data[32 * MIB..].to_vec()];
    let p = checksummed_source(&s3, &src, "cut.bin", &parts).await;
    let (copies, invocation) = (Arc::default(), Arc::default());
    let function = slow_function(&dst, Arc::clone(&copies), Arc::clone(&invocation));
    invoke_until_replicated(&function, &p, &invocation, 12).await;
    let big = copies_of(&copies, 32 * MIB as u64);
    assert_eq!(big.first(), Some(&(1, 2)), "{big:?}");
    assert!(big.len() <= 2, "started again and again: {big:?}");
    replica_is_ours_in_our_layout(&s3, &dst, &p, &data).await;
    verify_says_unproven_by_a_crc(&dst, &src).await;
}

/// Issue 38: a user's object with other bytes of the source's size, the genuine record plus
/// `replica-layout: own`, and a composite SHA-256 (what no copy of ours carries: the source's
/// full-object CRC32 is kept by any layout). Plain verify, `--deep`, and an event (the one
/// judgement `repair` applies) all call it other bytes: none calls it `unproven` and clean while
/// another writes it.
#[tokio::test]
async fn a_forged_own_layout_record_over_other_bytes_is_damage_for_every_tool() {
    let s3 = client();
    let src = versioned_bucket(&s3, "forged-own-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "forged-own-dst", "eu-west-1").await;
    let data = body(12 * MIB);
    let parts = vec![data[..6 * MIB].to_vec(), data[6 * MIB..].to_vec()];
    let p = checksummed_source(&s3, &src, "forged.bin", &parts).await;
    let env = [("DESTINATION_BUCKET", dst.as_str())];
    let function = replicator(&server().endpoint, &env);
    let event = created_event(std::slice::from_ref(&p));
    let first = s3_replicator::handle(&function, event.clone())
        .await
        .unwrap();
    assert_eq!(first.replicated, 1);
    // The plant: the genuine record, the word `own`, other bytes, a composite SHA-256.
    let mut metadata = s3
        .head_object()
        .bucket(&dst)
        .key(&p.key)
        .send()
        .await
        .unwrap()
        .metadata()
        .cloned()
        .unwrap_or_default();
    metadata.insert("replica-layout".into(), "own".into());
    let upload = s3
        .create_multipart_upload()
        .bucket(&dst)
        .key(&p.key)
        .set_metadata(Some(metadata))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let other = body(12 * MIB + 1)[1..].to_vec();
    let mut done = Vec::new();
    for (i, part) in other.chunks(6 * MIB).enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(&dst)
            .key(&p.key)
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(part.to_vec().into())
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(Into::into))
                .set_checksum_sha256(out.checksum_sha256().map(Into::into))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&dst)
        .key(&p.key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_ne!(body_of(&s3, &dst, &p.key, None).await, data);
    for deep in [false, true] {
        let options = Options {
            bucket: src.clone(),
            prefix: String::new(),
            deep,
            explain_missing: true,
        };
        let findings = verify(&function, &options).await.unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            (findings[0].status, findings[0].detail.as_str()),
            (Status::Differs, "checksum"),
            "deep {deep}"
        );
    }
    // The one judgement writes it, as `repair` does: the source's bytes are back.
    let again = s3_replicator::handle(&function, event).await.unwrap();
    assert_eq!(again.replicated, 1);
    assert_eq!(body_of(&s3, &dst, &p.key, None).await, data);
}

/// Issue 38: the same event delivered twice at once (S3 may), to invocations of 20 s. The first
/// delivery creates the upload and writes its provisional pace record (the most its parts could
/// have had were they cut: 6 MiB in the ~19 s it had left); the second finds the upload half a
/// second later. Every part takes 1.5 s and fits either invocation: that record is no measured
/// pace, and the second must not switch to parts of our own (aborting the first's live upload,
/// losing the source's ETag).
#[tokio::test]
async fn a_concurrent_delivery_does_not_take_the_others_provisional_record_for_a_pace() {
    let s3 = client();
    let src = versioned_bucket(&s3, "twice-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "twice-dst", "eu-west-1").await;
    let data = body(24 * MIB);
    let parts: Vec<Vec<u8>> = data.chunks(6 * MIB).map(<[u8]>::to_vec).collect();
    let p = checksummed_source(&s3, &src, "twice.bin", &parts).await;
    let (copies, invocation) = (Arc::default(), Arc::new(Mutex::new(1)));
    let function = slow_function(&dst, Arc::clone(&copies), Arc::clone(&invocation));
    let event = created_event(std::slice::from_ref(&p));
    let invocation = Duration::from_secs(20);
    let deliver = |wait: u64| {
        let (function, event) = (&function, event.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let deadline = SystemTime::now() + invocation;
            tokio::time::timeout(
                invocation,
                s3_replicator::handle_until(function, event, Some(deadline)),
            )
            .await
        }
    };
    let (first, second) = tokio::join!(deliver(0), deliver(500));
    eprintln!("first {first:?}\nsecond {second:?}");
    // No part of our own was copied: every part copy was one of the source's 6 MiB parts.
    let ours: Vec<_> = copies
        .lock()
        .unwrap()
        .keys()
        .filter(|(_, bytes)| *bytes != 6 * MIB as u64)
        .copied()
        .collect();
    assert!(ours.is_empty(), "parts of our own copied: {ours:?}");
    // Whatever the loser of the race answered, a redelivery finds the replica in sync.
    let env = [("DESTINATION_BUCKET", dst.as_str())];
    let again = s3_replicator::handle(&replicator(&server().endpoint, &env), event)
        .await
        .unwrap();
    assert_eq!((again.replicated, again.skipped), (0, 1));
    let head = s3
        .head_object()
        .bucket(&dst)
        .key(&p.key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(body_of(&s3, &dst, &p.key, None).await, data);
    assert_eq!(version_count(&s3, &dst, &p.key).await, 1);
    let uploads = s3
        .list_multipart_uploads()
        .bucket(&dst)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
}

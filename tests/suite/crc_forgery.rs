//! A CRC (CRC32, CRC32C, CRC64NVME) proves bytes against accidents, never against a writer:
//! anyone can forge other bytes of the same size with the source's CRC (review of 2026-12-07,
//! issue 37, docs/security.md "What proves bytes"). Only the ETag where the copy keeps the
//! source's, or a SHA checksum, proves a replica's bytes. Through the binary, against the local
//! S3, with the record key.

use std::time::Duration;

use aws_sdk_s3::types::ChecksumAlgorithm;

use crate::authentic_records::{replicated, World};
use crate::common::*;

fn crc32(data: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32IsoHdlc, data) as u32
}

/// `data` with its last 4 bytes replaced so that its CRC32 is `target` (CRC32 is linear).
fn forge(data: &[u8], target: u32) -> Vec<u8> {
    let table: Vec<u32> = (0..256u32)
        .map(|i| {
            (0..8).fold(i, |c, _| {
                if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                }
            })
        })
        .collect();
    let mut reverse = [0u32; 256];
    for (i, t) in table.iter().enumerate() {
        reverse[(t >> 24) as usize] = (t << 8) ^ i as u32;
    }
    let head = &data[..data.len() - 4];
    let forward = head.iter().fold(0xFFFF_FFFFu32, |c, b| {
        (c >> 8) ^ table[((c ^ u32::from(*b)) & 0xFF) as usize]
    });
    let mut backward = target ^ 0xFFFF_FFFF;
    for _ in 0..4 {
        backward = (backward << 8) ^ reverse[(backward >> 24) as usize];
    }
    let mut out = head.to_vec();
    out.extend_from_slice(&(forward ^ backward).to_le_bytes());
    assert_eq!(crc32(&out), target, "the forgery");
    out
}

const GOOD: &[u8] = b"payroll: alice=100 bob=200\npayroll: alice=100 bob=200\n";

fn evil() -> Vec<u8> {
    let mut evil = b"payroll: alice=100 bob=200 mallory=999999\n".to_vec();
    evil.resize(GOOD.len(), b'#');
    let evil = forge(&evil, crc32(GOOD));
    assert_ne!(evil, GOOD);
    evil
}

/// A replica written before the key, whose bytes a destination writer replaced with others of
/// the source's size and CRC32 under its record: `repair --reseal` leaves it `unproven`.
#[tokio::test]
async fn repair_reseal_never_takes_an_equal_crc_for_proof() {
    let w = World::new("crc-reseal").await;
    let unkeyed: Vec<(&str, &str)> = w
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "REPLICA_RECORD_KEY_SECRET_ARN")
        .collect();
    let v1 = put_with(&w.s3, &w.src, "k", GOOD, |p| {
        p.checksum_algorithm(ChecksumAlgorithm::Crc32)
    })
    .await;
    let (answer, _) = crate::metrics::invoke(created_event(&[v1]), &unkeyed, 60_000).await;
    assert!(answer.contains("\"replicated\":1"), "{answer}");
    let mut record = w.metadata(&w.dst, "k").await;
    record.retain(|k, _| k != "replica-written-at" && k != "replica-written-until");
    // The forgery replaces the replica a second or more after the source's write: a later write
    // of the destination, which repair leaves (in the source's own second the order of writes,
    // tied by bucket name, would judge it earlier and repair would copy the source over it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put_with(&w.s3, &w.dst, "k", &evil(), |p| {
        p.set_metadata(Some(record.clone()))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (code, out) = w.cli(&["repair", "--bucket", &w.src, "--reseal"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reseal: 0 resealed, 1 unproven (left), 0 failed"),
        "{out}"
    );
    let now = w.metadata(&w.dst, "k").await;
    assert!(!now.contains_key("replica-record-mac"), "resealed: {now:?}");
}

/// A genuine sealed replica of `GOOD` (CRC32), and a replay of its record within its window
/// over other bytes of its size and CRC32.
async fn replayed(label: &str) -> (World, Put, std::collections::HashMap<String, String>) {
    let w = World::new(label).await;
    let v1 = put_with(&w.s3, &w.src, "k", GOOD, |p| {
        p.checksum_algorithm(ChecksumAlgorithm::Crc32)
    })
    .await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&v1)).await), 1);
    let record = w.metadata(&w.dst, "k").await;
    put_with(&w.s3, &w.dst, "k", &evil(), |p| {
        p.set_metadata(Some(record.clone()))
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
    })
    .await;
    (w, v1, record)
}

/// A sealed replica's record replayed within its window over other bytes of the source's size
/// and CRC32, where the copy keeps the source's ETag: `verify --deep` says `differs`.
#[tokio::test]
async fn a_replay_with_the_sources_crc_differs() {
    let (w, _, _) = replayed("crc-verify").await;
    let (code, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("1 differs"), "{out}");
}

/// The bucket still holds the version; its replica bucket holds the genuine replica and a replay
/// of its record over other bytes: `restore --from` copies back the genuine replica's bytes,
/// and with only the replay left reports the key `unproven` and leaves it.
#[tokio::test]
async fn restore_from_takes_only_a_replica_whose_etag_is_the_versions() {
    let (w, _, _) = replayed("crc-restore").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&w.s3, &w.src, "k", b"ransom").await;
    let restore = |w: &World| {
        w.cli(&[
            "restore",
            "--bucket",
            &w.src,
            "--as-of",
            &t.to_rfc3339(),
            "--from",
            &w.dst,
        ])
    };
    let (code, out) = restore(&w);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(body_of(&w.s3, &w.src, "k", None).await, GOOD, "{out}");
    // With only the replay left in the replica bucket: unproven, left alone.
    put(&w.s3, &w.src, "k", b"ransom again").await;
    let genuine = version_ids(&w.s3, &w.dst, "k")
        .await
        .last()
        .unwrap()
        .clone();
    w.s3.delete_object()
        .bucket(&w.dst)
        .key("k")
        .version_id(genuine)
        .send()
        .await
        .unwrap();
    let (_, out) = restore(&w);
    assert!(out.contains("unproven"), "{out}");
    assert_eq!(
        body_of(&w.s3, &w.src, "k", None).await,
        b"ransom again",
        "{out}"
    );
}

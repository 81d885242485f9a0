//! A replica's record dates its write (`replica-written-at`, `replica-written-until`: issue 37,
//! docs/security.md): an object whose `Last-Modified` lies outside that write is a copy of the
//! record made later, written by someone else, with or without a record key. A user's copy of
//! a replica onto its own key stands as a later write there; a replay of an old replica's
//! record later in the history is never what `restore --from` takes for that version. Through
//! the binary, against the local S3.

use std::time::Duration;

use crate::authentic_records::{replicated, World};
use crate::common::*;

/// Past the bound of a replica's write just made: the allowance of a request (30 s) and the
/// second its bound falls in.
const PAST_THE_WRITE: Duration = Duration::from_millis(32_000);

/// A user's copy of a replica onto its key (`aws s3 cp s3://dst/k s3://dst/k --storage-class
/// STANDARD_IA` keeps the user metadata), made after the replica: no key configured, it still is
/// no replica. A redelivered event does not overwrite it, `verify
/// --deep` calls it newer-at-destination, `repair` and `backfill` leave it.
#[tokio::test]
async fn a_users_copy_of_a_replica_onto_its_key_is_a_later_write_there() {
    let mut w = World::new("rec-copy").await;
    w.secret.clear();
    let v1 = put(&w.s3, &w.src, "k", b"original").await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&v1)).await), 1);
    let meta = w.metadata(&w.dst, "k").await;
    assert!(meta.contains_key("replica-written-at"), "{meta:?}");
    tokio::time::sleep(PAST_THE_WRITE).await;
    w.s3.copy_object()
        .bucket(&w.dst)
        .key("k")
        .copy_source(format!("{}/k", w.dst))
        .storage_class(aws_sdk_s3::types::StorageClass::StandardIa)
        .send()
        .await
        .expect("the user's copy");
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 2);
    let again = w.invoke(std::slice::from_ref(&v1)).await;
    assert_eq!(replicated(&again), 0, "{again}");
    // Its bytes are the source's (listings say `same`); what it is, the deep check says.
    let (_, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert!(out.contains("1 newer-at-destination"), "{out}");
    for tool in ["repair", "backfill"] {
        let (code, out) = w.cli(&[tool, "--bucket", &w.src]);
        assert_eq!(code, Some(0), "{tool}: {out}");
    }
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 2);
    let current = w.metadata(&w.dst, "k").await;
    assert_eq!(current, meta, "the user's copy is still current");
}

/// With a record key: an old replica's sealed record replayed later in the destination's
/// history, over bytes of the same size, is no replica of that version: `restore --from
/// REPLICA --as-of T` (the source having lost the version) restores the genuine replica's bytes.
#[tokio::test]
async fn restore_from_a_replica_never_picks_a_replayed_old_record() {
    let w = World::new("rec-replay").await;
    let good = put(&w.s3, &w.src, "k", b"good").await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&good)).await), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = put(&w.s3, &w.src, "k", b"newer data").await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&newer)).await), 1);
    tokio::time::sleep(PAST_THE_WRITE).await;
    // The replay: the first replica's record, MAC included, read from it and put again over
    // other bytes of its size (the MAC covers the size, never the bytes).
    let versions = version_ids(&w.s3, &w.dst, "k").await;
    let first = versions.last().unwrap().clone();
    let record =
        w.s3.head_object()
            .bucket(&w.dst)
            .key("k")
            .version_id(&first)
            .send()
            .await
            .unwrap()
            .metadata()
            .cloned()
            .unwrap_or_default();
    put_with(&w.s3, &w.dst, "k", b"evil", |b| {
        b.set_metadata(Some(record.clone()))
    })
    .await;
    // The current replica copied back on top, so the current version still verifies.
    w.s3.copy_object()
        .bucket(&w.dst)
        .key("k")
        .copy_source(format!("{}/k?versionId={}", w.dst, versions[0]))
        .send()
        .await
        .expect("copy the current replica back on top");
    // The source loses the good version.
    w.s3.delete_object()
        .bucket(&w.src)
        .key("k")
        .version_id(good.version_id.clone().unwrap())
        .send()
        .await
        .unwrap();
    let (code, out) = w.cli(&[
        "restore",
        "--bucket",
        &w.src,
        "--as-of",
        &t.to_rfc3339(),
        "--from",
        &w.dst,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(body_of(&w.s3, &w.src, "k", None).await, b"good", "{out}");
}

/// Replicas written before the record key was turned on (the binary run without it) stand as
/// other writes once it is; `repair --reseal` (with the key) reseals those whose bytes are
/// proven the version's, copied onto themselves, and leaves one whose bytes are not: its
/// `--dry-run` counts both and writes nothing.
#[tokio::test]
async fn repair_reseal_seals_the_proven_replicas_written_before_the_key() {
    let w = World::new("rec-reseal").await;
    let unkeyed: Vec<(&str, &str)> = w
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "REPLICA_RECORD_KEY_SECRET_ARN")
        .collect();
    let a = put(&w.s3, &w.src, "a", b"first").await;
    let b = put(&w.s3, &w.src, "b", b"other").await;
    let event = created_event(&[a, b]);
    let (answer, _) = crate::metrics::invoke(event, &unkeyed, 60_000).await;
    assert!(answer.contains("\"replicated\":2"), "{answer}");
    // At "b", other bytes of its size under its record, written by someone else.
    let record = w.metadata(&w.dst, "b").await;
    put_with(&w.s3, &w.dst, "b", b"12345", |p| {
        p.set_metadata(Some(record.clone()))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert!(!out.contains("2 same"), "the key is on: {out}");
    let (code, out) = w.cli(&["repair", "--bucket", &w.src, "--reseal", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reseal --dry-run: 1 to reseal, 1 unproven (left), 0 failed"),
        "{out}"
    );
    assert_eq!(
        version_count(&w.s3, &w.dst, "a").await,
        1,
        "a dry run: {out}"
    );
    let (code, out) = w.cli(&["repair", "--bucket", &w.src, "--reseal"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("reseal: 1 resealed, 1 unproven (left), 0 failed"),
        "{out}"
    );
    assert!(out.contains("unproven  b"), "{out}");
    let sealed = w.metadata(&w.dst, "a").await;
    assert!(sealed.contains_key("replica-record-mac"), "{sealed:?}");
    assert_eq!(body_of(&w.s3, &w.dst, "a", None).await, b"first");
    let (code, out) = w.cli(&["verify", "--bucket", &w.src, "--deep", "--prefix", "a"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 same"), "{out}");
}

//! The tools against writes and deletes made in the destination while they run (issue 35): the
//! races a test cannot time against a real server, on the in-memory S3 with someone else acting
//! between a tool's listing or read and its write.

use std::sync::atomic::AtomicBool;

use s3_replicator::fake::FakeS3;
use s3_replicator::tools::backfill::{backfill, Options};
use s3_replicator::tools::progress::Quiet;
use s3_replicator::Config;

use crate::meddled::{engine, Meddled};

/// 2026-11-22T10:00:00Z, 100 ms into the second.
const T0: i64 = 1_795_860_000_000 + 100;
const SRC: &str = "bucket-src";
const DST: &str = "bucket-dst";

fn one_way() -> Config {
    Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap()
}

fn s3() -> FakeS3 {
    let s3 = FakeS3::new();
    s3.set_clock(T0);
    for b in [SRC, DST] {
        s3.create_bucket(b, "us-east-1");
    }
    s3
}

fn backfill_options() -> Options {
    Options {
        bucket: SRC.to_owned(),
        prefix: String::new(),
        all_versions: false,
        concurrency: 1,
    }
}

/// Backfill's fast path copied a key its listing found never written at the destination on
/// `If-None-Match: *` alone, without a read. S3 does not refuse that condition where the current
/// version is a delete marker, so an object written and deleted at the destination between the
/// listing and the copy came back to life. The delete is later than the source's version in the
/// one order of writes: it stands (every key is now read before its copy).
#[tokio::test]
async fn backfill_never_brings_back_a_key_deleted_at_the_destination_after_its_listing() {
    let s3 = s3();
    // Two keys never written at the destination.
    s3.put(SRC, "j", b"another key");
    s3.put(SRC, "k", b"the source's version");
    let meddled = Meddled::new(
        &s3,
        |_| true,
        |s3| {
            s3.advance_clock(1000);
            s3.put(DST, "k", b"written in the destination");
            s3.advance_clock(1000);
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    let (tally, failures) = backfill(&r, &backfill_options(), &Quiet, &AtomicBool::new(false))
        .await
        .unwrap();
    assert!(r.destination().fired(), "backfill copied nothing");
    assert!(failures.is_empty(), "{failures:?}");
    let stack = s3.stack(DST, "k");
    assert!(
        stack.last().is_some_and(|e| e.delete_marker),
        "the destination's delete was undone ({tally}): {stack:?}"
    );
}

/// The replica versions at `DST` of the source's version `version` (its record).
fn replicas_of(s3: &FakeS3, version: &str) -> usize {
    s3.stack(DST, "k")
        .iter()
        .filter(|e| {
            e.metadata
                .get("replica-source-version-id")
                .is_some_and(|v| v == version)
        })
        .count()
}

/// A tool's copy on `If-None-Match: *` lands on a delete marker put after the tool read the key
/// (S3 lets that condition through over one): backfill read the key missing, the user then
/// wrote it and deleted it a second later than the source's write, and the copy buried that
/// later delete. Every tool write is now proven to lie on what was read (nothing here): ours
/// is withdrawn and the key decided anew, where the later delete stands.
#[tokio::test]
async fn backfill_never_buries_a_delete_put_at_the_destination_after_its_read() {
    let s3 = s3();
    let written = s3.put(SRC, "k", b"the source's version");
    let meddled = Meddled::new(
        &s3,
        |r| r.target.key == "k",
        |s3| {
            s3.advance_clock(1000);
            s3.put(DST, "k", b"written in the destination");
            s3.advance_clock(1000);
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    let (tally, failures) = backfill(&r, &backfill_options(), &Quiet, &AtomicBool::new(false))
        .await
        .unwrap();
    assert!(r.destination().fired(), "backfill copied nothing");
    assert!(failures.is_empty(), "{failures:?}");
    let stack = s3.stack(DST, "k");
    assert!(
        stack.last().is_some_and(|e| e.delete_marker),
        "the destination's later delete was buried ({tally}): {stack:?}"
    );
    let version = written.version_id.unwrap();
    assert_eq!(
        replicas_of(&s3, &version),
        0,
        "ours not withdrawn: {stack:?}"
    );
    assert_eq!((tally.replicated, tally.skipped), (0, 1), "{tally}");
}

/// The same for `repair` over a delete marker of the very second of the source's write (which
/// the order of writes puts earlier, the source's bucket name sorting after the destination's):
/// its copy goes over that marker on `If-None-Match: *`; a user's delete a second later, made
/// between repair's read and its copy, stands.
#[tokio::test]
async fn repair_never_buries_a_delete_put_at_the_destination_after_its_read() {
    let s3 = s3();
    let written = s3.put(SRC, "k", b"the source's version");
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    backfill(&plain, &backfill_options(), &Quiet, &AtomicBool::new(false))
        .await
        .unwrap();
    // Deleted at the destination in the same second: repair puts the replica back.
    s3.delete(DST, "k");
    let options = s3_replicator::tools::compare::Options {
        bucket: SRC.to_owned(),
        prefix: String::new(),
        deep: true,
        explain_missing: true,
    };
    let findings = s3_replicator::tools::compare::verify(&plain, &options)
        .await
        .unwrap();
    let meddled = Meddled::new(
        &s3,
        |r| r.target.key == "k",
        |s3| {
            s3.advance_clock(1100);
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    let (tally, failures) = s3_replicator::tools::repair::repair(
        &r,
        SRC,
        &findings,
        Vec::new(),
        1,
        &Quiet,
        &AtomicBool::new(false),
    )
    .await
    .unwrap();
    assert!(
        r.destination().fired(),
        "repair copied nothing: {findings:?}"
    );
    assert!(failures.is_empty(), "{failures:?}");
    let stack = s3.stack(DST, "k");
    assert!(
        stack.last().is_some_and(|e| e.delete_marker),
        "the user's later delete was buried ({tally}): {stack:?}"
    );
    assert_eq!(
        replicas_of(&s3, &written.version_id.unwrap()),
        1,
        "ours not withdrawn: {stack:?}"
    );
}

/// Three backfills at once over a key whose replica is of an older version: one copy lands,
/// the others are refused (412) and read the key again. They found the replica of the source's
/// current version there and copied it again over it (a repair's rewrite), leaving several
/// replicas of one version. A retry after a refusal judges the fresh read as an event would:
/// a replica of this version now current stands.
#[tokio::test]
async fn concurrent_backfills_leave_one_replica_a_version() {
    for seed in 1..=12u64 {
        let s3 = s3();
        s3.put(SRC, "k", b"first");
        let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
        backfill(&plain, &backfill_options(), &Quiet, &AtomicBool::new(false))
            .await
            .unwrap();
        let second = s3.put(SRC, "k", b"second, longer").version_id.unwrap();
        s3.interleave(seed);
        let r = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
        let (options, stop) = (backfill_options(), AtomicBool::new(false));
        let run = || backfill(&r, &options, &Quiet, &stop);
        let (a, b, c) = tokio::join!(run(), run(), run());
        for done in [a, b, c] {
            let (_, failures) = done.unwrap();
            assert!(failures.is_empty(), "seed {seed}: {failures:?}");
        }
        let stack = s3.stack(DST, "k");
        assert_eq!(
            replicas_of(&s3, &second),
            1,
            "seed {seed}: several replicas of one version: {stack:?}"
        );
    }
}

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

//! A conditional write on `If-Match` to a key deleted since the engine read it: S3 finds no
//! object to match and answers 404 NoSuchKey, not 412 (a delete marker is no object). That is a
//! race like any refused condition: the key is read again and decided anew. It was taken for
//! the source version gone (a copy, skipped for good) or failed the record (a replicated delete).

use crate::convergence_symptoms::{current, deliver, one_way, s3_with, stack, DST, SRC};
use crate::meddled::{engine, Meddled};

/// The source writes "two" and, in the same second, the destination's user deletes the key
/// between the event's read of the replica and its copy. The one order ranks the source's write
/// later (its bucket's name sorts after the destination's), so the replica goes back on top.
#[tokio::test]
async fn a_copy_whose_key_was_deleted_since_its_read_is_decided_anew() {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"one");
    deliver(&plain, &s3.take_notices()).await;
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"two");
    let sent: Vec<_> = s3
        .take_notices()
        .into_iter()
        .filter(|n| n.bucket == SRC)
        .collect();
    let meddled = Meddled::new(
        &s3,
        |_| true,
        |s3| {
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    assert!(r.destination().fired(), "the copy never went out");
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("two"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// The source's delete is replicated as a marker on `If-Match` (the replica read); the
/// destination's user deletes the key first. The record must not fail: the key is deleted.
#[tokio::test]
async fn a_replicated_delete_whose_key_was_deleted_since_its_read_does_not_fail() {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"one");
    deliver(&plain, &s3.take_notices()).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    let sent: Vec<_> = s3
        .take_notices()
        .into_iter()
        .filter(|n| n.bucket == SRC)
        .collect();
    let meddled = Meddled::new(&s3, |_| false, |_| {}, |_| {});
    *meddled.on_delete.lock().unwrap() = Some(Box::new(|s3| {
        s3.delete(DST, "k");
    }));
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    // `deliver` fails the test where the invocation fails.
    deliver(&r, &sent).await;
    assert!(
        r.destination().on_delete.lock().unwrap().is_none(),
        "no delete went out"
    );
    assert_eq!(current(&s3, DST, "k"), None, "{:#?}", stack(&s3, DST, "k"));
}

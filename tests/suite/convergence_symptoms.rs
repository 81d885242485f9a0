//! Issue 34's six symptoms ("Why"), one test each: every one failed on the engine before the one
//! order of writes (9058a10, 75a13a7) and passes now. They run the real engine, through the
//! handler as S3 and SQS invoke it, on the in-memory S3 (`fake::FakeS3`): its clock is set, so
//! Last-Modified is whole seconds and `eventTime` milliseconds, as on S3, a multipart object is
//! stamped with its upload's initiation, and write conditions hold. What each must end with is
//! docs/semantics.md's: "The order of writes", "Two-way replication", "Delete markers".

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use serde_json::{json, Value};

use s3_replicator::fake::{FakeS3, Notice, UserWrite};
use s3_replicator::store::{
    DestinationStore, VersionRef, WriteCondition, REPLICA_MARKER, REPLICA_SOURCE_BUCKET,
};
use s3_replicator::{handle, respond, Config, Replicator};

use crate::meddled::{engine, Meddled};

/// 2026-11-22T10:00:00Z: every history starts here, 100 ms into the second.
const T0: i64 = 1_795_860_000_000;

pub(crate) const A: &str = "bucket-a";
pub(crate) const B: &str = "bucket-b";
const C: &str = "bucket-c";
pub(crate) const SRC: &str = "bucket-src";
pub(crate) const DST: &str = "bucket-dst";

fn rule(id: &str, priority: u32, to: &str) -> String {
    format!(
        r#"{{"ID":"{id}","Priority":{priority},"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{to}","Region":"us-east-1"}}}}"#
    )
}

fn config(rules: &[String]) -> Config {
    Config::from_json(&format!(r#"{{"Rules":[{}]}}"#, rules.join(","))).unwrap()
}

/// An S3 with these versioned buckets, recording the events it would send, its clock at `T0`
/// plus 100 ms.
pub(crate) fn s3_with(buckets: &[&str]) -> FakeS3 {
    let s3 = FakeS3::new();
    s3.set_clock(T0 + 100);
    s3.record_notices();
    for b in buckets {
        s3.create_bucket(b, "us-east-1");
    }
    s3
}

/// A ↔ B, one function hearing both buckets (README's two-way configuration).
pub(crate) fn two_way() -> (FakeS3, Replicator<FakeS3, FakeS3>) {
    let s3 = s3_with(&[A, B]);
    let cfg = config(&[rule("a-to-b", 1, B), rule("b-to-a", 2, A)]);
    let r = engine(cfg, s3.clone(), s3.clone(), "us-east-1");
    (s3, r)
}

pub(crate) fn one_way() -> Config {
    config(&[rule("all", 1, DST)])
}

const TEMPLATE: &str = include_str!("../../events/object-created-put.json");

/// The S3 notification record S3 sends for a notice: `eventTime` in milliseconds, the key's
/// sequencer.
fn record(n: &Notice) -> Value {
    let template: Value = serde_json::from_str(TEMPLATE).unwrap();
    let mut r = template["Records"][0].clone();
    r["eventName"] = n.event_name.into();
    r["eventTime"] = aws_smithy_types::DateTime::from_millis(n.time_ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
        .into();
    r["s3"]["bucket"]["name"] = n.bucket.as_str().into();
    r["s3"]["bucket"]["arn"] = format!("arn:aws:s3:::{}", n.bucket).into();
    let key: String = form_urlencoded::byte_serialize(n.key.as_bytes()).collect();
    let mut object = json!({"key": key, "sequencer": n.sequencer});
    if n.event_name.starts_with("ObjectCreated:") {
        object["size"] = n.size.into();
        if let Some(etag) = &n.etag {
            object["eTag"] = etag.as_str().into();
        }
    }
    if let Some(v) = &n.version_id {
        object["versionId"] = v.as_str().into();
    }
    r["s3"]["object"] = object;
    r
}

/// The S3 notification payload carrying `events`.
pub(crate) fn payload(events: &[Notice]) -> Value {
    json!({ "Records": events.iter().map(record).collect::<Vec<_>>() })
}

/// One invocation by S3 notifications carrying `events`; it must not fail.
pub(crate) async fn deliver<D: DestinationStore>(r: &Replicator<FakeS3, D>, events: &[Notice]) {
    if let Err(e) = handle(r, payload(events)).await {
        panic!("the invocation failed: {e}\n{events:#?}");
    }
}

/// One invocation by an SQS batch of one message per event; no message may come back.
async fn deliver_sqs<D: DestinationStore>(r: &Replicator<FakeS3, D>, events: &[Notice]) {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({
                "messageId": format!("m{i}"),
                "receiptHandle": "AQEB",
                "body": json!({"Records": [record(n)]}).to_string(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3-replicator-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let answer = respond(r, json!({ "Records": records }), None)
        .await
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"],
        json!([]),
        "messages back to the queue"
    );
}

/// Delivers every event S3 sends from now on for the `sources` (the replicas' own events
/// included), one invocation each in the order sent, until none comes.
pub(crate) async fn settle<D: DestinationStore>(
    s3: &FakeS3,
    r: &Replicator<FakeS3, D>,
    sources: &[&str],
) {
    for _ in 0..20 {
        let events: Vec<Notice> = s3
            .take_notices()
            .into_iter()
            .filter(|n| sources.contains(&n.bucket.as_str()))
            .collect();
        if events.is_empty() {
            return;
        }
        for e in &events {
            deliver(r, std::slice::from_ref(e)).await;
        }
    }
    panic!("the events never stop: a replication loop");
}

/// The current object's bytes, as text (`None`: no object is current).
pub(crate) fn current(s3: &FakeS3, bucket: &str, key: &str) -> Option<String> {
    s3.current_object(bucket, key)
        .map(|(body, _)| String::from_utf8_lossy(&body).into_owned())
}

/// A key's stack, oldest first, one short line per entry, for failure messages.
pub(crate) fn stack(s3: &FakeS3, bucket: &str, key: &str) -> Vec<String> {
    s3.stack(bucket, key)
        .into_iter()
        .map(|e| match e.delete_marker {
            true => format!("{} delete marker at {}", e.version_id, e.last_modified),
            false => format!(
                "{} {:?} at {}, replica of {:?}",
                e.version_id,
                String::from_utf8_lossy(&e.body),
                e.last_modified,
                e.metadata.get(REPLICA_MARKER)
            ),
        })
        .collect()
}

/// The one notice of `bucket` among `notices`.
pub(crate) fn of(notices: &[Notice], bucket: &str) -> Notice {
    let mine: Vec<&Notice> = notices.iter().filter(|n| n.bucket == bucket).collect();
    assert_eq!(mine.len(), 1, "{notices:#?}");
    mine[0].clone()
}

/// Symptom 1. The same key written on both sides 300 ms apart, in one second: each side used to
/// judge its own write by `eventTime` (ms) and the other's by Last-Modified (s), so both copies
/// went through and the sides swapped objects. In the one order of writes the same second is
/// decided by bucket name, the same on both sides: B's write, whichever event comes first.
#[tokio::test]
async fn two_way_writes_in_one_second_end_as_one_object_on_both_sides() {
    for a_first in [true, false] {
        let (s3, r) = two_way();
        s3.put(A, "k", b"written in a");
        s3.advance_clock(300);
        s3.put(B, "k", b"written in b");
        let sent = s3.take_notices();
        let (ea, eb) = (of(&sent, A), of(&sent, B));
        let order = match a_first {
            true => [ea, eb],
            false => [eb, ea],
        };
        for e in &order {
            deliver(&r, std::slice::from_ref(e)).await;
        }
        settle(&s3, &r, &[A, B]).await;
        // At least once: both again, and whatever they cause.
        for e in &order {
            deliver(&r, std::slice::from_ref(e)).await;
        }
        settle(&s3, &r, &[A, B]).await;
        let (in_a, in_b) = (current(&s3, A, "k"), current(&s3, B, "k"));
        assert_eq!(in_a, in_b, "the sides differ; a's event first: {a_first}");
        assert_eq!(
            in_b.as_deref(),
            Some("written in b"),
            "one second, so the bucket name decides; a's event first: {a_first}"
        );
    }
}

/// Symptom 2. A multipart upload in A is initiated before B's write and completed after it: one
/// side used to time it by its completion (the event) and the other by its initiation
/// (Last-Modified, what S3 stamps it with), so both copies went through. In the one order it is
/// the earlier write on both sides: B's stands everywhere, whichever event comes first.
#[tokio::test]
async fn two_way_multipart_write_across_the_other_sides_write_ends_as_one_object() {
    let parts = vec![
        b"a's multipart write, part 1; ".to_vec(),
        b"part 2".to_vec(),
    ];
    for a_first in [true, false] {
        let (s3, r) = two_way();
        let upload = s3.begin_upload(A, "k", &UserWrite::default());
        s3.advance_clock(1100);
        s3.put(B, "k", b"written in b while a's upload was open");
        s3.advance_clock(1100);
        s3.complete_upload(A, &upload, &parts, None).unwrap();
        let sent = s3.take_notices();
        let (ea, eb) = (of(&sent, A), of(&sent, B));
        let order = match a_first {
            true => [ea, eb],
            false => [eb, ea],
        };
        for e in &order {
            deliver(&r, std::slice::from_ref(e)).await;
        }
        settle(&s3, &r, &[A, B]).await;
        for e in &order {
            deliver(&r, std::slice::from_ref(e)).await;
        }
        settle(&s3, &r, &[A, B]).await;
        let (in_a, in_b) = (current(&s3, A, "k"), current(&s3, B, "k"));
        assert_eq!(in_a, in_b, "the sides differ; a's event first: {a_first}");
        assert_eq!(
            in_b.as_deref(),
            Some("written in b while a's upload was open"),
            "a's upload began first, so it is the earlier write; a's event first: {a_first}"
        );
    }
}

/// Symptom 3. Fan-in, A → C ← B: B's write, a second after A's, is current in C. A's record
/// delivered twice in one SQS batch used to make the key's convergence copy A's (older) version
/// over B's replica, and B's own redelivery then refused to repair it (its replica was in C's
/// history). B's write must stay current through both.
#[tokio::test]
async fn fan_in_duplicate_in_a_batch_leaves_the_later_sources_write_current() {
    let s3 = s3_with(&[A, B, C]);
    let r = engine(
        config(&[rule("to-c", 1, C)]),
        s3.clone(),
        s3.clone(),
        "us-east-1",
    );
    s3.put(A, "k", b"from a");
    s3.advance_clock(1000);
    s3.put(B, "k", b"from b, a second later");
    let sent = s3.take_notices();
    let (ea, eb) = (of(&sent, A), of(&sent, B));
    deliver(&r, std::slice::from_ref(&ea)).await;
    deliver(&r, std::slice::from_ref(&eb)).await;
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, C, "k").as_deref(),
        Some("from b, a second later")
    );

    deliver_sqs(&r, &[ea.clone(), ea.clone()]).await;
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, C, "k").as_deref(),
        Some("from b, a second later"),
        "convergence copied the older source's version over the later write"
    );

    deliver(&r, std::slice::from_ref(&eb)).await;
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, C, "k").as_deref(),
        Some("from b, a second later"),
        "the later write's redelivery left it hidden"
    );
}

/// Symptom 4. v1's event comes late, after v2 was written: its record copies v1, then
/// convergence reads the destination (v1's replica) and copies v2. Between that read and that
/// copy someone writes the key in the destination itself, a second after v2: a later original
/// write. Convergence's copy used to carry no write condition and hid it; on the condition of
/// what it read, it is refused, and the destination's own write stands.
#[tokio::test]
async fn convergence_copy_does_not_hide_a_destination_write_made_after_its_read() {
    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"v1");
    s3.advance_clock(1000);
    let v2 = s3.put(SRC, "k", b"v2").version_id;
    let sent = s3.take_notices();
    let meddled = Meddled::new(
        &s3,
        move |copy| copy.source.version_id == v2,
        |s3| {
            s3.advance_clock(1000);
            s3.put(DST, "k", b"written in the destination");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent[..1]).await;
    assert!(r.destination().fired(), "v2 was never copied");
    // v1's record copied v1 (nothing later was current there), so v2's copy was convergence's.
    let first = s3.stack(DST, "k").remove(0);
    assert_eq!(
        first.metadata.get(REPLICA_MARKER),
        sent[0].version_id.as_ref()
    );
    // v2's own event, at least once, after it.
    deliver(&r, &sent[1..]).await;
    deliver(&r, &sent[1..]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("written in the destination"),
        "the destination's own later write was hidden: {:#?}",
        stack(&s3, DST, "k")
    );
}

/// Symptom 5. The destination holds v1's replica; v2's copy goes out on `If-Match` with its
/// ETag. Someone writes the destination key just before the copy (S3 refuses it: 412) and
/// deletes that write (its version) just after, so the key is as read again. The 412 used to be
/// taken for "the source changed" (both answer 412) and v2 was never replicated; the source
/// still has v2 with its ETag, so the refusal is the destination's, and v2 must end replicated.
#[tokio::test]
async fn refusal_by_a_destination_write_then_delete_still_replicates_the_sources_version() {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    settle(&s3, &plain, &[SRC]).await;
    assert_eq!(current(&s3, DST, "k").as_deref(), Some("v1"));

    s3.advance_clock(1000);
    let v2 = s3.put(SRC, "k", b"v2").version_id;
    let sent = s3.take_notices();
    let written = std::sync::Arc::new(Mutex::new(None::<String>));
    let (put, purge) = (written.clone(), written);
    let meddled = Meddled::new(
        &s3,
        move |copy| {
            copy.source.version_id == v2
                && matches!(copy.target.condition, Some(WriteCondition::IfMatch(_)))
        },
        move |s3| {
            let w = s3.put(DST, "k", b"written in the destination, then deleted");
            *put.lock().unwrap() = w.version_id;
        },
        move |s3| {
            let id = purge.lock().unwrap().clone().unwrap();
            s3.purge(DST, "k", &id);
        },
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    assert!(r.destination().fired(), "v2 was never copied on If-Match");
    let (body, meta) = s3.current_object(DST, "k").unwrap();
    assert_eq!(
        (String::from_utf8_lossy(&body), meta.get(REPLICA_MARKER)),
        ("v2".into(), sent[0].version_id.as_ref()),
        "v2 is not replicated: {:#?}",
        stack(&s3, DST, "k")
    );
}

/// Symptom 6. Two-way: A's write is replicated to B; in B someone copies that replica to a new
/// key, as `aws s3 cp s3://b/k s3://b/k2` does (user metadata, our entries included, copied
/// along). That is a write of its own in B, and is replicated to A, once.
#[tokio::test]
async fn two_way_copy_of_a_replica_to_a_new_key_is_replicated() {
    let (s3, r) = two_way();
    s3.put(A, "k", b"written in a");
    settle(&s3, &r, &[A, B]).await;
    let replica = s3.stack(B, "k").pop().unwrap();
    assert!(replica.metadata.contains_key(REPLICA_MARKER));

    s3.advance_clock(1000);
    let from = VersionRef {
        bucket: B.into(),
        key: "k".into(),
        version_id: Some(replica.version_id),
    };
    let copied = s3.copy(&from, B, "k2", None).unwrap();
    settle(&s3, &r, &[A, B]).await;
    let (body, meta) = s3
        .current_object(A, "k2")
        .expect("the copy in b was not replicated to a");
    assert_eq!(body, b"written in a");
    assert_eq!(meta.get(REPLICA_MARKER), copied.version_id.as_ref());
    assert_eq!(meta.get(REPLICA_SOURCE_BUCKET).map(String::as_str), Some(B));
    // And not back again: one version on each side.
    assert_eq!(
        (s3.version_count(A, "k2"), s3.version_count(B, "k2")),
        (1, 1)
    );
}

/// The same window for a delete: a write made directly in the destination between
/// convergence's read and its DeleteObject (the source's delete replicated) is never hidden,
/// since the delete is conditional on the object read (S3's conditional delete).
#[tokio::test]
async fn a_replicated_delete_does_not_hide_a_destination_write_made_after_its_read() {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    settle(&s3, &plain, &[SRC]).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    let sent = s3.take_notices();
    let meddled = Meddled::new(&s3, |_| false, |_| {}, |_| {});
    *meddled.on_delete.lock().unwrap() = Some(Box::new(|s3: &FakeS3| {
        s3.advance_clock(1000);
        s3.put(DST, "k", b"written in the destination");
    }));
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("written in the destination"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// Issue 39: a hot key, another writer putting a new source version during every copy:
/// convergence gives up (`NotConverged`, the record fails and is retried), and every replica it
/// wrote on the way is still an outcome of its own, so each is counted.
#[tokio::test]
async fn replicas_convergence_wrote_before_it_gave_up_are_outcomes() {
    use s3_replicator::replicate::Done;
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v0");
    settle(&s3, &plain, &[SRC]).await;
    s3.advance_clock(1000);
    let first = s3.put(SRC, "k", b"v1").version_id.unwrap();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"v2");
    s3.take_notices();
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(3));
    let mut meddled = Meddled::new(
        &s3,
        |_| true,
        |_| {},
        move |s3| {
            let k = n.fetch_add(1, Ordering::SeqCst);
            s3.put(SRC, "k", format!("v{k}").as_bytes());
        },
    );
    meddled.every = true;
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    let outcomes = r
        .replicate(&s3_replicator::events::ObjectEvent {
            kind: s3_replicator::events::EventKind::Created,
            index: 0,
            event_name: "ObjectCreated:Put".into(),
            region: Some("us-east-1".into()),
            bucket: SRC.into(),
            key: "k".into(),
            version_id: Some(first),
            null_version: false,
            etag: None,
            sequencer: None,
            event_time: None,
            size: None,
        })
        .await;
    assert!(outcomes.iter().any(|o| o.result.is_err()), "{outcomes:#?}");
    let copied: usize = outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(Done::Converged { copies, .. }) => copies.len(),
            _ => 0,
        })
        .sum();
    // v1's own copy is its outcome (Replicated); convergence's copies are each counted.
    let replicas = stack(&s3, DST, "k").len() - 1;
    assert_eq!(copied + 1, replicas, "{outcomes:#?}");
}

/// Two deliveries of one late event at once, the destination key deleted: both read the delete
/// marker and copy on `If-None-Match: *`, which S3 lets through over any delete marker, so the
/// second lands even after the first's copy and its convergence's marker above it: two
/// replicas of one version. The second sees the first's replica in the history and withdraws.
#[tokio::test]
async fn a_racer_over_a_delete_marker_leaves_one_replica_of_the_version() {
    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"the version");
    let sent = s3.take_notices();
    // The racer's replica, as the engine writes it: made once here, then taken away again.
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    deliver(&plain, &sent).await;
    let racer = s3.stack(DST, "k").pop().expect("a replica");
    s3.purge(DST, "k", &racer.version_id);
    // The source's key is deleted; the destination's too, by its user, in the same second
    // (earlier than the source's version in the one order: the copy goes over it).
    s3.delete(SRC, "k");
    s3.delete(DST, "k");
    s3.take_notices();
    let meddled = Meddled::new(
        &s3,
        |_| true,
        move |s3| {
            let write = UserWrite {
                metadata: racer.metadata.clone(),
                ..UserWrite::default()
            };
            s3.write(DST, "k", &racer.body, &write).unwrap();
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    assert!(r.destination().fired(), "nothing was copied");
    let replicas = s3
        .stack(DST, "k")
        .iter()
        .filter(|e| !e.delete_marker)
        .count();
    assert_eq!(replicas, 1, "{:#?}", stack(&s3, DST, "k"));
}

/// A delete replicated while the source writes the key again: convergence read the source's
/// delete marker, the source wrote a new version, then the marker was put, a second later
/// than that version. Such a marker is withdrawn (the source is read again after the put), so
/// the version is replicated, and no marker put in a later second needs to be taken for the
/// source's own delete.
#[tokio::test]
async fn a_delete_marker_put_after_the_source_wrote_again_is_withdrawn() {
    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"v1");
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    settle(&s3, &plain, &[SRC]).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    let sent = s3.take_notices();
    let meddled = Meddled::new(&s3, |_| false, |_| {}, |_| {});
    *meddled.on_delete.lock().unwrap() = Some(Box::new(|s3: &FakeS3| {
        s3.advance_clock(1000);
        s3.put(SRC, "k", b"v2, written while the delete was replicated");
        s3.advance_clock(1000);
    }));
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("v2, written while the delete was replicated"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// A key deleted and written again in the source, then deleted at the destination by its own
/// user, seconds later: that delete is a later write and stands. The engine took any
/// destination marker above the version for the source's earlier delete replicated, so a
/// redelivery brought the version back over the user's delete (and, in fan-in, over another
/// source's later delete).
#[tokio::test]
async fn a_destination_delete_after_a_rewritten_key_stands_against_its_redelivery() {
    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"v1");
    let r = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    settle(&s3, &r, &[SRC]).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"v2");
    let sent = s3.take_notices();
    for e in &sent {
        deliver(&r, std::slice::from_ref(e)).await;
    }
    assert_eq!(current(&s3, DST, "k").as_deref(), Some("v2"));
    s3.advance_clock(3000);
    s3.delete(DST, "k");
    s3.take_notices();
    // Every event again.
    deliver(&r, &sent).await;
    assert_eq!(
        current(&s3, DST, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, DST, "k")
    );
}

/// Fan-in, a multipart upload in A initiated before B's write and completed after A's own next
/// write: A's current version (the upload, timed by its initiation) is earlier than B's write,
/// A's overwritten version later. A late event of that overwritten version landed over B's
/// write, convergence put A's current version over it (A's own stack decides between A's
/// versions), and B's convergence put B's write back: each redelivery went round again, the
/// destination ending on whichever came last.
#[tokio::test]
async fn fan_in_late_version_of_a_source_whose_current_is_earlier_leaves_the_later_write() {
    let s3 = s3_with(&[A, B, C]);
    let r = engine(
        config(&[rule("to-c", 1, C)]),
        s3.clone(),
        s3.clone(),
        "us-east-1",
    );
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(2000);
    s3.put(B, "k", b"from b");
    s3.advance_clock(2000);
    s3.put(A, "k", b"from a, overwritten by its upload");
    s3.advance_clock(2000);
    let parts = vec![b"a's upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    let sent = s3.take_notices();
    for round in 0..3 {
        for e in &sent {
            deliver(&r, std::slice::from_ref(e)).await;
        }
        settle(&s3, &r, &[A, B]).await;
        assert_eq!(
            current(&s3, C, "k").as_deref(),
            Some("from b"),
            "round {round}: {:#?}",
            stack(&s3, C, "k")
        );
    }
}

/// A multipart upload initiated before a source delete completes after it, and meanwhile the
/// destination's user deleted the key there. Where the rule does not replicate delete markers,
/// no marker at the destination can be the source's delete replicated: the user's delete is a
/// later write and stands (the engine took it for the source's own delete and copied the
/// upload over it).
#[tokio::test]
async fn without_delete_marker_replication_a_destination_delete_is_never_the_sources() {
    let s3 = s3_with(&[SRC, DST]);
    let cfg = Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    let r = engine(cfg, s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    settle(&s3, &r, &[SRC]).await;
    let upload = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(2000);
    s3.delete(SRC, "k");
    s3.advance_clock(2000);
    s3.delete(DST, "k");
    s3.advance_clock(2000);
    let parts = vec![
        b"the upload, ".to_vec(),
        b"initiated before both deletes".to_vec(),
    ];
    s3.complete_upload(SRC, &upload, &parts, None).unwrap();
    let sent = s3.take_notices();
    for _ in 0..2 {
        deliver(&r, &sent).await;
        settle(&s3, &r, &[SRC]).await;
    }
    assert_eq!(
        current(&s3, DST, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, DST, "k")
    );
}

/// A multipart upload initiated before the source's delete completes after it: its replica
/// lands over that delete's replicated marker, and then a user deletes the key at the
/// destination, later in the one order than the upload (timed by its initiation). The upload
/// lies above the source's delete, so by time alone the user's marker might be that delete
/// replicated (which the upload supersedes); but it lies above the upload's replica, and a
/// replicated delete never does (it is withdrawn where the source wrote before it was proven).
/// The user's delete stands: redelivered events used to copy the upload over it again.
#[tokio::test]
async fn a_destination_delete_above_a_replica_of_a_version_after_the_sources_delete_stands() {
    let s3 = s3_with(&[A, B]);
    let r = engine(
        config(&[rule("to-b", 1, B)]),
        s3.clone(),
        s3.clone(),
        "us-east-1",
    );
    s3.put(A, "k", b"v1");
    settle(&s3, &r, &[A]).await;
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(2000);
    s3.delete(A, "k");
    settle(&s3, &r, &[A]).await;
    s3.advance_clock(2000);
    let parts = vec![b"the upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    let completed: Vec<Notice> = s3.take_notices();
    deliver(&r, &completed).await;
    assert_eq!(
        current(&s3, B, "k").as_deref(),
        Some("the upload, initiated first")
    );
    s3.advance_clock(2000);
    s3.delete(B, "k");
    for _ in 0..2 {
        deliver(&r, &completed).await;
        settle(&s3, &r, &[A]).await;
    }
    assert_eq!(
        current(&s3, B, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, B, "k")
    );
}

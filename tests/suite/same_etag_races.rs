//! S3's write conditions compare ETags only: an event's copy on `If-Match` also lands on another
//! write of the same bytes made at the destination between the event's read and its copy (a
//! user's, or a concurrent delivery's replica of a later version with those bytes), and would
//! hide it. An event's copy over an entry is proven to lie directly on the entry it read, as a
//! tool's is; where it does not, it is withdrawn and the key decided anew (issue 34's
//! `replicated-twice`, seeds 711 and 32069, and the later writes they could hide).

use s3_replicator::fake::UserWrite;
use s3_replicator::store::{CopyRequest, WriteCondition, REPLICA_MARKER};

use crate::convergence_symptoms::{current, deliver, one_way, s3_with, stack, DST, SRC};
use crate::meddled::{engine, Meddled};

/// The events S3 sent since the last call, the source's only.
fn from_source(s3: &s3_replicator::fake::FakeS3) -> Vec<s3_replicator::fake::Notice> {
    s3.take_notices()
        .into_iter()
        .filter(|n| n.bucket == SRC)
        .collect()
}

fn on_if_match(request: &CopyRequest) -> bool {
    matches!(request.target.condition, Some(WriteCondition::IfMatch(_)))
}

/// The destination's user writes the bytes the replica already holds, a second later, with
/// metadata of their own: a later write of the destination.
fn users_same_bytes(s3: &s3_replicator::fake::FakeS3) {
    s3.advance_clock(1000);
    let write = UserWrite {
        metadata: [("note".to_owned(), "the user's".to_owned())].into(),
        ..UserWrite::default()
    };
    s3.write(DST, "k", b"one", &write).unwrap();
}

fn users_write_is_current(s3: &s3_replicator::fake::FakeS3) -> bool {
    s3.stack(DST, "k")
        .last()
        .is_some_and(|e| e.metadata.get("note").map(String::as_str) == Some("the user's"))
}

/// `one` replicated, then the source's `later` writes a second apart, their events not yet
/// delivered; then `deliver_first` of them delivered while the destination's user writes `one`
/// again between the event's read and its copy (on `If-Match`). The user's write must end
/// current, then and after every event is delivered again.
async fn users_write_survives(later: &[&[u8]], deliver_first: usize) {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"one");
    deliver(&plain, &from_source(&s3)).await;
    for body in later {
        s3.advance_clock(1000);
        s3.put(SRC, "k", body);
    }
    let sent = from_source(&s3);
    let meddled = Meddled::new(&s3, on_if_match, users_same_bytes, |_| {});
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent[..deliver_first]).await;
    assert!(r.destination().fired(), "the copy never went out");
    assert!(
        users_write_is_current(&s3),
        "the user's later write is hidden: {:#?}",
        stack(&s3, DST, "k")
    );
    deliver(&plain, &sent).await;
    assert!(users_write_is_current(&s3), "{:#?}", stack(&s3, DST, "k"));
}

/// In order: the source's new version overwrites its replica. Between the event's read of the
/// replica and its copy, the destination's user writes the replica's bytes again (a later
/// write): the copy's `If-Match` passes on the ETag, and the replica used to land on top.
#[tokio::test]
async fn an_in_order_copy_never_hides_a_same_bytes_write_made_after_its_read() {
    users_write_survives(&[b"two"], 1).await;
}

/// A late event (the source moved on to a third version of the first one's bytes) copies its
/// version over the first's replica; between its read and its copy the destination's user
/// writes those bytes again, later than every source write. The late copy used to land on it,
/// and convergence then put the source's current version over both.
#[tokio::test]
async fn a_late_copy_never_hides_a_same_bytes_write_made_after_its_read() {
    // The second version's event alone: late, its version no longer current.
    users_write_survives(&[b"two", b"one"], 1).await;
}

/// The destination's user starts an upload, the source writes two versions (both replicated),
/// and the upload completes over the second's replica: S3 dates it by its initiation, earlier
/// than both, so the one order wants the source's current version back on top (a second
/// replica of it, the re-assertion). A late redelivery of the first version used to copy that
/// version over the upload too before convergence put the current one back: a second replica
/// of a version nothing asked for. The late version is left to convergence.
#[tokio::test]
async fn a_late_version_is_not_copied_again_over_an_earlier_write_the_current_one_beats() {
    late_version_left_to_convergence(one_way(), UserWrite::default()).await;
}

/// As above under a tag filter both source versions meet: whether a rule copies the source's
/// current version is read from its tags, and it does, so the late version is left out too.
#[tokio::test]
async fn under_a_tag_filter_a_late_version_is_left_to_convergence_where_the_current_is_selected() {
    let config = s3_replicator::Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"keep","Priority":1,"Status":"Enabled",
        "Filter":{{"Tag":{{"Key":"class","Value":"keep"}}}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    let tagged = UserWrite {
        tags: vec![("class".to_owned(), "keep".to_owned())],
        ..UserWrite::default()
    };
    late_version_left_to_convergence(config, tagged).await;
}

/// The source writes three versions (`how` they are written: their tags), the destination's
/// user an upload initiated before the last two and completed over the third's replica; the
/// second's event, redelivered late, must leave one replica of it and the third current.
async fn late_version_left_to_convergence(config: s3_replicator::Config, how: UserWrite) {
    let s3 = s3_with(&[SRC, DST]);
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    s3.write(SRC, "k", b"zero", &how).unwrap();
    deliver(&r, &from_source(&s3)).await;
    s3.advance_clock(1000);
    let upload = s3.begin_upload(DST, "k", &UserWrite::default());
    s3.advance_clock(1000);
    s3.write(SRC, "k", b"first", &how).unwrap();
    let first = from_source(&s3);
    deliver(&r, &first).await;
    s3.advance_clock(1000);
    s3.write(SRC, "k", b"second", &how).unwrap();
    deliver(&r, &from_source(&s3)).await;
    s3.advance_clock(1000);
    let parts = vec![b"the user's upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(DST, &upload, &parts, None).unwrap();

    deliver(&r, &first).await;
    assert_eq!(current(&s3, DST, "k").as_deref(), Some("second"));
    let replicas_of = |body: &[u8]| {
        s3.stack(DST, "k")
            .iter()
            .filter(|e| e.metadata.contains_key(REPLICA_MARKER) && e.body == body)
            .count()
    };
    assert_eq!(
        replicas_of(b"first"),
        1,
        "the late version copied again: {:#?}",
        stack(&s3, DST, "k")
    );
    assert_eq!(replicas_of(b"second"), 2, "{:#?}", stack(&s3, DST, "k"));
}

/// Fan-in (two sources, one destination, one function): a copy to a key the destination holds
/// nothing for lands, on `If-None-Match: *`, on a delete marker put there since its read (S3
/// counts a marker as no object): the other source's delete replicated by a concurrent
/// delivery, or a user's. Where the deployment writes the destination from several sources,
/// that copy is proven too, and the later delete stands; the copy used to bury it.
#[tokio::test]
async fn fan_in_a_copy_to_a_new_key_never_buries_a_later_delete_put_since_its_read() {
    use crate::convergence_symptoms::{A, B};
    let s3 = s3_with(&[A, B, DST]);
    let mut config = s3_replicator::Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    config.source_buckets = vec![A.to_owned(), B.to_owned()];
    s3.put(A, "k", b"from a");
    let sent: Vec<_> = s3.take_notices();
    let on_none_match = |r: &CopyRequest| r.target.condition == Some(WriteCondition::IfNoneMatch);
    let meddled = Meddled::new(
        &s3,
        on_none_match,
        |s3| {
            s3.advance_clock(1000);
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(config, s3.clone(), meddled, "us-east-1");
    deliver(&r, &sent).await;
    assert!(r.destination().fired(), "the copy never went out");
    assert!(
        s3.current_object(DST, "k").is_none(),
        "the later delete is buried: {:#?}",
        stack(&s3, DST, "k")
    );
}

/// A late version is left to convergence only where convergence brings the source's current
/// version: under a tag filter, the source's current version (untagged) is replicated by no
/// rule, so the late tagged one must land over the destination's earlier write, as it would
/// have in order (it was skipped, and the earlier write stayed for good).
#[tokio::test]
async fn a_late_version_lands_where_no_rule_copies_the_current_one() {
    let s3 = s3_with(&[SRC, DST]);
    let config = s3_replicator::Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"keep","Priority":1,"Status":"Enabled",
        "Filter":{{"Tag":{{"Key":"class","Value":"keep"}}}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    s3.write(DST, "k", b"the user's", &UserWrite::default())
        .unwrap();
    s3.advance_clock(1000);
    let tagged = UserWrite {
        tags: vec![("class".to_owned(), "keep".to_owned())],
        ..UserWrite::default()
    };
    s3.write(SRC, "k", b"tagged", &tagged).unwrap();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"untagged");
    let sent = from_source(&s3);
    deliver(&r, &sent[..1]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("tagged"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// A late version over the destination's own write, its source since deleted (a marker no rule
/// replicates: the destination follows the source's newest object version, an upload initiated
/// before that write and completed above the late version). A rule for another prefix filters
/// on tags, and the marker was taken for "not read for its tags": the late version landed over
/// the destination's write (later than the upload), and convergence put the upload over it, a
/// second replica of it and the destination's write buried (simulation seed 332642). The
/// newest object version is what the source moved on to, and the destination's write stands.
#[tokio::test]
async fn a_late_version_leaves_a_write_later_than_the_object_a_marker_leaves_followed() {
    let s3 = s3_with(&[SRC, DST]);
    let config = s3_replicator::Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"tagged","Priority":2,"Status":"Enabled",
        "Filter":{{"And":{{"Prefix":"p/","Tags":[{{"Key":"class","Value":"keep"}}]}}}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}},
        {{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    let upload = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(1000);
    s3.put(DST, "k", b"the destination's own");
    s3.take_notices();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"late");
    let late = from_source(&s3);
    s3.advance_clock(1000);
    let parts = vec![b"the upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(SRC, &upload, &parts, None).unwrap();
    deliver(&r, &from_source(&s3)).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    deliver(&r, &from_source(&s3)).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the destination's own")
    );
    deliver(&r, &late).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the destination's own"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// Delete markers not replicated: the source's versions `old` and `new` around the
/// destination's own write, then the source's delete. `old`'s late event is left to
/// convergence (the source moved on to its newest object version `new`, later than that
/// write), and the convergence that follows the record must bring `new` (review finding 6 of
/// the sixth session: it left the destination's write, until `new`'s own event came).
#[tokio::test]
async fn the_convergence_after_a_late_version_brings_the_newest_object_a_marker_leaves() {
    let s3 = s3_with(&[SRC, DST]);
    let config = s3_replicator::Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"old");
    let old = from_source(&s3);
    s3.advance_clock(1000);
    s3.put(DST, "k", b"the destination's own");
    s3.take_notices();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"new");
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    s3.take_notices();
    deliver(&r, &old).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("new"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

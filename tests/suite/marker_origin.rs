//! Whether a delete marker at the destination may be the source's own delete replicated (which
//! a version the source wrote after that delete supersedes) or is another writer's (which
//! stands where the one order of writes makes it later): what the engine reads to tell, from
//! the source's stack and the destination's (docs/semantics.md, "Delete markers"). Each test
//! runs the real engine through the handler on the in-memory S3, its clock set.

use s3_replicator::fake::{FakeS3, UserWrite};
use s3_replicator::Config;

use crate::convergence_symptoms::{current, deliver, s3_with, settle, stack, A, B};
use crate::meddled::engine;

/// The source and the destination: the destination's name sorts after the source's, so of two
/// writes in one second the destination's is the later in the one order.
const SRC: &str = A;
const DST: &str = B;

/// SRC → DST, delete markers replicated.
fn one_way() -> Config {
    Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"all","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{DST}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap()
}

/// The versions at the destination that are replicas (not delete markers).
fn replicas(s3: &FakeS3) -> usize {
    s3.stack(DST, "k")
        .iter()
        .filter(|e| !e.delete_marker)
        .count()
}

/// A late event of a multipart version above the source's delete, with a later version above
/// it whose replica lies at the destination under a user's delete. The marker lies above a
/// replica of a version the source wrote after its delete, so it is no delete of the source's
/// replicated: the user's, later in the one order, it stands. Only the versions from the late
/// one down to the delete were looked for below it, so the late version was copied over the
/// user's delete (and the current one again above it).
#[tokio::test]
async fn a_late_version_leaves_a_delete_above_a_later_versions_replica() {
    let s3 = s3_with(&[SRC, DST]);
    let r = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    settle(&s3, &r, &[SRC]).await;
    let upload = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(2000);
    s3.delete(SRC, "k");
    settle(&s3, &r, &[SRC]).await;
    s3.advance_clock(2000);
    let parts = vec![b"the upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(SRC, &upload, &parts, None).unwrap();
    // Its event comes late.
    let late = s3.take_notices();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"v3, the current version");
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("v3, the current version")
    );
    s3.advance_clock(2000);
    s3.delete(DST, "k");
    let before = replicas(&s3);
    deliver(&r, &late).await;
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, DST, "k")
    );
    assert_eq!(replicas(&s3), before, "{:#?}", stack(&s3, DST, "k"));
}

/// A redelivered event's copy, sent ahead of the destination's read, lands on a user's delete
/// made in the second of the source's version, later in the one order (the destination's name
/// sorts after the source's). That delete lies above the version's replica, so it is no delete
/// of the source's replicated, and the copy withdraws itself. The stack was read from its top,
/// where the copy just written lies, not below the marker: the copy stayed over the delete, a
/// second replica of the version.
#[tokio::test]
async fn a_copy_sent_ahead_onto_a_later_delete_above_its_replica_withdraws_itself() {
    let s3 = s3_with(&[SRC, DST]);
    let r = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    settle(&s3, &r, &[SRC]).await;
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    settle(&s3, &r, &[SRC]).await;
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"v2, above the source's delete");
    let sent = s3.take_notices();
    deliver(&r, &sent).await;
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("v2, above the source's delete")
    );
    s3.advance_clock(100);
    s3.delete(DST, "k");
    let before = replicas(&s3);
    // The destination's read comes back after the copy sent ahead of it has landed.
    s3.slow_current_reads(DST, std::time::Duration::from_millis(50));
    deliver(&r, &sent).await;
    assert_eq!(
        current(&s3, DST, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, DST, "k")
    );
    assert_eq!(replicas(&s3), before, "{:#?}", stack(&s3, DST, "k"));
}

const C: &str = "bucket-c";

/// X → Y, delete markers replicated.
fn to(destination: &str) -> Config {
    Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"to","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{destination}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap()
}

/// A chain A → B → C: the middle bucket's own version replicated to C, then its user's delete,
/// and above that delete A's multipart upload, initiated before it (earlier in the one order),
/// taken at B for A's own delete replicated (A deleted the key before the upload completed).
/// B never sends on a replica: C follows B's own latest write below it, its delete, which is
/// later than the upload. The delete's event found B's current object a replica and did
/// nothing; C kept the version. Returns the S3, the B → C engine and the delete's events.
async fn chain_with_a_delete_under_a_replica() -> (
    FakeS3,
    s3_replicator::Replicator<FakeS3, FakeS3>,
    Vec<s3_replicator::fake::Notice>,
) {
    let s3 = s3_with(&[A, B, C]);
    let ab = engine(to(B), s3.clone(), s3.clone(), "us-east-1");
    let bc = engine(to(C), s3.clone(), s3.clone(), "us-east-1");
    s3.put(B, "k", b"B's own version");
    settle(&s3, &bc, &[B]).await;
    assert_eq!(current(&s3, C, "k").as_deref(), Some("B's own version"));
    // A second later than B's version: a marker lying directly on a later write than the
    // upload would keep it out whoever's delete it is.
    s3.advance_clock(1000);
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(1000);
    s3.delete(A, "k");
    s3.advance_clock(1000);
    s3.delete(B, "k");
    let deleted = s3.take_notices();
    s3.advance_clock(1000);
    let parts = vec![b"A's upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    let completed: Vec<_> = s3
        .take_notices()
        .into_iter()
        .filter(|n| n.bucket == A)
        .collect();
    deliver(&ab, &completed).await;
    assert_eq!(
        current(&s3, B, "k").as_deref(),
        Some("A's upload, initiated first"),
        "{:#?}",
        stack(&s3, B, "k")
    );
    s3.take_notices();
    let deleted = deleted.into_iter().filter(|n| n.bucket == B).collect();
    (s3, bc, deleted)
}

#[tokio::test]
async fn a_chains_middle_sends_on_its_own_delete_below_a_replica() {
    let (s3, bc, deleted) = chain_with_a_delete_under_a_replica().await;
    deliver(&bc, &deleted).await;
    assert_eq!(
        current(&s3, C, "k"),
        None,
        "the middle's delete was not replicated: {:#?}",
        stack(&s3, C, "k")
    );
}

/// The same state, the delete's event never delivered: `verify` of the middle bucket and a
/// Batch verify task see the version the last bucket should no longer hold (they said
/// `skipped`, the middle's current object being a replica), and `repair` hides it.
#[tokio::test]
async fn verify_sees_a_chains_middle_delete_below_a_replica_and_repair_replicates_it() {
    use s3_replicator::tools::compare::{self, Status};
    let (s3, bc, _) = chain_with_a_delete_under_a_replica().await;
    let options = compare::Options {
        bucket: B.into(),
        prefix: String::new(),
        deep: false,
        explain_missing: true,
    };
    let findings = compare::verify(&bc, &options).await.unwrap();
    let status: Vec<_> = findings.iter().map(|f| f.status).collect();
    assert_eq!(status, [Status::Differs], "{findings:?}");
    let head = match s3_replicator::store::SourceStore::current(&s3, "us-east-1", B, "k")
        .await
        .unwrap()
    {
        s3_replicator::store::Current::Object(head) => head,
        other => panic!("{other:?}"),
    };
    let batch = compare::verify_object(&bc, "us-east-1", B, &head, "k").await;
    let batch: Vec<_> = batch.into_iter().map(|(_, r)| r.unwrap().0).collect();
    assert_eq!(batch, [Status::Differs]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (_, failures) = s3_replicator::tools::repair::repair(
        &bc,
        B,
        &findings,
        Vec::new(),
        2,
        &s3_replicator::tools::progress::Quiet,
        &stop,
    )
    .await
    .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(current(&s3, C, "k"), None, "{:#?}", stack(&s3, C, "k"));
    let findings = compare::verify(&bc, &options).await.unwrap();
    assert!(
        findings.iter().all(|f| f.status != Status::Differs),
        "{findings:?}"
    );
}

/// A late event's copy to a key the destination's read found empty, and a user's delete put
/// there between the read and the copy, later in the one order than both source versions.
/// `If-None-Match: *` lets the copy land on that delete marker (S3 counts one as no object);
/// only another delivery's replica used to be looked for under it, so the copy stayed, and the
/// source's current version followed it over the user's delete (simulation seeds 94261, 30169).
/// The proof of what a late copy landed on withdraws it, and the delete stands.
#[tokio::test]
async fn a_late_copy_read_over_nothing_withdraws_itself_from_a_later_delete_put_since() {
    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"v1, its event late");
    let late = s3.take_notices();
    s3.advance_clock(1000);
    s3.put(SRC, "k", b"v2");
    s3.take_notices();
    s3.advance_clock(2000);
    let meddled = crate::meddled::Meddled::new(
        &s3,
        |_| true,
        |s3| {
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &late).await;
    assert!(r.destination().fired(), "nothing was copied");
    assert_eq!(
        current(&s3, DST, "k"),
        None,
        "the destination's delete was undone: {:#?}",
        stack(&s3, DST, "k")
    );
    assert_eq!(replicas(&s3), 0, "{:#?}", stack(&s3, DST, "k"));
}

/// The same state, put right by `backfill` of the middle bucket as `repair` does it: the check
/// finds the last bucket's version differing from the middle's own delete, and the engine,
/// asked for the middle's current object (a replica), converges the key there instead of
/// skipping it.
#[tokio::test]
async fn backfill_replicates_a_chains_middle_delete_below_a_replica() {
    let (s3, bc, _) = chain_with_a_delete_under_a_replica().await;
    let options = s3_replicator::tools::backfill::Options {
        bucket: B.into(),
        prefix: String::new(),
        all_versions: false,
        concurrency: 2,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (tally, failures) = s3_replicator::tools::backfill::backfill(
        &bc,
        &options,
        &s3_replicator::tools::progress::Quiet,
        &stop,
    )
    .await
    .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(tally.replicated, 1);
    assert_eq!(current(&s3, C, "k"), None, "{:#?}", stack(&s3, C, "k"));
}

/// A chain A → B → C. B's own version and, in the same second, its user's delete, replicated
/// to C; below B's version a delete replicated from A, so C's marker may be either delete of
/// B's replicated (the time cannot tell). Then A's later write lands in B, and the late event
/// of B's version comes. B has moved on from it to its delete (what it sends on: the replica
/// above is never sent): the version was copied over C's marker, and convergence, finding B's
/// current object a later replica, kept it there (simulation seeds 193088, 262472). The late
/// version is left to convergence, and the delete stays.
#[tokio::test]
async fn a_late_version_of_a_chains_middle_leaves_its_later_delete() {
    let s3 = s3_with(&[A, B, C]);
    let ab = engine(to(B), s3.clone(), s3.clone(), "us-east-1");
    let bc = engine(to(C), s3.clone(), s3.clone(), "us-east-1");
    s3.put(C, "k", b"C's own, earlier");
    s3.advance_clock(1000);
    s3.put(A, "k", b"A's first");
    settle(&s3, &ab, &[A]).await;
    s3.advance_clock(1000);
    s3.delete(A, "k");
    settle(&s3, &ab, &[A]).await;
    s3.advance_clock(1000);
    s3.put(B, "k", b"B's own version, its event late");
    let late = s3.take_notices();
    s3.delete(B, "k");
    settle(&s3, &bc, &[B]).await;
    assert_eq!(current(&s3, C, "k"), None, "{:#?}", stack(&s3, C, "k"));
    s3.advance_clock(5000);
    s3.put(A, "k", b"A's later write");
    settle(&s3, &ab, &[A]).await;
    assert_eq!(current(&s3, B, "k").as_deref(), Some("A's later write"));
    deliver(&bc, &late).await;
    assert_eq!(
        current(&s3, C, "k"),
        None,
        "B's delete at C was covered by its earlier version: {:#?}",
        stack(&s3, C, "k")
    );
}

/// Two-way, one second: B writes the key, A writes it again after its own delete of a second
/// before, and B's user deletes B's write. At B, A's write meets B's delete, which by time may
/// be A's delete replicated (a version A wrote after it supersedes that); but the marker lies
/// directly on B's own write, later than A's by the order (the bucket name): whoever's delete
/// it is, A's write must not land over it (it did, burying B's later write and delete), and
/// both sides end deleted (simulation seeds 1000993, 984175).
#[tokio::test]
async fn two_way_a_marker_on_a_later_write_keeps_a_version_out_whoever_put_it() {
    let (s3, r) = crate::convergence_symptoms::two_way();
    s3.put(A, "k", b"a's first");
    deliver(&r, &s3.take_notices()).await;
    s3.advance_clock(1000);
    s3.delete(A, "k");
    deliver(&r, &s3.take_notices()).await;
    s3.advance_clock(1000);
    s3.put(B, "k", b"b's write");
    s3.advance_clock(100);
    s3.put(A, "k", b"a's again");
    s3.advance_clock(100);
    s3.delete(B, "k");
    let mut rest = s3.take_notices();
    let again = rest.iter().position(|n| n.bucket == A).unwrap();
    let again = rest.remove(again);
    deliver(&r, std::slice::from_ref(&again)).await;
    assert_eq!(current(&s3, B, "k"), None, "{:#?}", stack(&s3, B, "k"));
    deliver(&r, &rest).await;
    deliver(&r, &[again]).await;
    settle(&s3, &r, &[A, B]).await;
    for side in [A, B] {
        assert_eq!(
            current(&s3, side, "k"),
            None,
            "{side}: {:#?}",
            stack(&s3, side, "k")
        );
    }
}

/// Delete markers replicated: the source writes, deletes, writes again a second later (all
/// replicated), then deletes that last version for good, its event lost. The source's current
/// delete hides its replica of the gone version when the delete's event comes again, and
/// `verify` calls the key stale until then (review of a backed-out change that kept such a
/// replica as "newer at the destination", for good: soak seeds 2254 and others).
#[tokio::test]
async fn a_replica_of_a_version_deleted_for_good_stays_hidden_by_the_sources_delete() {
    let s3 = s3_with(&[SRC, DST]);
    let mut config = one_way();
    config.replicate_version_deletes = true;
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"x");
    s3.advance_clock(1000);
    s3.delete(SRC, "k");
    let deleted = s3.take_notices();
    deliver(&r, &deleted).await;
    s3.advance_clock(1000);
    let again = s3.put(SRC, "k", b"v");
    deliver(&r, &s3.take_notices()).await;
    assert_eq!(current(&s3, DST, "k").as_deref(), Some("v"));
    s3.purge(SRC, "k", again.version_id.as_deref().unwrap());
    s3.take_notices();
    let options = s3_replicator::tools::compare::Options {
        bucket: SRC.into(),
        prefix: String::new(),
        deep: false,
        explain_missing: true,
    };
    let findings = s3_replicator::tools::compare::verify(&r, &options)
        .await
        .unwrap();
    let status: Vec<_> = findings.iter().map(|f| f.status).collect();
    assert_eq!(
        status,
        [s3_replicator::tools::compare::Status::Stale],
        "{findings:?}"
    );
    deliver(&r, &deleted).await;
    assert_eq!(current(&s3, DST, "k"), None, "{:#?}", stack(&s3, DST, "k"));
}

/// Version deletes not replicated: the source's later version is deleted for good, so its
/// replica lies on the replica of the version now current again, for good (nothing withdraws
/// it). The version delete's record converges the key, and a source write made while that copy
/// is on its way takes one more round: the record must succeed with the newest write current
/// (review of a backed-out wait that took such a replica for a concurrent delivery's late copy
/// and spent two rounds re-reading: the record failed `NotConverged`).
#[tokio::test]
async fn convergence_over_a_replica_of_a_version_deleted_for_good_never_idles() {
    let s3 = s3_with(&[SRC, DST]);
    let plain = engine(one_way(), s3.clone(), s3.clone(), "us-east-1");
    s3.put(SRC, "k", b"v1");
    deliver(&plain, &s3.take_notices()).await;
    s3.advance_clock(1000);
    let v2 = s3.put(SRC, "k", b"v2");
    deliver(&plain, &s3.take_notices()).await;
    s3.purge(SRC, "k", v2.version_id.as_deref().unwrap());
    let gone = s3.take_notices();
    let meddled = crate::meddled::Meddled::new(
        &s3,
        |_| true,
        |s3| {
            s3.advance_clock(1000);
            s3.put(SRC, "k", b"v3");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    deliver(&r, &gone).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("v3"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

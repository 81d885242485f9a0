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

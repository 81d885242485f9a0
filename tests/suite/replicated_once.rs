//! One replica a version (issue 34's `replicated-twice`), where two deliveries of one late event
//! race: each reads the destination, and one's copy lands after the other's copy and delete.

use s3_replicator::fake::UserWrite;
use s3_replicator::store::REPLICA_MARKER;

use crate::convergence_symptoms::{deliver, one_way, s3_with, stack, DST, SRC};
use crate::meddled::{engine, Meddled};

/// A version written and deleted at once in the source: its event is late (the source's
/// current state is the delete). Two deliveries of it run at once; both read the destination
/// as holding nothing. One copies the version and its convergence puts the source's delete over
/// it; the other's copy, on `If-None-Match: *`, then lands on that delete marker (S3 counts a
/// marker as no object) and used to stay: a second replica of the version, hidden by a second
/// marker. It is withdrawn, as a copy over a marker read before it is.
#[tokio::test]
async fn a_copy_over_nothing_that_lands_on_a_racers_delete_is_withdrawn() {
    // The racer's replica, as the engine writes it: taken from the same history replayed.
    let twin = s3_with(&[SRC, DST]);
    twin.put(SRC, "k", b"v1");
    let v1 = twin.take_notices();
    deliver(
        &engine(one_way(), twin.clone(), twin.clone(), "us-east-1"),
        &v1,
    )
    .await;
    let racers = twin.stack(DST, "k").remove(0).metadata;

    let s3 = s3_with(&[SRC, DST]);
    s3.put(SRC, "k", b"v1");
    s3.delete(SRC, "k");
    let sent = s3.take_notices();
    let meddled = Meddled::new(
        &s3,
        |_| true,
        move |s3| {
            let write = UserWrite {
                metadata: racers.clone(),
                ..UserWrite::default()
            };
            s3.write(DST, "k", b"v1", &write).unwrap();
            s3.delete(DST, "k");
        },
        |_| {},
    );
    let r = engine(one_way(), s3.clone(), meddled, "us-east-1");
    // The created event alone: the late version's copy reads the destination empty.
    deliver(&r, &sent[..1]).await;
    assert!(r.destination().fired(), "v1 was never copied");
    deliver(&r, &sent).await;
    let replicas = s3
        .stack(DST, "k")
        .iter()
        .filter(|e| e.metadata.contains_key(REPLICA_MARKER))
        .count();
    assert_eq!(replicas, 1, "{:#?}", stack(&s3, DST, "k"));
    assert!(s3.current_object(DST, "k").is_none());
}

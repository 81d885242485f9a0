//! Fan-in (one function, sources A and B, one destination C) where a rule does not replicate
//! delete markers and a source's current version is a delete marker: the destination then
//! follows that source's newest object version (docs/semantics.md, "Delete markers"), and the one
//! order of writes judges that version against the other source's write, as it judges a current
//! one (issue 34's `wrong-replica-current`, seeds 18678 and 38959).

use s3_replicator::fake::UserWrite;
use s3_replicator::Config;

use crate::convergence_symptoms::{current, deliver, s3_with, settle, stack, A, B};
use crate::meddled::engine;

const C: &str = "bucket-c";

/// A → C ← B, delete markers not replicated.
fn fan_in_without_markers() -> Config {
    Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"to-c","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{C}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap()
}

/// A's multipart upload, initiated before B's write, completes over A's own later write; then A
/// deletes the key (not replicated). What C follows from A is the upload, earlier in the order
/// than B's write, so B's write stays. A late event of A's overwritten version (later than B's
/// write) used to land over B's write, since the check that leaves it out read A's current
/// version, a delete marker, as nothing to compare; convergence then put the upload over it
/// (A's own stack decides between A's versions), and B's write was buried at C.
#[tokio::test]
async fn a_late_version_under_an_unreplicated_delete_leaves_the_later_write() {
    let s3 = s3_with(&[A, B, C]);
    let r = engine(
        fan_in_without_markers(),
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
    s3.advance_clock(2000);
    s3.delete(A, "k");
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

//! A replicated version delete that takes a replica from under another (issue 34's
//! `later-destination-write-hidden` and `own-delete-hidden`, seeds 185282 and 218491): a source's
//! multipart upload, initiated before the destination's own write, completes on top of a later
//! source version whose replica covered that write; its replica goes over that one (one source's
//! versions are ordered by its stack). Then that later version is deleted for good, and the
//! delete replicated: the destination's write, later than the upload in the one order of writes,
//! lies under the upload's replica, which was judged against the replica now gone.
//! docs/semantics.md, "Version deletes".

use s3_replicator::fake::FakeS3;
use s3_replicator::fake::UserWrite;
use s3_replicator::{Config, Replicator};

use crate::convergence_symptoms::{current, s3_with, settle, stack, A, B};
use crate::meddled::engine;

const SRC: &str = "bucket-src";
const DST: &str = "bucket-dst";

fn rule(id: &str, priority: u32, to: &str) -> String {
    format!(
        r#"{{"ID":"{id}","Priority":{priority},"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Disabled"}},
        "Destination":{{"Bucket":"{to}","Region":"us-east-1"}}}}"#
    )
}

fn engine_for(rules: &[String], buckets: &[&str]) -> (FakeS3, Replicator<FakeS3, FakeS3>) {
    let mut config = Config::from_json(&format!(r#"{{"Rules":[{}]}}"#, rules.join(","))).unwrap();
    config.replicate_version_deletes = true;
    let s3 = s3_with(buckets);
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    (s3, r)
}

/// One-way: the destination's own write ends current again, not the upload's replica over it.
#[tokio::test]
async fn a_version_delete_leaves_no_earlier_replica_over_the_destinations_later_write() {
    let (s3, r) = engine_for(&[rule("all", 1, DST)], &[SRC, DST]);
    let upload = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(DST, "k", b"the destination's own write");
    s3.take_notices();
    s3.advance_clock(1100);
    let later = s3.put(SRC, "k", b"the source's later write");
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the source's later write")
    );
    s3.advance_clock(1100);
    let parts = vec![
        b"the source's upload, ".to_vec(),
        b"initiated first".to_vec(),
    ];
    s3.complete_upload(SRC, &upload, &parts, None).unwrap();
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the source's upload, initiated first"),
        "the source's stack decides between its versions"
    );
    s3.purge(SRC, "k", later.version_id.as_deref().unwrap());
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the destination's own write"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// Two-way, delete markers not replicated: B's own delete, later than A's upload, ends current
/// at B again; the upload stays A's current.
#[tokio::test]
async fn a_version_delete_leaves_no_earlier_replica_over_the_other_sides_later_delete() {
    let (s3, r) = engine_for(&[rule("to-b", 1, B), rule("to-a", 2, A)], &[A, B]);
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.delete(B, "k");
    settle(&s3, &r, &[A, B]).await;
    s3.advance_clock(1100);
    let later = s3.put(A, "k", b"a's later write");
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(current(&s3, B, "k").as_deref(), Some("a's later write"));
    s3.advance_clock(1100);
    let parts = vec![b"a's upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, B, "k").as_deref(),
        Some("a's upload, initiated first")
    );
    s3.purge(A, "k", later.version_id.as_deref().unwrap());
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, B, "k"),
        None,
        "b's delete is later than a's upload: {:#?}",
        stack(&s3, B, "k")
    );
    assert_eq!(
        current(&s3, A, "k").as_deref(),
        Some("a's upload, initiated first"),
        "{:#?}",
        stack(&s3, A, "k")
    );
}

/// Two uploads initiated before the destination's own write, both completed over the later
/// version's replica: the delete of that version left the second's replica over the first's,
/// itself over the later write, and only the entry right below the top was judged (our own
/// replica, which stands). Both go (review finding 1 of the sixth session).
#[tokio::test]
async fn a_version_delete_leaves_no_run_of_earlier_replicas_over_the_later_write() {
    let (s3, r) = engine_for(&[rule("all", 1, DST)], &[SRC, DST]);
    let first = s3.begin_upload(SRC, "k", &UserWrite::default());
    let second = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(DST, "k", b"the destination's own write");
    s3.take_notices();
    s3.advance_clock(1100);
    let later = s3.put(SRC, "k", b"the source's later write");
    settle(&s3, &r, &[SRC]).await;
    for (upload, body) in [(&first, "first upload"), (&second, "second upload")] {
        s3.advance_clock(1100);
        let parts = vec![body.as_bytes().to_vec(), b", initiated first".to_vec()];
        s3.complete_upload(SRC, upload, &parts, None).unwrap();
        settle(&s3, &r, &[SRC]).await;
    }
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("second upload, initiated first")
    );
    s3.purge(SRC, "k", later.version_id.as_deref().unwrap());
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the destination's own write"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

/// As the first, the destination's write and the later source version in one second (the
/// source's name sorts later: its version lands over the write): what lay above the deleted
/// replica was told by time, so the write, of that second too, was taken for one of ours
/// written since, and nothing was withdrawn (second review of the sixth session). The stack as
/// listed before the delete tells them apart.
#[tokio::test]
async fn a_version_delete_withdraws_over_a_later_write_of_the_deleted_replicas_second() {
    let (s3, r) = engine_for(&[rule("all", 1, DST)], &[SRC, DST]);
    let upload = s3.begin_upload(SRC, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(DST, "k", b"the destination's own write");
    s3.take_notices();
    let later = s3.put(SRC, "k", b"the source's later write, same second");
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the source's later write, same second")
    );
    s3.advance_clock(1100);
    let parts = vec![b"the upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(SRC, &upload, &parts, None).unwrap();
    settle(&s3, &r, &[SRC]).await;
    s3.purge(SRC, "k", later.version_id.as_deref().unwrap());
    settle(&s3, &r, &[SRC]).await;
    assert_eq!(
        current(&s3, DST, "k").as_deref(),
        Some("the destination's own write"),
        "{:#?}",
        stack(&s3, DST, "k")
    );
}

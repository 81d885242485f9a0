//! Two-way, a multipart upload initiated before the other side's write and completed after a
//! write of its own side (issue 34's `two-way-diverged` and `replicated-twice`): its bucket's
//! stack puts it on top, the one order of writes (by initiation, what S3 records) below. Both
//! sides must end with the same object: docs/semantics.md, "Two-way replication".

use s3_replicator::fake::UserWrite;
use s3_replicator::Config;

use crate::convergence_symptoms::{current, deliver, of, s3_with, settle, stack, two_way, A, B};
use crate::meddled::engine;

/// A's upload lands on top of A's own later write, which had replaced B's write in B: B's
/// current version is the replica of A's upload. A late event of B's write (later than the
/// upload in the order) used to copy it over the upload in A, and nothing carried it back to B,
/// whose current version is a replica: the sides ended apart. B's write was replaced in B; it
/// is left out, and both sides hold A's current version (its own stack decides between A's
/// versions).
#[tokio::test]
async fn a_late_version_replaced_by_the_other_sides_write_is_not_sent_over_it() {
    let (s3, r) = two_way();
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(B, "k", b"b's write, after a's upload began");
    let eb = of(&s3.take_notices(), B);
    deliver(&r, std::slice::from_ref(&eb)).await;
    settle(&s3, &r, &[A, B]).await;
    s3.advance_clock(1100);
    s3.put(A, "k", b"a's next write");
    settle(&s3, &r, &[A, B]).await;
    s3.advance_clock(1100);
    let parts = vec![b"a's upload, ".to_vec(), b"completed last".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    settle(&s3, &r, &[A, B]).await;
    // B's event again (at least once), late now.
    deliver(&r, std::slice::from_ref(&eb)).await;
    settle(&s3, &r, &[A, B]).await;
    let (in_a, in_b) = (current(&s3, A, "k"), current(&s3, B, "k"));
    assert_eq!(
        in_a,
        in_b,
        "the sides differ: a {:#?}, b {:#?}",
        stack(&s3, A, "k"),
        stack(&s3, B, "k")
    );
    assert_eq!(in_a.as_deref(), Some("a's upload, completed last"));
}

/// B's write reaches A before A's upload (initiated first) completes on top of its replica: the
/// one order makes B's write the later, yet A's stack makes the upload current. The upload's
/// own event, the one event S3 sends after it, finds B's later write at B, and must copy that
/// write to A once more (a second replica of it, which the order requires): no redelivery of
/// B's event is needed for the sides to agree.
#[tokio::test]
async fn the_uploads_own_event_restores_the_later_write_it_buried() {
    let (s3, r) = two_way();
    let upload = s3.begin_upload(A, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(B, "k", b"b's write, after a's upload began");
    settle(&s3, &r, &[A, B]).await;
    assert_eq!(
        current(&s3, A, "k").as_deref(),
        Some("b's write, after a's upload began")
    );
    s3.advance_clock(1100);
    let parts = vec![b"a's upload, ".to_vec(), b"initiated first".to_vec()];
    s3.complete_upload(A, &upload, &parts, None).unwrap();
    // Only the upload's event (and what it causes), never B's again.
    settle(&s3, &r, &[A, B]).await;
    for bucket in [A, B] {
        assert_eq!(
            current(&s3, bucket, "k").as_deref(),
            Some("b's write, after a's upload began"),
            "{bucket}: {:#?}",
            stack(&s3, bucket, "k")
        );
    }
}

/// A ↔ B, one function, delete markers not replicated.
fn two_way_without_markers() -> Config {
    let rule = |id: &str, priority: u32, to: &str| {
        format!(
            r#"{{"ID":"{id}","Priority":{priority},"Status":"Enabled","Filter":{{}},
            "DeleteMarkerReplication":{{"Status":"Disabled"}},
            "Destination":{{"Bucket":"{to}","Region":"us-east-1"}}}}"#
        )
    };
    let rules = [rule("to-b", 1, B), rule("to-a", 2, A)].join(",");
    Config::from_json(&format!(r#"{{"Rules":[{rules}]}}"#)).unwrap()
}

/// Delete markers not replicated (issue 34's `two-way-diverged`, seed 108771). B's upload,
/// initiated before A's write, completes over B's own later write, whose event comes late; A
/// meanwhile deleted the key (not sent: B follows A's newest object). The upload's event puts
/// A's write back over the upload at B, the order ranking it later. B's late event then found
/// A's delete earlier than its write and copied that write over it, though B no longer holds
/// it: A's delete was undone, the upload followed it to A, and B kept A's write. B has moved
/// on to a replica of A's write, which A's delete replaced: the delete stands.
#[tokio::test]
async fn a_late_version_its_source_moved_on_from_leaves_the_other_sides_delete() {
    let s3 = s3_with(&[A, B]);
    let r = engine(
        two_way_without_markers(),
        s3.clone(),
        s3.clone(),
        "us-east-1",
    );
    let upload = s3.begin_upload(B, "k", &UserWrite::default());
    s3.advance_clock(1100);
    s3.put(A, "k", b"a's write, after b's upload began");
    settle(&s3, &r, &[A, B]).await;
    s3.advance_clock(300);
    s3.delete(A, "k");
    settle(&s3, &r, &[A, B]).await;
    s3.advance_clock(1100);
    s3.put(B, "k", b"b's write, after a's delete");
    let late = of(&s3.take_notices(), B);
    s3.advance_clock(100);
    let parts = vec![b"b's upload, ".to_vec(), b"completed last".to_vec()];
    s3.complete_upload(B, &upload, &parts, None).unwrap();
    let completed = of(&s3.take_notices(), B);
    deliver(&r, std::slice::from_ref(&completed)).await;
    settle(&s3, &r, &[A, B]).await;
    // B's write late, then the upload's event again (at least once).
    for e in [late, completed] {
        deliver(&r, std::slice::from_ref(&e)).await;
        settle(&s3, &r, &[A, B]).await;
    }
    assert_eq!(
        current(&s3, A, "k"),
        None,
        "a's delete was undone: {:#?}",
        stack(&s3, A, "k")
    );
    assert_eq!(
        current(&s3, B, "k").as_deref(),
        Some("a's write, after b's upload began"),
        "{:#?}",
        stack(&s3, B, "k")
    );
}

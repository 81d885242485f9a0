//! A source's delete where the destination, written from several sources (fan-in), holds
//! nothing of the key (issue 34's `delete-not-replicated`, seed 357214): a user's version
//! delete at the destination took the only replica there, and the other source's later delete
//! found the key empty. Convergence put a marker only over an object, so a late event of the
//! first source's earlier write found the key empty and copied it: the result hung on the order
//! of redeliveries. The delete is now replicated onto the empty key too, as S3 Replication does
//! (docs/semantics.md, "Delete markers"); one source alone feeding a destination keeps its empty
//! keys empty (its own late writes read its own delete).

use s3_replicator::fake::{FakeS3, UserWrite};
use s3_replicator::tools::compare;
use s3_replicator::{Config, Replicator};

use crate::convergence_symptoms::{current, deliver, s3_with, settle, stack, A, B};
use crate::meddled::engine;

const C: &str = "bucket-c";

/// A → C ← B, delete markers replicated; `sources` as `SOURCE_BUCKETS` (empty: any).
fn fan_in(sources: &[&str]) -> (FakeS3, Replicator<FakeS3, FakeS3>) {
    let mut config = Config::from_json(&format!(
        r#"{{"Rules":[{{"ID":"to-c","Priority":1,"Status":"Enabled","Filter":{{}},
        "DeleteMarkerReplication":{{"Status":"Enabled"}},
        "Destination":{{"Bucket":"{C}","Region":"us-east-1"}}}}]}}"#
    ))
    .unwrap();
    config.source_buckets = sources.iter().map(|s| s.to_string()).collect();
    let s3 = s3_with(&[A, B, C]);
    let r = engine(config, s3.clone(), s3.clone(), "us-east-1");
    (s3, r)
}

fn verify_options(bucket: &str) -> compare::Options {
    compare::Options {
        bucket: bucket.into(),
        prefix: String::new(),
        deep: false,
        explain_missing: true,
    }
}

/// A's write reaches C, a user at C deletes that replica for good, B deletes the key later; A's
/// event, redelivered after B's, must not bring A's earlier write back over B's delete.
#[tokio::test]
async fn a_later_delete_of_another_source_stands_on_a_key_the_destination_lacks() {
    let (s3, r) = fan_in(&[]);
    s3.put(A, "k", b"A's write");
    let late = s3.take_notices();
    deliver(&r, &late).await;
    let replica = s3.stack(C, "k")[0].version_id.clone();
    s3.purge(C, "k", &replica);
    s3.take_notices();
    s3.advance_clock(2000);
    s3.delete(B, "k");
    settle(&s3, &r, &[A, B]).await;
    deliver(&r, &late).await;
    assert_eq!(
        current(&s3, C, "k"),
        None,
        "A's earlier write came back over B's later delete: {:#?}",
        stack(&s3, C, "k")
    );
}

/// A Batch verify task of the deleted key, as the sim's (`run_job` in Verify mode).
pub(crate) async fn batch_verify(
    r: &Replicator<FakeS3, FakeS3>,
    bucket: &str,
    key: &str,
) -> String {
    use s3_replicator::events::batch::{BatchJob, BatchTask, Mode, TaskObject};
    let job = BatchJob {
        schema: "2.0".to_owned(),
        invocation_id: "t".to_owned(),
        job_id: "t".to_owned(),
        mode: Ok(Mode::Verify),
        from: None,
        read_at: None,
        tasks: vec![BatchTask {
            task_id: "0".to_owned(),
            object: Ok(TaskObject {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version_id: None,
            }),
        }],
    };
    let response = s3_replicator::tools::batch::run_job(r, job, None, None).await;
    response.results[0].result_string.clone()
}

/// The tools judge alike: with several sources, a Batch verify task of B's deleted key calls the
/// delete `missing` at C until B's event puts it there; with one source, the empty key is as
/// it should be. The listing `verify` reports neither (it lists current objects only where
/// delete markers are replicated): no noise.
#[tokio::test]
async fn a_batch_verify_calls_the_delete_missing_only_where_several_sources_write_the_key() {
    for (sources, several) in [(&[][..], true), (&[B][..], false)] {
        let (s3, r) = fan_in(sources);
        s3.put(B, "k", b"B's write");
        s3.take_notices();
        s3.delete(B, "k");
        let findings = compare::verify(&r, &verify_options(B)).await.unwrap();
        assert!(findings.is_empty(), "{findings:?}");
        let said = batch_verify(&r, B, "k").await;
        match several {
            true => assert!(said.contains("missing: deleted in the source"), "{said}"),
            false => assert!(!said.contains("missing"), "noise for an empty key: {said}"),
        }
        settle(&s3, &r, &[B]).await;
        let markers = s3.stack(C, "k").iter().filter(|e| e.delete_marker).count();
        assert_eq!(markers, usize::from(several), "{:#?}", stack(&s3, C, "k"));
        let said = batch_verify(&r, B, "k").await;
        assert!(!said.contains("missing"), "{said}");
    }
}

/// The events of the sources' writes so far (C's own are not the function's).
fn sources_events(s3: &FakeS3) -> Vec<s3_replicator::fake::Notice> {
    let mut sent = s3.take_notices();
    sent.retain(|n| n.bucket != C);
    sent
}

/// C must read deleted after `late` is delivered again, and after both sources converge.
async fn stays_deleted(
    s3: &FakeS3,
    r: &Replicator<FakeS3, FakeS3>,
    late: &[s3_replicator::fake::Notice],
    what: &str,
) {
    deliver(r, late).await;
    let after = |when: &str| format!("{what} ({when}): {:#?}", stack(s3, C, "k"));
    assert_eq!(current(s3, C, "k"), None, "{}", after("redelivered"));
    settle(s3, r, &[A, B]).await;
    assert_eq!(current(s3, C, "k"), None, "{}", after("converged"));
}

/// A user's early delete at C, A's later write over it taken away again at C (a version
/// delete), then B's delete, later than A's write: B's delete finds C already deleted and
/// writes nothing. A's write, redelivered, must not uncover the key: the user's marker is
/// earlier than A's write, but B's current delete is later (issue 34, seed 772605).
#[tokio::test]
async fn another_sources_later_delete_keeps_an_earlier_marker_over_a_redelivered_write() {
    let (s3, r) = fan_in(&[A, B]);
    s3.delete(C, "k");
    s3.advance_clock(2000);
    s3.put(A, "k", b"A's write");
    let written = sources_events(&s3);
    deliver(&r, &written).await;
    let replica = s3.stack(C, "k").last().unwrap().version_id.clone();
    s3.purge(C, "k", &replica);
    s3.advance_clock(2000);
    s3.delete(B, "k");
    deliver(&r, &sources_events(&s3)).await;
    // The tools judge alike: A's key is newer at C (B's later delete), and repair writes nothing.
    let findings = compare::verify(&r, &verify_options(A)).await.unwrap();
    let status: Vec<_> = findings.iter().map(|f| f.status).collect();
    assert_eq!(
        status,
        [compare::Status::NewerAtDestination],
        "{findings:?}"
    );
    let stop = std::sync::atomic::AtomicBool::new(false);
    let quiet = &s3_replicator::tools::progress::Quiet;
    let repair =
        s3_replicator::tools::repair::repair(&r, A, &findings, Vec::new(), 2, quiet, &stop);
    let (_, failures) = repair.await.unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert_eq!(
        current(&s3, C, "k"),
        None,
        "repair: {:#?}",
        stack(&s3, C, "k")
    );
    let what = "A's earlier write came back over B's later delete";
    stays_deleted(&s3, &r, &written, what).await;
}

/// B deletes the key (replicated to C), then starts a multipart upload; A writes the key after
/// the upload began (later in the order: the upload counts from its initiation), the upload
/// completes (left out at C: A's write is later), and A deletes the key. C's marker of A's
/// delete may, by its time alone, be B's own early delete replicated (the upload above that
/// delete says nothing of when it landed), and C's stack holds no replica of the upload; B's
/// current upload must still not land over it when B's delete, redelivered, converges the
/// key, nor when the upload's own event comes again (issue 34, seeds 485293, 58926).
#[tokio::test]
async fn another_sources_later_delete_stands_against_an_upload_begun_before_it() {
    let (s3, r) = fan_in(&[A, B]);
    s3.delete(B, "k");
    let deleted = sources_events(&s3);
    deliver(&r, &deleted).await;
    s3.advance_clock(2000);
    let upload = s3.begin_upload(B, "k", &UserWrite::default());
    s3.advance_clock(2000);
    s3.put(A, "k", b"A's write");
    deliver(&r, &sources_events(&s3)).await;
    s3.advance_clock(2000);
    let parts = vec![b"B's upload, ".to_vec(), b"begun before A's write".to_vec()];
    s3.complete_upload(B, &upload, &parts, None).unwrap();
    let completed = sources_events(&s3);
    deliver(&r, &completed).await;
    s3.advance_clock(2000);
    s3.delete(A, "k");
    deliver(&r, &sources_events(&s3)).await;
    assert_eq!(current(&s3, C, "k"), None, "{:#?}", stack(&s3, C, "k"));
    let what = "B's upload landed over A's later delete";
    stays_deleted(&s3, &r, &deleted, what).await;
    stays_deleted(&s3, &r, &completed, what).await;
}

//! A source's delete where the destination, written from several sources (fan-in), holds
//! nothing of the key (issue 34's `delete-not-replicated`, seed 357214): a user's version
//! delete at the destination took the only replica there, and the other source's later delete
//! found the key empty. Convergence put a marker only over an object, so a late event of the
//! first source's earlier write found the key empty and copied it: the result hung on the order
//! of redeliveries. The delete is now replicated onto the empty key too, as S3 Replication does
//! (docs/semantics.md, "Delete markers"); one source alone feeding a destination keeps its empty
//! keys empty (its own late writes read its own delete).

use s3_replicator::fake::FakeS3;
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
async fn batch_verify(r: &Replicator<FakeS3, FakeS3>, bucket: &str, key: &str) -> String {
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

//! S3 Batch Operations jobs against the local S3: each task gets the right result code and
//! string in replicate and in verify mode, and the response echoes the invocation.

use crate::common::*;
use s3_replicator::error::{S3Failure, S3FailureKind};
use s3_replicator::faults::slow_down;
use serde_json::{json, Value};

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// A schema 2.0 job over `keys` (URL-encoded as S3 sends them), in `mode`.
fn job(mode: &str, bucket: &str, keys: &[(&str, Option<&str>)]) -> Value {
    let tasks: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, (key, version))| {
            json!({"taskId": format!("task-{i}"),
                   "s3Key": form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>(),
                   "s3VersionId": version, "s3Bucket": bucket})
        })
        .collect();
    json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
           "job": {"id": "job-1", "userArguments": {"Mode": mode}}, "tasks": tasks})
}

/// (resultCode, resultString) per task, after checking the response's echo.
fn results(response: &Value) -> Vec<(String, String)> {
    assert_eq!(response["invocationSchemaVersion"], "2.0");
    assert_eq!(response["invocationId"], "inv-1");
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    response["results"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r["taskId"], format!("task-{i}"));
            (
                r["resultCode"].as_str().unwrap().to_owned(),
                r["resultString"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

struct World {
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
    config: String,
    old_version: String,
}

/// In sync, missing, differing (other bytes in the destination), deleted at the source, and a
/// key whose manifest names an older version.
async fn world() -> World {
    let s3 = client();
    let src = versioned_bucket(&s3, "bo-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "bo-dst", "eu-west-1").await;
    let config = config(&dst);
    let synced = put(&s3, &src, "in sync.txt", b"in sync").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    s3_replicator::handle(&replicator, created_event(&[synced]))
        .await
        .unwrap();
    put(&s3, &src, "missing 1+1.txt", b"never replicated").await;
    // Someone else's object, older than the source's: a later one would win as in two-way
    // replication (NewerInDestination).
    put(&s3, &dst, "differs.txt", b"someone else's bytes").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &src, "differs.txt", b"source bytes").await;
    put(&s3, &src, "deleted.txt", b"soon gone").await;
    s3.delete_object()
        .bucket(&src)
        .key("deleted.txt")
        .send()
        .await
        .unwrap();
    let old = put(&s3, &src, "history.txt", b"v1").await;
    put(&s3, &src, "history.txt", b"v2").await;
    World {
        s3,
        src,
        dst,
        config,
        old_version: old.version_id.unwrap(),
    }
}

#[tokio::test]
async fn verify_job_gives_each_task_its_verdict() {
    let w = world().await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &w.config)]);
    let keys = [
        ("in sync.txt", None),
        ("missing 1+1.txt", None),
        ("differs.txt", None),
        ("deleted.txt", None),
        ("history.txt", Some(w.old_version.as_str())),
    ];
    let response = s3_replicator::respond(&replicator, job("verify", &w.src, &keys), None)
        .await
        .unwrap();
    let results = results(&response);
    assert_eq!(results[0], ("Succeeded".into(), "same".into()));
    // Damage fails its task: a FailedTasksOnly completion report is exactly the damage list.
    assert_eq!(results[1], ("PermanentFailure".into(), "missing".into()));
    assert_eq!(results[2].0, "PermanentFailure");
    assert!(results[2].1.starts_with("differs: "), "{:?}", results[2]);
    assert!(results[2].1.contains("etag"), "{:?}", results[2]);
    // Deleted in the source, whose newest object version never reached the destination (its
    // event lost; delete markers are not replicated here): as the engine would copy it.
    assert_eq!(results[3].0, "PermanentFailure", "{:?}", results[3]);
    assert!(results[3].1.starts_with("missing: "), "{:?}", results[3]);
    assert!(
        results[4].1.starts_with("skipped: version") && results[4].1.contains("not the current"),
        "{:?}",
        results[4]
    );
    // Verifying writes nothing.
    assert_eq!(version_count(&w.s3, &w.dst, "missing 1+1.txt").await, 0);
}

#[tokio::test]
async fn replicate_job_replicates_what_is_not_in_sync_and_a_rerun_copies_nothing() {
    let w = world().await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &w.config)]);
    let keys = [
        ("in sync.txt", None),
        ("missing 1+1.txt", None),
        ("differs.txt", None),
        ("deleted.txt", None),
    ];
    let first = s3_replicator::respond(&replicator, job("replicate", &w.src, &keys), None)
        .await
        .unwrap();
    let first = results(&first);
    assert_eq!(first[0], ("Succeeded".into(), "in sync".into()));
    assert_eq!(first[1], ("Succeeded".into(), "replicated".into()));
    assert_eq!(first[2], ("Succeeded".into(), "replicated".into()));
    // Deleted in the source, its newest object version never sent (delete markers are not
    // replicated here): sent now, as the verify task's `missing` says it should be.
    assert_eq!(first[3], ("Succeeded".into(), "replicated".into()));
    assert_eq!(
        body_of(&w.s3, &w.dst, "missing 1+1.txt", None).await,
        b"never replicated"
    );
    assert_eq!(
        body_of(&w.s3, &w.dst, "differs.txt", None).await,
        b"source bytes"
    );

    let again = s3_replicator::respond(&replicator, job("replicate", &w.src, &keys), None)
        .await
        .unwrap();
    let again = results(&again);
    for r in &again {
        assert_eq!(r, &("Succeeded".to_owned(), "in sync".to_owned()));
    }
    assert_eq!(version_count(&w.s3, &w.dst, "missing 1+1.txt").await, 1);
}

#[tokio::test]
async fn denied_task_is_a_permanent_failure_and_throttling_a_temporary_one() {
    let w = world().await;
    let env = [("REPLICATION_CONFIG", w.config.as_str())];
    let keys = [("missing 1+1.txt", None)];
    let denied = faulty_replicator(&env, |call| {
        (call.operation == "CopyObject").then(|| S3Failure {
            operation: "CopyObject",
            kind: S3FailureKind::AccessDenied,
            code: Some("AccessDenied".into()),
            status: Some(403),
            message: "injected".into(),
        })
    });
    let response = s3_replicator::respond(&denied, job("replicate", &w.src, &keys), None)
        .await
        .unwrap();
    let (code, text) = &results(&response)[0];
    assert_eq!(code, "PermanentFailure");
    assert!(text.contains("NotPermitted"), "{text}");

    let throttled = faulty_replicator(&env, |call| {
        (call.operation == "CopyObject").then(|| slow_down("CopyObject"))
    });
    let response = s3_replicator::respond(&throttled, job("replicate", &w.src, &keys), None)
        .await
        .unwrap();
    let (code, text) = &results(&response)[0];
    assert_eq!(code, "TemporaryFailure", "{text}");
}

#[tokio::test]
async fn unknown_mode_fails_every_task_naming_the_argument() {
    let w = world().await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &w.config)]);
    let response = s3_replicator::respond(
        &replicator,
        job("mirror", &w.src, &[("in sync.txt", None)]),
        None,
    )
    .await
    .unwrap();
    let (code, text) = &results(&response)[0];
    assert_eq!(code, "PermanentFailure");
    assert!(text.contains("job.userArguments.Mode"), "{text}");
}

#[tokio::test]
async fn a_misspelt_mode_argument_fails_every_task_and_writes_nothing() {
    let w = world().await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &w.config)]);
    let keys = [("missing 1+1.txt", None), ("differs.txt", None)];
    for arguments in [json!({"mode": "verify"}), json!({"Mode ": "verify"})] {
        let mut job = job("verify", &w.src, &keys);
        job["job"]["userArguments"] = arguments.clone();
        let response = s3_replicator::respond(&replicator, job, None)
            .await
            .unwrap();
        for (code, text) in results(&response) {
            assert_eq!(code, "PermanentFailure", "{arguments}");
            assert!(text.contains("unknown key"), "{arguments}: {text}");
        }
    }
    assert_eq!(version_count(&w.s3, &w.dst, "missing 1+1.txt").await, 0);
}

/// A bucket that turned versioning on late holds `null` versions (written while it was off).
/// A replicate task treats one as the version it is: the first job copies it, a rerun finds it
/// in sync and copies nothing, and a later write made at the destination stays (as `verify`
/// calls it newer-at-destination), where the task took the unversioned path and overwrote it.
#[tokio::test]
async fn a_null_version_is_replicated_once_and_never_over_a_later_destination_write() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let s3 = client();
    let src = unique_bucket("bo-null");
    s3.create_bucket().bucket(&src).send().await.unwrap();
    put(&s3, &src, "old.txt", b"written before versioning").await;
    s3.put_bucket_versioning()
        .bucket(&src)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let dst = versioned_bucket(&s3, "bo-null-dst", "eu-west-1").await;
    let config = config(&dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let keys = [("old.txt", None)];
    let first = s3_replicator::respond(&replicator, job("replicate", &src, &keys), None)
        .await
        .unwrap();
    assert_eq!(
        results(&first)[0],
        ("Succeeded".into(), "replicated".into())
    );
    let again = s3_replicator::respond(&replicator, job("replicate", &src, &keys), None)
        .await
        .unwrap();
    assert_eq!(results(&again)[0], ("Succeeded".into(), "in sync".into()));
    assert_eq!(version_count(&s3, &dst, "old.txt").await, 1);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&s3, &dst, "old.txt", b"a later write at the destination").await;
    let third = s3_replicator::respond(&replicator, job("replicate", &src, &keys), None)
        .await
        .unwrap();
    let third = results(&third);
    assert_eq!(third[0].0, "Succeeded", "{:?}", third[0]);
    assert_eq!(
        body_of(&s3, &dst, "old.txt", None).await,
        b"a later write at the destination",
        "{:?}",
        third[0]
    );
    assert_eq!(version_count(&s3, &dst, "old.txt").await, 2);
}

/// A key deleted in the source whose delete never reached the destination (its event lost),
/// where the rule replicates delete markers: the replica still served is damage. The CLI's
/// verify says `stale` and exits 1; a Batch verify task answered `Succeeded` ("deleted since
/// the manifest was made"), so a FailedTasksOnly report missed it.
#[tokio::test]
async fn a_batch_verify_task_fails_on_a_replica_its_source_deleted() {
    let s3 = client();
    let src = versioned_bucket(&s3, "bo-stale-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "bo-stale-dst", "eu-west-1").await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Enabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string();
    let v1 = put(&s3, &src, "gone.txt", b"deleted at the source").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    s3_replicator::handle(&replicator, created_event(&[v1]))
        .await
        .unwrap();
    s3.delete_object()
        .bucket(&src)
        .key("gone.txt")
        .send()
        .await
        .unwrap();
    let response = s3_replicator::respond(
        &replicator,
        job("verify", &src, &[("gone.txt", None)]),
        None,
    )
    .await
    .unwrap();
    let verified = results(&response);
    assert_eq!(verified[0].0, "PermanentFailure", "{:?}", verified[0]);
    assert!(verified[0].1.contains("stale"), "{:?}", verified[0]);
    // Verifying writes nothing.
    assert_eq!(version_count(&s3, &dst, "gone.txt").await, 1);
    // A replicate task hides the replica, as convergence (and repair) would: it said "skipped:
    // the key has no current object", leaving the damage its verify task reports.
    let replicate =
        |mode| s3_replicator::respond(&replicator, job(mode, &src, &[("gone.txt", None)]), None);
    let done = results(&replicate("replicate").await.unwrap());
    assert_eq!(done[0].0, "Succeeded", "{:?}", done[0]);
    let head = s3.head_object().bucket(&dst).key("gone.txt").send().await;
    assert!(head.is_err(), "the replica is still served: {:?}", done[0]);
    let again = results(&replicate("verify").await.unwrap());
    assert_eq!(again[0], ("Succeeded".to_owned(), "same".to_owned()));
    let twice = results(&replicate("replicate").await.unwrap());
    assert_eq!(twice[0], ("Succeeded".to_owned(), "in sync".to_owned()));
}

//! Every file in `events/` (the ones `cargo lambda invoke` uses) drives the real handler against
//! the local S3 server, with the demo's replication configuration.

use crate::common::*;
use s3_replicator::events::decode_event_key;
use s3_replicator::{handle, Summary};
use serde_json::Value;

const CONFIG: &str = include_str!("../../scripts/demo-replication-config.json");

/// Creates the objects a fixture names (body = key), aims the fixture at them, runs it.
async fn run_fixture(fixture: &str) -> (Summary, String, Vec<String>) {
    let s3 = client();
    let src = versioned_bucket(&s3, "demo-source", "us-east-1").await;
    let dst = versioned_bucket(&s3, "demo-replica", "eu-west-1").await;
    let mut event: Value = serde_json::from_str(fixture).unwrap();
    let mut keys = Vec::new();
    if let Some(records) = event["Records"].as_array_mut() {
        for record in records {
            record["s3"]["bucket"]["name"] = src.clone().into();
            let key = decode_event_key(record["s3"]["object"]["key"].as_str().unwrap()).unwrap();
            if record["eventName"]
                .as_str()
                .unwrap()
                .starts_with("ObjectCreated:")
            {
                let p = put(&s3, &src, &key, key.as_bytes()).await;
                record["s3"]["object"]["versionId"] = p.version_id.unwrap().into();
                record["s3"]["object"]["eTag"] = p.etag.into();
                keys.push(key);
            }
        }
    }
    let config = CONFIG.replace("demo-replica", &dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let summary = handle(&replicator, event)
        .await
        .expect("fixture replicates");
    (summary, dst, keys)
}

async fn assert_replicated(dst: &str, keys: &[String]) {
    let s3 = client();
    for key in keys {
        assert_eq!(body_of(&s3, dst, key, None).await, key.as_bytes(), "{key}");
    }
}

#[tokio::test]
async fn fixture_object_created_put_replicates() {
    let (summary, dst, keys) =
        run_fixture(include_str!("../../events/object-created-put.json")).await;
    assert_eq!(summary.replicated, 1);
    assert_replicated(&dst, &keys).await;
}

#[tokio::test]
async fn fixture_keys_with_special_characters_replicate_to_the_same_keys() {
    let (summary, dst, keys) = run_fixture(include_str!(
        "../../events/key-with-special-characters.json"
    ))
    .await;
    assert_eq!(
        keys,
        [
            "shared/my summer holiday (1).jpg",
            "shared/1+1=2.txt",
            "shared/50% off.txt",
            "shared/café ✓ 日本.txt"
        ]
    );
    assert_eq!(summary.replicated, 4);
    assert_replicated(&dst, &keys).await;
}

#[tokio::test]
async fn fixture_several_records_all_replicate() {
    let (summary, dst, keys) = run_fixture(include_str!("../../events/several-records.json")).await;
    assert_eq!(summary.replicated, 3);
    assert_replicated(&dst, &keys).await;
}

#[tokio::test]
async fn fixture_non_matching_prefix_is_skipped() {
    let (summary, dst, _) =
        run_fixture(include_str!("../../events/non-matching-prefix.json")).await;
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(version_count(&client(), &dst, "tmp/scratch.bin").await, 0);
}

#[tokio::test]
async fn fixture_other_event_type_is_ignored() {
    let (summary, _, _) =
        run_fixture(include_str!("../../events/object-restore-completed.json")).await;
    assert_eq!((summary.records, summary.ignored), (1, 1));
}

#[tokio::test]
async fn fixture_delete_marker_hides_the_replica() {
    let s3 = client();
    let src = versioned_bucket(&s3, "demo-source", "us-east-1").await;
    let dst = versioned_bucket(&s3, "demo-replica", "eu-west-1").await;
    let config = CONFIG.replace("demo-replica", &dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let mut event: Value = serde_json::from_str(include_str!(
        "../../events/object-removed-delete-marker.json"
    ))
    .unwrap();
    let record = &mut event["Records"][0];
    let key = decode_event_key(record["s3"]["object"]["key"].as_str().unwrap()).unwrap();
    let created = put(&s3, &src, &key, b"soon deleted").await;
    handle(&replicator, created_event(&[created]))
        .await
        .unwrap();
    let marker = s3
        .delete_object()
        .bucket(&src)
        .key(&key)
        .send()
        .await
        .unwrap();
    record["s3"]["bucket"]["name"] = src.clone().into();
    record["s3"]["object"]["versionId"] = marker.version_id().unwrap().into();

    let summary = handle(&replicator, event.clone()).await.unwrap();
    assert_eq!(summary.synced, 1);
    let head = s3.head_object().bucket(&dst).key(&key).send().await;
    assert!(
        head.is_err(),
        "the replica's current version is a delete marker"
    );
    assert_eq!(
        version_count(&s3, &dst, &key).await,
        1,
        "the replica's version is kept"
    );
    // Delivered again: nothing more to do.
    let again = handle(&replicator, event).await.unwrap();
    assert_eq!((again.synced, again.skipped), (0, 1));
}

#[tokio::test]
async fn fixture_s3_test_event_is_accepted() {
    let (summary, _, _) = run_fixture(include_str!("../../events/s3-test-event.json")).await;
    assert_eq!(summary, Summary::default());
}

/// The Batch Operations fixtures, re-aimed at objects written before replication: the 1.0 task
/// replicates its object, then the 2.0 verify job proves both objects its tasks name.
#[tokio::test]
async fn fixture_batch_operations_replicate_then_verify() {
    let s3 = client();
    let src = versioned_bucket(&s3, "demo-source", "us-east-1").await;
    let dst = versioned_bucket(&s3, "demo-replica", "eu-west-1").await;
    let config = CONFIG.replace("demo-replica", &dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let aimed = |fixture: &str| {
        let mut job: Value = serde_json::from_str(fixture).unwrap();
        for task in job["tasks"].as_array_mut().unwrap() {
            if task.get("s3Bucket").is_some() {
                task["s3Bucket"] = src.clone().into();
            } else {
                task["s3BucketArn"] = format!("arn:aws:s3:::{src}").into();
            }
        }
        job
    };
    let replicate = aimed(include_str!("../../events/batch-operations-1.0.json"));
    let verify = aimed(include_str!(
        "../../events/batch-operations-2.0-verify.json"
    ));
    for task in verify["tasks"].as_array().unwrap() {
        let key = decode_event_key(task["s3Key"].as_str().unwrap()).unwrap();
        put(&s3, &src, &key, key.as_bytes()).await;
    }

    let done = s3_replicator::respond(&replicator, replicate.clone(), None)
        .await
        .unwrap();
    assert_eq!(done["invocationSchemaVersion"], "1.0");
    assert_eq!(done["invocationId"], replicate["invocationId"]);
    assert_eq!(done["results"][0]["resultCode"], "Succeeded");
    assert_eq!(done["results"][0]["resultString"], "replicated");
    assert_replicated(&dst, &["shared/archive/2019 report.txt".to_owned()]).await;

    let checked = s3_replicator::respond(&replicator, verify, None)
        .await
        .unwrap();
    let strings: Vec<&str> = checked["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["resultString"].as_str().unwrap())
        .collect();
    assert_eq!(strings, ["missing", "same"], "{checked}");
}

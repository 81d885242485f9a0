//! What a deadline cut leaves counted: a replica that landed before the cut is counted once,
//! with its bytes and latency, and the record is named not done only where it did not land;
//! a cut Batch Operations task names the version it was working on.

use crate::common::*;
use crate::metrics::{invoke_logged, pair_values, source_level_values};
use serde_json::{json, Value};

/// A source, a destination on the local S3 and one on an endpoint that never answers, both
/// selected for keys under `both/`.
struct Split {
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
    config: String,
    _silent: std::net::TcpListener,
}

async fn split(label: &str) -> Split {
    let s3 = client();
    let src = versioned_bucket(&s3, &format!("{label}-src"), "us-east-1").await;
    let dst = versioned_bucket(&s3, &format!("{label}-dst"), "eu-west-1").await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_at = format!("http://{}", silent.local_addr().unwrap());
    let config = json!({"Rules": [
        {"ID": "near", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "both/"},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}},
        {"ID": "far", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "both/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "far", "Region": "us-east-1", "Endpoint": silent_at,
            "ForcePathStyle": true}}]})
    .to_string();
    Split {
        s3,
        src,
        dst,
        config,
        _silent: silent,
    }
}

const CUT: [(&str, &str); 2] = [
    ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
    ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
];

/// The destinations the `DeadlineExceeded` failures name.
fn cut_at(documents: &[Value]) -> Vec<String> {
    documents
        .iter()
        .filter(|d| d["FailureCode"] == "DeadlineExceeded")
        .map(|d| d["DestinationBucket"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test]
async fn a_replica_that_landed_before_the_deadline_is_counted_once() {
    let Split {
        s3,
        src,
        dst,
        config,
        _silent,
    } = split("cut-landed").await;
    let v = put(&s3, &src, "both/x", b"nineteen bytes here").await;
    let env = [("REPLICATION_CONFIG", config.as_str()), CUT[0], CUT[1]];
    let (posted, documents, _) = invoke_logged(
        vec![created_event(std::slice::from_ref(&v))],
        &env,
        5_000,
        &[],
    )
    .await;
    assert!(posted[0].1.contains("DeadlineReached"), "{}", posted[0].1);
    assert_eq!(
        body_of(&s3, &dst, "both/x", None).await,
        b"nineteen bytes here"
    );
    // The replica at the near destination landed before the cut: counted, with its bytes and
    // its latency sample, once.
    let sum = |name| pair_values(&documents, name).iter().sum::<f64>();
    assert_eq!(sum("OperationsReplicated"), 1.0, "{documents:#?}");
    assert_eq!(sum("BytesReplicated"), 19.0, "{documents:#?}");
    assert_eq!(
        source_level_values(&documents, "ReplicationLatency").len(),
        1,
        "{documents:#?}"
    );
    // Not done only where nothing landed.
    let cut = cut_at(&documents);
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].starts_with("far at http://127.0.0.1:"), "{cut:?}");
}

#[tokio::test]
async fn a_cut_batch_task_names_the_version_it_read() {
    let Split {
        s3,
        src,
        dst: _,
        config,
        _silent,
    } = split("cut-batch").await;
    let v = put(&s3, &src, "both/y", b"twelve bytes").await;
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-cut",
        "job": {"id": "job-cut", "userArguments": {"Mode": "replicate"}},
        "tasks": [{"taskId": "t0", "s3Key": "both/y", "s3VersionId": null, "s3Bucket": src}]});
    let env = [("REPLICATION_CONFIG", config.as_str()), CUT[0], CUT[1]];
    let (posted, documents, logs) = invoke_logged(vec![job], &env, 5_000, &[]).await;
    assert!(posted[0].1.contains("TemporaryFailure"), "{}", posted[0].1);
    // The task's check of the far destination hung: nothing was written, nothing counted.
    assert_eq!(
        pair_values(&documents, "OperationsReplicated")
            .iter()
            .sum::<f64>(),
        0.0
    );
    assert_eq!(cut_at(&documents).len(), 2, "{documents:#?}");
    // The task named no version: the log names the one it read, never `null`.
    let version = v.version_id.as_deref().unwrap();
    let named: Vec<&Value> = logs
        .iter()
        .filter(|l| l["fields"]["code"] == "DeadlineExceeded")
        .collect();
    assert_eq!(named.len(), 2, "{logs:#?}");
    for line in named {
        assert_eq!(line["fields"]["version_id"], version, "{line:#?}");
        assert_eq!(line["fields"]["key"], "both/y");
    }
}

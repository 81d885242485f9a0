//! What a deadline cut leaves counted: a replica that landed before the cut is counted once,
//! with its bytes and latency, and the record is named not done only where it did not land;
//! a cut Batch Operations task names the version it was working on.

use std::time::Duration;

use crate::common::*;
use crate::metrics::{invoke_logged, pair_values, source_level_values};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A proxy to the local S3 where every read of `bucket` (GET, HEAD, listings) hangs and
/// everything else passes: a copy lands, the checks after it never come back.
async fn reads_of_bucket_hang(bucket: String) -> String {
    let upstream = server().endpoint.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, upstream.clone(), bucket.clone()));
        }
    });
    endpoint
}

async fn relay(mut client: TcpStream, upstream: String, bucket: String) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&buf[..n]);
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = client.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&buf[..n]);
    }
    let first = head.lines().next().unwrap_or_default();
    let read = first.starts_with("GET ") || first.starts_with("HEAD ");
    if read && first.contains(&format!("/{bucket}")) {
        tokio::time::sleep(Duration::from_secs(120)).await;
        return Ok(());
    }
    let mut server = TcpStream::connect(&upstream).await?;
    let forwarded: String = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    server
        .write_all(format!("{forwarded}Connection: close\r\n\r\n").as_bytes())
        .await?;
    server.write_all(&request[head_end..]).await?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer).await?;
    client.write_all(&answer).await?;
    client.shutdown().await
}

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
    // The completion report names the version as the log does.
    let version = v.version_id.as_deref().unwrap();
    assert!(
        posted[0].1.contains(&format!("version {version}: ")),
        "{}",
        posted[0].1
    );
    // The task's check of the far destination hung: nothing was written, nothing counted.
    assert_eq!(
        pair_values(&documents, "OperationsReplicated")
            .iter()
            .sum::<f64>(),
        0.0
    );
    assert_eq!(cut_at(&documents).len(), 2, "{documents:#?}");
    // The task named no version: the log names the one it read, never `null`.
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

/// A copy lands, and the check after it (a read of the destination) hangs until the cut: the
/// replica is there, so it is counted, once, with its latency sample.
#[tokio::test]
async fn a_replica_is_counted_when_the_check_after_its_write_is_cut() {
    let s3 = client();
    let src = versioned_bucket(&s3, "cut-check-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "cut-check-dst", "eu-west-1").await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
        // Its region named: no read of the bucket's location first.
        "Destination": {"Bucket": dst, "Region": "eu-west-1"}}]})
    .to_string();
    let proxy = reads_of_bucket_hang(dst.clone()).await;
    let v = put(&s3, &src, "k1", &[b'x'; 1000]).await;
    // One source, as `template.yaml` deploys it: the new key's copy goes ahead of the read.
    let env = [
        ("REPLICATION_CONFIG", config.as_str()),
        ("SOURCE_BUCKETS", src.as_str()),
        CUT[0],
    ];
    let (posted, documents, _) = invoke_logged(
        vec![created_event(std::slice::from_ref(&v))],
        &env,
        6_000,
        &[("AWS_ENDPOINT_URL", proxy.as_str())],
    )
    .await;
    assert!(posted[0].1.contains("DeadlineReached"), "{}", posted[0].1);
    assert_eq!(body_of(&s3, &dst, "k1", None).await, vec![b'x'; 1000]);
    let sum = |name| pair_values(&documents, name).iter().sum::<f64>();
    assert_eq!(sum("OperationsReplicated"), 1.0, "{documents:#?}");
    assert_eq!(sum("BytesReplicated"), 1000.0, "{documents:#?}");
    assert_eq!(
        source_level_values(&documents, "ReplicationLatency").len(),
        1,
        "{documents:#?}"
    );
}

/// A cut record is named only where its rules select it: a rule whose tag filter the object
/// does not match, or that does not replicate delete markers, is no destination of it.
#[tokio::test]
async fn a_cut_record_is_named_only_at_destinations_its_rules_select() {
    let s3 = client();
    let src = versioned_bucket(&s3, "cut-sel-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "cut-sel-dst", "eu-west-1").await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_at = format!("http://{}", silent.local_addr().unwrap());
    let config = json!({"Rules": [
        {"ID": "tagged", "Priority": 2, "Status": "Enabled",
         "Filter": {"And": {"Prefix": "", "Tags": [{"Key": "copy", "Value": "yes"}]}},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}},
        {"ID": "far", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": "far", "Region": "us-east-1", "Endpoint": silent_at,
            "ForcePathStyle": true}}]})
    .to_string();
    let v = put(&s3, &src, "plain", b"untagged").await;
    let env = [("REPLICATION_CONFIG", config.as_str()), CUT[0], CUT[1]];
    let (posted, documents, _) = invoke_logged(
        vec![created_event(std::slice::from_ref(&v))],
        &env,
        5_000,
        &[],
    )
    .await;
    let cut = cut_at(&documents);
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert!(cut[0].starts_with("far at "), "{cut:?}");
    // One record failed, whatever the number of its destinations.
    assert!(
        posted[0].1.contains("1 of 1 records failed"),
        "{}",
        posted[0].1
    );
    drop(silent);
}

/// Bytes are the replica's, as the source holds them, not what the event's `size` claims.
#[tokio::test]
async fn bytes_replicated_are_the_source_versions_not_the_events_word() {
    let s3 = client();
    let src = versioned_bucket(&s3, "bytes-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "bytes-dst", "eu-west-1").await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string();
    let a = put(&s3, &src, "no-size", &[b'a'; 1234]).await;
    let b = put(&s3, &src, "wrong-size", &[b'b'; 1000]).await;
    let mut no_size = created_event(std::slice::from_ref(&a));
    no_size["Records"][0]["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("size");
    let mut wrong_size = created_event(std::slice::from_ref(&b));
    wrong_size["Records"][0]["s3"]["object"]["size"] = 7.into();
    let env = [("REPLICATION_CONFIG", config.as_str())];
    let (_, documents, _) = invoke_logged(vec![no_size, wrong_size], &env, 60_000, &[]).await;
    let sum = |name| pair_values(&documents, name).iter().sum::<f64>();
    assert_eq!(sum("OperationsReplicated"), 2.0, "{documents:#?}");
    assert_eq!(sum("BytesReplicated"), 2234.0, "{documents:#?}");
}

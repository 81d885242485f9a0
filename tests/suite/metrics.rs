//! The function's metrics: the binary, run under a fake Lambda Runtime API against the local S3,
//! writes CloudWatch Embedded Metric Format documents on stdout; each is checked against the EMF
//! specification, and together they carry what the invocation did: a replica (operations, bytes,
//! latency), a failure with its code, a skip with its reason, and the S3 requests made.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// Serves the Runtime API: each `next` gets the next of `events` (as `req-N`, with the
/// deadline `deadline_in_ms` from then), later ones wait forever; each response (or error)
/// posted is kept with its request id and when it came.
async fn runtime_api(
    listener: TcpListener,
    events: Vec<Value>,
    posted: Arc<Mutex<Vec<(String, String, std::time::Instant)>>>,
    deadline_in_ms: u128,
) {
    let served = Arc::new(Mutex::new(0usize));
    let events = Arc::new(events);
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (events, posted, served) = (events.clone(), posted.clone(), served.clone());
        tokio::spawn(async move {
            let mut reader = BufReader::new(stream);
            loop {
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).await.unwrap();
                    let line = line.trim_end().to_ascii_lowercase();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).await.unwrap();
                if request_line.contains("/invocation/next") {
                    let n = {
                        let mut served = served.lock().await;
                        *served += 1;
                        *served - 1
                    };
                    let Some(event) = events.get(n) else {
                        std::future::pending::<()>().await;
                        return;
                    };
                    let body = event.to_string();
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis()
                        + deadline_in_ms;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         lambda-runtime-aws-request-id: req-{n}\r\n\
                         lambda-runtime-deadline-ms: {deadline}\r\n\
                         lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n\
                         content-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    reader.get_mut().write_all(answer.as_bytes()).await.unwrap();
                } else {
                    let id = request_line
                        .split('/')
                        .skip_while(|part| *part != "invocation")
                        .nth(1)
                        .unwrap_or_default()
                        .to_owned();
                    let text = String::from_utf8(body).unwrap();
                    posted
                        .lock()
                        .await
                        .push((id, text, std::time::Instant::now()));
                    reader
                        .get_mut()
                        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                        .await
                        .unwrap();
                }
            }
        });
    }
}

/// Runs the binary for one invocation of `event` (deadline `deadline_in_ms` from now) with
/// this environment: what it posted back, and the EMF documents it wrote.
pub(crate) async fn invoke(
    event: Value,
    env: &[(&str, &str)],
    deadline_in_ms: u128,
) -> (String, Vec<Value>) {
    let (posted, documents) = invoke_all(vec![event], env, deadline_in_ms, &[]).await;
    (posted[0].1.clone(), documents)
}

/// Runs the binary until it has answered every one of `events`, with this environment and
/// these extra variables: the answers (request id, body, when) in the order they came, and the
/// EMF documents written.
async fn invoke_all(
    events: Vec<Value>,
    env: &[(&str, &str)],
    deadline_in_ms: u128,
    extra: &[(&str, &str)],
) -> (Vec<(String, String, std::time::Instant)>, Vec<Value>) {
    let (posted, documents, _) = invoke_logged(events, env, deadline_in_ms, extra).await;
    (posted, documents)
}

/// As [`invoke_all`], with the function's log lines too.
pub(crate) async fn invoke_logged(
    events: Vec<Value>,
    env: &[(&str, &str)],
    deadline_in_ms: u128,
    extra: &[(&str, &str)],
) -> (
    Vec<(String, String, std::time::Instant)>,
    Vec<Value>,
    Vec<Value>,
) {
    let count = events.len();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap().to_string();
    let posted = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(runtime_api(
        listener,
        events,
        posted.clone(),
        deadline_in_ms,
    ));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .envs(function_env(env))
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "f")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        // Last: a test may put its own endpoint (a proxy) in front of the local S3.
        .envs(extra.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read as it is written: a full pipe would stop the function.
    let mut out = child.stdout.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut stdout = String::new();
        out.read_to_string(&mut stdout).await.unwrap();
        stdout
    });
    tokio::time::timeout(Duration::from_secs(60), async {
        while posted.lock().await.len() < count {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the function answers");
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    let stdout = reader.await.unwrap();
    let (documents, logs): (Vec<Value>, Vec<Value>) = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .partition(|v| v.get("_aws").is_some());
    assert!(!documents.is_empty(), "no EMF document in: {stdout}");
    let posted = posted.lock().await.clone();
    (posted, documents, logs)
}

/// The values of `name` in documents whose only dimension is the source bucket.
pub(crate) fn source_level_values(documents: &[Value], name: &str) -> Vec<f64> {
    documents
        .iter()
        .filter(|d| d.get("DestinationBucket").is_none() && d.get("FailureCode").is_none())
        .filter_map(|d| d.get(name))
        .flat_map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
            other => other.as_f64().into_iter().collect::<Vec<_>>(),
        })
        .collect()
}

#[tokio::test]
async fn no_latency_sample_is_dropped_and_unreadable_records_are_counted() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emf-many-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emf-many-dst", "eu-west-1").await;
    let config = json!({"Rules": [
        {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}}]})
    .to_string();
    // More replicas in one invocation than the EMF writer keeps values between flushes.
    let mut puts = Vec::new();
    for n in 0..150 {
        puts.push(put(&s3, &src, &format!("k{n}"), b"x").await);
    }
    let mut event = created_event(&puts);
    let mut unreadable = event["Records"][0].clone();
    unreadable["s3"]["object"]["key"] = Value::Null;
    event["Records"].as_array_mut().unwrap().push(unreadable);
    let (posted, documents) = invoke(event, &[("REPLICATION_CONFIG", &config)], 60_000).await;
    assert!(posted.contains("InvalidRecord"), "{posted}");
    let samples = source_level_values(&documents, "ReplicationLatency");
    assert_eq!(samples.len(), 150, "one latency sample per replica");
    let by_code: Vec<&Value> = documents
        .iter()
        .filter(|d| d["FailureCode"] == "InvalidRecord")
        .collect();
    assert_eq!(by_code.len(), 1, "{documents:#?}");
    assert_eq!(by_code[0]["OperationsFailedReplication"], 1);
}

/// A source and destination, and a configuration whose rule for `ok/` replicates there and whose
/// rule for `hang/` replicates to an endpoint that accepts connections and never answers (while
/// `silent` lives).
struct Hanging {
    s3: aws_sdk_s3::Client,
    src: String,
    dst: String,
    config: String,
    silent: std::net::TcpListener,
}

/// A rule whose destination is a local endpoint that never answers: plain http, so the function
/// runs with `ALLOW_PLAIN_HTTP_ENDPOINTS=true`.
async fn one_rule_hangs(label: &str) -> Hanging {
    let s3 = client();
    let src = versioned_bucket(&s3, &format!("{label}-src"), "us-east-1").await;
    let dst = versioned_bucket(&s3, &format!("{label}-dst"), "eu-west-1").await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_at = format!("http://{}", silent.local_addr().unwrap());
    let config = json!({"Rules": [
        {"ID": "ok", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "ok/"},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}},
        {"ID": "hangs", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "hang/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "far", "Region": "us-east-1", "Endpoint": silent_at,
            "ForcePathStyle": true}}]})
    .to_string();
    Hanging {
        s3,
        src,
        dst,
        config,
        silent,
    }
}

#[tokio::test]
async fn metrics_are_written_before_the_deadline_when_a_call_hangs() {
    let Hanging {
        s3,
        src,
        dst: _,
        config,
        silent,
    } = one_rule_hangs("emf-hang").await;
    let ok = put(&s3, &src, "ok/a", b"a").await;
    let hangs = put(&s3, &src, "hang/b", b"b").await;
    let (posted, documents, logs) = invoke_logged(
        vec![created_event(&[ok, hangs.clone()])],
        &[
            ("REPLICATION_CONFIG", &config),
            ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
            ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
        ],
        5_000,
        &[],
    )
    .await;
    // The invocation fails (Lambda retries it), naming the record not done: its object, its
    // destination and its code, in the failure destination's payload.
    let error: Value = serde_json::from_str(&posted[0].1).unwrap();
    assert_eq!(error["errorType"], "DeadlineReached", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    let object = format!(
        "s3://{}/hang/b?versionId={}",
        hangs.bucket,
        hangs.version_id.as_deref().unwrap()
    );
    assert!(
        message.contains(&format!("[record 1 {object} -> far at http://"))
            && message.contains("DeadlineExceeded"),
        "{message}"
    );
    assert!(!message.contains("ok/a"), "{message}");
    assert_eq!(
        source_level_values(&documents, "ReplicationLatency").len(),
        1
    );
    named_not_done(&documents, &logs, &hangs);
    drop(silent);
}

const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one document against the EMF specification; returns (metric name, dimension names,
/// the document) for each metric it declares.
fn check_emf(doc: &Value) -> Vec<(String, Vec<String>, Value)> {
    let aws = &doc["_aws"];
    assert!(
        aws["Timestamp"].as_u64().is_some(),
        "Timestamp in ms: {doc}"
    );
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .expect("CloudWatchMetrics");
    assert!(!directives.is_empty());
    let mut declared = Vec::new();
    for d in directives {
        assert_eq!(d["Namespace"], "S3Replicator", "{doc}");
        let sets = d["Dimensions"].as_array().expect("Dimensions");
        for set in sets {
            let names = set.as_array().expect("a dimension set is an array");
            assert!(names.len() <= 30);
            for name in names {
                let name = name.as_str().unwrap();
                assert!(doc[name].is_string(), "dimension {name} has a value: {doc}");
            }
        }
        for m in d["Metrics"].as_array().expect("Metrics") {
            let name = m["Name"].as_str().expect("Name").to_owned();
            if let Some(unit) = m.get("Unit") {
                assert!(UNITS.contains(&unit.as_str().unwrap()), "{unit}");
            }
            let value = &doc[&name];
            assert!(
                value.is_number()
                    || value
                        .as_array()
                        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_number)),
                "{name} has a value at the top level: {doc}"
            );
            let dims: Vec<String> = sets[0]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap().to_owned())
                .collect();
            declared.push((name, dims, doc.clone()));
        }
    }
    declared
}

#[tokio::test]
async fn invocation_writes_emf_documents_for_replicas_failures_skips_and_requests() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emf-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emf-dst", "eu-west-1").await;
    let config = json!({"Rules": [
        {"ID": "ok", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "ok/"},
         "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}},
        {"ID": "broken", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "broken/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "no-such-bucket-anywhere", "Region": "eu-west-1"}}]})
    .to_string();
    let ok = put(&s3, &src, "ok/a.txt", b"twelve bytes").await;
    let broken = put(&s3, &src, "broken/b.txt", b"b").await;
    let other = put(&s3, &src, "elsewhere/c.txt", b"c").await;
    let event = created_event(&[ok, broken, other]);

    let (posted, documents) = invoke(event, &[("REPLICATION_CONFIG", &config)], 60_000).await;
    assert!(posted.contains("RecordsFailed"));
    let declared: Vec<(String, Vec<String>, Value)> =
        documents.iter().flat_map(check_emf).collect();
    let find = |name: &str, dims: &[&str]| {
        declared
            .iter()
            .find(|(n, d, _)| n == name && d.iter().map(String::as_str).eq(dims.iter().copied()))
            .map(|(_, _, doc)| doc.clone())
            .unwrap_or_else(|| panic!("{name} by {dims:?} in {documents:#?}"))
    };
    let pair = ["SourceBucket", "DestinationBucket"];
    let replicated = find("OperationsReplicated", &pair);
    assert_eq!(replicated["SourceBucket"], src.as_str());
    assert_eq!(replicated["DestinationBucket"], dst.as_str());
    assert_eq!(replicated["OperationsReplicated"], 1);
    assert_eq!(replicated["BytesReplicated"], 12);
    let latency = &find("ReplicationLatency", &pair)["ReplicationLatency"];
    assert!(
        latency.as_array().is_some_and(|v| v.len() == 1),
        "{latency}"
    );
    let failed = find(
        "OperationsFailedReplication",
        &["SourceBucket", "DestinationBucket", "FailureCode"],
    );
    assert_eq!(failed["DestinationBucket"], "no-such-bucket-anywhere");
    assert!(
        failed["FailureCode"].as_str().unwrap().starts_with("Dst"),
        "{failed}"
    );
    assert_eq!(failed["OperationsFailedReplication"], 1);
    find("OperationsFailedReplication", &pair);
    let skipped = find(
        "OperationsSkipped",
        &["SourceBucket", "DestinationBucket", "Reason"],
    );
    assert_eq!(skipped["Reason"], "NoMatchingRule");
    let requests = find("S3Requests", &["SourceBucket"]);
    assert!(requests["S3Requests"].as_u64().unwrap() >= 5, "{requests}");
    // Every metric is one the dashboard and README know.
    let known: HashSet<&str> = s3_replicator::metrics::ALL
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for (name, _, _) in &declared {
        assert!(known.contains(name.as_str()), "{name}");
    }
}

#[test]
fn dashboard_is_json_and_shows_only_metrics_the_function_emits() {
    for trigger in ["S3Notification", "SQS"] {
        let body: Value = json_from(
            std::process::Command::new(repo_root().join(".venv/bin/python"))
                .arg(repo_root().join("scripts/iam_from_template.py"))
                .arg(repo_root().join("template.yaml"))
                .args(["--dashboard", "--param", "SourceBucketName=src"])
                .args(["--param", "DestinationBucketArns=arn:aws:s3:::dst"])
                .args(["--param", &format!("Trigger={trigger}")]),
        );
        let mut shown: Vec<(String, String)> = Vec::new();
        for widget in body["widgets"].as_array().unwrap() {
            let mut namespace = String::new();
            for row in widget["properties"]["metrics"].as_array().unwrap() {
                let row = row.as_array().unwrap();
                if let Some(expression) = row[0].get("expression").and_then(Value::as_str) {
                    let ns = expression
                        .split('{')
                        .nth(1)
                        .unwrap()
                        .split(',')
                        .next()
                        .unwrap();
                    let name = expression
                        .split("MetricName=\"")
                        .nth(1)
                        .unwrap()
                        .split('"')
                        .next()
                        .unwrap();
                    shown.push((ns.to_owned(), name.to_owned()));
                    continue;
                }
                if row[0] != "." {
                    namespace = row[0].as_str().unwrap().to_owned();
                }
                shown.push((namespace.clone(), row[1].as_str().unwrap().to_owned()));
            }
        }
        let emitted: HashSet<&str> = s3_replicator::metrics::ALL
            .iter()
            .map(|(n, _)| *n)
            .collect();
        for (namespace, name) in &shown {
            let known = match namespace.as_str() {
                "S3Replicator" => emitted.contains(name.as_str()),
                "AWS/Lambda" => ["Invocations", "Errors", "Throttles"].contains(&name.as_str()),
                "AWS/SQS" => [
                    "ApproximateNumberOfMessagesVisible",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateAgeOfOldestMessage",
                ]
                .contains(&name.as_str()),
                _ => false,
            };
            assert!(known, "{trigger}: {namespace} {name}");
        }
        for name in &emitted {
            assert!(
                shown.iter().any(|(_, n)| n == name),
                "{trigger}: {name} not shown"
            );
        }
        let backlog = shown
            .iter()
            .any(|(_, n)| n == "ApproximateAgeOfOldestMessage");
        assert_eq!(
            backlog,
            trigger == "SQS",
            "the queue backlog is shown with the SQS trigger"
        );
    }
}

#[test]
fn every_alarm_watches_a_metric_the_function_emits_as_it_emits_it() {
    use s3_replicator::metrics::{ALL, DIMENSION_SETS, NAMESPACE, OPERATIONS_FAILED};
    for trigger in ["S3Notification", "SQS", "EventBridge"] {
        let alarms: Value = json_from(
            std::process::Command::new(repo_root().join(".venv/bin/python"))
                .arg(repo_root().join("scripts/iam_from_template.py"))
                .arg(repo_root().join("template.yaml"))
                .args(["--alarms", "--param", "SourceBucketName=src"])
                .args(["--param", "DestinationBucketArns=arn:aws:s3:::dst"])
                .args(["--param", &format!("Trigger={trigger}")]),
        );
        let alarms = alarms.as_object().unwrap();
        for (name, alarm) in alarms {
            let namespace = alarm["Namespace"].as_str().unwrap();
            let metric = alarm["MetricName"].as_str().unwrap();
            let mut dims: Vec<&str> = alarm["Dimensions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["Name"].as_str().unwrap())
                .collect();
            dims.sort_unstable();
            let statistic = alarm["Statistic"]
                .as_str()
                .or(alarm["ExtendedStatistic"].as_str())
                .unwrap_or_else(|| panic!("{name}: a statistic"));
            let seen = format!("{trigger} {name}: {namespace} {metric} {dims:?} {statistic}");
            match namespace {
                "AWS/Lambda" => {
                    assert_eq!(
                        (metric, &dims[..]),
                        ("Errors", &["FunctionName"][..]),
                        "{seen}"
                    )
                }
                "AWS/SQS" => assert!(
                    [
                        "ApproximateNumberOfMessagesVisible",
                        "ApproximateAgeOfOldestMessage"
                    ]
                    .contains(&metric)
                        && dims == ["QueueName"],
                    "{seen}"
                ),
                _ => {
                    assert_eq!(namespace, NAMESPACE, "{seen}");
                    let emitted = DIMENSION_SETS.iter().any(|(m, set)| {
                        let mut set = set.to_vec();
                        set.sort_unstable();
                        *m == metric && set == dims
                    });
                    assert!(emitted, "not emitted so: {seen}");
                    let unit = ALL.iter().find(|(m, _)| *m == metric).unwrap().1;
                    // Counters are summed; only the latency histogram has a distribution.
                    let fits = match unit {
                        "Milliseconds" => {
                            statistic.starts_with('p')
                                || ["Average", "Minimum", "Maximum", "SampleCount"]
                                    .contains(&statistic)
                        }
                        _ => statistic == "Sum",
                    };
                    assert!(fits, "{seen}");
                    if let Some(u) = alarm.get("Unit") {
                        assert_eq!(u, unit, "{seen}");
                    }
                    // The stack's source, or the values failures take where no source of the
                    // stack is known: "none" (unread records), "other" (outside SOURCE_BUCKETS).
                    for d in alarm["Dimensions"].as_array().unwrap() {
                        assert_eq!(d["Name"], "SourceBucket", "{seen}");
                        assert!(
                            ["src", "none", s3_replicator::metrics::OTHER]
                                .contains(&d["Value"].as_str().unwrap()),
                            "{seen}"
                        );
                    }
                }
            }
        }
        // Failures alarm whatever the trigger: an SQS partial batch response or a failed Batch
        // task is a successful invocation. And whatever source they are counted under: the
        // stack's, none (a record that could not be read), other (outside SOURCE_BUCKETS).
        for source in ["src", "none", s3_replicator::metrics::OTHER] {
            assert!(
                alarms.values().any(|a| a["MetricName"] == OPERATIONS_FAILED
                    && a["Statistic"] == "Sum"
                    && a["Dimensions"][0]["Value"] == source),
                "{trigger}: no alarm on {OPERATIONS_FAILED} under SourceBucket {source}"
            );
        }
    }
}

#[tokio::test]
async fn one_environment_serves_several_invocations_at_once_when_lambda_allows_it() {
    // The first invocation's copy goes to an endpoint that never answers, until its deadline.
    let Hanging {
        s3,
        src,
        dst,
        config,
        silent,
    } = one_rule_hangs("conc").await;
    let hangs = put(&s3, &src, "hang/a", b"a").await;
    let ok = put(&s3, &src, "ok/b", b"b").await;
    let events = vec![
        created_event(std::slice::from_ref(&hangs)),
        created_event(std::slice::from_ref(&ok)),
    ];
    let env = [
        ("REPLICATION_CONFIG", config.as_str()),
        ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
        ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
    ];
    let (posted, _) = invoke_all(events, &env, 6_000, &[("AWS_LAMBDA_MAX_CONCURRENCY", "2")]).await;
    // The second invocation was taken and answered while the first still waited.
    let order: Vec<&str> = posted.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(order, ["req-1", "req-0"], "{posted:?}");
    assert!(posted[1].1.contains("DeadlineReached"), "{}", posted[1].1);
    assert_eq!(body_of(&s3, &dst, "ok/b", None).await, b"b");
    drop(silent);
}

/// The values of `name` in documents by source and destination bucket (no code, no reason).
pub(crate) fn pair_values(documents: &[Value], name: &str) -> Vec<f64> {
    documents
        .iter()
        .filter(|d| d.get("DestinationBucket").is_some())
        .filter(|d| d.get("FailureCode").is_none() && d.get("Reason").is_none())
        .filter_map(|d| d.get(name))
        .flat_map(|v| match v {
            Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
            other => other.as_f64().into_iter().collect::<Vec<_>>(),
        })
        .collect()
}

fn one_rule(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

#[tokio::test]
async fn a_replica_written_by_convergence_is_counted_once_with_its_bytes_and_latency() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emf-conv-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emf-conv-dst", "eu-west-1").await;
    let config = one_rule(&dst);
    let v2 = put(&s3, &src, "k", b"second").await;
    let v3 = put(&s3, &src, "k", b"third version").await;
    // v2's event while v3 exists: v2 is copied, then convergence copies v3; v3's own event
    // finds its replica written.
    let events = vec![
        created_event(std::slice::from_ref(&v2)),
        created_event(std::slice::from_ref(&v3)),
    ];
    let (posted, documents) =
        invoke_all(events, &[("REPLICATION_CONFIG", &config)], 60_000, &[]).await;
    assert_eq!(version_ids(&s3, &dst, "k").await.len(), 2, "two replicas");
    let first: Value = serde_json::from_str(&posted[0].1).unwrap();
    assert_eq!(first["replicated"], 2, "{first}");
    let sum = |name| pair_values(&documents, name).iter().sum::<f64>();
    assert_eq!(sum("OperationsReplicated"), 2.0, "{documents:#?}");
    assert_eq!(sum("BytesReplicated"), 19.0, "{documents:#?}");
    assert_eq!(pair_values(&documents, "ReplicationLatency").len(), 2);
    assert_eq!(
        source_level_values(&documents, "ReplicationLatency").len(),
        2
    );
}

#[tokio::test]
async fn batch_operations_replicas_are_counted_with_their_bytes_and_requests() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emf-batch-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emf-batch-dst", "eu-west-1").await;
    let config = one_rule(&dst);
    put(&s3, &src, "a b.txt", b"twelve bytes").await;
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {"Mode": "replicate"}},
        "tasks": [{"taskId": "t0", "s3Key": "a+b.txt", "s3VersionId": null, "s3Bucket": src}]});
    let (posted, documents) = invoke(job, &[("REPLICATION_CONFIG", &config)], 60_000).await;
    assert!(posted.contains("\"Succeeded\""), "{posted}");
    assert_eq!(body_of(&s3, &dst, "a b.txt", None).await, b"twelve bytes");
    let sum = |name| pair_values(&documents, name).iter().sum::<f64>();
    assert_eq!(sum("OperationsReplicated"), 1.0, "{documents:#?}");
    assert_eq!(sum("BytesReplicated"), 12.0, "{documents:#?}");
    assert!(
        source_level_values(&documents, "S3Requests")
            .iter()
            .sum::<f64>()
            >= 2.0,
        "{documents:#?}"
    );
    // A task has no event time: no latency sample (a backfill of old objects is no lag).
    assert!(source_level_values(&documents, "ReplicationLatency").is_empty());
}

/// An SQS message around `body`, as the event source mapping delivers it.
pub(crate) fn sqs_message(id: &str, body: &Value) -> Value {
    let template: Value =
        serde_json::from_str(include_str!("../../events/sqs-s3-notification.json")).unwrap();
    let mut m = template["Records"][0].clone();
    m["messageId"] = id.into();
    m["body"] = body.to_string().into();
    m
}

/// Where a record not done at the deadline is named: in `documents` (by code, with its
/// destination) and in a warning of `logs` naming bucket, key, version and destination.
fn named_not_done(documents: &[Value], logs: &[Value], hangs: &Put) {
    let by_code: Vec<&Value> = documents
        .iter()
        .filter(|d| d["FailureCode"] == "DeadlineExceeded")
        .collect();
    assert_eq!(by_code.len(), 1, "{documents:#?}");
    // The destination as outcomes name it: its bucket, and its endpoint when not ours.
    let destination = by_code[0]["DestinationBucket"].as_str().unwrap();
    assert!(
        destination.starts_with("far at http://127.0.0.1:"),
        "{destination}"
    );
    assert_eq!(by_code[0]["SourceBucket"], hangs.bucket.as_str());
    assert_eq!(by_code[0]["OperationsFailedReplication"], 1);
    let named = logs.iter().any(|l| {
        let f = &l["fields"];
        f["code"] == "DeadlineExceeded"
            && f["bucket"] == hangs.bucket.as_str()
            && f["key"] == hangs.key.as_str()
            && f["version_id"] == hangs.version_id.as_deref().unwrap()
            && f["destination"] == destination
    });
    assert!(named, "{logs:#?}");
}

#[tokio::test]
async fn under_sqs_only_the_message_still_running_at_the_deadline_returns() {
    let Hanging {
        s3,
        src,
        dst,
        config,
        silent,
    } = one_rule_hangs("emf-sqs-hang").await;
    let ok = put(&s3, &src, "ok/a", b"a").await;
    let hangs = put(&s3, &src, "hang/b", b"b").await;
    let batch = json!({"Records": [
        sqs_message("m-ok", &created_event(std::slice::from_ref(&ok))),
        sqs_message("m-hangs", &created_event(std::slice::from_ref(&hangs))),
    ]});
    let env = [
        ("REPLICATION_CONFIG", config.as_str()),
        ("MULTIPART_TIME_MARGIN_SECONDS", "1"),
        ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
    ];
    let (posted, documents, logs) = invoke_logged(vec![batch], &env, 5_000, &[]).await;
    // An answer, not an invocation error: only the message not done returns.
    let answer: Value = serde_json::from_str(&posted[0].1).expect(&posted[0].1);
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "m-hangs"}]})
    );
    assert_eq!(body_of(&s3, &dst, "ok/a", None).await, b"a");
    named_not_done(&documents, &logs, &hangs);
    drop(silent);
}

/// A Batch verify task that finds a replica missing reports it in the job's answer; it is no
/// failed replication (that would trip the failed-replication alarm on every verify job that
/// finds damage).
#[tokio::test]
async fn a_batch_verify_finding_is_not_counted_as_a_failed_replication() {
    let s3 = client();
    let src = versioned_bucket(&s3, "emf-bv-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "emf-bv-dst", "eu-west-1").await;
    let config = one_rule(&dst);
    put(&s3, &src, "never-replicated.txt", b"data").await;
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-2",
        "job": {"id": "job-2", "userArguments": {"Mode": "verify"}},
        "tasks": [{"taskId": "t0", "s3Key": "never-replicated.txt", "s3VersionId": null,
                   "s3Bucket": src}]});
    let (posted, documents) = invoke(job, &[("REPLICATION_CONFIG", &config)], 60_000).await;
    assert!(posted.contains("\"PermanentFailure\""), "{posted}");
    let failed: f64 = pair_values(&documents, "OperationsFailedReplication")
        .iter()
        .chain(&source_level_values(
            &documents,
            "OperationsFailedReplication",
        ))
        .sum();
    assert_eq!(failed, 0.0, "{documents:#?}");
}

//! Every way S3 events reach the function, against the local S3: SQS (an S3 body, an SNS
//! envelope, an EventBridge event, the test event) with partial batch failures, EventBridge
//! directly, each fixture in events/; and a burst of writes to one key delivered together.

use crate::common::*;
use s3_replicator::events::decode_event_key;
use s3_replicator::respond;
use serde_json::{json, Value};

fn config(dst: &str) -> String {
    json!({"Rules": [
        {"ID": "ok", "Priority": 2, "Status": "Enabled", "Filter": {"Prefix": "ok/"},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}},
        // A destination that does not exist: every record under broken/ fails.
        {"ID": "broken", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": "broken/"},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "no-such-bucket-anywhere", "StorageClass": "STANDARD"}}]})
    .to_string()
}

/// An SQS message around `body`, as the event source mapping delivers it.
fn message(id: &str, body: &Value) -> Value {
    let template: Value =
        serde_json::from_str(include_str!("../../events/sqs-s3-notification.json")).unwrap();
    let mut m = template["Records"][0].clone();
    m["messageId"] = id.into();
    m["body"] = body.to_string().into();
    m
}

fn sqs(messages: Vec<Value>) -> Value {
    json!({ "Records": messages })
}

fn failed_ids(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .expect("a partial batch response")
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn eventbridge(p: &Put, sequencer: &str) -> Value {
    let mut e: Value =
        serde_json::from_str(include_str!("../../events/eventbridge-object-created.json")).unwrap();
    e["detail"]["bucket"]["name"] = p.bucket.clone().into();
    let encoded: String = form_urlencoded::byte_serialize(p.key.as_bytes()).collect();
    e["detail"]["object"]["key"] = encoded.into();
    e["detail"]["object"]["etag"] = p.etag.clone().into();
    e["detail"]["object"]["version-id"] = p.version_id.clone().unwrap().into();
    e["detail"]["object"]["sequencer"] = sequencer.into();
    e
}

#[tokio::test]
async fn sqs_batch_of_ten_returns_exactly_the_two_failed_messages() {
    let s3 = client();
    let src = versioned_bucket(&s3, "in-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "in-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let mut messages = Vec::new();
    let mut good = Vec::new();
    for n in 0..10 {
        let key = match n {
            3 | 7 => format!("broken/{n}.txt"),
            _ => format!("ok/{n} + more.txt"),
        };
        let p = put(&s3, &src, &key, key.as_bytes()).await;
        let body = match n % 3 {
            // S3 → SQS.
            0 => created_event(std::slice::from_ref(&p)),
            // S3 → SNS → SQS, without raw delivery.
            1 => json!({"Type": "Notification", "MessageId": format!("sns-{n}"),
                        "Message": created_event(std::slice::from_ref(&p)).to_string()}),
            // EventBridge → SQS.
            _ => eventbridge(&p, &format!("00617F08299329D1{n:02}")),
        };
        messages.push(message(&format!("msg-{n}"), &body));
        if !key.starts_with("broken/") {
            good.push(p);
        }
    }
    let response = respond(&replicator, sqs(messages.clone()), None)
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), ["msg-3", "msg-7"]);
    for p in &good {
        assert_eq!(body_of(&s3, &dst, &p.key, None).await, p.key.as_bytes());
    }
    // The eight are deleted from the queue; the two come back alone, and fail again.
    let again = respond(
        &replicator,
        sqs(vec![messages[3].clone(), messages[7].clone()]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(failed_ids(&again), ["msg-3", "msg-7"]);
}

#[tokio::test]
async fn unreadable_message_is_returned_and_the_test_event_acknowledged() {
    let s3 = client();
    let src = versioned_bucket(&s3, "in2-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "in2-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let p = put(&s3, &src, "ok/a.txt", b"a").await;
    let test: Value =
        serde_json::from_str(include_str!("../../events/sqs-s3-test-event.json")).unwrap();
    let mut messages = vec![
        message("good", &created_event(&[p])),
        message("garbage", &json!({"hello": "world"})),
    ];
    messages.push(test["Records"][0].clone());
    messages[1]["body"] = "{not json".into();
    let response = respond(&replicator, sqs(messages), None).await.unwrap();
    assert_eq!(failed_ids(&response), ["garbage"]);
    assert_eq!(body_of(&s3, &dst, "ok/a.txt", None).await, b"a");
}

#[tokio::test]
async fn eventbridge_event_direct_replicates_with_its_key_decoded() {
    let s3 = client();
    let src = versioned_bucket(&s3, "eb-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "eb-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    // The fixture's key: `shared/1%2B1%3D2+copy.txt`, form-URL-encoded as S3 notifications are.
    let fixture: Value =
        serde_json::from_str(include_str!("../../events/eventbridge-object-created.json")).unwrap();
    let key = decode_event_key(fixture["detail"]["object"]["key"].as_str().unwrap()).unwrap();
    assert_eq!(key, "shared/1+1=2 copy.txt");
    let p = put(&s3, &src, &format!("ok/{key}"), b"eb").await;
    let response = respond(&replicator, eventbridge(&p, "00617F08299329D189"), None)
        .await
        .unwrap();
    assert_eq!(response["replicated"], 1, "{response}");
    assert_eq!(body_of(&s3, &dst, &p.key, None).await, b"eb");

    // Object Deleted with a delete marker: the replica is hidden too.
    let marker = s3
        .delete_object()
        .bucket(&src)
        .key(&p.key)
        .send()
        .await
        .unwrap();
    let mut deleted: Value =
        serde_json::from_str(include_str!("../../events/eventbridge-object-deleted.json")).unwrap();
    deleted["detail"]["bucket"]["name"] = src.clone().into();
    deleted["detail"]["object"]["key"] = form_urlencoded::byte_serialize(p.key.as_bytes())
        .collect::<String>()
        .into();
    deleted["detail"]["object"]["version-id"] = marker.version_id().unwrap().into();
    let response = respond(&replicator, deleted, None).await.unwrap();
    assert_eq!(response["synced"], 1, "{response}");
    assert!(s3
        .head_object()
        .bucket(&dst)
        .key(&p.key)
        .send()
        .await
        .is_err());

    // A failed record fails a direct invocation, so Lambda retries it.
    let broken = put(&s3, &src, "broken/x", b"x").await;
    assert!(respond(&replicator, eventbridge(&broken, "01"), None)
        .await
        .is_err());
}

#[tokio::test]
async fn burst_of_eight_writes_in_one_shuffled_batch_gives_eight_versions_in_order() {
    let s3 = client();
    let src = versioned_bucket(&s3, "burst-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "burst-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let mut messages = Vec::new();
    for n in 0..8 {
        let p = put(&s3, &src, "ok/hot key", format!("write {n}").as_bytes()).await;
        let record = record(
            "ObjectCreated:Put",
            &src,
            "ok/hot key",
            p.version_id.as_deref(),
            Some(&p.etag),
            &format!("0062E99A88DC{n:04X}"),
        );
        messages.push(message(&format!("m{n}"), &event_of(vec![record])));
    }
    // Delivered in another order than written.
    for (i, j) in [(0, 5), (1, 7), (2, 4), (3, 6)] {
        messages.swap(i, j);
    }
    let response = respond(&replicator, sqs(messages.clone()), None)
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let history = |ids: Vec<String>| {
        let s3 = s3.clone();
        let dst = dst.clone();
        async move {
            let mut bodies = Vec::new();
            for id in ids.iter().rev() {
                bodies.push(
                    String::from_utf8(body_of(&s3, &dst, "ok/hot key", Some(id)).await).unwrap(),
                );
            }
            bodies
        }
    };
    let written: Vec<String> = (0..8).map(|n| format!("write {n}")).collect();
    assert_eq!(
        history(version_ids(&s3, &dst, "ok/hot key").await).await,
        written
    );

    // The same batch redelivered copies nothing.
    let again = respond(&replicator, sqs(messages), None).await.unwrap();
    assert!(failed_ids(&again).is_empty());
    assert_eq!(version_count(&s3, &dst, "ok/hot key").await, 8);
}

/// Each fixture in events/ for these sources, re-aimed at a real object, through the handler.
#[tokio::test]
async fn sqs_and_eventbridge_fixtures_replicate() {
    let s3 = client();
    let src = versioned_bucket(&s3, "fx-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "fx-dst", "eu-west-1").await;
    let cfg =
        include_str!("../../scripts/demo-replication-config.json").replace("demo-replica", &dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &cfg)]);
    for (fixture, text) in [
        (
            "sqs-s3-notification.json",
            include_str!("../../events/sqs-s3-notification.json"),
        ),
        (
            "sqs-sns-s3-notification.json",
            include_str!("../../events/sqs-sns-s3-notification.json"),
        ),
        (
            "sqs-eventbridge-object-created.json",
            include_str!("../../events/sqs-eventbridge-object-created.json"),
        ),
    ] {
        let mut event: Value = serde_json::from_str(text).unwrap();
        let body: Value =
            serde_json::from_str(event["Records"][0]["body"].as_str().unwrap()).unwrap();
        let (mut inner, sns) = match body.get("Message") {
            Some(m) => (
                serde_json::from_str::<Value>(m.as_str().unwrap()).unwrap(),
                true,
            ),
            None => (body.clone(), false),
        };
        let object = match inner.get("detail") {
            Some(_) => &mut inner["detail"],
            None => &mut inner["Records"][0]["s3"],
        };
        object["bucket"]["name"] = src.clone().into();
        let key = decode_event_key(object["object"]["key"].as_str().unwrap()).unwrap();
        let p = put(&s3, &src, &key, fixture.as_bytes()).await;
        let version = p.version_id.clone().unwrap();
        match object["object"].get("version-id") {
            Some(_) => object["object"]["version-id"] = version.into(),
            None => object["object"]["versionId"] = version.into(),
        }
        object["object"]
            .as_object_mut()
            .unwrap()
            .retain(|k, _| !k.eq_ignore_ascii_case("etag"));
        let body = match sns {
            true => {
                let mut b = body.clone();
                b["Message"] = inner.to_string().into();
                b
            }
            false => inner,
        };
        event["Records"][0]["body"] = body.to_string().into();
        let response = respond(&replicator, event, None).await.unwrap();
        assert!(failed_ids(&response).is_empty(), "{fixture}: {response}");
        assert_eq!(
            body_of(&s3, &dst, &key, None).await,
            fixture.as_bytes(),
            "{fixture}"
        );
    }
    let test: Value =
        serde_json::from_str(include_str!("../../events/sqs-s3-test-event.json")).unwrap();
    assert!(failed_ids(&respond(&replicator, test, None).await.unwrap()).is_empty());
}

/// From a FIFO queue, the first failed message and every later one return to the queue, so each
/// message group keeps its order; a later message that replicated is then delivered again and
/// copies nothing.
#[tokio::test]
async fn fifo_batch_returns_the_failed_message_and_every_later_one() {
    let s3 = client();
    let src = versioned_bucket(&s3, "fifo-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "fifo-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let (a, b) = (
        put(&s3, &src, "ok/a.txt", b"a").await,
        put(&s3, &src, "ok/b.txt", b"b").await,
    );
    let mut messages = vec![
        message("first", &created_event(&[a])),
        message("broken", &json!({})),
        message("after", &created_event(&[b])),
    ];
    messages[1]["body"] = "{not json".into();
    for m in &mut messages {
        m["eventSourceARN"] = "arn:aws:sqs:us-east-1:123456789012:events.fifo".into();
    }
    let response = respond(&replicator, sqs(messages), None).await.unwrap();
    assert_eq!(failed_ids(&response), ["broken", "after"]);
}

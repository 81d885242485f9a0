//! SQS messages, as an event source mapping delivers them: each body is an S3 event notification
//! (S3 → SQS), an SNS envelope whose `Message` is one (S3 → SNS → SQS without raw delivery), or an
//! EventBridge event (EventBridge → SQS). The `s3:TestEvent` S3 sends when a notification is
//! configured is acknowledged. Each item remembers its message, so a failed record returns
//! exactly its message to the queue (partial batch failures).

use serde_json::Value;
use tracing::warn;

use super::{eventbridge, s3, Intake};

/// Whether a payload is an SQS event.
pub fn is_sqs(payload: &Value) -> bool {
    payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// An SQS batch, read.
#[derive(Debug, Default)]
pub struct SqsBatch {
    /// The items of every readable message, indexed in order across messages.
    pub items: Vec<Intake>,
    /// The message (position in `Records`) each item came from, by item index.
    pub message_of: Vec<usize>,
    /// Each message's id, by position.
    pub message_ids: Vec<String>,
    /// Messages that could not be read (reported as failed, never dropped).
    pub unreadable: Vec<usize>,
    /// From a FIFO queue (its ARN ends in `.fifo`): messages must be processed in order.
    pub fifo: bool,
}

impl SqsBatch {
    /// The ids of the messages to return to the queue: those whose items failed (by item index)
    /// and those that could not be read, each once, in message order.
    pub fn failed_ids(&self, failed_items: impl IntoIterator<Item = usize>) -> Vec<String> {
        let mut failed: Vec<usize> = failed_items
            .into_iter()
            .filter_map(|i| self.message_of.get(i).copied())
            .chain(self.unreadable.iter().copied())
            .collect();
        failed.sort_unstable();
        failed.dedup();
        // FIFO: the first failed message and every later one return, so that the queue keeps
        // the order for each message group (AWS's guidance for ordered processing).
        if let (true, Some(&first)) = (self.fifo, failed.first()) {
            failed = (first..self.message_ids.len()).collect();
        }
        failed
            .into_iter()
            .map(|m| self.message_ids[m].clone())
            .collect()
    }
}

/// Reads every message of an SQS event.
pub fn parse_sqs(payload: &Value) -> SqsBatch {
    let mut batch = SqsBatch::default();
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    batch.fifo = records.iter().any(|r| {
        r.get("eventSourceARN")
            .and_then(Value::as_str)
            .is_some_and(|arn| arn.ends_with(".fifo"))
    });
    for (m, record) in records.iter().enumerate() {
        let id = record
            .get("messageId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        batch.message_ids.push(id.clone());
        let at = format!("Records[{m}].body");
        match message_items(&at, record, batch.items.len()) {
            Ok(items) => {
                batch.message_of.extend(std::iter::repeat_n(m, items.len()));
                batch.items.extend(items);
            }
            Err(why) => {
                warn!(message_id = %id, error = %why, "unreadable SQS message: returned to the queue (its dead-letter queue after maxReceiveCount)");
                batch.unreadable.push(m);
            }
        }
    }
    batch
}

/// The items of one message, numbered from `first`; or why it cannot be read.
fn message_items(at: &str, record: &Value, first: usize) -> Result<Vec<Intake>, String> {
    let body = record
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: is missing"))?;
    let mut value: Value =
        serde_json::from_str(body).map_err(|e| format!("{at}: not JSON: {e}"))?;
    let mut at = at.to_owned();
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        // An SNS envelope: the S3 notification is the `Message` string.
        let message = value
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{at}.Message: is missing"))?;
        at += ".Message";
        value = serde_json::from_str(message).map_err(|e| format!("{at}: not JSON: {e}"))?;
    }
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    if eventbridge::is_eventbridge(&value) {
        return Ok(vec![eventbridge::parse_event(first, &at, &value)]);
    }
    let Some(records) = value.get("Records").and_then(Value::as_array) else {
        return Err(format!(
            "{at}: neither an S3 event notification, an SNS envelope of one, nor an S3 EventBridge event"
        ));
    };
    Ok(records
        .iter()
        .enumerate()
        .map(|(r, record)| s3::parse_record(first + r, &format!("{at}.Records[{r}]"), record))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(key: &str) -> Value {
        json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
               "eventTime": "2026-11-29T10:00:00.000Z", "eventName": "ObjectCreated:Put",
               "userIdentity": {"principalId": "AWS:EXAMPLE"},
               "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
               "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "src"},
                      "object": {"key": key, "eTag": "abc", "versionId": "v1",
                                 "sequencer": "0055AED6DCD90281E5"}}})
    }

    fn message(id: &str, body: &str) -> Value {
        json!({"messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
               "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
               "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"})
    }

    #[test]
    fn each_body_shape_yields_its_records_and_remembers_the_message() {
        let s3 = json!({"Records": [s3_record("a"), s3_record("b")]}).to_string();
        let sns = json!({"Type": "Notification", "MessageId": "n",
                         "Message": json!({"Records": [s3_record("c")]}).to_string()})
        .to_string();
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}).to_string();
        let payload = json!({"Records": [
            message("m-s3", &s3), message("m-sns", &sns), message("m-test", &test),
            message("m-bad", "not json")]});
        assert!(is_sqs(&payload));
        let batch = parse_sqs(&payload);
        let keys: Vec<&str> = batch
            .items
            .iter()
            .map(|i| match i {
                Intake::Object(ev) => ev.key.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
        assert_eq!(batch.message_of, [0, 0, 1]);
        assert_eq!(batch.unreadable, [3]);
        // An item of the first message failed: that message, and the unreadable one.
        assert_eq!(batch.failed_ids([1]), ["m-s3", "m-bad"]);
    }

    #[test]
    fn a_fifo_batch_returns_the_first_failed_message_and_every_later_one() {
        let batch = SqsBatch {
            message_of: vec![0, 1, 2, 3],
            message_ids: ["m0", "m1", "m2", "m3"].map(String::from).to_vec(),
            fifo: true,
            ..SqsBatch::default()
        };
        assert_eq!(batch.failed_ids([1]), ["m1", "m2", "m3"]);
        assert_eq!(batch.failed_ids([3, 2]), ["m2", "m3"]);
        assert!(batch.failed_ids([]).is_empty());
        let standard = SqsBatch {
            fifo: false,
            ..batch
        };
        assert_eq!(standard.failed_ids([1]), ["m1"]);
    }

    #[test]
    fn a_queue_whose_arn_ends_in_fifo_is_fifo() {
        let event = |arn: &str| {
            serde_json::json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m0",
                "eventSourceARN": arn, "body": "{\"Event\": \"s3:TestEvent\"}"}]})
        };
        assert!(parse_sqs(&event("arn:aws:sqs:us-east-1:123456789012:events.fifo")).fifo);
        assert!(!parse_sqs(&event("arn:aws:sqs:us-east-1:123456789012:events")).fifo);
    }
}

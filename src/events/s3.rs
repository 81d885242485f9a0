//! S3 event notifications (`Records[]`), as S3 sends them to Lambda.

use aws_lambda_events::s3::S3EventRecord;
use serde_json::Value;

use super::{describe_encoded, object_event, EventKind, Fields, Intake, RawObject};
use crate::error::InvocationError;

/// Splits an invocation payload into records. Fails only when the payload as a whole is not an
/// S3 event; a bad record becomes [`Intake::Invalid`].
pub fn parse_payload(payload: &Value) -> Result<Vec<Intake>, InvocationError> {
    if payload.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        // S3 sends this once when a notification configuration is saved.
        return Ok(Vec::new());
    }
    let Some(records) = payload.get("Records").and_then(Value::as_array) else {
        return Err(InvocationError::NotAnS3Event(
            "expected a JSON object with a \"Records\" array".to_owned(),
        ));
    };
    Ok(records
        .iter()
        .enumerate()
        .map(|(index, record)| parse_record(index, &format!("Records[{index}]"), record))
        .collect())
}

const FIELDS: Fields = Fields {
    bucket: "s3.bucket.name",
    key: "s3.object.key",
    version_id: "s3.object.versionId",
    etag: "s3.object.eTag",
    sequencer: "s3.object.sequencer",
    region: "awsRegion",
};

/// One S3 event record as item `index`; `at` is its JSON path, for messages.
pub(super) fn parse_record(index: usize, at: &str, value: &Value) -> Intake {
    let source = value.get("eventSource").and_then(Value::as_str);
    if source != Some("aws:s3") {
        return Intake::invalid(
            index,
            describe_raw(value),
            format!(
                "{at}.eventSource: is {source:?}, expected \"aws:s3\" (only S3 event notifications are accepted)"
            ),
        );
    }
    let record: S3EventRecord = match serde_path_to_error::deserialize(value) {
        Ok(r) => r,
        Err(e) => {
            return Intake::invalid(
                index,
                describe_raw(value),
                match e.path().to_string().as_str() {
                    "." => format!("{at}: not a valid S3 event record: {}", e.inner()),
                    path => format!("{at}.{path}: not a valid S3 event record: {}", e.inner()),
                },
            )
        }
    };
    let event_name = record.event_name.clone().unwrap_or_default();
    let event_name = event_name
        .strip_prefix("s3:")
        .unwrap_or(&event_name)
        .to_owned();
    let raw = RawObject {
        bucket: record.s3.bucket.name.as_deref(),
        key: record.s3.object.key.as_deref(),
        version_id: record.s3.object.version_id.as_deref(),
        etag: record.s3.object.e_tag.as_deref(),
        sequencer: record.s3.object.sequencer.as_deref(),
        region: record.aws_region.as_deref(),
        event_time: value.get("eventTime").and_then(Value::as_str),
        size: record.s3.object.size.and_then(|s| u64::try_from(s).ok()),
    };
    let kind = EventKind::of(&event_name, raw.has_version());
    match kind {
        Some(kind) => object_event(index, at, event_name, kind, &raw, &FIELDS),
        None => Intake::Ignored { index, event_name },
    }
}

/// A value quoted for a message, cut to a readable length (keys can be 70 KB of garbage).
pub(super) fn shorten(value: &str) -> String {
    const MAX: usize = 120;
    match value.char_indices().nth(MAX) {
        Some((at, _)) => format!("{:?}... ({} bytes)", &value[..at], value.len()),
        None => format!("{value:?}"),
    }
}

/// Names a record that may be malformed, as well as it can be read.
fn describe_raw(value: &Value) -> String {
    describe_encoded(
        value.pointer("/s3/bucket/name").and_then(Value::as_str),
        value.pointer("/s3/object/key").and_then(Value::as_str),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::RecordFailure;
    use crate::events::compare_sequencers;
    use serde_json::json;

    fn record(name: &str, key: &str, version: Option<&str>) -> Value {
        let mut object =
            json!({"key": key, "size": 3, "eTag": "abc", "sequencer": "0055AED6DCD90281E5"});
        if let Some(v) = version {
            object["versionId"] = json!(v);
        }
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-01T12:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": "src", "arn": "arn:aws:s3:::src"}, "object": object}
        })
    }

    #[test]
    fn created_record_becomes_an_object_event_with_decoded_key() {
        let payload = json!({"Records": [record("ObjectCreated:Put", "a+b%2Bc", Some("v1"))]});
        let items = parse_payload(&payload).unwrap();
        let Intake::Object(ev) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(ev.key, "a b+c");
        assert_eq!(ev.version_id.as_deref(), Some("v1"));
        assert_eq!(ev.region.as_deref(), Some("us-east-1"));
        assert_eq!(ev.etag.as_deref(), Some("abc"));
    }

    #[test]
    fn null_version_is_treated_as_unversioned() {
        let payload = json!({"Records": [record("ObjectCreated:Copy", "k", Some("null"))]});
        let items = parse_payload(&payload).unwrap();
        assert!(matches!(&items[0], Intake::Object(ev) if ev.version_id.is_none()));
    }

    #[test]
    fn event_names_map_to_kinds() {
        let kind = |name: &str, version: Option<&str>| match &parse_payload(
            &json!({"Records": [record(name, "k", version)]}),
        )
        .unwrap()[0]
        {
            Intake::Object(ev) => Some(ev.kind),
            _ => None,
        };
        assert_eq!(
            kind("ObjectCreated:CompleteMultipartUpload", Some("v")),
            Some(EventKind::Created)
        );
        assert_eq!(
            kind("ObjectRemoved:DeleteMarkerCreated", Some("m")),
            Some(EventKind::DeleteMarkerCreated)
        );
        assert_eq!(
            kind("ObjectRemoved:Delete", Some("v")),
            Some(EventKind::VersionDeleted)
        );
        assert_eq!(kind("ObjectRemoved:Delete", None), None);
        assert_eq!(
            kind("ObjectAcl:Put", Some("v")),
            Some(EventKind::AclChanged)
        );
        assert_eq!(
            kind("ObjectTagging:Delete", Some("v")),
            Some(EventKind::TagsChanged)
        );
        assert_eq!(
            kind("LifecycleExpiration:DeleteMarkerCreated", Some("m")),
            None
        );
        assert_eq!(kind("ObjectRestore:Completed", Some("v")), None);
    }

    #[test]
    fn other_event_types_are_ignored() {
        let payload = json!({"Records": [record("ObjectRestore:Post", "k", Some("v1"))]});
        assert_eq!(
            parse_payload(&payload).unwrap(),
            vec![Intake::Ignored {
                index: 0,
                event_name: "ObjectRestore:Post".into()
            }]
        );
    }

    #[test]
    fn shorter_sequencer_is_padded_with_zeros() {
        use std::cmp::Ordering::*;
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
            Less
        );
        assert_eq!(
            compare_sequencers("0055AED6DCD90281E5", "0055AED6DCD90281E500"),
            Equal
        );
        assert_eq!(
            compare_sequencers("0055AED6DCD9028", "0055AED6DCD90281E5"),
            Less
        );
        assert_eq!(
            compare_sequencers("0055AED6DCD91", "0055AED6DCD90281E5"),
            Greater
        );
    }

    mod sequencer_properties {
        use crate::events::compare_sequencers;
        use proptest::prelude::*;
        use std::cmp::Ordering;

        /// Reference: the sequencers as hex fractions 0.XXXX, compared digit by digit.
        fn reference(a: &str, b: &str) -> Ordering {
            let digit = |s: &str, i: usize| {
                s.as_bytes()
                    .get(i)
                    .map_or(0, |c| (*c as char).to_digit(16).unwrap())
            };
            (0..a.len().max(b.len()))
                .map(|i| digit(a, i).cmp(&digit(b, i)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }

        proptest! {
            #[test]
            fn matches_numeric_order(a in "[0-9A-F]{1,20}", b in "[0-9A-F]{1,20}") {
                prop_assert_eq!(compare_sequencers(&a, &b), reference(&a, &b));
            }

            #[test]
            fn is_antisymmetric(a in "[0-9A-F]{1,20}", b in "[0-9A-F]{1,20}") {
                prop_assert_eq!(compare_sequencers(&a, &b), compare_sequencers(&b, &a).reverse());
            }

            #[test]
            fn is_transitive(a in "[0-9A-F]{1,8}", b in "[0-9A-F]{1,8}", c in "[0-9A-F]{1,8}") {
                if compare_sequencers(&a, &b) != Ordering::Greater && compare_sequencers(&b, &c) != Ordering::Greater {
                    prop_assert_ne!(compare_sequencers(&a, &c), Ordering::Greater);
                }
            }

            #[test]
            fn later_writes_sort_later(prefix in "[0-9A-F]{4,12}", n in 0u32..0xFFFF) {
                // S3 sequencers of one key grow; a longer one with the same prefix is not earlier.
                let earlier = format!("{prefix}{n:04X}");
                let later = format!("{prefix}{:04X}", n + 1);
                prop_assert_eq!(compare_sequencers(&earlier, &later), Ordering::Less);
            }
        }
    }

    #[test]
    fn malformed_record_is_invalid_and_the_good_one_survives() {
        let mut broken = record("ObjectCreated:Put", "k", Some("v1"));
        broken["s3"]["object"]["key"] = json!("bad%zzkey");
        let payload = json!({"Records": [broken, record("ObjectCreated:Put", "ok", Some("v2"))]});
        let items = parse_payload(&payload).unwrap();
        let Intake::Invalid(failure) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(failure.code, "InvalidRecord");
        assert!(failure.message.contains("s3.object.key"), "{failure:?}");
        assert!(matches!(&items[1], Intake::Object(ev) if ev.key == "ok"));
    }

    /// The one failure of a payload with this single record.
    fn invalid(record: Value) -> RecordFailure {
        match parse_payload(&json!({"Records": [record]}))
            .unwrap()
            .remove(0)
        {
            Intake::Invalid(f) => f,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn region_the_sdk_would_panic_on_is_an_invalid_record_naming_the_field() {
        let mut r = record("ObjectCreated:Put", "k", Some("v1"));
        r["awsRegion"] = json!("us-east-1\n");
        let f = invalid(r);
        assert_eq!(f.code, "InvalidRecord");
        assert!(
            f.message.starts_with("Records[0].awsRegion: "),
            "{}",
            f.message
        );
    }

    #[test]
    fn key_longer_than_s3_allows_is_an_invalid_record_with_a_short_message() {
        let f = invalid(record("ObjectCreated:Put", &"k".repeat(70_000), Some("v1")));
        assert!(
            f.message.starts_with("Records[0].s3.object.key: "),
            "{}",
            f.message
        );
        assert!(f.message.contains("70000 bytes"), "{}", f.message);
        assert!(f.message.len() < 300 && f.object.len() < 300);
    }

    #[test]
    fn escape_with_a_sign_is_rejected() {
        let f = invalid(record("ObjectCreated:Put", "a%+1", Some("v1")));
        assert!(
            f.message.starts_with("Records[0].s3.object.key: "),
            "{}",
            f.message
        );
    }

    #[test]
    fn wrongly_typed_field_is_named_by_its_json_path() {
        let mut r = record("ObjectCreated:Put", "k", Some("v1"));
        r["s3"]["object"]["size"] = json!("three");
        let f = invalid(r);
        assert!(
            f.message.starts_with("Records[0].s3.object.size: "),
            "{}",
            f.message
        );
        let mut r = record("ObjectCreated:Put", "k", Some("v1"));
        r["s3"]["bucket"]["name"] = json!("Not A Bucket");
        assert!(invalid(r)
            .message
            .starts_with("Records[0].s3.bucket.name: "));
        let mut r = record("ObjectCreated:Put", "k", Some("v1"));
        r["s3"]["object"]["eTag"] = json!("ab\r\ncd");
        assert!(invalid(r)
            .message
            .starts_with("Records[0].s3.object.eTag: "));
    }

    #[test]
    fn sequencers_of_any_length_compare_without_a_panic() {
        let long = "0".repeat(100_000);
        assert_eq!(compare_sequencers(&long, "0"), std::cmp::Ordering::Equal);
        let mut r = record("ObjectCreated:Put", "k", Some("v1"));
        r["s3"]["object"]["sequencer"] = json!(format!("{long}x"));
        assert!(invalid(r)
            .message
            .starts_with("Records[0].s3.object.sequencer: "));
    }

    #[test]
    fn null_version_is_kept_for_changes_to_that_version() {
        let payload = json!({"Records": [
            record("ObjectTagging:Put", "k", Some("null")),
            record("ObjectRemoved:Delete", "k", Some("null")),
        ]});
        let items = parse_payload(&payload).unwrap();
        for (item, kind) in items
            .iter()
            .zip([EventKind::TagsChanged, EventKind::VersionDeleted])
        {
            let Intake::Object(ev) = item else {
                panic!("{item:?}")
            };
            assert_eq!(ev.kind, kind);
            assert_eq!(ev.version_id, None);
            assert_eq!(ev.named_version().version_id.as_deref(), Some("null"));
        }
    }

    #[test]
    fn record_missing_required_fields_is_invalid() {
        let mut broken = record("ObjectCreated:Put", "k", None);
        broken.as_object_mut().unwrap().remove("s3");
        let items = parse_payload(&json!({"Records": [broken]})).unwrap();
        assert!(matches!(&items[0], Intake::Invalid(f) if f.message.contains("s3")));
    }

    #[test]
    fn record_from_another_service_is_invalid() {
        let mut other = record("ObjectCreated:Put", "k", None);
        other["eventSource"] = json!("aws:sqs");
        let items = parse_payload(&json!({"Records": [other]})).unwrap();
        assert!(matches!(&items[0], Intake::Invalid(f) if f.message.contains("aws:sqs")));
    }

    #[test]
    fn payload_without_records_is_not_an_s3_event() {
        let err = parse_payload(&json!({"hello": "world"})).unwrap_err();
        assert!(err.to_string().contains("Records"));
    }

    #[test]
    fn s3_test_event_is_accepted_and_empty() {
        let payload = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "src"});
        assert!(parse_payload(&payload).unwrap().is_empty());
    }
}

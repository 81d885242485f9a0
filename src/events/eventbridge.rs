//! EventBridge events from S3 (`"source": "aws.s3"`), as a rule delivers them to the function or
//! to an SQS queue: `Object Created`, `Object Deleted` (its `deletion-type` says whether a delete
//! marker was created or a version permanently deleted), `Object ACL Updated`, `Object Tags
//! Added` / `Object Tags Deleted`. `detail.object.key` is form-URL-encoded exactly as in S3 event
//! notifications (AWS Lambda Powertools decodes it with `unquote_plus` for the same reason), so it
//! is decoded by the same function; the fixture `events/eventbridge-object-created.json` pins it.

use serde::Deserialize;
use serde_json::Value;

use super::{object_event, EventKind, Fields, Intake, RawObject};

/// Whether a JSON value is an EventBridge event from S3.
pub fn is_eventbridge(value: &Value) -> bool {
    value.get("source").and_then(Value::as_str) == Some("aws.s3")
        && value.get("detail-type").is_some()
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "detail-type")]
    detail_type: String,
    region: Option<String>,
    time: Option<String>,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    bucket: Option<Named>,
    object: Option<Object>,
    reason: Option<String>,
    #[serde(rename = "deletion-type")]
    deletion_type: Option<String>,
}

#[derive(Deserialize)]
struct Named {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Object {
    key: Option<String>,
    size: Option<u64>,
    etag: Option<String>,
    #[serde(rename = "version-id")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

const FIELDS: Fields = Fields {
    bucket: "detail.bucket.name",
    key: "detail.object.key",
    version_id: "detail.object.version-id",
    etag: "detail.object.etag",
    sequencer: "detail.object.sequencer",
    region: "region",
};

/// The kind of an S3 EventBridge event, and the notification event name it corresponds to (for
/// logs); `None` for events the function does not act on. Lifecycle deletes are not replicated,
/// as in native replication.
fn kind_of(detail_type: &str, detail: &Detail) -> (Option<EventKind>, String) {
    let reason = detail.reason.as_deref().unwrap_or("");
    let deletion = detail.deletion_type.as_deref().unwrap_or("");
    match detail_type {
        "Object Created" => (Some(EventKind::Created), format!("ObjectCreated:{reason}")),
        "Object Deleted" if reason == "Lifecycle Expiration" => {
            (None, format!("LifecycleExpiration:{deletion}"))
        }
        "Object Deleted" if deletion == "Delete Marker Created" => (
            Some(EventKind::DeleteMarkerCreated),
            "ObjectRemoved:DeleteMarkerCreated".to_owned(),
        ),
        "Object Deleted" if deletion == "Permanently Deleted" => (
            Some(EventKind::VersionDeleted),
            "ObjectRemoved:Delete".to_owned(),
        ),
        "Object ACL Updated" => (Some(EventKind::AclChanged), "ObjectAcl:Put".to_owned()),
        "Object Tags Added" => (Some(EventKind::TagsChanged), "ObjectTagging:Put".to_owned()),
        "Object Tags Deleted" => (
            Some(EventKind::TagsChanged),
            "ObjectTagging:Delete".to_owned(),
        ),
        other => (None, other.to_owned()),
    }
}

/// One EventBridge event as item `index`; `at` is its JSON path for messages (empty when it is
/// the whole payload).
pub fn parse_event(index: usize, at: &str, value: &Value) -> Intake {
    let path = |field: &str| match at {
        "" => field.to_owned(),
        _ => format!("{at}.{field}"),
    };
    let event: Event = match serde_path_to_error::deserialize(value) {
        Ok(e) => e,
        Err(e) => {
            return Intake::invalid(
                index,
                "unreadable EventBridge event".to_owned(),
                format!(
                    "{}: not a valid S3 EventBridge event: {}",
                    path(&e.path().to_string()),
                    e.inner()
                ),
            )
        }
    };
    let (kind, event_name) = kind_of(&event.detail_type, &event.detail);
    let Some(kind) = kind else {
        return Intake::Ignored { index, event_name };
    };
    let object = event.detail.object.as_ref();
    let raw = RawObject {
        bucket: event.detail.bucket.as_ref().and_then(|b| b.name.as_deref()),
        key: object.and_then(|o| o.key.as_deref()),
        version_id: object.and_then(|o| o.version_id.as_deref()),
        etag: object.and_then(|o| o.etag.as_deref()),
        sequencer: object.and_then(|o| o.sequencer.as_deref()),
        region: event.region.as_deref(),
        event_time: event.time.as_deref(),
        size: object.and_then(|o| o.size),
    };
    object_event(index, at, event_name, kind, &raw, &FIELDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, detail: Value) -> Value {
        json!({"version": "0", "id": "e", "detail-type": detail_type, "source": "aws.s3",
               "account": "123456789012", "time": "2026-11-29T10:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:s3:::src"], "detail": detail})
    }

    fn object(key: &str) -> Value {
        json!({"key": key, "size": 5, "etag": "abc", "version-id": "v1",
               "sequencer": "0055AED6DCD90281E5"})
    }

    #[test]
    fn object_created_has_a_form_decoded_key() {
        let item = parse_event(
            0,
            "",
            &event(
                "Object Created",
                json!({"version": "0", "bucket": {"name": "src"}, "object": object("a+b%2Bc"),
                       "reason": "PutObject"}),
            ),
        );
        let Intake::Object(ev) = item else {
            panic!("{item:?}")
        };
        assert_eq!(ev.kind, EventKind::Created);
        assert_eq!(ev.key, "a b+c");
        assert_eq!(ev.version_id.as_deref(), Some("v1"));
        assert_eq!(ev.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
        assert_eq!(ev.event_time.as_deref(), Some("2026-11-29T10:00:00Z"));
    }

    #[test]
    fn deletion_type_decides_between_a_marker_and_a_version_delete() {
        let kind = |deletion: &str, reason: &str| match parse_event(
            0,
            "",
            &event(
                "Object Deleted",
                json!({"bucket": {"name": "src"}, "object": object("k"),
                       "deletion-type": deletion, "reason": reason}),
            ),
        ) {
            Intake::Object(ev) => Some(ev.kind),
            _ => None,
        };
        assert_eq!(
            kind("Delete Marker Created", "DeleteObject"),
            Some(EventKind::DeleteMarkerCreated)
        );
        assert_eq!(
            kind("Permanently Deleted", "DeleteObject"),
            Some(EventKind::VersionDeleted)
        );
        assert_eq!(kind("Delete Marker Created", "Lifecycle Expiration"), None);
    }

    #[test]
    fn bad_key_is_invalid_naming_the_field() {
        let item = parse_event(
            0,
            "Records[1].body",
            &event(
                "Object Created",
                json!({"bucket": {"name": "src"}, "object": object("%zz")}),
            ),
        );
        let Intake::Invalid(f) = item else {
            panic!("{item:?}")
        };
        assert!(
            f.message.starts_with("Records[1].body.detail.object.key:"),
            "{}",
            f.message
        );
    }
}

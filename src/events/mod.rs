//! Intake: each source's payload becomes the same domain items, one per record, so nothing
//! downstream knows which source it was. One module per source: [`s3`] for S3 event
//! notifications, [`sqs`] for SQS messages (each body an S3 notification, an SNS envelope of one,
//! or an EventBridge event), [`eventbridge`] for S3 events through EventBridge, [`batch`] for S3
//! Batch Operations tasks. Records are read one by one, so a malformed record is reported
//! without hiding the good ones beside it.

pub mod batch;
pub mod eventbridge;
mod key;
mod s3;
pub mod sqs;

pub use key::{decode_event_key, KeyDecodeError};
pub use s3::parse_payload;

use crate::error::RecordFailure;
use crate::names;
use s3::shorten;

/// What a record of the event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    /// An object event to act on.
    Object(ObjectEvent),
    /// A record this function does not act on, with the reason to log.
    Ignored {
        /// Position in `Records`.
        index: usize,
        /// The event name, e.g. `ObjectRemoved:Delete`.
        event_name: String,
    },
    /// A record that could not be read; it fails the invocation after the others are done.
    Invalid(RecordFailure),
}

impl Intake {
    /// A record that could not be read: `message` names its JSON path and what is wrong.
    pub fn invalid(index: usize, object: String, message: String) -> Self {
        Self::Invalid(RecordFailure {
            index,
            object,
            destination: None,
            code: "InvalidRecord",
            message,
        })
    }
}

/// An object event's fields as a source delivers them, before they are checked.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawObject<'a> {
    pub bucket: Option<&'a str>,
    /// Form-URL-encoded, as every S3 event source sends it.
    pub key: Option<&'a str>,
    pub version_id: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub sequencer: Option<&'a str>,
    pub region: Option<&'a str>,
    pub event_time: Option<&'a str>,
    pub size: Option<u64>,
}

impl RawObject<'_> {
    /// Whether the event names a version (the `null` one included).
    pub fn has_version(&self) -> bool {
        self.version_id.is_some_and(|v| !v.is_empty())
    }
}

/// Where each field of a [`RawObject`] sits in its source's JSON, for messages.
pub(crate) struct Fields {
    pub bucket: &'static str,
    pub key: &'static str,
    pub version_id: &'static str,
    pub etag: &'static str,
    pub sequencer: &'static str,
    pub region: &'static str,
}

/// The event name of the item a Batch Operations task stands for (a task is no S3 event).
pub const BATCH_TASK_EVENT: &str = "BatchOperations";

/// Names a record that may be malformed, as well as it can be read (its key still encoded).
pub(crate) fn describe_encoded(bucket: Option<&str>, key: Option<&str>) -> String {
    match (bucket, key) {
        (Some(b), Some(k)) => {
            let cut = |s: &str| match s.char_indices().nth(200) {
                Some((at, _)) => format!("{}...", &s[..at]),
                None => s.to_owned(),
            };
            format!("s3://{}/{} (encoded key)", cut(b), cut(k))
        }
        _ => "unreadable record".to_owned(),
    }
}

/// Checks a source's fields and makes the domain item: what the SDK would refuse, or panic on,
/// is refused here, naming the field by its JSON path (`at`, then the field).
pub(crate) fn object_event(
    index: usize,
    at: &str,
    event_name: String,
    kind: EventKind,
    raw: &RawObject,
    fields: &Fields,
) -> Intake {
    let object = describe_encoded(raw.bucket, raw.key);
    let invalid = |field: &str, message: String| {
        let path = match at {
            "" => field.to_owned(),
            _ => format!("{at}.{field}"),
        };
        Intake::invalid(index, object.clone(), format!("{path}: {message}"))
    };
    // "null" is the version id of an unversioned object: treated as no version, except where
    // a change to that one version is meant (ACL, tags, a version delete).
    let raw_version = raw.version_id.filter(|v| !v.is_empty());
    let null_version = raw_version == Some("null");
    let version_id = raw_version.filter(|v| *v != "null").map(str::to_owned);
    let Some(bucket) = raw.bucket.filter(|b| !b.is_empty()) else {
        return invalid(fields.bucket, "is missing".to_owned());
    };
    if !names::is_bucket_name(bucket) {
        return invalid(fields.bucket, format!("{bucket:?} is not a bucket name"));
    }
    let Some(raw_key) = raw.key.filter(|k| !k.is_empty()) else {
        return invalid(fields.key, "is missing".to_owned());
    };
    let key = match decode_event_key(raw_key) {
        Ok(k) => k,
        Err(e) => return invalid(fields.key, format!("{}: {e}", shorten(raw_key))),
    };
    if let Some(problem) = names::key_problem(&key) {
        return invalid(fields.key, format!("the decoded key {problem}"));
    }
    let region = raw.region.filter(|r| !r.is_empty()).map(str::to_owned);
    if let Some(r) = region.as_deref().filter(|r| !names::is_region(r)) {
        return invalid(
            fields.region,
            format!("{r:?} is not a region name such as eu-west-1"),
        );
    }
    if let Some(s) = raw.sequencer.filter(|s| !names::is_sequencer(s)) {
        return invalid(
            fields.sequencer,
            format!("{} is not a hexadecimal sequencer", shorten(s)),
        );
    }
    let etag = raw.etag.filter(|e| !e.is_empty()).map(str::to_owned);
    for (field, value) in [(fields.etag, &etag), (fields.version_id, &version_id)] {
        if let Some(v) = value.as_deref().filter(|v| !names::is_token(v)) {
            return invalid(
                field,
                format!("{} is not visible ASCII of at most 1,024 bytes", shorten(v)),
            );
        }
    }
    Intake::Object(ObjectEvent {
        kind,
        index,
        event_name,
        region,
        bucket: bucket.to_owned(),
        key,
        version_id,
        null_version,
        etag,
        sequencer: raw.sequencer.map(str::to_owned),
        event_time: raw.event_time.map(str::to_owned),
        size: raw.size,
    })
}

/// The kinds of object event the function acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `ObjectCreated:*`: a new version.
    Created,
    /// `ObjectRemoved:DeleteMarkerCreated`: a delete marker became the current version.
    DeleteMarkerCreated,
    /// `ObjectRemoved:Delete` with a version id: that version was permanently deleted.
    VersionDeleted,
    /// `ObjectAcl:Put`: the version's ACL changed.
    AclChanged,
    /// `ObjectTagging:Put` / `ObjectTagging:Delete`: the version's tags changed.
    TagsChanged,
}

impl EventKind {
    /// The kind of an event name (without `s3:`), or `None` for events the function ignores.
    /// Lifecycle-created delete markers are ignored, as native replication does.
    pub fn of(event_name: &str, has_version: bool) -> Option<Self> {
        match event_name {
            n if n.starts_with("ObjectCreated:") => Some(Self::Created),
            "ObjectRemoved:DeleteMarkerCreated" => Some(Self::DeleteMarkerCreated),
            "ObjectRemoved:Delete" if has_version => Some(Self::VersionDeleted),
            "ObjectAcl:Put" => Some(Self::AclChanged),
            "ObjectTagging:Put" | "ObjectTagging:Delete" => Some(Self::TagsChanged),
            _ => None,
        }
    }
}

/// Orders two event sequencers of one key: the shorter is padded with zeros on the right, then
/// they compare as strings (as S3 documents).
pub fn compare_sequencers(a: &str, b: &str) -> std::cmp::Ordering {
    // Byte by byte with '0' for what the shorter lacks: no padded copies, whatever the length.
    let (a, b) = (a.as_bytes(), b.as_bytes());
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(b'0');
            let y = b.get(i).copied().unwrap_or(b'0');
            x.cmp(&y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// One object version named by an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// What happened.
    pub kind: EventKind,
    /// Position in `Records`.
    pub index: usize,
    /// Event name without the `s3:` prefix, e.g. `ObjectCreated:Put`.
    pub event_name: String,
    /// Region of the source bucket, when the record names it.
    pub region: Option<String>,
    /// Source bucket.
    pub bucket: String,
    /// Decoded key.
    pub key: String,
    /// Version id; `None` for unversioned buckets (and the `null` version).
    pub version_id: Option<String>,
    /// The record names the `null` version explicitly (`"versionId": "null"`): the version an
    /// object written while versioning was off or suspended has. Reads and deletes of that
    /// version must say `versionId=null`, or they reach whatever version is current.
    pub null_version: bool,
    /// ETag of the version, as the event reports it (unquoted).
    pub etag: Option<String>,
    /// Orders events for one key.
    pub sequencer: Option<String>,
    /// When S3 says the event happened (`eventTime`, ISO 8601), where the source gives it.
    pub event_time: Option<String>,
    /// The version's size, as the event reports it.
    pub size: Option<u64>,
}

impl ObjectEvent {
    /// The source version the event names.
    pub fn version_ref(&self) -> crate::store::VersionRef {
        crate::store::VersionRef {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            version_id: self.version_id.clone(),
        }
    }

    /// The version an ACL or tag change, or a version delete, is about: the `null` version by
    /// its id where the record names it, so a non-current null version is never confused with
    /// the current one.
    pub fn named_version(&self) -> crate::store::VersionRef {
        let mut version = self.version_ref();
        if self.null_version {
            version.version_id = Some("null".to_owned());
        }
        version
    }

    /// The version as logs name it: its id; `null` for the version an unversioned bucket's or
    /// a pre-versioning write has; `current` for a Batch Operations task that named none (it
    /// acts on whichever version is current when it runs).
    pub fn version_shown(&self) -> &str {
        match (&self.version_id, self.event_name == BATCH_TASK_EVENT) {
            (Some(v), _) => v,
            (None, true) if !self.null_version => "current",
            (None, _) => "null",
        }
    }

    /// `s3://bucket/key?versionId=...`, for logs and error lists.
    pub fn describe(&self) -> String {
        match &self.version_id {
            Some(v) => format!("s3://{}/{}?versionId={v}", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }
}

/// An event's `eventTime` (ISO 8601, as S3 and EventBridge write it), read.
pub fn parse_event_time(text: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime).ok()
}

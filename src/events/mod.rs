//! Intake: each source's payload becomes the same domain items, one per record, so nothing
//! downstream knows which source it was. One module per source: [`s3`] for S3 event
//! notifications, [`batch`] for S3 Batch Operations tasks. Records are read one by one, so a
//! malformed record is reported without hiding the good ones beside it.

pub mod batch;
mod key;
mod s3;

pub use key::{decode_event_key, KeyDecodeError};
pub use s3::parse_payload;

use crate::error::RecordFailure;

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

    /// `s3://bucket/key?versionId=...`, for logs and error lists.
    pub fn describe(&self) -> String {
        match &self.version_id {
            Some(v) => format!("s3://{}/{}?versionId={v}", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }
}

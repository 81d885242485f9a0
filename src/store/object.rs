//! What S3 holds, as the engine reads it: object versions and their headers, bodies, listings,
//! ACLs, and what a key currently is.

use std::collections::BTreeMap;

use aws_smithy_types::DateTime;

use super::replica_metadata::ReplicaRecord;

/// A key in a bucket, at one version (`None`: the current object of an unversioned bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded.
    pub key: String,
    /// Version id.
    pub version_id: Option<String>,
}

/// System metadata that a metadata-replacing copy must restate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentHeaders {
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Cache-Control`.
    pub cache_control: Option<String>,
    /// `Content-Disposition`.
    pub content_disposition: Option<String>,
    /// `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// `Content-Language`.
    pub content_language: Option<String>,
    /// `Expires`, exactly as stored (not re-formatted).
    pub expires: Option<String>,
    /// `x-amz-website-redirect-location`.
    pub website_redirect_location: Option<String>,
}

/// How an object version is encrypted at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    /// No server-side encryption reported.
    None,
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS or DSSE-KMS.
    Kms {
        /// `aws:kms` or `aws:kms:dsse`.
        algorithm: String,
        /// The key the source used.
        key_id: Option<String>,
        /// Whether an S3 Bucket Key was used.
        bucket_key: bool,
    },
    /// SSE-C: unreadable without the customer's key.
    Customer,
}

/// Object Lock settings of a version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: Option<String>,
    /// Retention end.
    pub retain_until: Option<DateTime>,
    /// Legal hold on.
    pub legal_hold: Option<bool>,
}

/// Bytes on their way from the source to a destination on another endpoint: a stream read as
/// it is sent, so a part of any size never sits in memory whole.
pub struct Body {
    /// The bytes.
    pub stream: aws_sdk_s3::primitives::ByteStream,
    /// How many there are (Content-Length).
    pub length: u64,
}

impl Body {
    /// A body of bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self {
            length: bytes.len() as u64,
            stream: bytes.into(),
        }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Body({} bytes)", self.length)
    }
}

/// An additional checksum S3 keeps for an object (HeadObject with `ChecksumMode: ENABLED`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    /// `FULL_OBJECT` (of the whole object) rather than `COMPOSITE` (of the parts' checksums).
    pub full_object: bool,
    /// The value, as S3 gives it (base64; a composite one ends in `-N`).
    pub value: String,
}

/// A part of an upload as S3 acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// The part's ETag, with quotes.
    pub etag: String,
    /// The part's checksum in the upload's algorithm, when it has one (Complete repeats it).
    pub checksum: Option<String>,
    /// Stored under SSE-KMS, as its answer said (its ETag is then no MD5 of its bytes).
    pub kms: bool,
    /// When it was written, as ListParts says (whole seconds); `None` in an upload's answer.
    pub written: Option<std::time::SystemTime>,
}

/// One object of a listing (ListObjectsV2): what a byte-exact check needs, since a replica keeps
/// its source's ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, with its quotes.
    pub etag: String,
    /// Storage class (`STANDARD` when the listing names none).
    pub storage_class: String,
}

/// One object version in a listing of a bucket's versions (delete markers are not listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVersion {
    /// The key.
    pub key: String,
    /// The version id (`null` for an object written while versioning was off or suspended).
    pub version_id: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag, with its quotes.
    pub etag: String,
}

/// One entry of a key's history as ListObjectVersions lists it: an object version or a delete
/// marker, with when it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Past {
    /// The key.
    pub key: String,
    /// The version id (`null` for one written while versioning was off or suspended).
    pub version_id: String,
    /// Last-Modified, in milliseconds since the epoch.
    pub last_modified: i64,
    /// A delete marker rather than an object version.
    pub delete_marker: bool,
    /// The key's current entry.
    pub latest: bool,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// ETag, with its quotes (empty for a delete marker).
    pub etag: String,
}

/// What HeadObject tells about a source version.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceVersion {
    /// Size in bytes.
    pub size: u64,
    /// ETag, with its quotes.
    pub etag: String,
    /// Version id (`None` when unversioned).
    pub version_id: Option<String>,
    /// Content headers.
    pub content: ContentHeaders,
    /// User metadata (`x-amz-meta-*`, without the prefix).
    pub metadata: BTreeMap<String, String>,
    /// Storage class (`None` is STANDARD).
    pub storage_class: Option<String>,
    /// Whether the bytes are in an archive tier that needs a restore before reading.
    pub archived: bool,
    /// Encryption at rest.
    pub encryption: Encryption,
    /// Object Lock settings.
    pub object_lock: ObjectLock,
    /// Number of tags, when the server reports it.
    pub tag_count: Option<u32>,
    /// Number of parts, for multipart uploads.
    pub parts_count: Option<u32>,
    /// The additional checksum S3 keeps, if any.
    pub checksum: Option<Checksum>,
    /// `Last-Modified`.
    pub last_modified: Option<DateTime>,
}

/// Who an ACL grant is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grantee {
    /// A canonical user id.
    Id(String),
    /// A predefined group, by URI.
    Uri(String),
    /// An account by e-mail address (older regions only).
    Email(String),
}

/// One ACL grant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// The grantee.
    pub grantee: Grantee,
    /// `FULL_CONTROL`, `READ`, `READ_ACP`, `WRITE_ACP` (or `WRITE`, meaningless on objects).
    pub permission: String,
}

/// An object ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    /// The object owner's canonical id.
    pub owner_id: Option<String>,
    /// Its grants.
    pub grants: Vec<Grant>,
}

impl Acl {
    /// True when the ACL grants nothing beyond the owner's own full control (the `private` ACL).
    pub fn is_private(&self) -> bool {
        self.grants.iter().all(|g| {
            g.permission == "FULL_CONTROL"
                && matches!((&g.grantee, &self.owner_id), (Grantee::Id(id), Some(owner)) if id == owner)
        })
    }
}

/// What a key currently is in a versioned bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// An object version.
    Object(Box<SourceVersion>),
    /// A delete marker, with its version id and when it was put (HeadObject answers a delete
    /// marker's `Last-Modified` since 2023; `None` where a server does not).
    DeleteMarker(Option<String>, Option<DateTime>),
    /// Nothing: the key never existed, or every version was deleted.
    Absent,
}

impl Current {
    /// The version id of the current object or delete marker.
    pub fn version_id(&self) -> Option<&str> {
        match self {
            Current::Object(o) => o.version_id.as_deref(),
            Current::DeleteMarker(v, _) => v.as_deref(),
            Current::Absent => None,
        }
    }

    /// The record of the current object, where it is a replica written at `bucket`/`key`.
    pub fn replica_record(&self, bucket: &str, key: &str) -> Option<ReplicaRecord<'_>> {
        match self {
            Current::Object(o) => o.replica_record(bucket, key),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(grantee: Grantee, permission: &str) -> Grant {
        Grant {
            grantee,
            permission: permission.into(),
        }
    }

    #[test]
    fn owner_only_acl_is_private() {
        let acl = Acl {
            owner_id: Some("o".into()),
            grants: vec![grant(Grantee::Id("o".into()), "FULL_CONTROL")],
        };
        assert!(acl.is_private());
    }

    #[test]
    fn public_read_acl_is_not_private() {
        let acl = Acl {
            owner_id: Some("o".into()),
            grants: vec![
                grant(Grantee::Id("o".into()), "FULL_CONTROL"),
                grant(
                    Grantee::Uri("http://acs.amazonaws.com/groups/global/AllUsers".into()),
                    "READ",
                ),
            ],
        };
        assert!(!acl.is_private());
    }
}

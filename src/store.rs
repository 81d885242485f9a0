//! The small role traits the replication logic needs, speaking domain types. `aws_s3` implements
//! them on the AWS SDK; behind the `test-util` feature, `fake` implements them in memory (fast
//! tests with no server) and `faults::Faulty` wraps a destination store of either kind to inject
//! failures. `tests/store_conformance.rs` holds both implementations to one behaviour.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use aws_smithy_types::DateTime;

use crate::error::S3Failure;

/// User-metadata entry added to every replica: the source version id (`null` when unversioned).
/// Replicas carrying it are never replicated again, so two-way setups do not loop.
pub const REPLICA_MARKER: &str = "replica-source-version-id";

/// User-metadata entry added to every replica: the source bucket.
pub const REPLICA_SOURCE_BUCKET: &str = "replica-source-bucket";

/// User-metadata entry added to every replica: the bucket it was written to. A copy of a replica
/// found in any other bucket (a disaster-recovery copy back into the source, say) is a new
/// object there and is replicated.
pub const REPLICA_WRITTEN_TO: &str = "replica-written-to";

/// User-metadata entry added to every replica: when the original write happened (milliseconds
/// since the epoch). Two-way setups keep the later original write on both sides.
pub const REPLICA_ORIGIN_TIME: &str = "replica-original-time";

/// Every user-metadata entry this function adds to a replica.
pub const REPLICA_ENTRIES: [&str; 4] = [
    REPLICA_MARKER,
    REPLICA_SOURCE_BUCKET,
    REPLICA_WRITTEN_TO,
    REPLICA_ORIGIN_TIME,
];

/// User metadata without the entries this function adds ([`REPLICA_ENTRIES`]).
pub fn without_replica_entries(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| !REPLICA_ENTRIES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// When an object's original write happened, and its ETag: the later original wins a two-way
/// race (the ETag breaks ties within S3's one-second resolution), the same on both sides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Origin {
    /// Milliseconds since the epoch.
    pub millis: i64,
    /// The ETag.
    pub etag: String,
}

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

impl SourceVersion {
    /// Whether this object is a replica this function wrote into `bucket`. A copy of one made
    /// into another bucket is not: it is a new object there. (Replicas written before the
    /// bucket was recorded count as replicas.)
    pub fn is_replica_in(&self, bucket: &str) -> bool {
        self.metadata.contains_key(REPLICA_MARKER)
            && self
                .metadata
                .get(REPLICA_WRITTEN_TO)
                .is_none_or(|to| to == bucket)
    }

    /// Whether this is a replica written into `bucket` from `from` (two-way, seen from the side
    /// that received it).
    pub fn is_replica_from(&self, bucket: &str, from: &str) -> bool {
        self.is_replica_in(bucket)
            && self.metadata.get(REPLICA_SOURCE_BUCKET).map(String::as_str) == Some(from)
    }

    /// Whether this destination object did not come from `source_bucket` through this function:
    /// written in the destination itself, or replicated there from another bucket (two-way).
    pub fn not_replicated_from(&self, source_bucket: &str) -> bool {
        match self.metadata.get(REPLICA_MARKER) {
            None => true,
            Some(_) => self
                .metadata
                .get(REPLICA_SOURCE_BUCKET)
                .is_some_and(|from| from != source_bucket),
        }
    }

    /// When and as what the object in `bucket` was originally written: a replica written there
    /// carries its original's time; anything else (a copy of a replica included) is an original
    /// write of its own.
    pub fn origin_in(&self, bucket: &str) -> Origin {
        let own = self.last_modified.map_or(0, |t| t.to_millis().unwrap_or(0));
        let millis = match self.is_replica_in(bucket) {
            true => self
                .metadata
                .get(REPLICA_ORIGIN_TIME)
                .and_then(|m| m.parse().ok())
                .unwrap_or(own),
            false => own,
        };
        Origin {
            millis,
            etag: self.etag.clone(),
        }
    }
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

/// Where the replica's tags come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagsPlan {
    /// Copied server-side from the source version (`x-amz-tagging-directive: COPY`).
    FromSource,
    /// Set explicitly (already read from the source).
    Set(Vec<(String, String)>),
}

/// `x-amz-grant-*` header values: comma-separated grantee lists per permission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantHeaders {
    /// `x-amz-grant-full-control`.
    pub full_control: Option<String>,
    /// `x-amz-grant-read`.
    pub read: Option<String>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<String>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<String>,
}

/// The ACL the replica is written with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AclPlan {
    /// No ACL header: the bucket's default (owner full control, or bucket-owner-enforced).
    Default,
    /// The source's grants, as grant headers on the write itself.
    Grants(GrantHeaders),
    /// `bucket-owner-full-control` (owner override).
    BucketOwnerFullControl,
}

/// Encryption requested for the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetEncryption {
    /// The destination bucket's default.
    BucketDefault,
    /// SSE-S3.
    S3,
    /// SSE-KMS with the rule's replica key.
    Kms {
        /// `aws:kms` or `aws:kms:dsse`.
        algorithm: String,
        /// `ReplicaKmsKeyID`.
        key_id: String,
        /// Use an S3 Bucket Key.
        bucket_key: bool,
    },
}

/// What the destination key must still hold for a write to land (S3 conditional writes): the
/// state it was read in, so two writers racing on one key cannot both write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// `If-Match`: the current object still has this ETag.
    IfMatch(String),
    /// `If-None-Match: *`: there is still no current object (nothing, or a delete marker).
    IfNoneMatch,
}

/// Everything a replica must carry, whatever the copy method.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaSpec {
    /// Destination bucket.
    pub bucket: String,
    /// Destination key (the source key).
    pub key: String,
    /// Destination region.
    pub region: String,
    /// Content headers, restated.
    pub content: ContentHeaders,
    /// User metadata, including [`REPLICA_MARKER`].
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: TagsPlan,
    /// ACL.
    pub acl: AclPlan,
    /// Storage class.
    pub storage_class: String,
    /// Encryption.
    pub encryption: TargetEncryption,
    /// Object Lock.
    pub object_lock: ObjectLock,
    /// The source's additional checksum algorithm and type, kept on every copy path.
    pub checksum: Option<Checksum>,
    /// `x-amz-expected-bucket-owner`.
    pub expected_bucket_owner: Option<String>,
    /// Another S3 endpoint's URL (objects are then streamed, not copied server-side).
    pub endpoint: Option<String>,
    /// The state the destination key must still be in (CopyObject, PutObject, Complete).
    pub condition: Option<WriteCondition>,
}

/// A server-side copy of one source version into one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyRequest {
    /// The source version.
    pub source: VersionRef,
    /// The source's region.
    pub source_region: String,
    /// Copy only while the source still has this ETag (guards unversioned sources).
    pub source_if_match: Option<String>,
    /// The replica.
    pub target: ReplicaSpec,
}

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The replica's ETag, with quotes.
    pub etag: String,
    /// The replica's version id.
    pub version_id: Option<String>,
}

/// What a key currently is in a versioned bucket.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// An object version.
    Object(Box<SourceVersion>),
    /// A delete marker, with its version id.
    DeleteMarker(Option<String>),
    /// Nothing: the key never existed, or every version was deleted.
    Absent,
}

impl Current {
    /// The version id of the current object or delete marker.
    pub fn version_id(&self) -> Option<&str> {
        match self {
            Current::Object(o) => o.version_id.as_deref(),
            Current::DeleteMarker(v) => v.as_deref(),
            Current::Absent => None,
        }
    }

    /// The source version this is a replica of, if it is a replica.
    pub fn replica_of(&self) -> Option<&str> {
        match self {
            Current::Object(o) => o.metadata.get(REPLICA_MARKER).map(String::as_str),
            _ => None,
        }
    }
}

/// Reads a source object version.
pub trait SourceStore: Sync {
    /// HeadObject on the version (with `If-Match` when given).
    fn head_version(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<SourceVersion, S3Failure>> + Send;

    /// The version's tags.
    fn version_tags(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> impl Future<Output = Result<Vec<(String, String)>, S3Failure>> + Send;

    /// The version's ACL.
    fn version_acl(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> impl Future<Output = Result<Acl, S3Failure>> + Send;

    /// The sizes of the version's first `parts` parts, in order (HeadObject with `partNumber`
    /// for each).
    fn part_sizes(
        &self,
        region: &str,
        version: &VersionRef,
        parts: u32,
    ) -> impl Future<Output = Result<Vec<u64>, S3Failure>> + Send;

    /// The bytes of the version, or of `[start, end)` of it (GetObject, pinned by `if_match`),
    /// as a stream.
    fn read(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> impl Future<Output = Result<Body, S3Failure>> + Send;

    /// Whether the bucket has Object Lock enabled (GetObjectLockConfiguration).
    fn lock_enabled(
        &self,
        region: &str,
        bucket: &str,
    ) -> impl Future<Output = Result<bool, S3Failure>> + Send;

    /// Whether the bucket's Object Ownership is `BucketOwnerEnforced` (GetBucketOwnershipControls):
    /// ACLs are disabled, so every object's ACL is its owner's full control and need not be read.
    fn acls_disabled(
        &self,
        region: &str,
        bucket: &str,
    ) -> impl Future<Output = Result<bool, S3Failure>> + Send;

    /// The version's retention: mode and retain-until date (GetObjectRetention); `None` when
    /// it has none.
    fn version_retention(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> impl Future<Output = Result<Option<(String, DateTime)>, S3Failure>> + Send;

    /// Whether the version has a legal hold on (GetObjectLegalHold).
    fn version_legal_hold(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> impl Future<Output = Result<bool, S3Failure>> + Send;

    /// The id of the key's newest version that is an object, not a delete marker
    /// (ListObjectVersions); `None` when it has none.
    fn newest_object_version(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, S3Failure>> + Send;

    /// The bucket's current objects under `prefix`, in key order (ListObjectsV2).
    fn list_objects(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, S3Failure>> + Send;

    /// The object versions under `prefix` (ListObjectVersions): in key order, and each key's
    /// versions oldest first.
    fn list_versions(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ListedVersion>, S3Failure>> + Send;

    /// Every object version and delete marker under `prefix` (ListObjectVersions): in key
    /// order, each key's newest first (the current one first).
    fn history(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Past>, S3Failure>> + Send;

    /// Whether the bucket's versioning is Enabled (GetBucketVersioning): not when it was never
    /// enabled, nor when it is suspended.
    fn versioning_enabled(
        &self,
        region: &str,
        bucket: &str,
    ) -> impl Future<Output = Result<bool, S3Failure>> + Send;

    /// Whether HeadObject here leaves `x-amz-tagging-count` out only for an object without tags
    /// (AWS S3, to a caller who may read tags). Other endpoints may never send it.
    fn omits_zero_tag_count(&self) -> bool {
        false
    }

    /// What the key currently is (HeadObject without a version id).
    fn current(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Current, S3Failure>> + Send;
}

/// Where a replica lives: bucket, key, region and the expected bucket owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLocation {
    /// Destination bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Destination region.
    pub region: String,
    /// `x-amz-expected-bucket-owner`.
    pub expected_bucket_owner: Option<String>,
    /// Another S3 endpoint's URL, if the destination is not on the function's own.
    pub endpoint: Option<String>,
}

impl ReplicaLocation {
    /// Where a planned replica lives.
    pub fn of(target: &ReplicaSpec) -> Self {
        Self {
            bucket: target.bucket.clone(),
            key: target.key.clone(),
            region: target.region.clone(),
            expected_bucket_owner: target.expected_bucket_owner.clone(),
            endpoint: target.endpoint.clone(),
        }
    }
}

/// Writes replicas.
pub trait DestinationStore: Sync {
    /// The region a bucket lives in.
    fn bucket_region(&self, bucket: &str)
        -> impl Future<Output = Result<String, S3Failure>> + Send;

    /// One server-side CopyObject (objects up to 5 GiB).
    fn copy_object(
        &self,
        request: &CopyRequest,
    ) -> impl Future<Output = Result<Written, S3Failure>> + Send;

    /// Writes the replica from its bytes in one PutObject (streamed destinations).
    fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<Written, S3Failure>> + Send;

    /// Uploads part `number` of an upload from its bytes (streamed destinations).
    fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> impl Future<Output = Result<UploadedPart, S3Failure>> + Send;

    /// Starts a multipart upload of the replica: everything but the bytes is given here.
    fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<String, S3Failure>> + Send;

    /// Copies one byte range of the source version into part `number` of an upload.
    fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> impl Future<Output = Result<UploadedPart, S3Failure>> + Send;

    /// Completes an upload from its parts' (number, ETag).
    fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> impl Future<Output = Result<Written, S3Failure>> + Send;

    /// The ids of uploads in progress for the target's key.
    fn list_uploads(
        &self,
        target: &ReplicaSpec,
    ) -> impl Future<Output = Result<Vec<String>, S3Failure>> + Send;

    /// The parts an upload has: (number, size, part).
    fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<(u32, u64, UploadedPart)>, S3Failure>> + Send;

    /// Aborts an upload (its parts are deleted).
    fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), S3Failure>> + Send;

    /// What the key currently is in the destination.
    fn replica_current(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<Current, S3Failure>> + Send;

    /// Deletes the key without a version id: a delete marker becomes current.
    fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<(), S3Failure>> + Send;

    /// The destination's current objects whose keys start with `at.key`, in key order.
    fn list_replicas(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<Vec<Listed>, S3Failure>> + Send;

    /// Every key whose name starts with `at.key` that holds any version or delete marker at the
    /// destination (ListObjectVersions): a key not among them was never written there, or has
    /// had every trace of it deleted.
    fn keys_with_history(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<BTreeSet<String>, S3Failure>> + Send;

    /// The destination versions of the key, newest first (delete markers excluded).
    fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<Vec<ListedVersion>, S3Failure>> + Send;

    /// HeadObject on one destination version.
    fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> impl Future<Output = Result<Current, S3Failure>> + Send;

    /// Permanently deletes one destination version.
    fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> impl Future<Output = Result<(), S3Failure>> + Send;

    /// Replaces the tags of one destination version (an empty list deletes them).
    fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> impl Future<Output = Result<(), S3Failure>> + Send;

    /// Replaces the ACL of one destination version.
    fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> impl Future<Output = Result<(), S3Failure>> + Send;
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

    fn object(metadata: &[(&str, &str)], modified_secs: i64, etag: &str) -> SourceVersion {
        SourceVersion {
            size: 1,
            etag: etag.into(),
            version_id: Some("v".into()),
            content: ContentHeaders::default(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            storage_class: None,
            archived: false,
            encryption: Encryption::None,
            object_lock: ObjectLock::default(),
            tag_count: None,
            parts_count: None,
            checksum: None,
            last_modified: Some(DateTime::from_secs(modified_secs)),
        }
    }

    #[test]
    fn a_replica_carries_its_originals_time_and_the_etag_breaks_ties() {
        let original = object(&[], 100, "\"b\"");
        let replica = object(
            &[(REPLICA_MARKER, "v1"), (REPLICA_ORIGIN_TIME, "50000")],
            900,
            "\"a\"",
        );
        assert_eq!(replica.origin_in("b").millis, 50_000);
        assert!(original.origin_in("a") > replica.origin_in("b"));
        // The same second on both sides: the ETag decides, identically everywhere.
        let other = object(&[], 100, "\"a\"");
        assert!(original.origin_in("a") > other.origin_in("b"));
        // A replica written into "b" and copied into "a" is a write of its own there.
        let mut copied = replica.clone();
        copied
            .metadata
            .insert(REPLICA_WRITTEN_TO.into(), "b".into());
        assert_eq!(copied.origin_in("a").millis, 900_000);
    }

    #[test]
    fn only_replicas_written_into_a_bucket_are_replicas_there() {
        let replica = object(
            &[
                (REPLICA_MARKER, "v1"),
                (REPLICA_WRITTEN_TO, "dst"),
                (REPLICA_SOURCE_BUCKET, "src"),
            ],
            0,
            "\"e\"",
        );
        assert!(replica.is_replica_in("dst"));
        assert!(!replica.is_replica_in("src"), "copied back: a new object");
        assert!(!replica.not_replicated_from("src"));
        assert!(replica.not_replicated_from("third"));
        assert!(object(&[], 0, "\"e\"").not_replicated_from("src"));
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

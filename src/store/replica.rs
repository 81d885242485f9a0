//! What writing a replica asks for (its content, tags, ACL, encryption, the condition it is
//! written under), what the write answers, and where a replica lives.

use std::collections::BTreeMap;

use super::object::{Checksum, ContentHeaders, ObjectLock, VersionRef};

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
    /// User metadata, including [`REPLICA_MARKER`](super::REPLICA_MARKER).
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

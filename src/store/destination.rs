//! The destination role: the writes and reads of a destination bucket the engine needs.

use std::future::Future;

use super::object::{Body, Current, Listed, ListedVersion, UploadedPart};
use super::replica::{AclPlan, CopyRequest, ReplicaLocation, ReplicaSpec, Written};
use crate::error::S3Failure;

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

    /// Whether [`Self::replica_current`] of a key holding nothing at a destination on
    /// `endpoint` (`None`: the function's own) also lists the key's versions, because the
    /// server may answer a plain 404 over a delete marker (any server but AWS S3). The dry run
    /// counts it.
    fn absence_is_listed(&self, _endpoint: Option<&str>) -> bool {
        false
    }

    /// Deletes the key without a version id: a delete marker becomes current. With `if_match`
    /// (an ETag, or `*`), only while the current object matches it (S3's conditional delete;
    /// 412 otherwise), so a write made since the caller's read is never hidden.
    fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<Option<String>, S3Failure>> + Send;

    /// The destination's current objects whose keys start with `at.key`, in key order.
    fn list_replicas(
        &self,
        at: &ReplicaLocation,
    ) -> impl Future<Output = Result<Vec<Listed>, S3Failure>> + Send;

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

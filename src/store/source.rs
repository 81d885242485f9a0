//! The source role: the reads of a source bucket the engine needs.

use std::future::Future;

use aws_smithy_types::DateTime;

use super::object::{Acl, Body, Current, Listed, ListedVersion, Past, SourceVersion, VersionRef};
use crate::error::S3Failure;

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

    /// One key's own versions and delete markers, newest first (ListObjectVersions on its
    /// name, stopped once past it: the longer keys it prefixes are left out), sent with the
    /// bucket's expected owner where given.
    fn key_history(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        expected_bucket_owner: Option<&str>,
    ) -> impl Future<Output = Result<Vec<Past>, S3Failure>> + Send;

    /// [`Self::history`] in at most `max_pages` pages (of 1,000 entries): `None` where it takes
    /// more, and no more are listed.
    fn history_within(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
        max_pages: usize,
    ) -> impl Future<Output = Result<Option<Vec<Past>>, S3Failure>> + Send;

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

    /// Whether [`Self::current`] of a key holding nothing also lists the key's versions, because
    /// the server may answer a plain 404 over a delete marker (any server but AWS S3). The dry
    /// run counts it.
    fn absence_is_listed(&self) -> bool {
        false
    }
}

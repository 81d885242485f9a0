//! The source side: HeadObject (an object, a delete marker or nothing), tags, ACL, part sizes,
//! bytes, Object Lock and ownership settings, and the source's listings.

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{
    ChecksumMode, ChecksumType, ObjectLockEnabled, ObjectLockLegalHoldStatus, ServerSideEncryption,
    StorageClass, Type,
};
use aws_sdk_s3::Client;
use aws_smithy_types::DateTime;
use futures::{StreamExt, TryStreamExt};

use super::errors::{failure, missing, no_lock};
use super::listings::{all_versions, key_versions, list_current};
use super::AwsS3;
use crate::error::S3Failure;
use crate::store::{
    Acl, Body, Checksum, ContentHeaders, Current, Encryption, Grant, Grantee, Listed,
    ListedVersion, ObjectLock, Past, SourceStore, SourceVersion, VersionRef,
};

/// Part-size HEADs in flight at once when reading a source's part layout.
const PART_HEAD_CONCURRENCY: usize = 16;

/// The additional checksum HeadObject reports (with `ChecksumMode: ENABLED`).
fn checksum_of(out: &HeadObjectOutput) -> Option<Checksum> {
    let (name, value) = [
        ("CRC32", out.checksum_crc32()),
        ("CRC32C", out.checksum_crc32_c()),
        ("CRC64NVME", out.checksum_crc64_nvme()),
        ("SHA1", out.checksum_sha1()),
        ("SHA256", out.checksum_sha256()),
    ]
    .into_iter()
    .find_map(|(name, value)| value.map(|v| (name, v)))?;
    let full_object = match out.checksum_type() {
        Some(t) => *t == ChecksumType::FullObject,
        // Without a type: a composite checksum ends in -N (parts), a full one does not.
        None => !value.contains('-'),
    };
    Some(Checksum {
        algorithm: name.to_owned(),
        full_object,
        value: value.to_owned(),
    })
}

fn to_source_version(out: HeadObjectOutput) -> Result<SourceVersion, S3Failure> {
    let etag = out
        .e_tag()
        .ok_or_else(|| missing("HeadObject", "ETag"))?
        .to_owned();
    let size = out
        .content_length()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| missing("HeadObject", "Content-Length"))?;
    let storage_class = out.storage_class().map(|c| c.as_str().to_owned());
    let archived = matches!(
        out.storage_class(),
        Some(StorageClass::Glacier | StorageClass::DeepArchive)
    ) && out
        .restore()
        .is_none_or(|r| !r.contains("ongoing-request=\"false\""))
        || out.archive_status().is_some();
    let encryption = if out.sse_customer_algorithm().is_some() {
        Encryption::Customer
    } else {
        match out.server_side_encryption() {
            None => Encryption::None,
            Some(ServerSideEncryption::Aes256) => Encryption::S3,
            Some(other) => Encryption::Kms {
                algorithm: other.as_str().to_owned(),
                key_id: out.ssekms_key_id().map(str::to_owned),
                bucket_key: out.bucket_key_enabled().unwrap_or(false),
            },
        }
    };
    let content = ContentHeaders {
        content_type: out.content_type().map(str::to_owned),
        cache_control: out.cache_control().map(str::to_owned),
        content_disposition: out.content_disposition().map(str::to_owned),
        content_encoding: out.content_encoding().map(str::to_owned),
        content_language: out.content_language().map(str::to_owned),
        expires: out.expires_string().map(str::to_owned),
        website_redirect_location: out.website_redirect_location().map(str::to_owned),
    };
    Ok(SourceVersion {
        size,
        etag,
        version_id: out.version_id().map(str::to_owned).filter(|v| v != "null"),
        content,
        metadata: out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        storage_class,
        archived,
        encryption,
        object_lock: ObjectLock {
            mode: out.object_lock_mode().map(|m| m.as_str().to_owned()),
            retain_until: out.object_lock_retain_until_date().cloned(),
            legal_hold: out
                .object_lock_legal_hold_status()
                .map(|s| *s == ObjectLockLegalHoldStatus::On),
        },
        tag_count: out.tag_count().and_then(|n| u32::try_from(n).ok()),
        parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
        checksum: checksum_of(&out),
        last_modified: out.last_modified().cloned(),
    })
}

/// HeadObject that tells an object, a delete marker (404 or 405 with `x-amz-delete-marker`) and
/// nothing (404) apart.
pub(super) async fn head_current(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    expected_bucket_owner: Option<&str>,
) -> Result<Current, S3Failure> {
    let result = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Current::Object(Box::new(to_source_version(out)?))),
        Err(err) => {
            if let Some(raw) = err.raw_response() {
                let headers = raw.headers();
                if headers.get("x-amz-delete-marker") == Some("true") {
                    let put = headers.get("last-modified").and_then(|t| {
                        DateTime::from_str(t, aws_smithy_types::date_time::Format::HttpDate).ok()
                    });
                    return Ok(Current::DeleteMarker(
                        headers.get("x-amz-version-id").map(str::to_owned),
                        put,
                    ));
                }
                if raw.status().as_u16() == 404 {
                    return Ok(Current::Absent);
                }
            }
            Err(failure("HeadObject", err))
        }
    }
}

/// A key's current state by HEAD; with `not_aws`, a plain 404 (no `x-amz-delete-marker`) is
/// checked against the key's listing, since a server other than AWS S3 may answer it over a
/// delete marker (Ceph RGW): a delete there is then told from a key never written.
pub(super) async fn current_state(
    client: &Client,
    bucket: &str,
    key: &str,
    expected_bucket_owner: Option<&str>,
    not_aws: bool,
) -> Result<Current, S3Failure> {
    let current = head_current(client, bucket, key, None, expected_bucket_owner).await?;
    if current != Current::Absent || !not_aws {
        return Ok(current);
    }
    let listed = super::listings::history(client, bucket, key).await?;
    Ok(listed
        .into_iter()
        .find(|p| p.key == key && p.latest && p.delete_marker)
        .map_or(Current::Absent, |p| {
            let put = DateTime::from_millis(p.last_modified);
            Current::DeleteMarker(Some(p.version_id), Some(put))
        }))
}

impl SourceStore for AwsS3 {
    async fn head_version(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
    ) -> Result<SourceVersion, S3Failure> {
        let out = self
            .client(region)
            .head_object()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .set_if_match(if_match.map(str::to_owned))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| failure("HeadObject", e))?;
        to_source_version(out)
    }

    async fn version_tags(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<Vec<(String, String)>, S3Failure> {
        let out = self
            .client(region)
            .get_object_tagging()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await
            .map_err(|e| failure("GetObjectTagging", e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn version_acl(&self, region: &str, version: &VersionRef) -> Result<Acl, S3Failure> {
        let out = self
            .client(region)
            .get_object_acl()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await
            .map_err(|e| failure("GetObjectAcl", e))?;
        let grants = out
            .grants()
            .iter()
            .filter_map(|g| {
                let grantee = g.grantee()?;
                let grantee = match grantee.r#type() {
                    Type::CanonicalUser => Grantee::Id(grantee.id()?.to_owned()),
                    Type::Group => Grantee::Uri(grantee.uri()?.to_owned()),
                    Type::AmazonCustomerByEmail => {
                        Grantee::Email(grantee.email_address()?.to_owned())
                    }
                    _ => return None,
                };
                Some(Grant {
                    grantee,
                    permission: g.permission()?.as_str().to_owned(),
                })
            })
            .collect();
        Ok(Acl {
            owner_id: out.owner().and_then(|o| o.id()).map(str::to_owned),
            grants,
        })
    }

    fn omits_zero_tag_count(&self) -> bool {
        self.on_aws
    }

    async fn part_sizes(
        &self,
        region: &str,
        version: &VersionRef,
        parts: u32,
    ) -> Result<Vec<u64>, S3Failure> {
        let client = self.client(region);
        let heads = (1..=parts).map(|n| {
            let req = client
                .head_object()
                .bucket(&version.bucket)
                .key(&version.key)
                .set_version_id(version.version_id.clone())
                .part_number(n as i32);
            async move {
                let out = req.send().await.map_err(|e| failure("HeadObject", e))?;
                // A server that ignores partNumber (Ceph RGW) answers the whole object, and no
                // part count: its "part" is no part.
                if out.parts_count().is_none() {
                    return Err(crate::error::S3Failure {
                        operation: "HeadObject",
                        kind: crate::error::S3FailureKind::Other,
                        code: Some(crate::store::NO_PART_BY_NUMBER.to_owned()),
                        status: Some(200),
                        message: "the server answers no part by its number".to_owned(),
                    });
                }
                out.content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| missing("HeadObject", "Content-Length of a part"))
            }
        });
        futures::stream::iter(heads)
            .buffered(PART_HEAD_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn read(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> Result<Body, S3Failure> {
        // An empty range (an empty part) has no bytes to read, and no range names it.
        if range.is_some_and(|(start, end)| end <= start) {
            return Ok(Body::from_bytes(Vec::new()));
        }
        let out = self
            .client(region)
            .get_object()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .set_if_match(if_match.map(str::to_owned))
            .set_range(range.map(|(start, end)| format!("bytes={start}-{}", end - 1)))
            .send()
            .await
            .map_err(|e| failure("GetObject", e))?;
        let length = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| missing("GetObject", "Content-Length"))?;
        Ok(Body {
            stream: out.body,
            length,
        })
    }

    async fn lock_enabled(&self, region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled)),
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => Ok(false),
            Err(e) => Err(failure("GetObjectLockConfiguration", e)),
        }
    }

    async fn acls_disabled(&self, region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.ownership_controls().is_some_and(|c| {
                c.rules().iter().any(|r| {
                    r.object_ownership() == &aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced
                })
            })),
            Err(e) if e.code() == Some("OwnershipControlsNotFoundError") => Ok(false),
            // A server without Object Ownership has none, ACLs enabled: Ceph RGW takes the
            // subresource for a listing (200, a ListBucketResult the SDK cannot read as
            // OwnershipControls), others answer NotImplemented. An answer, to be kept.
            Err(e)
                if e.raw_response().is_some_and(|r| r.status().is_success())
                    || e.code() == Some("NotImplemented") =>
            {
                Ok(false)
            }
            Err(e) => Err(failure("GetBucketOwnershipControls", e)),
        }
    }

    async fn version_retention(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<Option<(String, DateTime)>, S3Failure> {
        let result = self
            .client(region)
            .get_object_retention()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .retention()
                .and_then(|r| Some((r.mode()?.as_str().to_owned(), *r.retain_until_date()?)))),
            Err(e) if no_lock(&e) => Ok(None),
            Err(e) => Err(failure("GetObjectRetention", e)),
        }
    }

    async fn version_legal_hold(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_object_legal_hold()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                Ok(out.legal_hold().and_then(|h| h.status())
                    == Some(&ObjectLockLegalHoldStatus::On))
            }
            Err(e) if no_lock(&e) => Ok(false),
            Err(e) => Err(failure("GetObjectLegalHold", e)),
        }
    }

    async fn newest_object_version(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, S3Failure> {
        let versions = key_versions(&self.client(region), bucket, key, None, true).await?;
        Ok(versions.into_iter().next().map(|v| v.version_id))
    }

    async fn list_objects(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Listed>, S3Failure> {
        list_current(&self.client(region), bucket, prefix, None).await
    }

    async fn list_versions(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        all_versions(&self.client(region), bucket, prefix).await
    }

    async fn current(&self, region: &str, bucket: &str, key: &str) -> Result<Current, S3Failure> {
        let not_aws = SourceStore::absence_is_listed(self);
        current_state(&self.client(region), bucket, key, None, not_aws).await
    }

    fn absence_is_listed(&self) -> bool {
        !self.on_aws
    }

    async fn history(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Past>, S3Failure> {
        super::listings::history(&self.client(region), bucket, prefix).await
    }

    async fn key_history(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        expected_bucket_owner: Option<&str>,
    ) -> Result<Vec<Past>, S3Failure> {
        super::listings::key_history(&self.client(region), bucket, key, expected_bucket_owner).await
    }

    async fn history_within(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
        max_pages: usize,
    ) -> Result<Option<Vec<Past>>, S3Failure> {
        super::listings::history_within(&self.client(region), bucket, prefix, Some(max_pages)).await
    }

    async fn versioning_enabled(&self, region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let out = self
            .client(region)
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| failure("GetBucketVersioning", e))?;
        Ok(out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled))
    }
}

//! Listings: a key's versions, a prefix's current objects and its version history, every page.

use aws_sdk_s3::Client;

use super::errors::{failure, not_advancing};
use crate::error::S3Failure;
use crate::store::{Listed, ListedVersion};

/// The object versions (not delete markers) of exactly `key`, newest first; with `first_only`,
/// stops at the first one found.
pub(super) async fn key_versions(
    client: &Client,
    bucket: &str,
    key: &str,
    expected_bucket_owner: Option<&str>,
    first_only: bool,
) -> Result<Vec<ListedVersion>, S3Failure> {
    let mut versions = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectVersions", e))?;
        let mut past_key = false;
        for v in page.versions() {
            match v.key() {
                Some(k) if k == key => versions.extend(listed_version(v)),
                Some(k) if k > key => past_key = true,
                _ => {}
            }
        }
        // Listings are in key order: once past the key, nothing more is about it.
        if past_key || page.is_truncated() != Some(true) || (first_only && !versions.is_empty()) {
            return Ok(versions);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(not_advancing("ListObjectVersions"));
        }
    }
}

/// A version as ListObjectVersions lists it.
fn listed_version(v: &aws_sdk_s3::types::ObjectVersion) -> Option<ListedVersion> {
    Some(ListedVersion {
        key: v.key()?.to_owned(),
        version_id: v.version_id().unwrap_or("null").to_owned(),
        size: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
        etag: v.e_tag().unwrap_or_default().to_owned(),
    })
}

/// Puts each key's versions, listed newest first, oldest first (keys stay in order).
fn oldest_first(versions: &mut [ListedVersion]) {
    let mut start = 0;
    while start < versions.len() {
        let key = &versions[start].key;
        let end = start
            + versions[start..]
                .iter()
                .take_while(|v| &v.key == key)
                .count();
        versions[start..end].reverse();
        start = end;
    }
}

/// A bucket's current objects under `prefix`, in key order (ListObjectsV2, every page).
pub(super) async fn list_current(
    client: &Client,
    bucket: &str,
    prefix: &str,
    expected_bucket_owner: Option<&str>,
) -> Result<Vec<Listed>, S3Failure> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectsV2", e))?;
        objects.extend(page.contents().iter().filter_map(|o| {
            Some(Listed {
                key: o.key()?.to_owned(),
                size: u64::try_from(o.size()?).ok()?,
                etag: o.e_tag()?.to_owned(),
                storage_class: o
                    .storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_owned(),
            })
        }));
        if page.is_truncated() != Some(true) {
            return Ok(objects);
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Err(not_advancing("ListObjectsV2"));
        }
    }
}

/// The object versions under `prefix` (ListObjectVersions): in key order, each key's oldest first.
pub(super) async fn all_versions(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ListedVersion>, S3Failure> {
    let mut versions: Vec<ListedVersion> = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| failure("ListObjectVersions", e))?;
        versions.extend(page.versions().iter().filter_map(listed_version));
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(not_advancing("ListObjectVersions"));
        }
    }
    // S3 lists each key's versions newest first.
    oldest_first(&mut versions);
    Ok(versions)
}

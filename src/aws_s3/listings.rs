//! Listings: a key's versions, a prefix's current objects and its version history, every page.
//! Every listing asks for `EncodingType=url`: a key with a control character cannot be written
//! in XML as it is, and would otherwise make the whole page, and the run, fail.

use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::types::EncodingType;
use aws_sdk_s3::Client;

use super::errors::{failure, not_advancing};
use super::version_order::{weave, Kind, PageOrder};
use crate::error::{S3Failure, S3FailureKind};
use crate::events::decode_event_key;
use crate::store::{Listed, ListedVersion, Past};

/// A key (or key marker) as a listing gave it: decoded where the answer says it is URL-encoded
/// (as S3 event keys are; a server that ignores the request answers it as it is).
pub(super) fn listed_key(
    operation: &'static str,
    encoding: Option<&EncodingType>,
    raw: &str,
) -> Result<String, S3Failure> {
    match encoding {
        Some(EncodingType::Url) => decode_event_key(raw).map_err(|e| S3Failure {
            operation,
            kind: S3FailureKind::Other,
            code: None,
            status: Some(200),
            message: format!("the listing named a key that does not decode: {raw:?}: {e}"),
        }),
        _ => Ok(raw.to_owned()),
    }
}

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
            .encoding_type(EncodingType::Url)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectVersions", e))?;
        let mut past_key = false;
        for v in page.versions() {
            match listed_version(page.encoding_type(), v)? {
                Some(listed) if listed.key == key => versions.push(listed),
                Some(listed) if listed.key.as_str() > key => past_key = true,
                _ => {}
            }
        }
        // Listings are in key order: once past the key, nothing more is about it.
        if past_key || page.is_truncated() != Some(true) || (first_only && !versions.is_empty()) {
            return Ok(versions);
        }
        key_marker = next_key_marker(&page)?;
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(not_advancing("ListObjectVersions"));
        }
    }
}

/// The key marker to go on from, decoded as the page's keys are.
fn next_key_marker(page: &ListObjectVersionsOutput) -> Result<Option<String>, S3Failure> {
    page.next_key_marker()
        .map(|m| listed_key("ListObjectVersions", page.encoding_type(), m))
        .transpose()
}

/// A version as ListObjectVersions lists it.
fn listed_version(
    encoding: Option<&EncodingType>,
    v: &aws_sdk_s3::types::ObjectVersion,
) -> Result<Option<ListedVersion>, S3Failure> {
    let Some(key) = v.key() else {
        return Ok(None);
    };
    Ok(Some(ListedVersion {
        key: listed_key("ListObjectVersions", encoding, key)?,
        version_id: v.version_id().unwrap_or("null").to_owned(),
        size: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
        etag: v.e_tag().unwrap_or_default().to_owned(),
    }))
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
            .encoding_type(EncodingType::Url)
            .set_continuation_token(token.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectsV2", e))?;
        for o in page.contents() {
            let (Some(key), Some(size), Some(etag)) = (o.key(), o.size(), o.e_tag()) else {
                continue;
            };
            objects.push(Listed {
                key: listed_key("ListObjectsV2", page.encoding_type(), key)?,
                size: u64::try_from(size).unwrap_or(0),
                etag: etag.to_owned(),
                storage_class: o
                    .storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_owned(),
            });
        }
        if page.is_truncated() != Some(true) {
            return Ok(objects);
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Err(not_advancing("ListObjectsV2"));
        }
    }
}

/// Every page of ListObjectVersions under `prefix` (of a bucket `owner` owns, where given), each
/// handed to `each` in order, with the kinds of its entries in the order S3 sent them (`None`
/// when the body could not be read); at most `max_pages` pages. The answer: whether the listing
/// came to its end.
/// Whether a listing goes on to its next page.
#[derive(PartialEq, Eq)]
enum Go {
    On,
    Stop,
}

async fn version_pages(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
    max_pages: Option<usize>,
    mut each: impl FnMut(&ListObjectVersionsOutput, Option<Vec<Kind>>) -> Result<Go, S3Failure>,
) -> Result<bool, S3Failure> {
    let (mut key_marker, mut version_marker) = (None, None);
    let mut pages = 0;
    loop {
        if max_pages.is_some_and(|max| pages >= max) {
            return Ok(false);
        }
        pages += 1;
        let order = PageOrder::default();
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .set_expected_bucket_owner(owner.map(str::to_owned))
            .prefix(prefix)
            .encoding_type(EncodingType::Url)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .customize()
            .interceptor(order.clone())
            .send()
            .await
            .map_err(|e| failure("ListObjectVersions", e))?;
        if each(&page, order.take())? == Go::Stop || page.is_truncated() != Some(true) {
            return Ok(true);
        }
        key_marker = next_key_marker(&page)?;
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(not_advancing("ListObjectVersions"));
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
    version_pages(client, bucket, None, prefix, None, |page, _| {
        for v in page.versions() {
            versions.extend(listed_version(page.encoding_type(), v)?);
        }
        Ok(Go::On)
    })
    .await?;
    // S3 lists each key's versions newest first.
    oldest_first(&mut versions);
    Ok(versions)
}

/// Every object version and delete marker under `prefix`: in key order, each key's newest first
/// in the order S3 stacked them (S3 answers them in one sequence, which the SDK splits into two
/// lists: they are woven back by the response's own order, never re-sorted by time).
pub(super) async fn history(
    client: &Client,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Past>, S3Failure> {
    let all = history_within(client, bucket, prefix, None).await?;
    all.ok_or_else(|| not_advancing("ListObjectVersions"))
}

/// One key's own versions and delete markers (newest first), with its bucket's expected
/// owner: the listing on its name stops once it has passed the key (the longer keys it
/// prefixes are left out, however many).
pub(super) async fn key_history(
    client: &Client,
    bucket: &str,
    key: &str,
    owner: Option<&str>,
) -> Result<Vec<Past>, S3Failure> {
    let mut all = listed_history(client, bucket, owner, key, None, Some(key))
        .await?
        .ok_or_else(|| not_advancing("ListObjectVersions"))?;
    all.retain(|p| p.key == key);
    Ok(all)
}

/// [`history`] in at most `max_pages` pages: `None` where the listing is longer.
pub(super) async fn history_within(
    client: &Client,
    bucket: &str,
    prefix: &str,
    max_pages: Option<usize>,
) -> Result<Option<Vec<Past>>, S3Failure> {
    listed_history(client, bucket, None, prefix, max_pages, None).await
}

/// The listing behind [`history_within`] and [`key_history`]: `until`, a key past which the
/// listing stops.
async fn listed_history(
    client: &Client,
    bucket: &str,
    owner: Option<&str>,
    prefix: &str,
    max_pages: Option<usize>,
    until: Option<&str>,
) -> Result<Option<Vec<Past>>, S3Failure> {
    let mut entries: Vec<Past> = Vec::new();
    let millis =
        |t: Option<&aws_smithy_types::DateTime>| t.map_or(0, |t| t.to_millis().unwrap_or(0));
    let complete = version_pages(client, bucket, owner, prefix, max_pages, |page, order| {
        let encoding = page.encoding_type();
        let version = |v: &aws_sdk_s3::types::ObjectVersion| -> Result<Past, S3Failure> {
            Ok(Past {
                key: listed_key("ListObjectVersions", encoding, v.key().unwrap_or_default())?,
                version_id: v.version_id().unwrap_or("null").to_owned(),
                last_modified: millis(v.last_modified()),
                delete_marker: false,
                latest: v.is_latest() == Some(true),
                size: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
                etag: v.e_tag().unwrap_or_default().to_owned(),
            })
        };
        let marker = |m: &aws_sdk_s3::types::DeleteMarkerEntry| -> Result<Past, S3Failure> {
            Ok(Past {
                key: listed_key("ListObjectVersions", encoding, m.key().unwrap_or_default())?,
                version_id: m.version_id().unwrap_or("null").to_owned(),
                last_modified: millis(m.last_modified()),
                delete_marker: true,
                latest: m.is_latest() == Some(true),
                size: 0,
                etag: String::new(),
            })
        };
        let woven = order.and_then(|order| {
            weave(
                &order,
                page.versions(),
                page.delete_markers(),
                version,
                marker,
            )
        });
        let Some(woven) = woven else {
            return Err(S3Failure {
                operation: "ListObjectVersions",
                kind: S3FailureKind::Other,
                code: None,
                status: Some(200),
                message: "the order of the page's versions and delete markers could not be read from the answer".to_owned(),
            });
        };
        for entry in woven {
            entries.push(entry?);
        }
        // Listings are in key order: once past `until`, nothing more is about it.
        let past = until.is_some_and(|k| entries.last().is_some_and(|p| p.key.as_str() > k));
        Ok(if past { Go::Stop } else { Go::On })
    })
    .await?;
    Ok(complete.then_some(entries))
}

//! The in-memory S3 as the source store: HeadObject, tags, ACL, bytes, listings.

use super::*;
use crate::store::Past;

impl SourceStore for FakeS3 {
    async fn head_version(
        &self,
        _region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
    ) -> Result<SourceVersion, S3Failure> {
        let _call = self.call().await;
        let s = self.state().pinned("HeadObject", version, if_match)?;
        Ok(s.head())
    }

    async fn version_tags(
        &self,
        _region: &str,
        version: &VersionRef,
    ) -> Result<Vec<(String, String)>, S3Failure> {
        let _call = self.call().await;
        let s = self.state().version(
            "GetObjectTagging",
            &version.bucket,
            &version.key,
            version.version_id.as_deref(),
        )?;
        Ok(s.tags)
    }

    async fn version_acl(&self, _region: &str, version: &VersionRef) -> Result<Acl, S3Failure> {
        let _call = self.call().await;
        let s = self.state().version(
            "GetObjectAcl",
            &version.bucket,
            &version.key,
            version.version_id.as_deref(),
        )?;
        Ok(s.acl)
    }

    async fn part_sizes(
        &self,
        _region: &str,
        version: &VersionRef,
        parts: u32,
    ) -> Result<Vec<u64>, S3Failure> {
        let _call = self.call().await;
        let s = self.state().version(
            "HeadObject",
            &version.bucket,
            &version.key,
            version.version_id.as_deref(),
        )?;
        Ok(s.parts.into_iter().take(parts as usize).collect())
    }

    async fn read(
        &self,
        _region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> Result<Body, S3Failure> {
        let _call = self.call().await;
        let s = self.state().pinned("GetObject", version, if_match)?;
        let (start, end) = range.unwrap_or((0, s.body.len() as u64));
        Ok(Body::from_bytes(
            s.body[start as usize..end as usize].to_vec(),
        ))
    }

    async fn lock_enabled(&self, _region: &str, _bucket: &str) -> Result<bool, S3Failure> {
        let _call = self.call().await;
        Ok(false)
    }

    async fn acls_disabled(&self, _region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let _call = self.call().await;
        self.state().bucket("GetBucketOwnershipControls", bucket)?;
        Ok(false)
    }

    async fn version_retention(
        &self,
        _region: &str,
        _version: &VersionRef,
    ) -> Result<Option<(String, aws_smithy_types::DateTime)>, S3Failure> {
        let _call = self.call().await;
        Ok(None)
    }

    async fn version_legal_hold(
        &self,
        _region: &str,
        _version: &VersionRef,
    ) -> Result<bool, S3Failure> {
        let _call = self.call().await;
        Ok(false)
    }

    async fn newest_object_version(
        &self,
        _region: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let b = state.bucket("ListObjectVersions", bucket)?;
        Ok(b.keys
            .get(key)
            .and_then(|v| v.iter().rev().find(|s| !s.marker))
            .map(|s| s.id.clone()))
    }

    async fn list_objects(
        &self,
        _region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Listed>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        list(state.bucket("ListObjectsV2", bucket)?, prefix)
    }

    async fn list_versions(
        &self,
        _region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let b = state.bucket("ListObjectVersions", bucket)?;
        Ok(b.keys
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(k, v)| v.iter().filter(|s| !s.marker).map(|s| listed_version(k, s)))
            .collect())
    }

    async fn history(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Past>, S3Failure> {
        let all = self
            .history_within(region, bucket, prefix, usize::MAX)
            .await?;
        Ok(all.unwrap_or_default())
    }

    async fn key_history(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        _expected_bucket_owner: Option<&str>,
    ) -> Result<Vec<Past>, S3Failure> {
        let mut all = self.history(region, bucket, key).await?;
        all.retain(|p| p.key == key);
        Ok(all)
    }

    async fn history_within(
        &self,
        _region: &str,
        bucket: &str,
        prefix: &str,
        max_pages: usize,
    ) -> Result<Option<Vec<Past>>, S3Failure> {
        // The first page's call before the read, as every call here.
        drop(self.call().await);
        let entries = self.past(bucket, prefix)?;
        Ok(self
            .more_pages(entries.len(), max_pages)
            .await
            .then_some(entries))
    }

    async fn versioning_enabled(&self, _region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let _call = self.call().await;
        self.state()
            .bucket("GetBucketVersioning", bucket)
            .map(|b| b.versioning == Versioning::Enabled)
    }

    async fn current(&self, _region: &str, bucket: &str, key: &str) -> Result<Current, S3Failure> {
        let _call = self.call().await;
        self.state().current("HeadObject", bucket, key)
    }
}

impl FakeS3 {
    /// Every version and delete marker under `prefix`, as ListObjectVersions lists them.
    fn past(&self, bucket: &str, prefix: &str) -> Result<Vec<Past>, S3Failure> {
        let mut state = self.state();
        let b = state.bucket("ListObjectVersions", bucket)?;
        Ok(b.keys
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .flat_map(|(k, versions)| {
                let newest = versions.len().saturating_sub(1);
                versions.iter().enumerate().rev().map(move |(i, s)| Past {
                    key: k.clone(),
                    version_id: s.id.clone(),
                    last_modified: s
                        .head
                        .last_modified
                        .map_or(0, |t| t.to_millis().unwrap_or(0)),
                    delete_marker: s.marker,
                    latest: i == newest,
                    size: if s.marker { 0 } else { s.head.size },
                    etag: if s.marker {
                        String::new()
                    } else {
                        s.head.etag.clone()
                    },
                })
            })
            .collect())
    }

    /// A call for each page after the first of a listing of `entries` (1,000 a page), up to
    /// `max_pages` in all: whether the listing ended within them.
    pub(super) async fn more_pages(&self, entries: usize, max_pages: usize) -> bool {
        let pages = entries.div_ceil(1000).max(1);
        for _ in 1..pages.min(max_pages) {
            drop(self.call().await);
        }
        pages <= max_pages
    }
}

//! A fault-injecting wrapper around any [`DestinationStore`], for tests of what happens when a
//! call fails part-way (as mountpoint-s3's failure client): the calls it does not fail reach
//! the real store (the local S3 server) unchanged.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{S3Failure, S3FailureKind};
use crate::store::{
    AclPlan, Body, CopyRequest, Current, DestinationStore, Listed, ListedVersion, ReplicaLocation,
    ReplicaSpec, UploadedPart, Written,
};

/// One call as the fault rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    /// The S3 operation, e.g. `UploadPartCopy`.
    pub operation: &'static str,
    /// The part number, for part uploads and copies.
    pub part: Option<u32>,
    /// The bytes a part copy copies (a slow copy takes time by its size).
    pub bytes: Option<u64>,
}

type Rule = Box<dyn Fn(Call) -> Option<S3Failure> + Send + Sync>;

/// Forwards every call to `inner` unless `rule` answers it with a failure.
pub struct Faulty<D> {
    inner: D,
    rule: Rule,
    injected: AtomicU32,
    garble: Option<Box<dyn Fn(u32) -> bool + Send + Sync>>,
    delay: Option<Delay>,
}

type Delay = Box<dyn Fn(Call) -> Option<std::time::Duration> + Send + Sync>;

impl<D> Faulty<D> {
    /// Wraps `inner`; `rule` decides which calls fail.
    pub fn new(inner: D, rule: impl Fn(Call) -> Option<S3Failure> + Send + Sync + 'static) -> Self {
        Self {
            inner,
            rule: Box::new(rule),
            injected: AtomicU32::new(0),
            garble: None,
            delay: None,
        }
    }

    /// Makes the parts `which` selects arrive as other bytes of the same length (what a
    /// corrupting hop between the function and the destination would do).
    pub fn garbling(mut self, which: impl Fn(u32) -> bool + Send + Sync + 'static) -> Self {
        self.garble = Some(Box::new(which));
        self
    }

    /// Makes the calls `how_long` names take that much longer, before they reach the store (a
    /// slow part copy, a delaying hop). It sees every call, so it can count them too.
    pub fn delaying(
        mut self,
        how_long: impl Fn(Call) -> Option<std::time::Duration> + Send + Sync + 'static,
    ) -> Self {
        self.delay = Some(Box::new(how_long));
        self
    }

    /// As [`Self::check`], after the call's delay.
    async fn enter(&self, operation: &'static str, part: Option<u32>) -> Result<(), S3Failure> {
        self.enter_with(operation, part, None).await
    }

    /// As [`Self::enter`], for a call that copies `bytes`.
    async fn enter_with(
        &self,
        operation: &'static str,
        part: Option<u32>,
        bytes: Option<u64>,
    ) -> Result<(), S3Failure> {
        let call = Call {
            operation,
            part,
            bytes,
        };
        if let Some(took) = self.delay.as_ref().and_then(|d| d(call)) {
            tokio::time::sleep(took).await;
        }
        self.check(operation, part)
    }

    /// How many failures were injected.
    pub fn injected(&self) -> u32 {
        self.injected.load(Ordering::Relaxed)
    }

    fn check(&self, operation: &'static str, part: Option<u32>) -> Result<(), S3Failure> {
        let call = Call {
            operation,
            part,
            bytes: None,
        };
        match (self.rule)(call) {
            Some(f) => {
                self.injected.fetch_add(1, Ordering::Relaxed);
                Err(f)
            }
            None => Ok(()),
        }
    }
}

/// A throttling answer (`SlowDown`, 503): a failure a retry can fix.
pub fn slow_down(operation: &'static str) -> S3Failure {
    S3Failure {
        operation,
        kind: S3FailureKind::Other,
        code: Some("SlowDown".into()),
        status: Some(503),
        message: "injected".into(),
    }
}

impl<D: DestinationStore> DestinationStore for Faulty<D> {
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Failure> {
        self.enter("GetBucketLocation", None).await?;
        self.inner.bucket_region(bucket).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, S3Failure> {
        self.enter("CopyObject", None).await?;
        self.inner.copy_object(request).await
    }

    async fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> Result<Written, S3Failure> {
        self.enter("PutObject", None).await?;
        self.inner.put_object(target, body, tags).await
    }

    async fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<UploadedPart, S3Failure> {
        self.enter("UploadPart", Some(number)).await?;
        let body = match &self.garble {
            Some(which) if which(number) => {
                // Read as sent, then replaced: the function's own digest sees the real bytes.
                let _ = body.stream.collect().await;
                Body::from_bytes(vec![b'!'; body.length as usize])
            }
            _ => body,
        };
        self.inner
            .upload_part(target, upload_id, number, body)
            .await
    }

    async fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> Result<String, S3Failure> {
        self.enter("CreateMultipartUpload", None).await?;
        self.inner.create_multipart(target, tags).await
    }

    async fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> Result<UploadedPart, S3Failure> {
        self.enter_with("UploadPartCopy", Some(number), Some(range.1 - range.0))
            .await?;
        self.inner
            .upload_part_copy(request, upload_id, number, range)
            .await
    }

    async fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> Result<Written, S3Failure> {
        self.enter("CompleteMultipartUpload", None).await?;
        self.inner
            .complete_multipart(target, upload_id, parts)
            .await
    }

    async fn list_uploads(&self, target: &ReplicaSpec) -> Result<Vec<String>, S3Failure> {
        self.enter("ListMultipartUploads", None).await?;
        self.inner.list_uploads(target).await
    }

    async fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
        self.enter("ListParts", None).await?;
        self.inner.list_parts(target, upload_id).await
    }

    async fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<(), S3Failure> {
        self.enter("AbortMultipartUpload", None).await?;
        self.inner.abort_multipart(target, upload_id).await
    }

    async fn replica_current(&self, at: &ReplicaLocation) -> Result<Current, S3Failure> {
        self.enter("HeadObject", None).await?;
        self.inner.replica_current(at).await
    }

    fn absence_is_listed(&self, endpoint: Option<&str>) -> bool {
        self.inner.absence_is_listed(endpoint)
    }

    async fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
        if_match: Option<&str>,
    ) -> Result<Option<String>, S3Failure> {
        self.enter("DeleteObject", None).await?;
        self.inner.put_delete_marker(at, if_match).await
    }

    async fn list_replicas(&self, at: &ReplicaLocation) -> Result<Vec<Listed>, S3Failure> {
        self.enter("ListObjectsV2", None).await?;
        self.inner.list_replicas(at).await
    }

    async fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        self.enter("ListObjectVersions", None).await?;
        self.inner.replica_versions(at).await
    }

    async fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<Current, S3Failure> {
        self.enter("HeadObject", None).await?;
        self.inner.replica_version(at, version_id).await
    }

    async fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        self.enter("DeleteObject", None).await?;
        self.inner.delete_version(at, version_id).await
    }

    async fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        self.enter("PutObjectTagging", None).await?;
        self.inner.set_tags(at, version_id, tags).await
    }

    async fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> Result<(), S3Failure> {
        self.enter("PutObjectAcl", None).await?;
        self.inner.set_acl(at, version_id, acl).await
    }
}

//! The in-memory S3 as a destination store with someone else acting on it around a write: the
//! races a test cannot time against a real server (a write or delete made in the destination
//! between the engine's read and its write), for the engine's tests and the tools' alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use s3_replicator::error::S3Failure;
use s3_replicator::fake::FakeS3;
use s3_replicator::store::{
    AclPlan, Body, CopyRequest, Current, DestinationStore, Listed, ListedVersion, ReplicaLocation,
    ReplicaSpec, UploadedPart, Written,
};

pub type Hook = Box<dyn Fn(&FakeS3) + Send + Sync>;

/// The in-memory S3 as the destination store, with someone else acting on it once, around the
/// first CopyObject that `when` picks: `before` it reaches S3, `after` S3 answered it.
pub struct Meddled {
    s3: FakeS3,
    when: Box<dyn Fn(&CopyRequest) -> bool + Send + Sync>,
    before: Hook,
    after: Hook,
    fired: AtomicBool,
    /// Run once, before the first DeleteObject reaches S3.
    pub on_delete: Mutex<Option<Hook>>,
    /// Meddle around every CopyObject `when` picks, not only the first.
    pub every: bool,
}

impl Meddled {
    pub fn new(
        s3: &FakeS3,
        when: impl Fn(&CopyRequest) -> bool + Send + Sync + 'static,
        before: impl Fn(&FakeS3) + Send + Sync + 'static,
        after: impl Fn(&FakeS3) + Send + Sync + 'static,
    ) -> Self {
        Self {
            s3: s3.clone(),
            when: Box::new(when),
            before: Box::new(before),
            after: Box::new(after),
            fired: AtomicBool::new(false),
            on_delete: Mutex::new(None),
            every: false,
        }
    }

    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl DestinationStore for Meddled {
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Failure> {
        self.s3.bucket_region(bucket).await
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, S3Failure> {
        if (self.fired() && !self.every) || !(self.when)(request) {
            return self.s3.copy_object(request).await;
        }
        self.fired.store(true, Ordering::SeqCst);
        (self.before)(&self.s3);
        let answer = self.s3.copy_object(request).await;
        (self.after)(&self.s3);
        answer
    }

    async fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> Result<Written, S3Failure> {
        self.s3.put_object(target, body, tags).await
    }

    async fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<UploadedPart, S3Failure> {
        self.s3.upload_part(target, upload_id, number, body).await
    }

    async fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> Result<String, S3Failure> {
        self.s3.create_multipart(target, tags).await
    }

    async fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        range: (u64, u64),
    ) -> Result<UploadedPart, S3Failure> {
        self.s3
            .upload_part_copy(request, upload_id, number, range)
            .await
    }

    async fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> Result<Written, S3Failure> {
        self.s3.complete_multipart(target, upload_id, parts).await
    }

    async fn list_uploads(&self, target: &ReplicaSpec) -> Result<Vec<String>, S3Failure> {
        self.s3.list_uploads(target).await
    }

    async fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
        self.s3.list_parts(target, upload_id).await
    }

    async fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<(), S3Failure> {
        self.s3.abort_multipart(target, upload_id).await
    }

    async fn replica_current(&self, at: &ReplicaLocation) -> Result<Current, S3Failure> {
        self.s3.replica_current(at).await
    }

    async fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
        if_match: Option<&str>,
    ) -> Result<Option<String>, S3Failure> {
        let hook = self.on_delete.lock().unwrap().take();
        if let Some(hook) = hook {
            hook(&self.s3);
        }
        self.s3.put_delete_marker(at, if_match).await
    }

    async fn list_replicas(&self, at: &ReplicaLocation) -> Result<Vec<Listed>, S3Failure> {
        self.s3.list_replicas(at).await
    }

    async fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        self.s3.replica_versions(at).await
    }

    async fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<Current, S3Failure> {
        self.s3.replica_version(at, version_id).await
    }

    async fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        self.s3.delete_version(at, version_id).await
    }

    async fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        self.s3.set_tags(at, version_id, tags).await
    }

    async fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> Result<(), S3Failure> {
        self.s3.set_acl(at, version_id, acl).await
    }
}

/// The engine on the fake, dating the records of the replicas it writes by the fake's own clock
/// (which these tests set): the time `Last-Modified` is stamped with.
pub fn engine<D: DestinationStore>(
    config: s3_replicator::Config,
    s3: FakeS3,
    destination: D,
    region: &str,
) -> s3_replicator::Replicator<FakeS3, D> {
    let clock = std::sync::Arc::new(s3.clone());
    s3_replicator::Replicator::new(config, s3, destination, region)
        .with_clock(clock, s3_replicator::copy::stamp::DEFAULT_ALLOWANCE)
}

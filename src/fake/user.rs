//! The in-memory S3 as its users reach it: buckets, the clock, writes with their conditions,
//! multipart uploads completed later, copies, deletes (conditional ones too), tags and ACLs, and
//! a read of a key's whole stack for checks.

use super::*;

/// A write as a user makes it (PutObject, or the CreateMultipartUpload of one in parts).
#[derive(Debug, Clone, Default)]
pub struct UserWrite {
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// `If-Match` / `If-None-Match: *`.
    pub condition: Option<WriteCondition>,
}

/// One entry of a key's stack as S3 keeps it, for checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The version id (`null` for one written while versioning was not enabled).
    pub version_id: String,
    /// A delete marker.
    pub delete_marker: bool,
    /// ETag, with quotes (empty for a delete marker).
    pub etag: String,
    /// The bytes.
    pub body: Vec<u8>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    /// Last-Modified, in whole seconds.
    pub last_modified: i64,
    /// Storage class, as written (`None`: STANDARD).
    pub storage_class: Option<String>,
    /// The ACL grants something beyond its owner's full control.
    pub public: bool,
}

fn precondition_failed(op: &'static str) -> S3Failure {
    fail(
        op,
        S3FailureKind::PreconditionFailed,
        "PreconditionFailed",
        412,
    )
}

impl FakeS3 {
    /// Creates a versioned bucket.
    pub fn create_bucket(&self, name: &str, region: &str) {
        self.create_bucket_with(name, region, Versioning::Enabled);
    }

    /// Creates a bucket whose versioning was never enabled: its writes have the version id
    /// `null` until [`Self::set_versioning`] enables it.
    pub fn create_unversioned_bucket(&self, name: &str, region: &str) {
        self.create_bucket_with(name, region, Versioning::Unversioned);
    }

    fn create_bucket_with(&self, name: &str, region: &str, versioning: Versioning) {
        self.state().buckets.insert(
            name.to_owned(),
            Bucket {
                region: region.to_owned(),
                versioning,
                ..Bucket::default()
            },
        );
    }

    /// PutBucketVersioning: `Enabled` or `Suspended` (a bucket cannot return to unversioned).
    pub fn set_versioning(&self, bucket: &str, versioning: Versioning) {
        let mut state = self.state();
        let b = state
            .bucket("PutBucketVersioning", bucket)
            .expect("the bucket exists");
        if versioning != Versioning::Unversioned {
            b.versioning = versioning;
        }
    }

    /// The bucket's versioning state.
    pub fn versioning(&self, bucket: &str) -> Option<Versioning> {
        self.state().buckets.get(bucket).map(|b| b.versioning)
    }

    /// Sets the clock (milliseconds since the epoch); from now on the fake never reads the wall
    /// clock.
    pub fn set_clock(&self, millis: i64) {
        self.state().clock = Some(millis);
    }

    /// Moves the clock on by `millis` (a set clock; the wall clock's time otherwise).
    pub fn advance_clock(&self, millis: i64) {
        let mut state = self.state();
        let now = state.now_millis();
        state.clock = Some(now + millis);
    }

    /// The clock, in milliseconds since the epoch.
    pub fn clock(&self) -> i64 {
        self.state().now_millis()
    }
}

/// The fake's clock, for an engine that dates what it writes by the same clock the fake stamps
/// `Last-Modified` with (the simulation).
impl crate::clock::Clock for FakeS3 {
    fn now_millis(&self) -> i64 {
        self.clock()
    }
}

impl FakeS3 {
    /// Writes an object; its version id and ETag.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) -> Written {
        self.write(bucket, key, body, &UserWrite::default())
            .expect("the bucket exists")
    }

    /// PutObject with metadata, tags and a write condition.
    pub fn write(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        write: &UserWrite,
    ) -> Result<Written, S3Failure> {
        let mut stored = object(body.to_vec(), md5_etag(body), vec![body.len() as u64], None);
        stored.head.metadata = write.metadata.clone();
        stored.tags = write.tags.clone();
        let mut state = self.state();
        state.condition_holds("PutObject", bucket, key, write.condition.as_ref())?;
        state.store("ObjectCreated:Put", bucket, key, stored)
    }

    /// Writes an object in parts (its ETag is a multipart ETag), initiated and completed now.
    pub fn put_multipart(&self, bucket: &str, key: &str, parts: &[Vec<u8>]) -> Written {
        let id = self.begin_upload(bucket, key, &UserWrite::default());
        self.complete_upload(bucket, &id, parts, None)
            .expect("the bucket exists")
    }

    /// CreateMultipartUpload: the upload's id. The object it completes into is stamped with
    /// this moment.
    pub fn begin_upload(&self, bucket: &str, key: &str, write: &UserWrite) -> String {
        let mut state = self.state();
        let id = format!("upload-{}", state.id());
        let initiated = state.now_millis();
        let upload = Upload {
            key: key.to_owned(),
            initiated,
            spec: user_spec(bucket, key, write.metadata.clone()),
            tags: write.tags.clone(),
            parts: BTreeMap::new(),
        };
        state
            .bucket("CreateMultipartUpload", bucket)
            .expect("the bucket exists")
            .uploads
            .insert(id.clone(), upload);
        id
    }

    /// UploadPart of every part, then CompleteMultipartUpload with `condition`: the object
    /// stacks above what is there now and carries its initiation time as Last-Modified.
    pub fn complete_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        parts: &[Vec<u8>],
        condition: Option<&WriteCondition>,
    ) -> Result<Written, S3Failure> {
        let op = "CompleteMultipartUpload";
        let mut state = self.state();
        let key = state
            .bucket(op, bucket)?
            .uploads
            .get(upload_id)
            .map(|u| u.key.clone())
            .ok_or_else(|| fail(op, S3FailureKind::NotFound, "NoSuchUpload", 404))?;
        state.condition_holds(op, bucket, &key, condition)?;
        let upload = state
            .bucket(op, bucket)?
            .uploads
            .remove(upload_id)
            .ok_or_else(|| fail(op, S3FailureKind::NotFound, "NoSuchUpload", 404))?;
        let etags: Vec<(u32, String)> = (1..).zip(parts.iter().map(|p| md5_etag(p))).collect();
        let etag = multipart_etag(&etags).expect("MD5 part ETags");
        let sizes = parts.iter().map(|p| p.len() as u64).collect();
        let mut stored = object(parts.concat(), etag, sizes, Some(&upload.spec));
        stored.head.storage_class = None;
        stored.tags = upload.tags;
        let event = "ObjectCreated:CompleteMultipartUpload";
        state.store_stamped(event, bucket, &key, stored, upload.initiated)
    }

    /// CopyObject as a user sends it (`x-amz-metadata-directive: COPY`, tags copied): the
    /// version's bytes, metadata and tags under another key or bucket.
    pub fn copy(
        &self,
        from: &VersionRef,
        bucket: &str,
        key: &str,
        condition: Option<&WriteCondition>,
    ) -> Result<Written, S3Failure> {
        let mut state = self.state();
        let s = state.pinned("CopyObject", from, None)?;
        let mut copy = object(s.body.clone(), s.head.etag.clone(), s.parts.clone(), None);
        copy.head.metadata = s.head.metadata.clone();
        copy.head.content = s.head.content.clone();
        copy.head.storage_class = s.head.storage_class.clone();
        copy.tags = s.tags.clone();
        state.condition_holds("CopyObject", bucket, key, condition)?;
        state.store("ObjectCreated:Copy", bucket, key, copy)
    }

    /// Changes what HeadObject says of the key's current version (encryption, checksum, ...), as
    /// if it had been written so.
    pub fn edit_head(&self, bucket: &str, key: &str, edit: impl FnOnce(&mut SourceVersion)) {
        let mut state = self.state();
        let stored = state
            .bucket("HeadObject", bucket)
            .expect("the bucket exists")
            .keys
            .get_mut(key)
            .and_then(|versions| versions.last_mut())
            .expect("the key exists");
        edit(&mut stored.head);
    }

    /// Puts a delete marker; its version id (`null` where versioning was never enabled, which
    /// removes the object instead).
    pub fn delete(&self, bucket: &str, key: &str) -> String {
        self.delete_object(bucket, key, None)
            .expect("the bucket exists")
            .unwrap_or_else(|| NULL_VERSION.to_owned())
    }

    /// DeleteObject without a version id, with `If-Match` (an ETag, or `*` for any object)
    /// checked against the current version as S3 does: a current delete marker or no key is
    /// NoSuchKey, another ETag is 412. The delete marker's version id, if one was put.
    pub fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<Option<String>, S3Failure> {
        let op = "DeleteObject";
        let mut state = self.state();
        if let Some(wanted) = if_match {
            match state.current(op, bucket, key)? {
                Current::Object(o) if wanted == "*" || wanted == o.etag => {}
                Current::Object(_) => return Err(precondition_failed(op)),
                _ => return Err(fail(op, S3FailureKind::NotFound, "NoSuchKey", 404)),
            }
        }
        let versioning = state.bucket(op, bucket)?.versioning;
        let id = match versioning {
            Versioning::Enabled => state.id(),
            _ => NULL_VERSION.to_owned(),
        };
        let now = state.now_millis();
        let versions = state
            .bucket(op, bucket)?
            .keys
            .entry(key.to_owned())
            .or_default();
        if versioning != Versioning::Enabled {
            versions.retain(|v| v.id != NULL_VERSION);
        }
        if versioning == Versioning::Unversioned {
            state.notify(bucket, key, "ObjectRemoved:Delete", None, None);
            return Ok(None);
        }
        let mut marker = object(Vec::new(), String::new(), Vec::new(), None);
        marker.marker = true;
        marker.id = id.clone();
        marker.head.version_id = Some(id.clone());
        // As S3, a delete marker has its write time.
        marker.head.last_modified = Some(to_second(now));
        versions.push(marker);
        let version_id = Some(id.clone());
        state.notify(
            bucket,
            key,
            "ObjectRemoved:DeleteMarkerCreated",
            version_id,
            None,
        );
        Ok(Some(id))
    }

    /// Deletes one version for good (DeleteObject with its version id), as its owner may.
    pub fn purge(&self, bucket: &str, key: &str, version_id: &str) {
        let mut state = self.state();
        state
            .purge_version("DeleteObject", bucket, key, version_id)
            .expect("the bucket exists");
        let id = Some(version_id.to_owned());
        state.notify(bucket, key, "ObjectRemoved:Delete", id, None);
    }

    /// PutObjectTagging on one version.
    pub fn tag(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        self.edit_version("PutObjectTagging", bucket, key, version_id, |s| {
            s.tags = tags.to_vec()
        })?;
        let id = Some(version_id.to_owned());
        self.state()
            .notify(bucket, key, "ObjectTagging:Put", id, None);
        Ok(())
    }

    /// PutObjectAcl on one version: `public-read`, or `private`.
    pub fn set_public(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        public: bool,
    ) -> Result<(), S3Failure> {
        let plan = match public {
            true => AclPlan::Grants(crate::store::GrantHeaders {
                full_control: Some(format!("id={OWNER}")),
                read: Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"".to_owned()),
                ..Default::default()
            }),
            false => AclPlan::Default,
        };
        self.edit_version("PutObjectAcl", bucket, key, version_id, |s| {
            s.acl = acl_of(&plan)
        })?;
        let id = Some(version_id.to_owned());
        self.state().notify(bucket, key, "ObjectAcl:Put", id, None);
        Ok(())
    }

    fn edit_version(
        &self,
        op: &'static str,
        bucket: &str,
        key: &str,
        version_id: &str,
        edit: impl FnOnce(&mut Stored),
    ) -> Result<(), S3Failure> {
        let mut state = self.state();
        let versions = state.bucket(op, bucket)?.keys.get_mut(key);
        match versions.and_then(|v| v.iter_mut().find(|s| s.id == version_id && !s.marker)) {
            Some(s) => {
                edit(s);
                Ok(())
            }
            None => Err(fail(op, S3FailureKind::NotFound, "NoSuchVersion", 404)),
        }
    }

    /// A key's stack, oldest first, as S3 keeps it.
    pub fn stack(&self, bucket: &str, key: &str) -> Vec<Entry> {
        let state = self.state();
        let Some(versions) = state.buckets.get(bucket).and_then(|b| b.keys.get(key)) else {
            return Vec::new();
        };
        versions.iter().map(entry).collect()
    }

    /// A key's stack, oldest first, with every version deleted for good since put back where
    /// it lay: the stack as it was built, which S3 no longer shows.
    pub fn stack_ever(&self, bucket: &str, key: &str) -> Vec<Entry> {
        let mut stack = self.stack(bucket, key);
        let state = self.state();
        // The last deleted first: each goes back above the version it lay on, which is in the
        // stack again by then (deleted later, so put back earlier).
        for p in state.purged.iter().rev() {
            if p.bucket != bucket || p.key != key {
                continue;
            }
            let at = match &p.below {
                None => 0,
                Some(below) => match stack.iter().position(|e| e.version_id == *below) {
                    Some(i) => i + 1,
                    None => continue,
                },
            };
            stack.insert(at, entry(&p.stored));
        }
        stack
    }

    /// Every key of a bucket that has a version or delete marker, in key order.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let state = self.state();
        state
            .buckets
            .get(bucket)
            .map(|b| {
                b.keys
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The current object's bytes and user metadata, if the key's current version is one.
    pub fn current_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
        let state = self.state();
        let s = state.buckets.get(bucket)?.keys.get(key)?.last()?;
        (!s.marker).then(|| (s.body.clone(), s.head.metadata.clone()))
    }

    /// The ids of the uploads in progress in a bucket.
    pub fn uploads(&self, bucket: &str) -> Vec<String> {
        let state = self.state();
        state
            .buckets
            .get(bucket)
            .map(|b| b.uploads.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// How many versions (not delete markers) a key has.
    pub fn version_count(&self, bucket: &str, key: &str) -> usize {
        let state = self.state();
        state
            .buckets
            .get(bucket)
            .and_then(|b| b.keys.get(key))
            .map_or(0, |v| v.iter().filter(|s| !s.marker).count())
    }
}

/// The plan a user's CreateMultipartUpload amounts to: its metadata, nothing else.
fn user_spec(bucket: &str, key: &str, metadata: BTreeMap<String, String>) -> ReplicaSpec {
    ReplicaSpec {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        region: String::new(),
        content: Default::default(),
        metadata,
        tags: TagsPlan::Set(Vec::new()),
        acl: AclPlan::Default,
        storage_class: "STANDARD".to_owned(),
        encryption: crate::store::TargetEncryption::BucketDefault,
        object_lock: ObjectLock::default(),
        checksum: None,
        expected_bucket_owner: None,
        endpoint: None,
        condition: None,
    }
}

/// A stored version as a simulation sees it.
fn entry(s: &Stored) -> Entry {
    Entry {
        version_id: s.id.clone(),
        delete_marker: s.marker,
        etag: s.head.etag.clone(),
        body: s.body.clone(),
        metadata: s.head.metadata.clone(),
        tags: s.tags.clone(),
        last_modified: s.head.last_modified.map_or(0, |t| t.secs()),
        storage_class: s.head.storage_class.clone(),
        public: !s.acl.is_private(),
    }
}

//! An in-memory S3 of versioned buckets implementing both store traits, for fast tests of the
//! engine with no server: convergence, resume and failure handling run against it in
//! milliseconds, and `faults::Faulty` wraps it to inject failures. It models what the engine
//! relies on (versions, delete markers, ETags, multipart uploads and their parts, tags, the
//! copy's `If-Match`, ACL grants), not encryption. `tests/suite/store_conformance.rs` holds it to S3.
//!
//! Time is S3's: `Last-Modified` in whole seconds, a multipart object stamped with its upload's
//! initiation but stacked where it completed. The clock is the wall clock unless a caller sets
//! one ([`FakeS3::set_clock`]): the simulation then moves it, and the fake never reads the
//! wall clock again. Buckets may start unversioned ([`FakeS3::create_unversioned_bucket`]):
//! their objects have the version id `null`, which a later unversioned-era write replaces.

mod destination;
mod observe;
mod source;
mod user;

pub use observe::Notice;
pub use user::{Entry, UserWrite};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};

use crate::copy::multipart::multipart_etag;
use crate::error::{S3Failure, S3FailureKind};
use crate::store::{
    Acl, AclPlan, Body, CopyRequest, Current, DestinationStore, Encryption, Grant, Grantee, Listed,
    ListedVersion, ObjectLock, ReplicaLocation, ReplicaSpec, SourceStore, SourceVersion, TagsPlan,
    UploadedPart, VersionRef, WriteCondition, Written,
};

/// The in-memory S3. Clones share one state, so the same S3 can be the source store and (wrapped
/// in `faults::Faulty`) the destination store.
#[derive(Clone, Default)]
pub struct FakeS3 {
    state: Arc<Mutex<State>>,
    calls: Arc<Mutex<CallLog>>,
}

/// Every call's start and end, when a latency is set ([`FakeS3::with_latency`]).
#[derive(Default)]
struct CallLog {
    latency: Option<std::time::Duration>,
    calls: Vec<(std::time::Instant, std::time::Instant)>,
}

/// Records one call's end when dropped.
struct Call {
    log: Arc<Mutex<CallLog>>,
    start: std::time::Instant,
}

impl Drop for Call {
    fn drop(&mut self) {
        let end = std::time::Instant::now();
        if let Ok(mut log) = self.log.lock() {
            log.calls.push((self.start, end));
        }
    }
}

#[derive(Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    next: u64,
    /// Buckets the caller may not touch: every call on them is AccessDenied.
    denied: Vec<String>,
    /// Buckets whose current-object reads take longer, and how much longer.
    slow_reads: HashMap<String, std::time::Duration>,
    /// The clock, in milliseconds since the epoch, once a caller set one: the wall clock is
    /// then never read.
    clock: Option<i64>,
    hooks: observe::Hooks,
    /// Versions deleted for good (a version delete, the owner's or a replicated one), in the
    /// order they went, each with the version that lay just below it: a simulation's oracle
    /// reads a key's stack as it was built (see `FakeS3::stack_ever`).
    purged: Vec<Purged>,
}

/// A version deleted for good, and where it lay.
struct Purged {
    bucket: String,
    key: String,
    /// The version just below it when it was deleted (`None`: it was the oldest).
    below: Option<String>,
    stored: Stored,
}

impl State {
    /// Deletes one version of a key for good, noting where it lay.
    fn purge_version(
        &mut self,
        op: &'static str,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        let Some(versions) = self.bucket(op, bucket)?.keys.get_mut(key) else {
            return Ok(());
        };
        let Some(i) = versions.iter().position(|v| v.id == version_id) else {
            return Ok(());
        };
        let stored = versions.remove(i);
        let below = i.checked_sub(1).map(|b| versions[b].id.clone());
        self.purged.push(Purged {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            below,
            stored,
        });
        Ok(())
    }
}

/// A bucket's versioning state, as GetBucketVersioning tells it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: every write replaces the `null` version, a delete removes it.
    Unversioned,
    /// Enabled: every write is a new version.
    #[default]
    Enabled,
    /// Suspended: writes replace the `null` version, a delete puts a `null` delete marker.
    Suspended,
}

/// The version id S3 gives objects written while versioning was off or suspended.
pub const NULL_VERSION: &str = "null";

#[derive(Default)]
struct Bucket {
    region: String,
    versioning: Versioning,
    /// Versions per key, oldest first.
    keys: BTreeMap<String, Vec<Stored>>,
    uploads: BTreeMap<String, Upload>,
}

#[derive(Clone)]
struct Stored {
    id: String,
    marker: bool,
    body: Vec<u8>,
    head: SourceVersion,
    tags: Vec<(String, String)>,
    parts: Vec<u64>,
    acl: Acl,
}

impl Stored {
    /// HeadObject's answer: as S3, the tag count only when there are tags.
    fn head(&self) -> SourceVersion {
        let mut head = self.head.clone();
        head.tag_count = (!self.tags.is_empty()).then_some(self.tags.len() as u32);
        head
    }
}

/// The canonical id of the fake's one account, owner of every object.
const OWNER: &str = "owner";

/// The ACL S3 stores for a write with this plan: grant headers name every grant (the owner's
/// full control is not implied), anything else is the owner's full control.
fn acl_of(plan: &AclPlan) -> Acl {
    let mut grants = Vec::new();
    if let AclPlan::Grants(g) = plan {
        for (permission, list) in [
            ("FULL_CONTROL", &g.full_control),
            ("READ", &g.read),
            ("READ_ACP", &g.read_acp),
            ("WRITE_ACP", &g.write_acp),
        ] {
            for grantee in list.iter().flat_map(|l| l.split(',')) {
                let Some((kind, value)) = grantee.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim_matches('"').to_owned();
                let grantee = match kind {
                    "id" => Grantee::Id(value),
                    "uri" => Grantee::Uri(value),
                    _ => Grantee::Email(value),
                };
                grants.push(Grant {
                    grantee,
                    permission: permission.to_owned(),
                });
            }
        }
    } else {
        grants.push(Grant {
            grantee: Grantee::Id(OWNER.to_owned()),
            permission: "FULL_CONTROL".to_owned(),
        });
    }
    Acl {
        owner_id: Some(OWNER.to_owned()),
        grants,
    }
}

/// A time in milliseconds to the second, as S3's Last-Modified header has it.
fn to_second(millis: i64) -> aws_smithy_types::DateTime {
    aws_smithy_types::DateTime::from_secs(millis.div_euclid(1000))
}

struct Upload {
    key: String,
    /// When CreateMultipartUpload ran (ms): the completed object's Last-Modified.
    initiated: i64,
    spec: ReplicaSpec,
    tags: Vec<(String, String)>,
    parts: BTreeMap<u32, (Vec<u8>, UploadedPart)>,
}

fn fail(operation: &'static str, kind: S3FailureKind, code: &str, status: u16) -> S3Failure {
    S3Failure {
        operation,
        kind,
        code: Some(code.to_owned()),
        status: Some(status),
        message: "fake S3".to_owned(),
    }
}

fn md5_etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(bytes)))
}

async fn bytes_of(body: Body) -> Result<Vec<u8>, S3Failure> {
    body.stream
        .collect()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| S3Failure {
            operation: "GetObject",
            kind: S3FailureKind::Other,
            code: None,
            status: None,
            message: e.to_string(),
        })
}

impl State {
    fn bucket(&mut self, op: &'static str, name: &str) -> Result<&mut Bucket, S3Failure> {
        if self.denied.iter().any(|d| d == name) {
            return Err(fail(op, S3FailureKind::AccessDenied, "AccessDenied", 403));
        }
        self.buckets
            .get_mut(name)
            .ok_or_else(|| fail(op, S3FailureKind::NoSuchBucket, "NoSuchBucket", 404))
    }

    fn id(&mut self) -> String {
        self.next += 1;
        format!("v{:06}", self.next)
    }

    /// A version (`None`: the current one), which must be an object.
    fn version(
        &mut self,
        op: &'static str,
        bucket: &str,
        key: &str,
        id: Option<&str>,
    ) -> Result<Stored, S3Failure> {
        let versions = self.bucket(op, bucket)?.keys.get(key);
        let found = match id {
            Some(id) => versions.and_then(|v| v.iter().find(|s| s.id == id)),
            None => versions.and_then(|v| v.last()),
        };
        match found {
            Some(s) if !s.marker => Ok(s.clone()),
            _ => Err(fail(op, S3FailureKind::NotFound, "NoSuchVersion", 404)),
        }
    }

    /// A version, pinned to an ETag as `If-Match` / `x-amz-copy-source-if-match` pin it.
    fn pinned(
        &mut self,
        op: &'static str,
        version: &VersionRef,
        if_match: Option<&str>,
    ) -> Result<Stored, S3Failure> {
        let s = self.version(
            op,
            &version.bucket,
            &version.key,
            version.version_id.as_deref(),
        )?;
        if if_match.is_some_and(|m| m != s.head.etag) {
            return Err(fail(
                op,
                S3FailureKind::PreconditionFailed,
                "PreconditionFailed",
                412,
            ));
        }
        Ok(s)
    }

    /// Now, as a part's write time: the caller's clock, or the wall clock when none was set.
    fn now(&self) -> std::time::SystemTime {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(self.now_millis().max(0) as u64)
    }

    /// Now, in milliseconds: the caller's clock, or the wall clock when none was set.
    fn now_millis(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64)
        })
    }

    fn store(
        &mut self,
        event: &'static str,
        bucket: &str,
        key: &str,
        stored: Stored,
    ) -> Result<Written, S3Failure> {
        let stamp = self.now_millis();
        self.store_stamped(event, bucket, key, stored, stamp)
    }

    /// Stacks a write on top of the key's versions, with `stamp` (ms) as its Last-Modified (to
    /// the second): a new version, or, where versioning is not enabled, the `null` version
    /// replaced.
    fn store_stamped(
        &mut self,
        event: &'static str,
        bucket: &str,
        key: &str,
        mut stored: Stored,
        stamp: i64,
    ) -> Result<Written, S3Failure> {
        let versioning = self.bucket("PutObject", bucket)?.versioning;
        let id = match versioning {
            Versioning::Enabled => self.id(),
            _ => NULL_VERSION.to_owned(),
        };
        stored.id = id.clone();
        stored.head.version_id = (versioning != Versioning::Unversioned).then(|| id.clone());
        stored.head.last_modified = Some(to_second(stamp));
        let etag = stored.head.etag.clone();
        let versions = self
            .bucket("PutObject", bucket)?
            .keys
            .entry(key.to_owned())
            .or_default();
        if versioning != Versioning::Enabled {
            versions.retain(|v| v.id != NULL_VERSION);
        }
        let size = stored.head.size;
        let replica = stored
            .head
            .metadata
            .contains_key(crate::store::REPLICA_MARKER);
        versions.push(stored);
        self.hooks.replica_writes += u64::from(replica);
        let version_id = stored_version(versioning, id);
        self.notify(bucket, key, event, version_id.clone(), Some((&etag, size)));
        Ok(Written { etag, version_id })
    }

    /// A write's condition against the key's current state, as S3 checks it (412).
    fn condition_holds(
        &mut self,
        op: &'static str,
        bucket: &str,
        key: &str,
        condition: Option<&WriteCondition>,
    ) -> Result<(), S3Failure> {
        let Some(condition) = condition else {
            return Ok(());
        };
        let holds = match (condition, self.current(op, bucket, key)?) {
            (WriteCondition::IfMatch(etag), Current::Object(o)) => o.etag == *etag,
            (WriteCondition::IfMatch(_), _) => false,
            (WriteCondition::IfNoneMatch, Current::Object(_)) => false,
            (WriteCondition::IfNoneMatch, _) => true,
        };
        match holds {
            true => Ok(()),
            false => Err(fail(
                op,
                S3FailureKind::PreconditionFailed,
                "PreconditionFailed",
                412,
            )),
        }
    }

    fn current(&mut self, op: &'static str, bucket: &str, key: &str) -> Result<Current, S3Failure> {
        Ok(
            match self
                .bucket(op, bucket)?
                .keys
                .get(key)
                .and_then(|v| v.last())
            {
                None => Current::Absent,
                Some(s) if s.marker => {
                    Current::DeleteMarker(Some(s.id.clone()), s.head.last_modified)
                }
                Some(s) => Current::Object(Box::new(s.head())),
            },
        )
    }
}

/// The version id a write answers with: none in a bucket that never had versioning.
fn stored_version(versioning: Versioning, id: String) -> Option<String> {
    (versioning != Versioning::Unversioned).then_some(id)
}

fn object(body: Vec<u8>, etag: String, parts: Vec<u64>, spec: Option<&ReplicaSpec>) -> Stored {
    Stored {
        id: String::new(),
        marker: false,
        head: SourceVersion {
            size: body.len() as u64,
            etag,
            version_id: None,
            content: spec.map(|s| s.content.clone()).unwrap_or_default(),
            metadata: spec.map(|s| s.metadata.clone()).unwrap_or_default(),
            storage_class: spec.map(|s| s.storage_class.clone()),
            archived: false,
            encryption: Encryption::None,
            object_lock: ObjectLock::default(),
            tag_count: None,
            // As S3: HeadObject names a part count only when asked about one part.
            parts_count: None,
            checksum: None,
            last_modified: None,
        },
        body,
        tags: Vec::new(),
        parts,
        acl: acl_of(spec.map_or(&AclPlan::Default, |s| &s.acl)),
    }
}

impl FakeS3 {
    /// An empty S3.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call takes `latency` (a round trip) and is logged, so that a test can tell which
    /// calls went out together: see [`Self::round_trips`].
    pub fn with_latency(self, latency: std::time::Duration) -> Self {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).latency = Some(latency);
        self
    }

    /// The longest chain of calls each started after the previous one ended: the round trips
    /// on the critical path since the last [`Self::clear_calls`]. Calls sent together count once.
    pub fn round_trips(&self) -> usize {
        let log = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let mut calls = log.calls.clone();
        calls.sort();
        let mut depth: Vec<usize> = Vec::with_capacity(calls.len());
        for (i, (start, _)) in calls.iter().enumerate() {
            let before = (0..i)
                .filter(|&j| calls[j].1 <= *start)
                .map(|j| depth[j])
                .max()
                .unwrap_or(0);
            depth.push(before + 1);
        }
        depth.into_iter().max().unwrap_or(0)
    }

    /// The number of calls since the last [`Self::clear_calls`].
    pub fn call_count(&self) -> usize {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .calls
            .len()
    }

    /// Forgets the calls made so far.
    pub fn clear_calls(&self) {
        self.calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .calls
            .clear();
    }

    /// One call: waits the latency, if one is set, and logs it.
    async fn call(&self) -> Option<Call> {
        self.maybe_yield().await;
        let latency = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .latency?;
        let start = std::time::Instant::now();
        tokio::time::sleep(latency).await;
        Some(Call {
            log: self.calls.clone(),
            start,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on every call on `bucket` is AccessDenied, as for a caller no policy allows there
    /// (set the bucket up first).
    pub fn deny(&self, bucket: &str) {
        self.state().denied.push(bucket.to_owned());
    }

    /// Every read of `bucket`'s current objects (HeadObject) takes `extra` longer: a
    /// destination whose answers are slow to come back.
    pub fn slow_current_reads(&self, bucket: &str, extra: std::time::Duration) {
        self.state().slow_reads.insert(bucket.to_owned(), extra);
    }

    /// Waits what [`Self::slow_current_reads`] set for `bucket`.
    async fn slow_read(&self, bucket: &str) {
        let extra = self.state().slow_reads.get(bucket).copied();
        if let Some(extra) = extra {
            tokio::time::sleep(extra).await;
        }
    }
}

fn list(bucket: &Bucket, prefix: &str) -> Result<Vec<Listed>, S3Failure> {
    Ok(bucket
        .keys
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .filter_map(|(k, v)| {
            let s = v.last().filter(|s| !s.marker)?;
            Some(Listed {
                key: k.clone(),
                size: s.head.size,
                etag: s.head.etag.clone(),
                storage_class: s
                    .head
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
            })
        })
        .collect())
}

fn listed_version(key: &str, s: &Stored) -> ListedVersion {
    ListedVersion {
        key: key.to_owned(),
        version_id: s.id.clone(),
        size: s.head.size,
        etag: s.head.etag.clone(),
    }
}

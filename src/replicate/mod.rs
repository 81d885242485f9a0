//! What one event means for each destination: a created version is read once, planned, copied
//! and verified; a delete marker, a deleted version, an ACL or tag change is carried over. After
//! every write the key is converged: the destination's current version must end as the source's
//! current version, whatever order events arrive in. S3 is the only state.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::config::{Config, Destination, DestinationId, RemoteEndpoint, Rule};
use crate::copy::{self, multipart, CopyMethod};
use crate::error::{Disposition, ReplicationError, S3Failure, Side};
use crate::events::{EventKind, ObjectEvent};
use crate::rules;
use crate::run::{Mode, Run};
use crate::store::{
    Acl, AclPlan, CopyRequest, Current, DestinationStore, Encryption, GrantHeaders, Grantee,
    ListedVersion, Origin, ReplicaLocation, ReplicaSpec, SourceStore, SourceVersion, TagsPlan,
    TargetEncryption, VersionRef, WriteCondition, Written, REPLICA_MARKER, REPLICA_ORIGIN_TIME,
    REPLICA_SOURCE_BUCKET, REPLICA_WRITTEN_TO,
};

mod converge;
mod created;
mod deleted;
mod learnt;
mod metadata;
mod order;
mod plan;
mod restore;

use learnt::Learnt;

pub use plan::{grant_headers, lock_in_force, plan_replica, target_encryption};
pub use restore::CopiedBack;

/// Rounds of "read both current versions, write if they differ" before a record is failed (and
/// retried by Lambda). Each round is needed only when another writer raced this one.
pub const CONVERGE_ROUNDS: usize = 4;

/// Why a version was deliberately not replicated (logged; not a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The version was deleted before it could be read.
    VersionGone,
    /// An unversioned object was overwritten since the event; the newer object's event copies it.
    SourceChanged,
    /// The object is itself a replica (carries the replica marker).
    IsReplica,
    /// Archived in GLACIER or DEEP_ARCHIVE (as native replication, not replicated).
    Archived(String),
    /// SSE-C: cannot be read without the customer's key.
    CustomerEncrypted,
    /// No enabled rule selects the object.
    NoMatchingRule,
    /// SSE-KMS object, and the rule does not select SSE-KMS objects (as native replication).
    KmsNotSelected,
    /// The destination's current version already is a replica of this version.
    AlreadyReplicated,
    /// The destination's current object was written there (or replicated from elsewhere) by an
    /// original write later than this one: in a two-way setup the later write wins on both
    /// sides, and that side's own event carries it back.
    NewerInDestination,
    /// No rule with `DeleteMarkerReplication: Enabled` (and no tag filter) selects the key.
    DeleteMarkerNotSelected,
    /// Version deletes are replicated only with `REPLICATE_VERSION_DELETES=true`.
    VersionDeletesOff,
    /// There is no replica of the version to update (yet).
    NoReplica,
    /// Owner override or ACL-disabled destination: the replica's ACL does not follow the source.
    AclNotReplicated,
    /// A delete marker followed by later events for its key in the same invocation: the last
    /// of them leaves the destination as the source is.
    LaterEventSettles,
    /// A replica of this version is already in the destination's history (a redelivered or
    /// late event): copying it again would only add a duplicate.
    InHistory,
    /// An event says a version was deleted, but the source still has it: its replicas stay.
    SourceVersionExists,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VersionGone => write!(f, "the source version no longer exists"),
            Self::SourceChanged => write!(
                f,
                "the unversioned source was overwritten since the event; its own event replicates it"
            ),
            Self::IsReplica => write!(f, "the object is a replica ({REPLICA_MARKER} is set)"),
            Self::Archived(class) => write!(
                f,
                "the object is archived ({class}); archived objects are not replicated (as in native S3 Replication)"
            ),
            Self::CustomerEncrypted => write!(f, "SSE-C objects cannot be read without the customer key"),
            Self::NoMatchingRule => write!(f, "no enabled rule matches the object"),
            Self::KmsNotSelected => write!(
                f,
                "SSE-KMS object and the rule does not enable SourceSelectionCriteria.SseKmsEncryptedObjects"
            ),
            Self::AlreadyReplicated => write!(f, "the destination's current version already is its replica"),
            Self::NewerInDestination => write!(
                f,
                "the destination's current object comes from a later original write (two-way: the later write wins)"
            ),
            Self::DeleteMarkerNotSelected => write!(
                f,
                "no rule with DeleteMarkerReplication Enabled (and no tag filter) selects the key"
            ),
            Self::VersionDeletesOff => write!(
                f,
                "version deletes are not replicated (set REPLICATE_VERSION_DELETES=true to opt in)"
            ),
            Self::NoReplica => write!(f, "no replica of this version exists in the destination"),
            Self::LaterEventSettles => write!(
                f,
                "a later event for the key in this invocation leaves the destination as the source is"
            ),
            Self::InHistory => write!(
                f,
                "a replica of this version is already in the destination's history"
            ),
            Self::SourceVersionExists => write!(
                f,
                "the event says the version was deleted, but the source still has it: its replicas are kept"
            ),
            Self::AclNotReplicated => write!(
                f,
                "replica ACLs do not follow the source here (owner override or ACLs disabled)"
            ),
        }
    }
}

/// The outcome for one destination (or for the record as a whole, when `destination` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationOutcome {
    /// The destination (bucket, and endpoint when not the function's own), if the outcome is
    /// specific to one.
    pub destination: Option<String>,
    /// Replicated, skipped, or failed.
    pub result: Result<Done, ReplicationError>,
}

/// A successful outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A replica was written.
    Replicated(Written),
    /// The destination was brought in line (delete marker, deleted version, ACL or tags) with
    /// this many writes; 0 when it already was.
    Synced {
        /// Writes made.
        writes: u32,
    },
    /// Deliberately not replicated.
    Skipped(SkipReason),
}

/// What an outcome means to someone bringing a bucket in line (backfill, Batch Operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Something was written: a replica, or a convergence write (the source changed meanwhile).
    Replicated,
    /// The destination already held it (current, or in its history).
    InSync,
    /// Deliberately not replicated, for this reason.
    Skipped(&'a SkipReason),
}

impl Done {
    /// What the outcome means to someone bringing a bucket in line.
    pub fn verdict(&self) -> Verdict<'_> {
        match self {
            Done::Replicated(_) => Verdict::Replicated,
            Done::Synced { writes } if *writes > 0 => Verdict::Replicated,
            Done::Synced { .. }
            | Done::Skipped(SkipReason::AlreadyReplicated | SkipReason::InHistory) => {
                Verdict::InSync
            }
            Done::Skipped(reason) => Verdict::Skipped(reason),
        }
    }
}

/// Replicates object versions according to a configuration.
pub struct Replicator<S, D> {
    config: Config,
    source: S,
    destination: D,
    default_region: String,
    regions: Learnt<DestinationId, String>,
    acl_disabled: Mutex<HashSet<DestinationId>>,
    lock_enabled: Learnt<String, bool>,
    source_acls_disabled: Learnt<String, bool>,
    tags_readable: Mutex<HashSet<String>>,
    occupancy: created::Occupancy,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// `default_region` is used for records that do not name their region.
    pub fn new(
        config: Config,
        source: S,
        destination: D,
        default_region: impl Into<String>,
    ) -> Self {
        Self {
            config,
            source,
            destination,
            default_region: default_region.into(),
            regions: Learnt::default(),
            acl_disabled: Mutex::new(HashSet::new()),
            lock_enabled: Learnt::default(),
            source_acls_disabled: Learnt::default(),
            tags_readable: Mutex::new(HashSet::new()),
            occupancy: created::Occupancy::default(),
        }
    }

    /// The destination store (tests read a fault-injecting wrapper's counters through it).
    pub fn destination(&self) -> &D {
        &self.destination
    }

    /// The source store.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// Where a rule's replica of `key` lives (the destination's region discovered once).
    pub async fn locate(
        &self,
        rule: &Rule,
        key: &str,
    ) -> Result<ReplicaLocation, ReplicationError> {
        self.location(rule, key, &Run::new(None)).await
    }

    /// Whether the destination holds a write later than the source's object `src` (of
    /// `source_bucket`) at `at`, which no tool may replace: an original written there (or
    /// replicated there from elsewhere) after it, or a delete marker put above its replica.
    /// The same judgement the engine's copies make (see `created::Check`).
    pub async fn later_at_destination(
        &self,
        rule: &Rule,
        source_bucket: &str,
        src: &SourceVersion,
        at: &ReplicaLocation,
    ) -> Result<bool, ReplicationError> {
        let run = Run::new(None);
        Ok(match self.replica_current(at, &run).await? {
            Current::Object(theirs) => {
                let ours_at = src.origin_in(source_bucket);
                let region = self.default_region.clone();
                self.later_original(
                    rule,
                    &region,
                    source_bucket,
                    src,
                    &ours_at,
                    &theirs,
                    at,
                    &run,
                )
                .await?
            }
            Current::DeleteMarker(_) => {
                self.replica_in_history(at, src, created::keeps_etag(rule, src), &run)
                    .await?
            }
            Current::Absent => false,
        })
    }

    /// Whether a replica of `head` written under `rule` has the source's ETag (no KMS on either
    /// side, server-side on the same endpoint): then an equal ETag proves the bytes.
    pub fn etag_parity(&self, rule: &Rule, head: &SourceVersion) -> bool {
        created::keeps_etag(rule, head)
    }

    /// Why the engine deliberately leaves the source object `head` of `bucket` unreplicated by
    /// `rule` (a replica itself, archived, SSE-C, SSE-KMS the rule does not select), if it does.
    pub fn deliberate_skip(
        &self,
        rule: &Rule,
        head: &SourceVersion,
        bucket: &str,
    ) -> Option<SkipReason> {
        skip_reason(head, bucket).or_else(|| {
            (matches!(head.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms)
                .then_some(SkipReason::KmsNotSelected)
        })
    }

    /// The region of a bucket on the function's own endpoint (GetBucketLocation, once per
    /// bucket and warm instance).
    pub async fn bucket_region(&self, bucket: &str) -> Result<String, ReplicationError> {
        let id = DestinationId {
            endpoint: None,
            bucket: bucket.to_owned(),
        };
        self.region_of(id, &Run::new(None)).await
    }

    /// The region assumed for source buckets when nothing names theirs (the function's own).
    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Carries out what an event asks for at every destination its rules select.
    pub async fn replicate(&self, event: &ObjectEvent) -> Vec<DestinationOutcome> {
        self.replicate_until(event, None).await
    }

    /// As [`Self::replicate`], starting no S3 call at or after `stop_at`.
    pub async fn replicate_until(
        &self,
        event: &ObjectEvent,
        stop_at: Option<Instant>,
    ) -> Vec<DestinationOutcome> {
        self.replicate_in(event, &Run::new(stop_at)).await
    }

    /// As [`Self::replicate_until`], for a tool's task (Batch Operations): see [`Run::for_tool`].
    pub async fn replicate_for_tool(
        &self,
        event: &ObjectEvent,
        stop_at: Option<Instant>,
    ) -> Vec<DestinationOutcome> {
        self.replicate_in(event, &Run::new(stop_at).for_tool())
            .await
    }

    /// As [`Self::replicate`], within `run` (its deadline and [`Mode`]).
    pub async fn replicate_in(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        let started = Instant::now();
        let outcomes = match event.kind {
            // Whoever can send the function an event chooses its bucket: only the deployment's
            // own source buckets are acted on.
            _ if !self.config.allows_source(&event.bucket) => whole(Err(
                ReplicationError::SourceBucketNotAllowed(event.bucket.clone()),
            )),
            EventKind::Created => self.created(event, run).await,
            EventKind::DeleteMarkerCreated => self.delete_marker(event, run).await,
            EventKind::VersionDeleted => self.version_deleted(event, run).await,
            EventKind::AclChanged | EventKind::TagsChanged => {
                self.metadata_changed(event, run).await
            }
        };
        debug!(
            bucket = %event.bucket,
            key = %event.key,
            version_id = event.version_id.as_deref().unwrap_or("null"),
            event_name = %event.event_name,
            run = run.requests(),
            ms = started.elapsed().as_millis() as u64,
            "S3 run for this record"
        );
        outcomes
    }

    fn source_region(&self, event: &ObjectEvent) -> String {
        event
            .region
            .clone()
            .unwrap_or_else(|| self.default_region.clone())
    }

    /// Every destination version that is a replica of source version `marker`, newest first.
    /// Late events write duplicate replicas of a version by design, so a version delete or an
    /// ACL change must reach all of them, not only the newest.
    async fn find_replicas(
        &self,
        at: &ReplicaLocation,
        marker: &str,
        run: &Run,
    ) -> Result<Vec<String>, ReplicationError> {
        self.replicas_among(at, marker, |_| true, false, run).await
    }

    /// Whether a version in the destination's history is a replica of the source version
    /// `head`: only versions of its size (and ETag, where the replica keeps it) are read.
    async fn replica_in_history(
        &self,
        at: &ReplicaLocation,
        head: &SourceVersion,
        keeps_etag: bool,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let marker = head.version_id.as_deref().unwrap_or("null");
        let candidate =
            |v: &ListedVersion| v.size == head.size && (!keeps_etag || v.etag == head.etag);
        let found = self
            .replicas_among(at, marker, candidate, true, run)
            .await?;
        Ok(!found.is_empty())
    }

    /// The destination versions of the key that are replicas of source version `marker`,
    /// newest first, reading only the `candidate` versions of the listing (and stopping at the
    /// first with `first_only`).
    async fn replicas_among(
        &self,
        at: &ReplicaLocation,
        marker: &str,
        candidate: impl Fn(&ListedVersion) -> bool,
        first_only: bool,
        run: &Run,
    ) -> Result<Vec<String>, ReplicationError> {
        run.start()?;
        let versions = self
            .destination
            .replica_versions(at)
            .await
            .map_err(dst_err)?;
        let mut replicas = Vec::new();
        for listed in versions.into_iter().filter(|v| candidate(v)) {
            run.start()?;
            let v = self
                .destination
                .replica_version(at, &listed.version_id)
                .await
                .map_err(dst_err)?;
            if v.replica_of() == Some(marker) {
                replicas.push(listed.version_id);
                if first_only {
                    break;
                }
            }
        }
        Ok(replicas)
    }

    async fn read_tags(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Vec<(String, String)>, ReplicationError> {
        run.start()?;
        let tags = self
            .source
            .version_tags(region, version)
            .await
            .map_err(src_err)?;
        self.tags_readable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(version.bucket.clone());
        Ok(tags)
    }

    /// Whether the source version is known to have no tags, so that none need be read. Its
    /// HeadObject said `x-amz-tagging-count: 0`; or, on AWS S3, which sends that header only
    /// for an object that has tags and only to a caller who may read them, it sent none and a
    /// GetObjectTagging in this bucket has succeeded in this warm instance (the role may read
    /// tags there). Another endpoint's silence proves nothing: some never send the header.
    pub(crate) fn tags_known_empty(&self, head: &SourceVersion, bucket: &str) -> bool {
        match head.tag_count {
            Some(count) => count == 0,
            None => {
                self.source.omits_zero_tag_count()
                    && self
                        .tags_readable
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains(bucket)
            }
        }
    }

    /// The source version's ACL as grant headers; `None` for a private ACL.
    async fn read_grants(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Option<GrantHeaders>, ReplicationError> {
        run.start()?;
        let acl = self
            .source
            .version_acl(region, version)
            .await
            .map_err(src_err)?;
        Ok((!acl.is_private()).then(|| grant_headers(&acl)))
    }

    async fn location(
        &self,
        rule: &Rule,
        key: &str,
        run: &Run,
    ) -> Result<ReplicaLocation, ReplicationError> {
        let region = self.destination_region(rule, run).await?;
        Ok(location_for(rule, key, region))
    }

    async fn destination_region(&self, rule: &Rule, run: &Run) -> Result<String, ReplicationError> {
        if let Some(region) = &rule.destination.region {
            return Ok(region.clone());
        }
        self.region_of(rule.destination.id(), run).await
    }

    /// The region of the bucket `id` names: one lookup per bucket and warm instance, however
    /// many records ask at once (the others wait for the first).
    async fn region_of(&self, id: DestinationId, run: &Run) -> Result<String, ReplicationError> {
        self.regions
            .get(&id, || async {
                run.start()?;
                self.destination
                    .bucket_region(&id.bucket)
                    .await
                    .map_err(dst_err)
            })
            .await
    }

    /// HeadObject on the source version the event names.
    async fn read_head(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        run: &Run,
    ) -> Result<SourceVersion, ReplicationError> {
        run.start()?;
        self.source
            .head_version(region, version, if_match)
            .await
            .map_err(src_err)
    }

    /// Completes what HeadObject said of the version's Object Lock. HeadObject shows the lock
    /// only to a caller allowed `s3:GetObjectRetention` / `s3:GetObjectLegalHold`, and says
    /// nothing when it hides it; so in a bucket with Object Lock enabled, whatever HEAD left out
    /// is read explicitly, and a denial fails the record: a locked object is never replicated
    /// unlocked.
    async fn complete_lock(
        &self,
        region: &str,
        version: &VersionRef,
        head: &mut SourceVersion,
        run: &Run,
    ) -> Result<(), ReplicationError> {
        let lock = &mut head.object_lock;
        if lock.mode.is_some() && lock.legal_hold.is_some() {
            return Ok(());
        }
        if !self.lock_enabled(region, &version.bucket, run).await? {
            return Ok(());
        }
        if lock.mode.is_none() {
            run.start()?;
            if let Some((mode, until)) = self
                .source
                .version_retention(region, version)
                .await
                .map_err(src_err)?
            {
                lock.mode = Some(mode);
                lock.retain_until = Some(until);
            }
        }
        if lock.legal_hold.is_none() {
            run.start()?;
            let on = self
                .source
                .version_legal_hold(region, version)
                .await
                .map_err(src_err)?;
            // Off is what a replica has without the header.
            lock.legal_hold = on.then_some(true);
        }
        Ok(())
    }

    /// The source key's newest version that is an object (not a delete marker), read.
    async fn newest_object(
        &self,
        region: &str,
        event: &ObjectEvent,
        run: &Run,
    ) -> Result<Option<SourceVersion>, ReplicationError> {
        run.start()?;
        let newest = self
            .source
            .newest_object_version(region, &event.bucket, &event.key)
            .await
            .map_err(src_err)?;
        let Some(id) = newest else {
            return Ok(None);
        };
        let version = VersionRef {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version_id: Some(id),
        };
        match self.read_head(region, &version, None, run).await {
            Ok(head) => Ok(Some(head)),
            // Deleted in the meantime: its own event converges again.
            Err(e) if e.disposition() == Disposition::SourceGone => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What the key currently is in a destination.
    async fn replica_current(
        &self,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<Current, ReplicationError> {
        run.start()?;
        self.destination.replica_current(at).await.map_err(dst_err)
    }

    /// What the source key currently is.
    async fn source_current(
        &self,
        region: &str,
        event: &ObjectEvent,
        run: &Run,
    ) -> Result<Current, ReplicationError> {
        run.start()?;
        self.source
            .current(region, &event.bucket, &event.key)
            .await
            .map_err(src_err)
    }

    /// Whether a source bucket has Object Lock enabled: learnt once per bucket and warm instance.
    async fn lock_enabled(
        &self,
        region: &str,
        bucket: &str,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        self.lock_enabled
            .get(&bucket.to_owned(), || async {
                run.start()?;
                self.source
                    .lock_enabled(region, bucket)
                    .await
                    .map_err(src_err)
            })
            .await
    }

    /// Learns ahead what every copy from the source bucket asks first (its Object Ownership,
    /// where a rule carries ACLs, and its Object Lock), so that a tool's first copies do not
    /// wait for it: a backfill, while it lists. A lookup that fails is left to the copies.
    pub async fn learn_source(&self, region: &str, bucket: &str) {
        let run = Run::new(None);
        let carries_acls = self
            .config
            .rules
            .iter()
            .any(|r| r.enabled && self.carries_acl(r));
        let ownership = async {
            if carries_acls {
                self.source_acls_disabled(region, bucket, &run).await;
            }
        };
        let _ = futures::join!(ownership, self.lock_enabled(region, bucket, &run));
    }

    /// Whether a source bucket has ACLs disabled (Object Ownership `BucketOwnerEnforced`, the
    /// default for new buckets since 2023): learnt once per bucket and warm instance. Then no
    /// object ACL is read: it can only be the owner's full control. When the lookup fails (a
    /// role without `s3:GetBucketOwnershipControls`, an endpoint without it), ACLs are read.
    async fn source_acls_disabled(&self, region: &str, bucket: &str, run: &Run) -> bool {
        let lookup = || async {
            run.start()?;
            self.source
                .acls_disabled(region, bucket)
                .await
                .map_err(src_err)
        };
        match self
            .source_acls_disabled
            .get(&bucket.to_owned(), lookup)
            .await
        {
            Ok(disabled) => disabled,
            Err(e) => {
                debug!(bucket, error = %e, "Object Ownership unknown; object ACLs are read");
                false
            }
        }
    }

    /// Remembers, for this warm instance, that a destination bucket has ACLs disabled.
    fn learn_acl_disabled(&self, destination: &Destination) {
        let id = destination.id();
        warn!(
            destination = %id,
            "destination bucket has ACLs disabled; replicas get no ACL grants"
        );
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    /// Whether a rule's replicas carry the source's ACL: not where the rule makes the
    /// destination's owner own them, nor where the destination has ACLs disabled.
    fn carries_acl(&self, rule: &Rule) -> bool {
        !rule.destination.owner_override && !self.acl_disabled(&rule.destination)
    }

    fn acl_disabled(&self, destination: &Destination) -> bool {
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&destination.id())
    }
}

/// What was read from the source once, shared by every destination.
struct SourceRead<'a> {
    event: &'a ObjectEvent,
    region: &'a str,
    version: &'a VersionRef,
    if_match: Option<&'a str>,
    head: &'a SourceVersion,
    tags: Option<&'a [(String, String)]>,
    grants: Option<&'a GrantHeaders>,
    /// Destinations' current objects, read beside the record (an in-order event's reads).
    destinations: Option<&'a dyn created::DestinationReads>,
    /// Whether the version is the source's current one, read so just now.
    is_current: bool,
}

/// A failed call to a destination (or a copy call), classified.
fn dst_err(f: S3Failure) -> ReplicationError {
    ReplicationError::classify(Side::Destination, f)
}

/// A failed read of the source, classified.
fn src_err(f: S3Failure) -> ReplicationError {
    ReplicationError::classify(Side::Source, f)
}

/// The outcome of a record as a whole (not specific to a destination).
fn whole(result: Result<Done, ReplicationError>) -> Vec<DestinationOutcome> {
    vec![DestinationOutcome {
        destination: None,
        result,
    }]
}

/// Convergence outcomes worth reporting beside a record's own: failures and extra writes.
fn made_a_difference(outcome: &DestinationOutcome) -> bool {
    !matches!(outcome.result, Ok(Done::Synced { writes: 0 }))
}

/// A deleted version or an overwritten unversioned object is skipped, not failed: there is nothing
/// left to copy, and the newer state has its own event.
fn skip_or_fail(err: ReplicationError) -> Result<Done, ReplicationError> {
    match err.disposition() {
        Disposition::SourceGone => Ok(Done::Skipped(SkipReason::VersionGone)),
        Disposition::SourceChanged => Ok(Done::Skipped(SkipReason::SourceChanged)),
        _ => Err(err),
    }
}

fn skip_reason(head: &SourceVersion, bucket: &str) -> Option<SkipReason> {
    if head.is_replica_in(bucket) {
        return Some(SkipReason::IsReplica);
    }
    if head.archived {
        let class = head
            .storage_class
            .clone()
            .unwrap_or_else(|| "archive tier".to_owned());
        return Some(SkipReason::Archived(class));
    }
    if head.encryption == Encryption::Customer {
        return Some(SkipReason::CustomerEncrypted);
    }
    None
}

fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// Where a rule's replica of `key` lives.
fn location_for(rule: &Rule, key: &str, region: String) -> ReplicaLocation {
    ReplicaLocation {
        bucket: rule.destination.bucket.clone(),
        key: key.to_owned(),
        region,
        expected_bucket_owner: rule.destination.account.clone(),
        endpoint: rule.destination.endpoint.as_ref().map(RemoteEndpoint::id),
    }
}

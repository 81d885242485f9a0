//! What one event means for each destination: a created version is read once, planned, copied
//! and verified; a delete marker, a deleted version, an ACL or tag change is carried over. After
//! every write the key is converged: the destination's current version must end as the source's
//! current version, whatever order events arrive in. S3 is the only state.

use std::collections::{HashMap, HashSet};
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
    ListedVersion, ReplicaLocation, ReplicaSpec, SourceStore, SourceVersion, TagsPlan,
    TargetEncryption, VersionRef, WriteCondition, Written, REPLICA_KEY, REPLICA_MARKER,
    REPLICA_ORIGIN_TIME, REPLICA_SOURCE_BUCKET, REPLICA_SOURCE_ETAG, REPLICA_WRITTEN_TO,
};

mod bucket_facts;
mod converge;
mod created;
mod decide;
mod deleted;
mod fan_in;
mod gone_replica;
mod guard;
mod in_order;
mod landed;
mod learnt;
mod metadata;
mod order;
mod outcome;
mod plan;
mod promised;
mod reads;
mod reassert;
mod reseal;
mod restore;
mod sent_on;
mod uncovered;
mod write;

use learnt::Learnt;

pub use decide::{Decision, Settled};
pub use plan::{grant_headers, lock_in_force, plan_replica, target_encryption};
pub use promised::promised_differences;
pub use reseal::Reseal;
pub use restore::{copy_back_skip, CopiedBack};

use outcome::{made_a_difference, skip_or_fail, skip_reason, whole};
pub use outcome::{DestinationOutcome, Done, SkipReason, Verdict};

/// Rounds of "read both current versions, write if they differ" before a record is failed (and
/// retried by Lambda). Each round is needed only when another writer raced this one.
pub const CONVERGE_ROUNDS: usize = 4;

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
    occupancy: in_order::Occupancy,
    listed: Learnt<DestinationId, ()>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    stamp_allowance: std::time::Duration,
    /// Whether `clock` is the machine's (a write can then be given up at its record's bound).
    wall_clock: bool,
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
            occupancy: in_order::Occupancy::default(),
            listed: Learnt::default(),
            clock: std::sync::Arc::new(crate::clock::SystemClock),
            stamp_allowance: copy::stamp::DEFAULT_ALLOWANCE,
            wall_clock: true,
        }
    }

    /// The same replicator reading "now" from `clock` when it dates a replica's record, its
    /// writes allowed `allowance` beyond their bytes' time (the simulation: its store's clock,
    /// on which a request takes no time). Such a clock cannot time a request: none is given up.
    pub fn with_clock(
        mut self,
        clock: std::sync::Arc<dyn crate::clock::Clock>,
        allowance: std::time::Duration,
    ) -> Self {
        self.clock = clock;
        self.stamp_allowance = allowance;
        self.wall_clock = false;
        self
    }

    /// How this replicator dates the records of the replicas it writes.
    fn stamp(&self) -> copy::stamp::Stamp<'_> {
        copy::stamp::Stamp {
            clock: self.clock.as_ref(),
            allowance: self.stamp_allowance,
            timed: self.wall_clock,
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
    /// The same judgement the engine's copies make (see `guard::Check`).
    pub async fn later_at_destination(
        &self,
        rule: &Rule,
        source_bucket: &str,
        src: &SourceVersion,
        at: &ReplicaLocation,
    ) -> Result<bool, ReplicationError> {
        let run = Run::new(None);
        Ok(match self.replica_current(at, &run).await? {
            Current::Object(theirs) => order::later_original(source_bucket, src, &theirs, at),
            // A delete marker is a write at its own Last-Modified, whoever put it, as
            // convergence judges it; where the server does not say when, one above a replica
            // of this version was put after it arrived.
            Current::DeleteMarker(id, put) => match self
                .delete_stands(
                    &self.default_region,
                    source_bucket,
                    src,
                    at,
                    reads::marker(&id, &put),
                    &run,
                )
                .await?
            {
                Some(stands) => stands,
                None => {
                    let keeps = guard::keeps_etag(rule, src, &self.config.copy);
                    self.replica_in_history(at, source_bucket, src, keeps, &run)
                        .await?
                }
            },
            Current::Absent => false,
        })
    }

    /// Whether a replica of `head` written under `rule` has the source's ETag (no KMS on either
    /// side, server-side on the same endpoint): then an equal ETag proves the bytes.
    pub fn etag_parity(&self, rule: &Rule, head: &SourceVersion) -> bool {
        guard::keeps_etag(rule, head, &self.config.copy)
    }

    /// Why the engine deliberately leaves the source object `head` of `bucket` unreplicated by
    /// `rule` (a replica itself, archived, SSE-C, SSE-KMS the rule does not select), if it does.
    pub fn deliberate_skip(
        &self,
        rule: &Rule,
        head: &SourceVersion,
        bucket: &str,
        key: &str,
    ) -> Option<SkipReason> {
        skip_reason(head, bucket, key).or_else(|| {
            (matches!(head.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms)
                .then_some(SkipReason::KmsNotSelected)
        })
    }

    /// Whether a skipped source object `head` is still judged, for `rule`'s destination, by the
    /// source's own write below it: a replica written into `bucket` from a bucket other than the
    /// destination (a chain's middle), which convergence looks under (see `sent_on`).
    pub fn judged_below(&self, rule: &Rule, head: &SourceVersion, bucket: &str, key: &str) -> bool {
        head.replica_record(bucket, key)
            .is_some_and(|r| !r.from(&rule.destination.bucket))
    }

    /// The region of a bucket on the function's own endpoint (GetBucketLocation, once per
    /// bucket and warm instance), a bucket the caller reads: its failure is the source's.
    pub async fn bucket_region(&self, bucket: &str) -> Result<String, ReplicationError> {
        let id = DestinationId {
            endpoint: None,
            bucket: bucket.to_owned(),
        };
        self.region_of(id, &Run::new(None))
            .await
            .map_err(ReplicationError::as_source)
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
            version_id = event.version_shown(),
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
    destinations: Option<&'a dyn in_order::DestinationReads>,
    /// Whether the version is the source's current one, read so just now.
    is_current: bool,
    /// Convergence's copy: the condition on the destination's state it decided from.
    converge_on: Option<WriteCondition>,
    /// Convergence's copy: the version id of the destination's entry (object or delete
    /// marker) it decided from, `None` where the key held nothing.
    converge_over: Option<Option<&'a str>>,
}

/// A failed call to a destination (or a copy call), classified.
fn dst_err(f: S3Failure) -> ReplicationError {
    ReplicationError::classify(Side::Destination, f)
}

/// A failed read of the source, classified.
fn src_err(f: S3Failure) -> ReplicationError {
    ReplicationError::classify(Side::Source, f)
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

//! What one event means for each destination: a created version is read once, planned, copied
//! and verified; a delete marker, a deleted version, an ACL or tag change is carried over. After
//! every write the key is converged: the destination's current version must end as the source's
//! current version, whatever order events arrive in. S3 is the only state.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures::future::join_all;
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use crate::config::{Config, Rule};
use crate::copy::{self, multipart, CopyMethod};
use crate::error::{ReplicationError, S3FailureKind};
use crate::events::{EventKind, ObjectEvent};
use crate::rules;
use crate::store::{
    Acl, AclPlan, CopyRequest, Current, DestinationStore, Encryption, GrantHeaders, Grantee,
    ReplicaLocation, ReplicaSpec, SourceStore, SourceVersion, TagsPlan, TargetEncryption,
    VersionRef, Written, REPLICA_MARKER,
};

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
    /// No rule with `DeleteMarkerReplication: Enabled` (and no tag filter) selects the key.
    DeleteMarkerNotSelected,
    /// Version deletes are replicated only with `REPLICATE_VERSION_DELETES=true`.
    VersionDeletesOff,
    /// There is no replica of the version to update (yet).
    NoReplica,
    /// Owner override or ACL-disabled destination: the replica's ACL does not follow the source.
    AclNotReplicated,
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
            Self::Archived(class) => write!(f, "the object is archived ({class}); restore it first"),
            Self::CustomerEncrypted => write!(f, "SSE-C objects cannot be read without the customer key"),
            Self::NoMatchingRule => write!(f, "no enabled rule matches the object"),
            Self::KmsNotSelected => write!(
                f,
                "SSE-KMS object and the rule does not enable SourceSelectionCriteria.SseKmsEncryptedObjects"
            ),
            Self::AlreadyReplicated => write!(f, "the destination's current version already is its replica"),
            Self::DeleteMarkerNotSelected => write!(
                f,
                "no rule with DeleteMarkerReplication Enabled (and no tag filter) selects the key"
            ),
            Self::VersionDeletesOff => write!(
                f,
                "version deletes are not replicated (set REPLICATE_VERSION_DELETES=true to opt in)"
            ),
            Self::NoReplica => write!(f, "no replica of this version exists in the destination"),
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
    /// The destination bucket, if the outcome is specific to one.
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

/// Replicates object versions according to a configuration.
pub struct Replicator<S, D> {
    config: Config,
    source: S,
    destination: D,
    default_region: String,
    regions: Mutex<HashMap<String, String>>,
    acl_disabled: Mutex<HashSet<String>>,
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
            regions: Mutex::new(HashMap::new()),
            acl_disabled: Mutex::new(HashSet::new()),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Carries out what an event asks for at every destination its rules select.
    pub async fn replicate(&self, event: &ObjectEvent) -> Vec<DestinationOutcome> {
        self.replicate_until(event, None).await
    }

    /// As [`Self::replicate`], starting no part of a multipart copy at or after `stop_at`.
    pub async fn replicate_until(
        &self,
        event: &ObjectEvent,
        stop_at: Option<Instant>,
    ) -> Vec<DestinationOutcome> {
        let started = Instant::now();
        let run = Run {
            requests: AtomicU32::new(0),
            stop_at,
        };
        let outcomes = match event.kind {
            EventKind::Created => self.created(event, &run).await,
            EventKind::DeleteMarkerCreated => self.delete_marker(event, &run).await,
            EventKind::VersionDeleted => self.version_deleted(event, &run).await,
            EventKind::AclChanged | EventKind::TagsChanged => {
                self.metadata_changed(event, &run).await
            }
        };
        debug!(
            bucket = %event.bucket,
            key = %event.key,
            version_id = event.version_id.as_deref().unwrap_or("null"),
            event_name = %event.event_name,
            run = run.requests.load(Ordering::Relaxed),
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

    async fn created(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        let region = self.source_region(event);
        let version = event.version_ref();
        // Without a version id, only the object the event announced may be copied.
        let if_match = match &version.version_id {
            None => event.etag.as_deref().map(quoted),
            Some(_) => None,
        };

        run.requests.fetch_add(1, Ordering::Relaxed);
        let head = match self
            .source
            .head_version(&region, &version, if_match.as_deref())
            .await
        {
            Ok(head) => head,
            Err(f) => {
                return whole(skip_or_fail(ReplicationError::from_source(
                    f,
                    ReplicationError::SrcHeadObjectNotPermitted,
                )))
            }
        };
        if let Some(reason) = skip_reason(&head) {
            return whole(Ok(Done::Skipped(reason)));
        }

        let tags = if head.tag_count == Some(0) {
            Some(Vec::new())
        } else if self.config.uses_tag_filters() {
            match self.read_tags(&region, &version, run).await {
                Ok(tags) => Some(tags),
                Err(e) => return whole(skip_or_fail(e)),
            }
        } else {
            None // copied server-side
        };

        let selected = rules::select(
            &self.config,
            &event.bucket,
            &event.key,
            tags.as_deref().unwrap_or(&[]),
        );
        if selected.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::NoMatchingRule)));
        }

        let needs_acl = selected
            .iter()
            .any(|r| !r.destination.owner_override && !self.acl_disabled(&r.destination.bucket));
        let grants = if needs_acl {
            match self.read_grants(&region, &version, run).await {
                Ok(grants) => grants,
                Err(e) => return whole(skip_or_fail(e)),
            }
        } else {
            None
        };

        let source = SourceRead {
            event,
            region: &region,
            version: &version,
            if_match: if_match.as_deref(),
            head: &head,
            tags: tags.as_deref(),
            grants: grants.as_ref(),
        };
        let mut outcomes = join_all(
            selected
                .iter()
                .map(|rule| self.to_destination(rule, &source, run)),
        )
        .await;

        // Ordering needs versions; an unversioned source is guarded by its ETag instead.
        if version.version_id.is_some() {
            let landed: Vec<&Rule> = selected
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| {
                    matches!(
                        o.result,
                        Ok(Done::Replicated(_)) | Ok(Done::Skipped(SkipReason::AlreadyReplicated))
                    )
                })
                .map(|(r, _)| *r)
                .collect();
            let converged = self
                .converge(event, &region, version.version_id.as_deref(), &landed, run)
                .await;
            outcomes.extend(converged.into_iter().filter(made_a_difference));
        }
        outcomes
    }

    async fn delete_marker(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        // Delete markers carry no tags, so rules with tag filters never select them (as in S3).
        let selected: Vec<&Rule> = rules::select(&self.config, &event.bucket, &event.key, &[])
            .into_iter()
            .filter(|r| r.delete_marker_replication)
            .collect();
        if selected.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::DeleteMarkerNotSelected)));
        }
        let region = self.source_region(event);
        self.converge(event, &region, None, &selected, run).await
    }

    async fn version_deleted(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        if !self.config.replicate_version_deletes {
            return whole(Ok(Done::Skipped(SkipReason::VersionDeletesOff)));
        }
        let Some(deleted) = event.version_id.as_deref() else {
            return Vec::new();
        };
        let region = self.source_region(event);
        let selected = rules::select_for_key(&self.config, &event.bucket, &event.key);
        let mut outcomes = Vec::new();
        for rule in &selected {
            let result = async {
                let at = self.location(rule, &event.key, run).await?;
                match self.find_replica(&at, deleted, run).await? {
                    Some(replica) => {
                        run.requests.fetch_add(1, Ordering::Relaxed);
                        self.destination
                            .delete_version(&at, &replica)
                            .await
                            .map_err(ReplicationError::from_destination)?;
                        info!(bucket = %event.bucket, key = %event.key, version_id = deleted,
                              destination = %at.bucket, replica_version_id = %replica,
                              "deleted the replica of a deleted version");
                        Ok(Done::Synced { writes: 1 })
                    }
                    None => Ok(Done::Skipped(SkipReason::NoReplica)),
                }
            }
            .await;
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.bucket.clone()),
                result,
            });
        }
        // Deleting the current version changes what is current.
        let converged = self.converge(event, &region, None, &selected, run).await;
        outcomes.extend(converged.into_iter().filter(made_a_difference));
        outcomes
    }

    async fn metadata_changed(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        let region = self.source_region(event);
        let version = event.version_ref();
        let marker = event
            .version_id
            .clone()
            .unwrap_or_else(|| "null".to_owned());
        // Read from the source once, and only if some destination has a replica to update.
        let (tags, grants) = (OnceCell::new(), OnceCell::new());
        let mut outcomes = Vec::new();
        for rule in rules::select_for_key(&self.config, &event.bucket, &event.key) {
            let result = async {
                let at = self.location(rule, &event.key, run).await?;
                let acl_fixed = rule.destination.owner_override || self.acl_disabled(&at.bucket);
                if event.kind == EventKind::AclChanged && acl_fixed {
                    return Ok(Done::Skipped(SkipReason::AclNotReplicated));
                }
                let Some(replica) = self.find_replica(&at, &marker, run).await? else {
                    return Ok(Done::Skipped(SkipReason::NoReplica));
                };
                let written = if event.kind == EventKind::TagsChanged {
                    let tags = tags
                        .get_or_try_init(|| self.read_tags(&region, &version, run))
                        .await?;
                    run.requests.fetch_add(1, Ordering::Relaxed);
                    self.destination.set_tags(&at, &replica, tags).await
                } else {
                    let grants = grants
                        .get_or_try_init(|| self.read_grants(&region, &version, run))
                        .await?;
                    let plan = match grants {
                        Some(grants) => AclPlan::Grants(grants.clone()),
                        None => AclPlan::Default,
                    };
                    run.requests.fetch_add(1, Ordering::Relaxed);
                    self.destination.set_acl(&at, &replica, &plan).await
                };
                written.map_err(ReplicationError::from_destination)?;
                info!(bucket = %event.bucket, key = %event.key, version_id = %marker,
                      destination = %at.bucket, event_name = %event.event_name, "replica metadata synced");
                Ok(Done::Synced { writes: 1 })
            }
            .await;
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.bucket.clone()),
                result: result.or_else(skip_or_fail),
            });
        }
        if outcomes.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::NoMatchingRule)));
        }
        outcomes
    }

    /// Brings each rule's destination in line with the source's current version: one outcome per
    /// rule. `just_written` is the version this record copied: while it is still the source's
    /// current version, the copy itself was the convergence (one HEAD, no more).
    async fn converge(
        &self,
        event: &ObjectEvent,
        region: &str,
        just_written: Option<&str>,
        rules: &[&Rule],
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        let mut writes: HashMap<&str, u32> = HashMap::new();
        let mut outcomes = Vec::new();
        let mut pending: Vec<&Rule> = rules.to_vec();
        for round in 0..CONVERGE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            run.requests.fetch_add(1, Ordering::Relaxed);
            let src = match self.source.current(region, &event.bucket, &event.key).await {
                Ok(c) => c,
                Err(f) => {
                    let err = ReplicationError::from_source(
                        f,
                        ReplicationError::SrcHeadObjectNotPermitted,
                    );
                    for rule in pending.drain(..) {
                        outcomes.push(DestinationOutcome {
                            destination: Some(rule.destination.bucket.clone()),
                            result: Err(err.clone()),
                        });
                    }
                    break;
                }
            };
            if round == 0 && just_written.is_some() && src.version_id() == just_written {
                for rule in pending.drain(..) {
                    outcomes.push(DestinationOutcome {
                        destination: Some(rule.destination.bucket.clone()),
                        result: Ok(Done::Synced { writes: 0 }),
                    });
                }
                break;
            }
            let steps = join_all(
                pending
                    .iter()
                    .map(|rule| self.converge_step(rule, event, region, &src, run)),
            )
            .await;
            let mut again = Vec::new();
            for (rule, step) in pending.into_iter().zip(steps) {
                let bucket = rule.destination.bucket.as_str();
                match step {
                    Ok(false) => outcomes.push(DestinationOutcome {
                        destination: Some(bucket.to_owned()),
                        result: Ok(Done::Synced {
                            writes: writes.get(bucket).copied().unwrap_or(0),
                        }),
                    }),
                    Ok(true) => {
                        *writes.entry(bucket).or_default() += 1;
                        again.push(rule);
                    }
                    Err(e) => outcomes.push(DestinationOutcome {
                        destination: Some(bucket.to_owned()),
                        result: Err(e),
                    }),
                }
            }
            pending = again;
        }
        for rule in pending {
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.bucket.clone()),
                result: Err(ReplicationError::NotConverged(format!(
                    "the destination's current version still differs from the source's after {CONVERGE_ROUNDS} rounds"
                ))),
            });
        }
        outcomes
    }

    /// One round for one destination: returns whether it wrote (and so must look again).
    async fn converge_step(
        &self,
        rule: &Rule,
        event: &ObjectEvent,
        region: &str,
        src: &Current,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let at = self.location(rule, &event.key, run).await?;
        let s = match src {
            Current::Absent => return Ok(false),
            Current::DeleteMarker(_) if !rule.delete_marker_replication => return Ok(false),
            Current::DeleteMarker(_) => {
                run.requests.fetch_add(1, Ordering::Relaxed);
                let dst = self
                    .destination
                    .replica_current(&at)
                    .await
                    .map_err(ReplicationError::from_destination_read)?;
                // Only replicas are hidden: an object written in the destination itself (two-way
                // setups) is that side's to replicate.
                if dst.replica_of().is_none() {
                    return Ok(false);
                }
                run.requests.fetch_add(1, Ordering::Relaxed);
                self.destination
                    .put_delete_marker(&at)
                    .await
                    .map_err(ReplicationError::from_destination)?;
                info!(bucket = %event.bucket, key = %event.key, destination = %at.bucket,
                      "delete marker replicated");
                return Ok(true);
            }
            Current::Object(s) => s.as_ref(),
        };
        if skip_reason(s).is_some()
            || (matches!(s.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms)
        {
            return Ok(false);
        }
        run.requests.fetch_add(1, Ordering::Relaxed);
        let dst = self
            .destination
            .replica_current(&at)
            .await
            .map_err(ReplicationError::from_destination_read)?;
        let current_marker = s.version_id.as_deref().unwrap_or("null");
        if dst.replica_of() == Some(current_marker)
            || matches!(&dst, Current::Object(_) if dst.replica_of().is_none())
        {
            return Ok(false);
        }
        let version = VersionRef {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version_id: s.version_id.clone(),
        };
        let tags = if s.tag_count == Some(0) {
            Some(Vec::new())
        } else if rule.filter.tags.is_empty() {
            None
        } else {
            Some(self.read_tags(region, &version, run).await?)
        };
        if !rule
            .filter
            .matches(&event.key, tags.as_deref().unwrap_or(&[]))
        {
            return Ok(false);
        }
        let grants = if rule.destination.owner_override || self.acl_disabled(&at.bucket) {
            None
        } else {
            self.read_grants(region, &version, run).await?
        };
        let read = SourceRead {
            event,
            region,
            version: &version,
            if_match: None,
            head: s,
            tags: tags.as_deref(),
            grants: grants.as_ref(),
        };
        match self.copy_to(rule, &read, false, run).await? {
            Done::Replicated(_) => {
                info!(bucket = %event.bucket, key = %event.key, version_id = current_marker,
                      destination = %at.bucket, "re-asserted the source's current version");
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The destination version that is the replica of source version `marker`, newest first.
    async fn find_replica(
        &self,
        at: &ReplicaLocation,
        marker: &str,
        run: &Run,
    ) -> Result<Option<String>, ReplicationError> {
        run.requests.fetch_add(1, Ordering::Relaxed);
        let current = self
            .destination
            .replica_current(at)
            .await
            .map_err(ReplicationError::from_destination_read)?;
        if current.replica_of() == Some(marker) {
            return Ok(current
                .version_id()
                .map(str::to_owned)
                .or(Some("null".to_owned())));
        }
        run.requests.fetch_add(1, Ordering::Relaxed);
        let versions = self
            .destination
            .replica_versions(at)
            .await
            .map_err(ReplicationError::from_destination_read)?;
        for id in versions
            .iter()
            .filter(|id| Some(id.as_str()) != current.version_id())
        {
            run.requests.fetch_add(1, Ordering::Relaxed);
            let v = self
                .destination
                .replica_version(at, id)
                .await
                .map_err(ReplicationError::from_destination_read)?;
            if v.replica_of() == Some(marker) {
                return Ok(Some(id.clone()));
            }
        }
        Ok(None)
    }

    async fn read_tags(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Vec<(String, String)>, ReplicationError> {
        run.requests.fetch_add(1, Ordering::Relaxed);
        self.source
            .version_tags(region, version)
            .await
            .map_err(|f| {
                ReplicationError::from_source(f, ReplicationError::SrcGetObjectTaggingNotPermitted)
            })
    }

    /// The source version's ACL as grant headers; `None` for a private ACL.
    async fn read_grants(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Option<GrantHeaders>, ReplicationError> {
        run.requests.fetch_add(1, Ordering::Relaxed);
        let acl = self
            .source
            .version_acl(region, version)
            .await
            .map_err(|f| {
                ReplicationError::from_source(f, ReplicationError::SrcGetObjectAclNotPermitted)
            })?;
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

    async fn to_destination(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        run: &Run,
    ) -> DestinationOutcome {
        let started = Instant::now();
        let bucket = rule.destination.bucket.clone();
        let result = self.copy_to(rule, src, true, run).await;
        match &result {
            Ok(Done::Replicated(written)) => info!(
                bucket = %src.event.bucket,
                key = %src.event.key,
                version_id = src.head.version_id.as_deref().unwrap_or("null"),
                destination = %bucket,
                rule = %rule.id,
                bytes = src.head.size,
                ms = started.elapsed().as_millis() as u64,
                replica_version_id = written.version_id.as_deref().unwrap_or("null"),
                "replicated"
            ),
            // Skips are logged once, with their reason, by the handler.
            Ok(_) => {}
            Err(e) => warn!(
                bucket = %src.event.bucket,
                key = %src.event.key,
                version_id = src.head.version_id.as_deref().unwrap_or("null"),
                destination = %bucket,
                rule = %rule.id,
                code = e.code(),
                error = %e,
                "replication failed"
            ),
        }
        DestinationOutcome {
            destination: Some(bucket),
            result,
        }
    }

    /// Copies the version to one destination. With `check_current`, first reads the
    /// destination's current version so that a repeated event copies nothing.
    async fn copy_to(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        check_current: bool,
        run: &Run,
    ) -> Result<Done, ReplicationError> {
        if matches!(src.head.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms {
            return Ok(Done::Skipped(SkipReason::KmsNotSelected));
        }
        let region = self.destination_region(rule, run).await?;
        // Another endpoint cannot copy server-side: the bytes are streamed through the function.
        let streamed = rule.destination.endpoint.is_some();
        let method = copy::choose(src.head.size, &src.head.etag, &self.config.copy, streamed)?;
        if check_current {
            if let Some(version) = &src.version.version_id {
                let at = location_for(rule, &src.event.key, region.clone());
                run.requests.fetch_add(1, Ordering::Relaxed);
                let current = self
                    .destination
                    .replica_current(&at)
                    .await
                    .map_err(ReplicationError::from_destination_read)?;
                if current.replica_of() == Some(version.as_str()) {
                    return Ok(Done::Skipped(SkipReason::AlreadyReplicated));
                }
            }
        }
        let layout = match method {
            CopyMethod::SingleRequest => None,
            CopyMethod::Multipart { source_parts } => {
                Some(self.part_layout(src, source_parts, run).await?)
            }
        };
        // Only CopyObject copies tags server-side; an upload or a PUT is given them.
        let tags = match (&layout, src.tags) {
            (None, _) if !streamed => Vec::new(),
            (_, Some(tags)) => tags.to_vec(),
            (_, None) if src.head.tag_count == Some(0) => Vec::new(),
            (_, None) => self.read_tags(src.region, src.version, run).await?,
        };
        let acl_disabled = self.acl_disabled(&rule.destination.bucket);
        let mut request = CopyRequest {
            source: src.version.clone(),
            source_region: src.region.to_owned(),
            source_if_match: src.if_match.map(str::to_owned),
            target: plan_replica(
                rule,
                src.event,
                src.head,
                src.tags,
                src.grants,
                acl_disabled,
                region,
            ),
        };
        if layout.is_some() && src.if_match.is_none() {
            // Each part is pinned to the version, and to its ETag as well.
            request.source_if_match = Some(src.head.etag.clone());
        }
        // With the source's own layout and MD5 part ETags, the upload is checked before Complete.
        let expected_etag = match method {
            CopyMethod::Multipart {
                source_parts: Some(_),
            } if !matches!(src.head.encryption, Encryption::Kms { .. })
                && !matches!(request.target.encryption, TargetEncryption::Kms { .. }) =>
            {
                Some(src.head.etag.clone())
            }
            _ => None,
        };
        let written = match self
            .write(
                &request,
                layout.as_deref(),
                &tags,
                expected_etag.as_deref(),
                run,
            )
            .await
        {
            Err(multipart::Error::S3(f))
                if f.kind == S3FailureKind::AclNotSupported
                    && matches!(request.target.acl, AclPlan::Grants(_)) =>
            {
                warn!(
                    destination = %rule.destination.bucket,
                    "destination bucket has ACLs disabled; replicas get no ACL grants"
                );
                self.acl_disabled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(rule.destination.bucket.clone());
                request.target.acl = AclPlan::Default;
                self.write(
                    &request,
                    layout.as_deref(),
                    &tags,
                    expected_etag.as_deref(),
                    run,
                )
                .await
            }
            other => other,
        };
        let written = match written {
            Ok(w) => w,
            Err(multipart::Error::S3(f)) => {
                return skip_or_fail(ReplicationError::from_destination(f))
            }
            Err(multipart::Error::Interrupted { copied, total }) => {
                return Err(ReplicationError::CopyInterrupted { copied, total })
            }
            Err(multipart::Error::Mismatch(m)) => return Err(ReplicationError::ReplicaMismatch(m)),
        };
        if !verify(src.head, &request.target, &written, method)? {
            self.verify_size(&request, &written, src.head.size, run)
                .await?;
        }
        Ok(Done::Replicated(written))
    }

    /// One CopyObject, or a multipart copy in `layout`'s parts (checked against
    /// `expected_etag` before Complete, when given).
    async fn write(
        &self,
        request: &CopyRequest,
        layout: Option<&[(u64, u64)]>,
        tags: &[(String, String)],
        expected_etag: Option<&str>,
        run: &Run,
    ) -> Result<Written, multipart::Error> {
        let transfer = match request.target.endpoint {
            Some(_) => multipart::Transfer::Streamed {
                source: &self.source,
                region: &request.source_region,
            },
            None => multipart::Transfer::ServerSide,
        };
        let Some(layout) = layout else {
            run.requests.fetch_add(1, Ordering::Relaxed);
            let multipart::Transfer::Streamed { source, region } = transfer else {
                return Ok(self.destination.copy_object(request).await?);
            };
            run.requests.fetch_add(1, Ordering::Relaxed);
            let if_match = request.source_if_match.as_deref();
            let body = source.read(region, &request.source, if_match, None).await?;
            return Ok(self
                .destination
                .put_object(&request.target, body, tags)
                .await?);
        };
        run.requests
            .fetch_add(2 + layout.len() as u32, Ordering::Relaxed);
        let plan = multipart::Plan {
            layout,
            tags,
            concurrency: self.config.copy.concurrency,
            expected_etag,
            stop_at: run.stop_at,
        };
        multipart::copy(&self.destination, transfer, request, plan).await
    }

    /// The source's own part layout (for ETag parity), or a uniform one.
    async fn part_layout(
        &self,
        src: &SourceRead<'_>,
        source_parts: Option<u32>,
        run: &Run,
    ) -> Result<Vec<(u64, u64)>, ReplicationError> {
        let Some(parts) = source_parts else {
            return Ok(copy::uniform_layout(
                src.head.size,
                self.config.copy.part_size,
            ));
        };
        run.requests.fetch_add(parts, Ordering::Relaxed);
        let sizes = self
            .source
            .part_sizes(src.region, src.version, parts)
            .await
            .map_err(|f| {
                ReplicationError::from_source(f, ReplicationError::SrcHeadObjectNotPermitted)
            })?;
        copy::layout_from_sizes(&sizes, src.head.size)
    }

    /// Where the ETag cannot tell (a re-chunked or KMS copy), the replica's size must match.
    async fn verify_size(
        &self,
        request: &CopyRequest,
        written: &Written,
        size: u64,
        run: &Run,
    ) -> Result<(), ReplicationError> {
        let target = &request.target;
        let at = location_for_spec(target);
        run.requests.fetch_add(1, Ordering::Relaxed);
        let replica = match &written.version_id {
            Some(v) => self.destination.replica_version(&at, v).await,
            None => self.destination.replica_current(&at).await,
        }
        .map_err(ReplicationError::from_destination_read)?;
        match replica {
            Current::Object(o) if o.size == size => Ok(()),
            Current::Object(o) => Err(ReplicationError::ReplicaMismatch(format!(
                "replica has {} bytes, the source {size}",
                o.size
            ))),
            _ => Err(ReplicationError::ReplicaMismatch(
                "the replica just written is not there".to_owned(),
            )),
        }
    }

    async fn destination_region(&self, rule: &Rule, run: &Run) -> Result<String, ReplicationError> {
        if let Some(region) = &rule.destination.region {
            return Ok(region.clone());
        }
        let bucket = &rule.destination.bucket;
        if let Some(region) = self
            .regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
        {
            return Ok(region.clone());
        }
        run.requests.fetch_add(1, Ordering::Relaxed);
        let region = self
            .destination
            .bucket_region(bucket)
            .await
            .map_err(|f| match f.kind {
                S3FailureKind::NoSuchBucket => ReplicationError::DstBucketNotFound(f),
                _ => ReplicationError::DstBucketRegionUnknown(f),
            })?;
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.clone(), region.clone());
        Ok(region)
    }

    fn acl_disabled(&self, bucket: &str) -> bool {
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(bucket)
    }
}

/// What the work on one record shares: its S3 request count and when to stop starting copies.
struct Run {
    requests: AtomicU32,
    stop_at: Option<Instant>,
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
    match err {
        ReplicationError::SrcVersionNotFound(_) => Ok(Done::Skipped(SkipReason::VersionGone)),
        ReplicationError::SrcObjectChanged(_) => Ok(Done::Skipped(SkipReason::SourceChanged)),
        other => Err(other),
    }
}

fn skip_reason(head: &SourceVersion) -> Option<SkipReason> {
    if head.metadata.contains_key(REPLICA_MARKER) {
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

/// The replica one rule asks for.
pub fn plan_replica(
    rule: &Rule,
    event: &ObjectEvent,
    head: &SourceVersion,
    tags: Option<&[(String, String)]>,
    grants: Option<&GrantHeaders>,
    destination_acl_disabled: bool,
    region: String,
) -> ReplicaSpec {
    let mut metadata = head.metadata.clone();
    metadata.insert(
        REPLICA_MARKER.to_owned(),
        head.version_id.clone().unwrap_or_else(|| "null".to_owned()),
    );
    let acl = if rule.destination.owner_override {
        AclPlan::BucketOwnerFullControl
    } else {
        match grants {
            Some(g) if !destination_acl_disabled => AclPlan::Grants(g.clone()),
            _ => AclPlan::Default,
        }
    };
    let encryption = match (&head.encryption, &rule.destination.replica_kms_key_id) {
        (
            Encryption::Kms {
                algorithm,
                bucket_key,
                ..
            },
            Some(key),
        ) => TargetEncryption::Kms {
            algorithm: algorithm.clone(),
            key_id: key.clone(),
            bucket_key: *bucket_key,
        },
        (Encryption::S3, _) => TargetEncryption::S3,
        _ => TargetEncryption::BucketDefault,
    };
    ReplicaSpec {
        bucket: rule.destination.bucket.clone(),
        key: event.key.clone(),
        region,
        content: head.content.clone(),
        metadata,
        tags: match tags {
            Some(t) => TagsPlan::Set(t.to_vec()),
            None => TagsPlan::FromSource,
        },
        acl,
        storage_class: rule
            .destination
            .storage_class
            .clone()
            .or_else(|| head.storage_class.clone())
            .unwrap_or_else(|| "STANDARD".to_owned()),
        encryption,
        object_lock: head.object_lock.clone(),
        expected_bucket_owner: rule.destination.account.clone(),
        endpoint: rule.destination.endpoint.as_ref().map(|e| e.url.clone()),
    }
}

/// Where a rule's replica of `key` lives.
fn location_for(rule: &Rule, key: &str, region: String) -> ReplicaLocation {
    ReplicaLocation {
        bucket: rule.destination.bucket.clone(),
        key: key.to_owned(),
        region,
        expected_bucket_owner: rule.destination.account.clone(),
        endpoint: rule.destination.endpoint.as_ref().map(|e| e.url.clone()),
    }
}

/// Where a planned replica lives.
fn location_for_spec(target: &ReplicaSpec) -> ReplicaLocation {
    ReplicaLocation {
        bucket: target.bucket.clone(),
        key: target.key.clone(),
        region: target.region.clone(),
        expected_bucket_owner: target.expected_bucket_owner.clone(),
        endpoint: target.endpoint.clone(),
    }
}

/// Turns an ACL into grant headers, so the copy request itself carries it.
pub fn grant_headers(acl: &Acl) -> GrantHeaders {
    let mut headers = GrantHeaders::default();
    for grant in &acl.grants {
        let grantee = match &grant.grantee {
            Grantee::Id(id) => format!("id=\"{id}\""),
            Grantee::Uri(uri) => format!("uri=\"{uri}\""),
            Grantee::Email(email) => format!("emailAddress=\"{email}\""),
        };
        let slot = match grant.permission.as_str() {
            "FULL_CONTROL" => &mut headers.full_control,
            "READ" => &mut headers.read,
            "READ_ACP" => &mut headers.read_acp,
            "WRITE_ACP" => &mut headers.write_acp,
            _ => continue, // WRITE has no meaning on objects
        };
        match slot {
            Some(list) => {
                list.push_str(", ");
                list.push_str(&grantee);
            }
            None => *slot = Some(grantee),
        }
    }
    headers
}

/// Checks the replica's ETag where it must equal the source's: a single-part source copied in one
/// request, or a multipart source copied in its own layout, neither under KMS. Returns whether it
/// could tell (otherwise the caller checks the size).
fn verify(
    head: &SourceVersion,
    target: &ReplicaSpec,
    written: &Written,
    method: CopyMethod,
) -> Result<bool, ReplicationError> {
    let same_layout = match method {
        CopyMethod::SingleRequest => !head.etag.contains('-'),
        CopyMethod::Multipart { source_parts } => source_parts.is_some(),
    };
    let comparable = same_layout
        && !matches!(head.encryption, Encryption::Kms { .. })
        && !matches!(target.encryption, TargetEncryption::Kms { .. });
    if comparable && written.etag != head.etag {
        return Err(ReplicationError::ReplicaMismatch(format!(
            "replica ETag {} differs from source ETag {}",
            written.etag, head.etag
        )));
    }
    Ok(comparable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContentHeaders, Grant, ObjectLock};
    use std::collections::BTreeMap;

    fn head() -> SourceVersion {
        SourceVersion {
            size: 3,
            etag: "\"abc\"".into(),
            version_id: Some("v1".into()),
            content: ContentHeaders {
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            metadata: BTreeMap::from([("owner".to_owned(), "me".to_owned())]),
            storage_class: None,
            archived: false,
            encryption: Encryption::S3,
            object_lock: ObjectLock::default(),
            tag_count: None,
            parts_count: None,
        }
    }

    fn event() -> ObjectEvent {
        ObjectEvent {
            kind: EventKind::Created,
            index: 0,
            event_name: "ObjectCreated:Put".into(),
            region: Some("us-east-1".into()),
            bucket: "src".into(),
            key: "k".into(),
            version_id: Some("v1".into()),
            etag: Some("abc".into()),
            sequencer: None,
        }
    }

    fn rule(json_destination: &str) -> Rule {
        Config::from_json(&format!(
            r#"{{"Rules":[{{"Priority":1,"Status":"Enabled","Filter":{{}},"DeleteMarkerReplication":{{"Status":"Disabled"}},
               "SourceSelectionCriteria":{{"SseKmsEncryptedObjects":{{"Status":"Enabled"}}}},
               "Destination":{json_destination}}}]}}"#
        ))
        .unwrap()
        .rules
        .remove(0)
    }

    #[test]
    fn replica_plan_adds_only_the_marker_to_user_metadata() {
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k1"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(spec.metadata.len(), 2);
        assert_eq!(spec.metadata["owner"], "me");
        assert_eq!(spec.metadata[REPLICA_MARKER], "v1");
        assert_eq!(spec.storage_class, "STANDARD");
        assert_eq!(spec.encryption, TargetEncryption::S3);
        assert_eq!(spec.tags, TagsPlan::FromSource);
    }

    #[test]
    fn kms_source_is_written_with_the_replica_key() {
        let mut h = head();
        h.encryption = Encryption::Kms {
            algorithm: "aws:kms".into(),
            key_id: Some("src-key".into()),
            bucket_key: true,
        };
        let spec = plan_replica(
            &rule(
                r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"replica-key"}}"#,
            ),
            &event(),
            &h,
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(
            spec.encryption,
            TargetEncryption::Kms {
                algorithm: "aws:kms".into(),
                key_id: "replica-key".into(),
                bucket_key: true
            }
        );
    }

    #[test]
    fn owner_override_writes_bucket_owner_full_control() {
        let spec = plan_replica(
            &rule(
                r#"{"Bucket":"dst","Account":"123456789012","AccessControlTranslation":{"Owner":"Destination"},"EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#,
            ),
            &event(),
            &head(),
            None,
            Some(&GrantHeaders::default()),
            false,
            "eu-west-1".into(),
        );
        assert_eq!(spec.acl, AclPlan::BucketOwnerFullControl);
        assert_eq!(spec.expected_bucket_owner.as_deref(), Some("123456789012"));
    }

    #[test]
    fn grants_become_grant_headers_per_permission() {
        let acl = Acl {
            owner_id: Some("o".into()),
            grants: vec![
                Grant {
                    grantee: Grantee::Id("o".into()),
                    permission: "FULL_CONTROL".into(),
                },
                Grant {
                    grantee: Grantee::Uri("http://acs.amazonaws.com/groups/global/AllUsers".into()),
                    permission: "READ".into(),
                },
                Grant {
                    grantee: Grantee::Id("friend".into()),
                    permission: "READ".into(),
                },
            ],
        };
        let h = grant_headers(&acl);
        assert_eq!(h.full_control.as_deref(), Some("id=\"o\""));
        assert_eq!(
            h.read.as_deref(),
            Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"friend\"")
        );
        assert_eq!(h.read_acp, None);
    }

    /// The replica of `head()` under a rule without owner override or tag filters.
    fn plain_spec() -> ReplicaSpec {
        plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "r".into(),
        )
    }

    #[test]
    fn etag_mismatch_on_a_plain_copy_is_a_failure() {
        let spec = plain_spec();
        let bad = Written {
            etag: "\"other\"".into(),
            version_id: None,
        };
        assert_eq!(
            verify(&head(), &spec, &bad, CopyMethod::SingleRequest)
                .unwrap_err()
                .code(),
            "ReplicaMismatch"
        );
        let good = Written {
            etag: "\"abc\"".into(),
            version_id: None,
        };
        assert_eq!(
            verify(&head(), &spec, &good, CopyMethod::SingleRequest),
            Ok(true)
        );
    }

    #[test]
    fn rechunked_copy_cannot_be_checked_by_etag() {
        let spec = plain_spec();
        let rechunked = Written {
            etag: "\"other-5\"".into(),
            version_id: None,
        };
        let method = CopyMethod::Multipart { source_parts: None };
        assert_eq!(verify(&head(), &spec, &rechunked, method), Ok(false));
    }

    #[test]
    fn replicas_and_archived_objects_are_skipped() {
        let mut h = head();
        h.metadata.insert(REPLICA_MARKER.into(), "v0".into());
        assert_eq!(skip_reason(&h), Some(SkipReason::IsReplica));
        let mut h = head();
        h.archived = true;
        h.storage_class = Some("DEEP_ARCHIVE".into());
        assert_eq!(
            skip_reason(&h),
            Some(SkipReason::Archived("DEEP_ARCHIVE".into()))
        );
    }
}

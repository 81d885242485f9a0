//! What a destination holds decides whether a copy may land there: a later original write and a
//! delete marker above a replica of the version stand; a replica already current, or in the
//! history, is not written again.

use super::order;
use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// What the destination holds may forbid the copy: a later original write (written there,
    /// or replicated there from elsewhere) and a delete marker above a replica of this version
    /// (deleted there after it arrived) are never replaced, whatever the caller; in event mode
    /// the replica may also already be current, or in the history. `None`: copy.
    pub(super) async fn guard(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        at: &ReplicaLocation,
        check: Check,
        fresh: bool,
        run: &Run,
    ) -> Result<Guard, ReplicationError> {
        let version = src.version.version_id.as_deref().unwrap_or("null");
        // Read with the source's, unless a write since then made that stale.
        let known = match (fresh, src.destinations) {
            (false, Some(reads)) => reads.read(&rule.destination.id()).await,
            _ => None,
        };
        let current = match known {
            Some(current) => current,
            None => self.replica_current(at, run).await?,
        };
        if check == Check::Event && current.replica_of() == Some(version) {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::AlreadyReplicated)));
        }
        // The copy lands only while the key is as read here: two writers racing on it cannot
        // both write (S3 conditional writes; another endpoint may not honour them).
        let condition = rule.destination.endpoint.is_none().then(|| match &current {
            Current::Object(o) => WriteCondition::IfMatch(o.etag.clone()),
            _ => WriteCondition::IfNoneMatch,
        });
        let ours = order::written_at(src.event, src.head);
        let keeps = keeps_etag(rule, src.head);
        let maybe_late = match &current {
            Current::Object(theirs) => {
                let theirs_at = theirs.origin_in(&rule.destination.bucket);
                // Two-way: the other side's later original write stays current on both sides.
                let bucket = &src.event.bucket;
                if self
                    .later_original(rule, src.region, bucket, src.head, &ours, theirs, at, run)
                    .await?
                {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)));
                }
                // A replica of a write no earlier than this one is current.
                check == Check::Event
                    && current.replica_of().is_some()
                    && !theirs.not_replicated_from(&src.event.bucket)
                    && theirs_at.millis >= ours.millis
            }
            Current::DeleteMarker(_) => {
                let below = self.replica_in_history(at, src.head, keeps, run).await?;
                return Ok(match (check, below) {
                    // Deleted at the destination after this version's replica arrived.
                    (Check::Rewrite | Check::History, true) => {
                        Guard::Stop(Done::Skipped(SkipReason::NewerInDestination))
                    }
                    // A late or redelivered event: its replica is in the history, and
                    // convergence decides whether the delete marker stands.
                    (_, true) => Guard::Stop(Done::Skipped(SkipReason::InHistory)),
                    // History is not put on top of a delete marker the source does not have.
                    (Check::History, false) if !run.source_deleted() => {
                        Guard::Stop(Done::Skipped(SkipReason::NewerInDestination))
                    }
                    (_, false) => Guard::Write(condition),
                });
            }
            Current::Absent => false,
        };
        // A late or redelivered event: its replica may already be in the history. (In order,
        // the current replica is of an earlier write, and this costs nothing.)
        if maybe_late && self.replica_in_history(at, src.head, keeps, run).await? {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::InHistory)));
        }
        Ok(Guard::Write(condition))
    }

    /// Whether any version in the destination's history is a replica of the source version.
    pub(super) async fn in_history(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let at = self.location(rule, &src.event.key, run).await?;
        self.replica_in_history(&at, src.head, keeps_etag(rule, src.head), run)
            .await
    }

    /// Whether the destination key no longer meets the condition a write carried: a 412 then
    /// says someone else wrote it, not that the source changed (both answer 412).
    pub(super) async fn moved(
        &self,
        at: &ReplicaLocation,
        condition: Option<&WriteCondition>,
        run: &Run,
    ) -> bool {
        let Some(condition) = condition else {
            return false;
        };
        match self.replica_current(at, run).await {
            Ok(Current::Object(o)) => match condition {
                WriteCondition::IfMatch(etag) => o.etag != *etag,
                WriteCondition::IfNoneMatch => true,
            },
            Ok(_) => matches!(condition, WriteCondition::IfMatch(_)),
            Err(_) => false,
        }
    }
}

/// Whether a replica of `head` written by `rule` has the source's ETag: not when either side is
/// SSE-KMS (the ETag is then no MD5), nor when the bytes are streamed to another endpoint.
pub(super) fn keeps_etag(rule: &Rule, head: &SourceVersion) -> bool {
    !matches!(head.encryption, Encryption::Kms { .. })
        && rule.destination.replica_kms_key_id.is_none()
        && rule.destination.endpoint.is_none()
}

/// What a copy checks at the destination first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Nothing (convergence has just read the destination and decided).
    None,
    /// An event: the replica may already be current or in the history; later writes stand.
    Event,
    /// A repair: the replica is written again even where one claims to be current (it was
    /// found damaged), but later writes and later deletes at the destination stand.
    Rewrite,
    /// A history copy (`backfill --all-versions`): later writes and deletes stand.
    History,
}

/// What the destination check decided.
pub(super) enum Guard {
    /// Nothing to write: the outcome.
    Stop(Done),
    /// Write, on this condition.
    Write(Option<WriteCondition>),
}

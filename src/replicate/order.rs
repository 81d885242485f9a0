//! Which of two original writes of a key is the later: the order S3 itself gave them where a
//! bucket's history shows it, and a clock only where nothing else can tell.
//!
//! A bucket's version history orders its own writes: a write that stands above the replica of
//! the other side's write was made after that replica arrived, whatever the clocks say (two
//! writes in one second, or a multipart object, which S3 stamps with the time its upload was
//! *initiated* while stacking it where it was *completed*).

use super::*;
use crate::events::EventKind;

/// When the event's version was written, as far as can be known: its Last-Modified, or, for
/// the event of its own creation, the event's time if that is later (S3 stamps a multipart
/// object with its initiation; `eventTime` is when the request finished).
pub(crate) fn written_at(event: &ObjectEvent, head: &SourceVersion) -> Origin {
    let mut origin = head.origin_in(&event.bucket);
    let own_event = event.kind == EventKind::Created
        && (event.version_id.is_none() || event.version_id == head.version_id);
    if own_event {
        let done = event
            .event_time
            .as_deref()
            .and_then(crate::events::parse_event_time);
        if let Some(done) = done.and_then(|t| t.to_millis().ok()) {
            origin.millis = origin.millis.max(done);
        }
    }
    origin
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether the destination's current object `theirs` (at `at`) is an original write later
    /// than the source's version `ours` (written at `ours_at`): one written there, or
    /// replicated there from another bucket (two-way). A replica of ours below it in the
    /// destination's history makes it later; ours standing above a replica of it in the
    /// source's history makes it earlier; otherwise the clocks decide.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn later_original(
        &self,
        rule: &Rule,
        region: &str,
        source_bucket: &str,
        ours: &SourceVersion,
        ours_at: &Origin,
        theirs: &SourceVersion,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if !theirs.not_replicated_from(source_bucket) {
            return Ok(false);
        }
        let theirs_at = theirs.origin_in(&rule.destination.bucket);
        if theirs_at > *ours_at {
            let above = self
                .stands_above_replica_of(region, source_bucket, &at.key, ours, theirs, at, run)
                .await?;
            return Ok(!above);
        }
        self.replica_in_history(at, ours, guard::keeps_etag(rule, ours), run)
            .await
    }

    /// Whether the source version `ours` stands above, in its bucket's history, a replica of
    /// the destination's object `theirs` (written into the source from `at`'s bucket).
    #[allow(clippy::too_many_arguments)]
    async fn stands_above_replica_of(
        &self,
        region: &str,
        source_bucket: &str,
        key: &str,
        ours: &SourceVersion,
        theirs: &SourceVersion,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let (Some(ours_id), Some(theirs_id)) = (&ours.version_id, &theirs.version_id) else {
            return Ok(false);
        };
        run.start()?;
        let history = self
            .source
            .list_versions(region, source_bucket, key)
            .await
            .map_err(src_err)?;
        // Oldest first: the versions below ours are those listed before it.
        let below = history
            .iter()
            .filter(|v| v.key == key)
            .take_while(|v| v.version_id != *ours_id)
            .filter(|v| v.size == theirs.size);
        for listed in below {
            let version = VersionRef {
                bucket: source_bucket.to_owned(),
                key: key.to_owned(),
                version_id: Some(listed.version_id.clone()),
            };
            let head = match self.read_head(region, &version, None, run).await {
                Ok(head) => head,
                Err(e) if e.disposition() == Disposition::SourceGone => continue,
                Err(e) => return Err(e),
            };
            if head.is_replica_from(source_bucket, &at.bucket)
                && head.metadata.get(REPLICA_MARKER) == Some(theirs_id)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

//! Existing objects under replication: every current source object the rules select goes through
//! the same engine as an event for it would (tags, ACL, lock, checksums, multipart and all), so a
//! replica already in sync copies nothing.

use std::fmt;

use futures::stream::{self, StreamExt};

use crate::error::{ReplicationError, Side};
use crate::events::{EventKind, ObjectEvent};
use crate::replicate::{Done, Replicator, SkipReason};
use crate::store::{Current, DestinationStore, SourceStore};

/// Keys replicated at once.
pub const CONCURRENCY: usize = 8;

/// What a backfill did, printed as its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Replicas written.
    pub replicated: usize,
    /// Destinations whose current version already was the replica.
    pub in_sync: usize,
    /// Keys or destinations deliberately not replicated (no rule, archived, ...).
    pub skipped: usize,
    /// Failures (each printed with its code).
    pub failed: usize,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backfill: {} replicated, {} already in sync, {} skipped, {} failed",
            self.replicated, self.in_sync, self.skipped, self.failed
        )
    }
}

/// One failure: the key, the destination if specific to one, and the error.
pub type Failure = (String, Option<String>, ReplicationError);

/// Replicates the current version of every object under `prefix` in `bucket`.
pub async fn backfill<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    prefix: &str,
) -> Result<(Tally, Vec<Failure>), ReplicationError> {
    let region = replicator.bucket_region(bucket).await?;
    let listed = replicator
        .source()
        .list_objects(&region, bucket, prefix)
        .await
        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
    let region = &region;
    let mut results = stream::iter(listed.into_iter().enumerate())
        .map(|(index, object)| async move {
            let key = object.key;
            // The version the listing saw may have changed: replicate what is current now.
            let current = replicator.source().current(region, bucket, &key).await;
            let outcomes = match current {
                Ok(Current::Object(head)) => {
                    let event = ObjectEvent {
                        kind: EventKind::Created,
                        index,
                        event_name: "Backfill".to_owned(),
                        region: Some(region.to_owned()),
                        bucket: bucket.to_owned(),
                        key: key.clone(),
                        version_id: head.version_id.clone(),
                        null_version: false,
                        etag: Some(head.etag.trim_matches('"').to_owned()),
                        sequencer: None,
                    };
                    replicator
                        .replicate(&event)
                        .await
                        .into_iter()
                        .map(|o| (o.destination, o.result))
                        .collect()
                }
                // Deleted since the listing: nothing to replicate.
                Ok(_) => Vec::new(),
                Err(f) => vec![(None, Err(ReplicationError::classify(Side::Source, f)))],
            };
            (key, outcomes)
        })
        .buffer_unordered(CONCURRENCY);
    let (mut tally, mut failures) = (Tally::default(), Vec::new());
    while let Some((key, outcomes)) = results.next().await {
        for (destination, result) in outcomes {
            match result {
                Ok(Done::Replicated(_)) => tally.replicated += 1,
                Ok(Done::Skipped(SkipReason::AlreadyReplicated)) => tally.in_sync += 1,
                // A write convergence made after the copy (the source changed meanwhile).
                Ok(Done::Synced { .. }) => tally.replicated += 1,
                Ok(Done::Skipped(_)) => tally.skipped += 1,
                Err(e) => {
                    tally.failed += 1;
                    failures.push((key.clone(), destination, e));
                }
            }
        }
    }
    Ok((tally, failures))
}

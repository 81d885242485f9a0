//! One invocation: every record is attempted; if any failed, the invocation fails and lists them,
//! so Lambda's retries and on-failure destination take over. Nothing is logged and dropped.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use crate::error::{InvocationError, RecordFailure};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use crate::events::{compare_sequencers, parse_payload, Intake, ObjectEvent};
use crate::replicate::{Done, Replicator};
use crate::store::{DestinationStore, SourceStore};

/// Keys worked on at once within one invocation (records of one key go one after another).
pub const KEY_CONCURRENCY: usize = 8;

/// What an invocation did (the function's response).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event.
    pub records: usize,
    /// Replicas written (copies).
    pub replicated: usize,
    /// Other writes to destinations: delete markers, deleted versions, ACL and tag syncs.
    pub synced: usize,
    /// Destinations or records that needed nothing (already in sync, replicas, no matching rule).
    pub skipped: usize,
    /// Records of event types this function does not act on.
    pub ignored: usize,
}

/// Handles one invocation payload, with no deadline.
pub async fn handle<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
) -> Result<Summary, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    handle_until(replicator, payload, None).await
}

/// Handles one invocation payload that must be done by `deadline` (the Lambda context's): no
/// S3 call is started within the configured margin of it, so the retry carries on from what S3
/// holds (a multipart copy of ours resumes where it can be proven ours).
pub async fn handle_until<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
    deadline: Option<SystemTime>,
) -> Result<Summary, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    let stop_at = deadline.map(|deadline| {
        let left = deadline
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(replicator.config().copy.time_margin);
        Instant::now() + left
    });
    let items = parse_payload(&payload)?;
    let mut summary = Summary {
        records: items.len(),
        ..Summary::default()
    };
    let mut failures: Vec<RecordFailure> = Vec::new();
    let mut by_key: BTreeMap<(String, String), Vec<ObjectEvent>> = BTreeMap::new();
    for item in items {
        match item {
            Intake::Object(event) => by_key
                .entry((event.bucket.clone(), event.key.clone()))
                .or_default()
                .push(event),
            Intake::Ignored { index, event_name } => {
                info!(record = index, event_name = %event_name, "ignored: event type not replicated");
                summary.ignored += 1;
            }
            Intake::Invalid(failure) => failures.push(failure),
        }
    }
    for events in by_key.values_mut() {
        // S3 delivers out of order; the sequencer orders the events of one key.
        events.sort_by(|a, b| match (&a.sequencer, &b.sequencer) {
            (Some(x), Some(y)) => compare_sequencers(x, y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
    }
    let mut results = stream::iter(by_key.values())
        .map(|events| async move {
            let mut done = Vec::with_capacity(events.len());
            for event in events {
                done.push((event, replicator.replicate_until(event, stop_at).await));
            }
            done
        })
        .buffer_unordered(KEY_CONCURRENCY);
    while let Some(done) = results.next().await {
        for (event, outcomes) in done {
            for outcome in outcomes {
                match outcome.result {
                    Ok(Done::Replicated(_)) => summary.replicated += 1,
                    Ok(Done::Synced { writes }) if writes > 0 => summary.synced += 1,
                    Ok(Done::Synced { .. }) => summary.skipped += 1,
                    Ok(Done::Skipped(reason)) => {
                        info!(
                            bucket = %event.bucket,
                            key = %event.key,
                            version_id = event.version_id.as_deref().unwrap_or("null"),
                            destination = outcome.destination.as_deref().unwrap_or("-"),
                            reason = %reason,
                            "skipped"
                        );
                        summary.skipped += 1;
                    }
                    Err(err) => failures.push(RecordFailure {
                        index: event.index,
                        object: event.describe(),
                        destination: outcome.destination,
                        code: err.code(),
                        message: err.to_string(),
                    }),
                }
            }
        }
    }
    if failures.is_empty() {
        return Ok(summary);
    }
    failures.sort_by_key(|f| f.index);
    Err(InvocationError::RecordsFailed {
        total: summary.records,
        failures,
    })
}

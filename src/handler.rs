//! One invocation: every record is attempted; if any failed, the invocation fails and lists them,
//! so Lambda's retries and on-failure destination take over. Nothing is logged and dropped.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tracing::info;

use crate::error::{InvocationError, RecordFailure};
use crate::events::{parse_payload, Intake};
use crate::replicate::{Done, Replicator};
use crate::store::{DestinationStore, SourceStore};

/// Records replicated at once within one invocation.
pub const RECORD_CONCURRENCY: usize = 8;

/// What an invocation did (the function's response).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records in the event.
    pub records: usize,
    /// Replicas written.
    pub replicated: usize,
    /// Destinations or records deliberately skipped (replicas, no matching rule, ...).
    pub skipped: usize,
    /// Records of event types this function does not act on.
    pub ignored: usize,
}

/// Handles one invocation payload.
pub async fn handle<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
) -> Result<Summary, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    let items = parse_payload(&payload)?;
    let mut summary = Summary {
        records: items.len(),
        ..Summary::default()
    };
    let mut failures: Vec<RecordFailure> = Vec::new();
    let mut created = Vec::new();
    for item in items {
        match item {
            Intake::Created(event) => created.push(event),
            Intake::Ignored { index, event_name } => {
                info!(record = index, event_name = %event_name, "ignored: not an ObjectCreated event");
                summary.ignored += 1;
            }
            Intake::Invalid(failure) => failures.push(failure),
        }
    }
    let mut results = stream::iter(created.iter())
        .map(|event| async move { (event, replicator.replicate(event).await) })
        .buffer_unordered(RECORD_CONCURRENCY);
    while let Some((event, outcomes)) = results.next().await {
        for outcome in outcomes {
            match outcome.result {
                Ok(Done::Replicated(_)) => summary.replicated += 1,
                Ok(Done::Skipped(reason)) => {
                    if outcome.destination.is_none() {
                        info!(bucket = %event.bucket, key = %event.key, reason = %reason, "skipped");
                    }
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
    if failures.is_empty() {
        return Ok(summary);
    }
    failures.sort_by_key(|f| f.index);
    Err(InvocationError::RecordsFailed {
        total: summary.records,
        failures,
    })
}

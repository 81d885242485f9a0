//! One invocation: every record is attempted; if any failed, the invocation fails and lists them,
//! so Lambda's retries and on-failure destination take over. Nothing is logged and dropped.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::error::{InvocationError, RecordFailure, DEADLINE_EXCEEDED};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime};

use crate::events::{self, compare_sequencers, parse_payload, Intake, ObjectEvent};
use crate::replicate::{Done, Replicator};
use crate::run::{Ledger, Run};
use crate::store::{DestinationStore, SourceStore};
use std::sync::Arc;

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

/// Answers one invocation of the function, whatever invoked it:
/// - an S3 Batch Operations job gets its per-task results;
/// - an SQS batch gets `batchItemFailures`, the ids of the messages whose records failed or
///   could not be read (with `ReportBatchItemFailures`, only those return to the queue);
/// - S3 event notifications and EventBridge events get the [`Summary`], or fail the invocation
///   so that Lambda retries it and then sends it to the on-failure destination.
///
/// With a deadline, it answers [`FLUSH_MARGIN`] before it, in the trigger's own terms: a record
/// (or task) still in work then is named in the log, in the answer and in the failure metric
/// with the code [`DEADLINE_EXCEEDED`], and is the only one retried: a failed task, a message
/// in `batchItemFailures`, a record in the invocation's error.
pub async fn respond<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
    deadline: Option<SystemTime>,
) -> Result<Value, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    let stop_at = deadline.map(|deadline| stop_at(deadline, replicator.config().copy.time_margin));
    let give_up = deadline.map(|deadline| stop_at_before(deadline, FLUSH_MARGIN));
    if events::batch::is_batch(&payload) {
        let job = events::batch::parse_batch(&payload)?;
        let response = crate::tools::batch::run_job(replicator, job, stop_at, give_up).await;
        return Ok(serde_json::to_value(response).unwrap_or_default());
    }
    if events::sqs::is_sqs(&payload) {
        let mut batch = events::sqs::parse_sqs(&payload);
        let items = std::mem::take(&mut batch.items);
        let (summary, failures) = run_items(replicator, items, stop_at, give_up).await;
        for f in &failures {
            warn!(
                record = f.index,
                object = %f.object,
                destination = f.destination.as_deref().unwrap_or("-"),
                code = f.code,
                error = %f.message,
                "record failed: its message returns to the queue"
            );
        }
        for _ in &batch.unreadable {
            crate::metrics::failure("none", "none", "UnreadableMessage");
        }
        let failed = batch.failed_ids(failures.iter().map(|f| f.index));
        info!(
            messages = batch.message_ids.len(),
            records = summary.records,
            replicated = summary.replicated,
            failed_messages = failed.len(),
            "SQS batch done"
        );
        let items: Vec<Value> = failed
            .into_iter()
            .map(|id| serde_json::json!({ "itemIdentifier": id }))
            .collect();
        return Ok(serde_json::json!({ "batchItemFailures": items }));
    }
    let items = if events::eventbridge::is_eventbridge(&payload) {
        vec![events::eventbridge::parse_event(0, "", &payload)]
    } else {
        parse_payload(&payload)?
    };
    let summary = finish(run_items(replicator, items, stop_at, give_up).await)?;
    Ok(serde_json::to_value(summary).unwrap_or_default())
}

/// What is kept of an invocation's time to answer and write its metrics out.
pub const FLUSH_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// As [`respond`], ending with the metrics written out. [`respond`] answers [`FLUSH_MARGIN`]
/// before the deadline; should it not (it always should), the invocation fails at half that
/// margin, rather than being ended by Lambda with its metrics lost.
pub async fn respond_and_flush<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
    deadline: Option<SystemTime>,
) -> Result<Value, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    let work = respond(replicator, payload, deadline);
    let backstop = FLUSH_MARGIN / 2;
    let left = deadline.map(|d| {
        d.duration_since(SystemTime::now())
            .unwrap_or_default()
            .saturating_sub(backstop)
    });
    let result = match left {
        Some(left) => tokio::time::timeout(left, work).await.unwrap_or_else(|_| {
            Err(InvocationError::DeadlineReached {
                margin: backstop,
                total: 0,
                failures: Vec::new(),
            })
        }),
        None => work.await,
    };
    crate::metrics::flush();
    result
}

/// Handles one invocation payload of S3 event notifications, with no deadline.
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

/// Handles one invocation payload of S3 event notifications that must be done by `deadline`
/// (the Lambda context's): no S3 call is started within the configured margin of it, so the
/// retry carries on from what S3 holds (a multipart copy of ours resumes where it can be
/// proven ours).
pub async fn handle_until<S, D>(
    replicator: &Replicator<S, D>,
    payload: Value,
    deadline: Option<SystemTime>,
) -> Result<Summary, InvocationError>
where
    S: SourceStore,
    D: DestinationStore,
{
    let stop_at = deadline.map(|deadline| stop_at(deadline, replicator.config().copy.time_margin));
    let give_up = deadline.map(|deadline| stop_at_before(deadline, FLUSH_MARGIN));
    let items = parse_payload(&payload)?;
    finish(run_items(replicator, items, stop_at, give_up).await)
}

/// The summary, or the invocation's failure listing every failed record.
fn finish(
    (summary, mut failures): (Summary, Vec<RecordFailure>),
) -> Result<Summary, InvocationError> {
    if failures.is_empty() {
        return Ok(summary);
    }
    failures.sort_by_key(|f| f.index);
    if failures.iter().any(|f| f.code == DEADLINE_EXCEEDED) {
        return Err(InvocationError::DeadlineReached {
            margin: FLUSH_MARGIN,
            total: summary.records,
            failures,
        });
    }
    Err(InvocationError::RecordsFailed {
        total: summary.records,
        failures,
    })
}

/// Carries out every item, whichever source it came from. The records of one key are applied
/// in `sequencer` order, one after another, and the key is converged once, after the last
/// (whatever its kind): a burst of N writes delivered together becomes N destination versions
/// in the source's order, and the destination ends as the source is. At `give_up` the records
/// still in work are named as not done ([`DEADLINE_EXCEEDED`]), so the answer can be given.
async fn run_items<S, D>(
    replicator: &Replicator<S, D>,
    items: Vec<Intake>,
    stop_at: Option<Instant>,
    give_up: Option<Instant>,
) -> (Summary, Vec<RecordFailure>)
where
    S: SourceStore,
    D: DestinationStore,
{
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
            Intake::Invalid(failure) => {
                crate::metrics::failure("none", "none", failure.code);
                failures.push(failure);
            }
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
    // Owned per key (not borrowed from the map): the invocation's future must be Send for an
    // environment that serves several invocations at once.
    let mut results = stream::iter(by_key.into_values())
        .map(|events| async move {
            // The events of the key done so far, in order: what the key's work leaves when it
            // is cut off at `give_up`. Each event's runs note what landed in its ledger, kept
            // out here, so a cut still counts the replicas written before it.
            let finished = std::sync::Mutex::new(Vec::with_capacity(events.len()));
            let ledgers: Vec<Arc<Ledger>> = events.iter().map(|_| Ledger::shared()).collect();
            let named = events.clone();
            let work = async {
                // A key with one event converges with it. A key with several is applied event
                // by event and converged once, after the last, whatever kind that is: an
                // earlier convergence would write the source's current version before the
                // later events' versions, and some kinds (ACL, tags, a skipped create)
                // converge nothing. The last is done only once converged.
                let single = events.len() == 1;
                let mut last = None;
                let count = events.len();
                for (n, event) in events.into_iter().enumerate() {
                    let run = match single {
                        true => Run::new(stop_at),
                        false => Run::deferring_convergence(stop_at),
                    }
                    .with_ledger(ledgers[n].clone());
                    let outcomes = replicator.replicate_in(&event, &run).await;
                    let done = (event, outcomes);
                    match !single && n + 1 == count {
                        true => last = Some(done),
                        false => finished
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(done),
                    }
                }
                if let Some((last, mut outcomes)) = last {
                    let run = Run::new(stop_at).with_ledger(ledgers[count - 1].clone());
                    outcomes.extend(replicator.converge_key(&last, &run).await);
                    let done = (last, outcomes);
                    finished
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(done);
                }
            };
            match give_up {
                Some(at) => {
                    let _ = tokio::time::timeout_at(at.into(), work).await;
                }
                None => work.await,
            }
            // Every replica that landed is counted here, once, whether the work finished, failed
            // after the write, or was cut: the ledgers noted each as it landed.
            for (event, ledger) in named.iter().zip(&ledgers) {
                crate::metrics::requests(&event.bucket, ledger.requests());
                for replica in ledger.landed() {
                    crate::metrics::landed(event, &replica);
                }
            }
            let finished = finished.into_inner().unwrap_or_else(|e| e.into_inner());
            let cut = finished.len();
            let not_done: Vec<(ObjectEvent, Arc<Ledger>)> = named[cut..]
                .iter()
                .cloned()
                .zip(ledgers[cut..].iter().cloned())
                .collect();
            (finished, not_done)
        })
        // Keys at once (RECORD_CONCURRENCY); the records of one key go one after another.
        .buffer_unordered(replicator.config().record_concurrency.max(1));
    while let Some((done, not_done)) = results.next().await {
        for (event, ledger) in not_done {
            failures.extend(not_done_by_deadline(replicator, &event, &ledger));
        }
        for (event, outcomes) in done {
            for outcome in outcomes {
                crate::metrics::outcome(&event, outcome.destination.as_deref(), &outcome.result);
                match outcome.result {
                    Ok(Done::Replicated(_)) => summary.replicated += 1,
                    Ok(Done::Converged { writes, copies }) => {
                        summary.replicated += copies.len();
                        if writes as usize > copies.len() {
                            summary.synced += 1;
                        }
                    }
                    Ok(Done::Synced { writes }) if writes > 0 => summary.synced += 1,
                    Ok(Done::Synced { .. }) => {
                        // A delete marker, a deleted version, ACL or tags the destination
                        // already had: counted as skipped, so the log says why.
                        log_skipped(&event, outcome.destination.as_deref(), &ALREADY_IN_SYNC);
                        summary.skipped += 1;
                    }
                    Ok(Done::Skipped(reason)) => {
                        log_skipped(&event, outcome.destination.as_deref(), &reason);
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
    (summary, failures)
}

/// A record still in work when the invocation had to answer: named at each destination its
/// rules selected (as far as the work got to know them: a created object's tag filters need its
/// tags) where no replica of it had landed (at all of them, when one had landed at each: the
/// key's convergence was what was cut), in the log and the failure metric; the failures
/// returned name it in the answer.
pub fn not_done_by_deadline<S, D>(
    replicator: &Replicator<S, D>,
    event: &ObjectEvent,
    ledger: &Ledger,
) -> Vec<RecordFailure>
where
    S: SourceStore,
    D: DestinationStore,
{
    let config = replicator.config();
    let selected: Vec<String> = ledger.selected().unwrap_or_else(|| {
        let rules = match event.kind {
            // As the engine selects them.
            crate::events::EventKind::DeleteMarkerCreated => {
                crate::rules::select_for_marker(config, &event.bucket, &event.key)
            }
            _ => crate::rules::select_for_key(config, &event.bucket, &event.key),
        };
        rules
            .iter()
            .map(|r| r.destination.id().to_string())
            .collect()
    });
    let landed = ledger.landed();
    let unreached: Vec<Option<String>> = selected
        .iter()
        .filter(|d| !landed.iter().any(|l| &l.destination == *d))
        .cloned()
        .map(Some)
        .collect();
    let destinations = match (unreached.is_empty(), selected.is_empty()) {
        (false, _) => unreached,
        (true, false) => selected.into_iter().map(Some).collect(),
        (true, true) => vec![None],
    };
    let message = format!(
        "still in work {FLUSH_MARGIN:?} before the invocation's deadline (a call hung past the engine's margin); retried"
    );
    destinations
        .into_iter()
        .map(|destination| {
            let shown = destination.as_deref().unwrap_or("none");
            warn!(
                bucket = %event.bucket,
                key = %event.key,
                version_id = event.version_shown(),
                destination = shown,
                code = DEADLINE_EXCEEDED,
                "not done by the deadline"
            );
            crate::metrics::failure(&event.bucket, shown, DEADLINE_EXCEEDED);
            RecordFailure {
                index: event.index,
                object: event.describe(),
                destination,
                code: DEADLINE_EXCEEDED,
                message: message.clone(),
            }
        })
        .collect()
}

/// The instant `margin` before `deadline` (now, if that has passed).
pub fn stop_at_before(deadline: SystemTime, margin: std::time::Duration) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left.saturating_sub(margin)
}

/// The reason logged for a destination that already was as the source is.
const ALREADY_IN_SYNC: &str = "the destination already is as the source: nothing to write";

/// The one line that says why a record was not replicated to a destination.
fn log_skipped(event: &ObjectEvent, destination: Option<&str>, reason: &dyn std::fmt::Display) {
    info!(
        bucket = %event.bucket,
        key = %event.key,
        version_id = event.version_shown(),
        destination = destination.unwrap_or("-"),
        reason = %reason,
        "skipped"
    );
}

/// The deadline the Runtime API gives (`Lambda-Runtime-Deadline-Ms`): milliseconds since the epoch
/// on Lambda. `cargo lambda watch` 1.9 sends the timeout instead (600000); a value that cannot be
/// a deadline (before 1973) is read as that duration from now, so local runs are not stopped at once.
pub fn deadline_from_runtime(deadline_ms: u64) -> SystemTime {
    const NOT_AN_EPOCH_DEADLINE: u64 = 100_000_000_000;
    let ms = std::time::Duration::from_millis(deadline_ms);
    if deadline_ms < NOT_AN_EPOCH_DEADLINE {
        SystemTime::now() + ms
    } else {
        SystemTime::UNIX_EPOCH + ms
    }
}

/// When to stop starting S3 calls: `margin` before the deadline, but never more than half of the
/// time left, so that a function whose timeout is shorter than twice the margin (the console's
/// default is 3 s, `cargo lambda watch`'s 30 s) still replicates what fits.
pub fn stop_at(deadline: SystemTime, margin: std::time::Duration) -> Instant {
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + (left - margin.min(left / 2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn runtime_deadlines_are_epoch_milliseconds_or_a_local_emulators_timeout() {
        let lambda = deadline_from_runtime(1_795_988_671_422);
        assert_eq!(
            lambda
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
            1_795_988_671_422
        );
        // cargo lambda watch: the 600 s timeout, from now.
        let local = deadline_from_runtime(600_000);
        let left = local.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
    }

    #[test]
    fn the_margin_never_takes_more_than_half_the_time_left() {
        let now = Instant::now();
        let at = |left_secs: u64, margin_secs: u64| {
            let deadline = SystemTime::now() + Duration::from_secs(left_secs);
            stop_at(deadline, Duration::from_secs(margin_secs)).duration_since(now)
        };
        let close = |a: Duration, secs: u64| (a.as_secs_f64() - secs as f64).abs() <= 0.5;
        assert!(close(at(300, 30), 270), "{:?}", at(300, 30));
        assert!(close(at(30, 30), 15), "{:?}", at(30, 30));
        // A deadline already past stops everything.
        let past = stop_at(SystemTime::now(), Duration::from_secs(30));
        assert!(past <= Instant::now());
    }

    /// The function's log lines while `work` runs (JSON, as on Lambda).
    #[cfg(feature = "test-util")]
    async fn logged<T>(work: impl std::future::Future<Output = T>) -> (T, Vec<Value>) {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        // The test runtime is single-threaded: every record is handled on this thread.
        let guard = tracing::subscriber::set_default(subscriber);
        let out = work.await;
        drop(guard);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let logged = text.lines().map(|l| serde_json::from_str(l).unwrap());
        (out, logged.collect())
    }

    #[cfg(feature = "test-util")]
    #[tokio::test]
    async fn a_delete_marker_the_destination_already_has_is_skipped_with_a_logged_reason() {
        use crate::fake::FakeS3;
        let s3 = FakeS3::new();
        s3.create_bucket("src", "us-east-1");
        s3.create_bucket("dst", "eu-west-1");
        let config = crate::Config::from_json(
            r#"{"Rules":[{"ID":"all","Priority":1,"Status":"Enabled","Filter":{},
                "DeleteMarkerReplication":{"Status":"Enabled"},
                "Destination":{"Bucket":"dst","Region":"eu-west-1"}}]}"#,
        )
        .unwrap();
        let replicator = Replicator::new(config, s3.clone(), s3.clone(), "us-east-1");
        // The events/ fixtures, aimed at this bucket's key and versions.
        let record = |fixture: &str, version: &str, sequencer: &str| {
            let mut event: Value = serde_json::from_str(fixture).unwrap();
            let s3 = &mut event["Records"][0]["s3"];
            s3["bucket"]["name"] = "src".into();
            s3["object"]["key"] = "k".into();
            s3["object"]["versionId"] = version.into();
            s3["object"]["sequencer"] = sequencer.into();
            event
        };
        let put = include_str!("../events/object-created-put.json");
        let delete_marker = include_str!("../events/object-removed-delete-marker.json");
        let written = s3.put("src", "k", b"body");
        let created = record(put, &written.version_id.unwrap(), "01");
        assert_eq!(handle(&replicator, created).await.unwrap().replicated, 1);
        let marker = s3.delete("src", "k");
        let removed = record(delete_marker, &marker, "02");
        assert_eq!(
            handle(&replicator, removed.clone()).await.unwrap().synced,
            1
        );

        // Delivered again: nothing to write, and the log says so.
        let (summary, lines) = logged(handle(&replicator, removed)).await;
        assert_eq!(summary.unwrap().skipped, 1);
        let skipped: Vec<_> = lines
            .iter()
            .filter(|l| l["fields"]["message"] == "skipped")
            .collect();
        assert_eq!(skipped.len(), 1, "{lines:?}");
        let fields = &skipped[0]["fields"];
        assert_eq!(fields["key"], "k");
        assert_eq!(fields["version_id"], marker.as_str());
        assert_eq!(fields["reason"], ALREADY_IN_SYNC, "{fields}");
    }
}

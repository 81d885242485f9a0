//! S3 Batch Operations jobs: each task's object is replicated (or verified) through the same
//! engine as events, and gets one result. `Succeeded` says what happened; `TemporaryFailure` is
//! what a retry can fix (throttling, 5xx, the deadline); `PermanentFailure` carries the failure
//! code. The job's completion report is then a replication (or verification) report.

use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use tracing::{info, warn};

use super::compare::{verify_object, Status};
use super::progress::Quiet;
use super::runner::Runner;
use crate::error::{Disposition, ReplicationError, Side};
use crate::events::batch::{BatchJob, BatchTask, Mode, TaskObject};
use crate::events::{EventKind, ObjectEvent};
use crate::replicate::{Decision, Replicator, Settled, SkipReason, Verdict};
use crate::store::{Current, DestinationStore, SourceStore};

/// Tasks worked on at once (S3 sends one per invocation today).
pub const TASK_CONCURRENCY: u16 = 8;

/// The response S3 Batch Operations reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// Echoes the request's.
    pub invocation_schema_version: String,
    /// A task missing from `results` is a permanent failure.
    pub treat_missing_keys_as: ResultCode,
    /// Echoes the request's.
    pub invocation_id: String,
    /// One per task.
    pub results: Vec<TaskResult>,
}

/// One task's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// Echoes the task's.
    pub task_id: String,
    /// The outcome.
    pub result_code: ResultCode,
    /// What happened, in the job's completion report.
    pub result_string: String,
}

/// Batch Operations' result codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ResultCode {
    /// Done (replicated, in sync, skipped with its reason; or a verification's verdict).
    Succeeded,
    /// A retry can succeed: S3 retries the task.
    TemporaryFailure,
    /// It will fail again until someone changes something.
    PermanentFailure,
}

/// Runs every task of a job; no call is started at or after `stop_at`, and a task still in work
/// at `give_up` is answered as a temporary failure (`DeadlineExceeded`), so the job's answer is
/// given in time and S3 retries only that task.
pub async fn run_job<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    job: BatchJob,
    stop_at: Option<Instant>,
    give_up: Option<Instant>,
) -> BatchResponse {
    // Owned tasks (not borrowed from the job): the invocation's future must be Send for an
    // environment that serves several invocations at once.
    let mut job = job;
    let tasks = std::mem::take(&mut job.tasks);
    let the_job = &job;
    // On the tools' runner, as the command-line tools are, but driven by Lambda: concurrency
    // is per invocation (S3 fans the job out over invocations), no one watches a progress bar,
    // and there is no Ctrl-C: the invocation's deadline (`stop_at`, `give_up`) is what stops a
    // task, and every task gets its result.
    let never = AtomicBool::new(false);
    let runner = Runner {
        concurrency: TASK_CONCURRENCY,
        progress: &Quiet,
        stop: &never,
    };
    let ran = runner
        .run(
            tasks.into_iter().enumerate().collect(),
            |_| 0,
            |(i, task)| async move {
                // Whether the task's failures were counted at their destinations already.
                let mut counted = false;
                let (result_code, result_string) = match (&the_job.mode, &task.object) {
                    (Err(message), _) => (ResultCode::PermanentFailure, message.clone()),
                    (_, Err(message)) => (
                        ResultCode::PermanentFailure,
                        format!("InvalidTask: {message}"),
                    ),
                    (Ok(mode), Ok(object)) => {
                        // What lands is noted as it goes: a cut still counts it.
                        let ledger = crate::run::Ledger::shared();
                        let from = (the_job.from.as_deref(), the_job.read_at);
                        let work = one(
                            replicator,
                            *mode,
                            from,
                            object,
                            stop_at,
                            &ledger,
                            &mut counted,
                        );
                        let in_time = match give_up {
                            Some(at) => tokio::time::timeout_at(at.into(), work).await.ok(),
                            None => Some(work.await),
                        };
                        let answer = match in_time {
                            Some(result) => result,
                            None if *mode == Mode::Restore => {
                                counted = true;
                                restore_not_done(object)
                            }
                            None => {
                                counted = true;
                                not_done(replicator, object, &ledger)
                            }
                        };
                        // Each replica that landed, counted once, finished or cut.
                        let event = task_event(object, ledger.version(), None);
                        for replica in ledger.landed() {
                            crate::metrics::landed(&event, &replica);
                        }
                        answer
                    }
                };
                log(the_job, &task, result_code, &result_string);
                let bucket = task.object.as_ref().map_or("none", |o| o.bucket.as_str());
                crate::metrics::batch_task(bucket, &format!("{result_code:?}"));
                // A replicate task that failed before reaching a destination (or a task that
                // could not be read) is a failed replication; a verify or restore task's
                // finding is not (it is the job's report, and counting it would trip the
                // failed-replication alarm on every verify job that finds damage).
                let replicating = !matches!(the_job.mode, Ok(Mode::Verify | Mode::Restore));
                if result_code != ResultCode::Succeeded && !counted && replicating {
                    crate::metrics::failure(bucket, "none", &format!("Batch{result_code:?}"));
                }
                let result = TaskResult {
                    task_id: task.task_id.clone(),
                    result_code,
                    result_string,
                };
                ((i, result), 0)
            },
        )
        .await;
    // In the tasks' order, as they came.
    let mut results = ran.outcomes;
    results.sort_by_key(|(i, _)| *i);
    let results = results.into_iter().map(|(_, r)| r).collect();
    BatchResponse {
        invocation_schema_version: job.schema,
        treat_missing_keys_as: ResultCode::PermanentFailure,
        invocation_id: job.invocation_id,
        results,
    }
}

fn log(job: &BatchJob, task: &BatchTask, code: ResultCode, result: &str) {
    let (bucket, key) = match &task.object {
        Ok(o) => (o.bucket.as_str(), o.key.as_str()),
        Err(_) => ("-", "-"),
    };
    match code {
        ResultCode::Succeeded => info!(job = %job.job_id, task = %task.task_id, bucket, key,
                                       result, "batch task"),
        _ => warn!(job = %job.job_id, task = %task.task_id, bucket, key, code = ?code,
                   result, "batch task failed"),
    }
}

/// A task still in work when the invocation had to answer: a temporary failure, named in the
/// log and the failure metric at each destination as an event's record is (by the version it
/// read, once it read one); the replicas it wrote before the cut are counted.
fn not_done<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    object: &TaskObject,
    ledger: &crate::run::Ledger,
) -> (ResultCode, String) {
    let version = ledger.version().or_else(|| object.version_id.clone());
    let event = task_event(object, version, None);
    // The source's HEAD, once it was read, and the run's requests.
    let head = u32::from(ledger.version().is_some());
    crate::metrics::requests(&event.bucket, head + ledger.requests());
    let failures = crate::handler::not_done_by_deadline(replicator, &event, ledger);
    // The completion report names the version as the log does.
    let version = event.version_shown().to_owned();
    let text = failures
        .iter()
        .map(|f| match &f.destination {
            Some(d) => format!("{d}: {}: {}", f.code, f.message),
            None => format!("{}: {}", f.code, f.message),
        })
        .collect::<Vec<_>>()
        .join("; ");
    (
        ResultCode::TemporaryFailure,
        format!("version {version}: {text}"),
    )
}

/// A restore task still in work when the invocation had to answer: a temporary failure (S3
/// retries it), named in the log by its bucket, key and version. It is no failed replication:
/// a restore writes into the bucket its manifest names, never to a replication destination.
fn restore_not_done(object: &TaskObject) -> (ResultCode, String) {
    let version = object.version_id.as_deref().unwrap_or("current");
    warn!(bucket = %object.bucket, key = %object.key, version_id = version,
          code = crate::error::DEADLINE_EXCEEDED, "restore task not done by the deadline");
    (
        ResultCode::TemporaryFailure,
        format!(
            "{}: version {version}: the restore was still in work at the invocation's deadline; retried",
            crate::error::DEADLINE_EXCEEDED
        ),
    )
}

/// The event a task's object stands for (no event time: a task is no event).
fn task_event(object: &TaskObject, version_id: Option<String>, size: Option<u64>) -> ObjectEvent {
    ObjectEvent {
        kind: EventKind::Created,
        index: 0,
        event_name: crate::events::BATCH_TASK_EVENT.to_owned(),
        region: None,
        bucket: object.bucket.clone(),
        key: object.key.clone(),
        version_id,
        null_version: false,
        etag: None,
        sequencer: None,
        event_time: None,
        size,
    }
}

/// One task: what the source holds now decides; only its current version is acted on.
/// `counted` says whether its outcomes were counted in the metrics (replicate mode).
async fn one<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    mode: Mode,
    (from, read_at): (Option<&str>, Option<i64>),
    object: &TaskObject,
    stop_at: Option<Instant>,
    ledger: &std::sync::Arc<crate::run::Ledger>,
    counted: &mut bool,
) -> (ResultCode, String) {
    if let Some(refused) = not_allowed(replicator, mode, &object.bucket, from) {
        return failed(&refused);
    }
    if stop_at.is_some_and(|stop| Instant::now() >= stop) {
        return failed(&ReplicationError::DeadlineReached);
    }
    if mode == Mode::Restore {
        return restore(replicator, object, (from, read_at), stop_at).await;
    }
    let region = replicator.default_region();
    // The HEAD below, counted with the run's requests; the version it reads is the one a task
    // cut at the deadline names.
    let read_head = 1;
    let state = replicator
        .source()
        .current(region, &object.bucket, &object.key)
        .await;
    if let Ok(Current::Object(head)) = &state {
        ledger.read_version(head.version_id.as_deref().unwrap_or("null"));
    }
    // A destination that cannot be listed (its bucket gone) fails the task with its code, as
    // the command line names it: a HEAD there answers a missing bucket as a missing key.
    let gone = replicator
        .unavailable_destinations(&object.bucket, &object.key)
        .await;
    if !gone.is_empty() {
        return combine(gone.into_iter().map(|(d, e)| (Some(d), Err(e))));
    }
    let head = match state {
        Ok(Current::Object(head)) => head,
        // Deleted in the source: verify judges each destination as `verify` does (a replica
        // still served where the rule replicates the delete is damage).
        Ok(current @ Current::DeleteMarker(..)) if mode == Mode::Verify => {
            return verify_deleted(replicator, region, object, &current).await
        }
        // Replicate: the key is brought in line with its delete as convergence would (a stale
        // replica hidden, or the source's newest object version sent where delete markers are
        // not replicated), as `repair` does and the verify task reports.
        Ok(Current::DeleteMarker(..)) if mode == Mode::Replicate => {
            return replicate_deleted(replicator, object, stop_at, ledger, counted).await
        }
        Ok(_) => {
            return (
                ResultCode::Succeeded,
                "skipped: the key has no current object in the source (deleted since the manifest was made)".to_owned(),
            )
        }
        Err(f) => return failed(&ReplicationError::classify(Side::Source, f)),
    };
    let current = head.version_id.as_deref().unwrap_or("null");
    if let Some(named) = object.version_id.as_deref() {
        if named != current {
            // Tasks run in no order: copying history here would scramble the destination's.
            return (
                ResultCode::Succeeded,
                format!(
                    "skipped: version {named} is not the current one ({current}); history is copied in order by `s3-replicator backfill --all-versions`"
                ),
            );
        }
    }
    match mode {
        Mode::Verify => {
            let checks =
                verify_object(replicator, region, &object.bucket, &head, &object.key).await;
            if checks.is_empty() {
                return skipped(&SkipReason::NoMatchingRule);
            }
            // Damage fails the task, so a FailedTasksOnly completion report is the damage list.
            let damaged = checks
                .iter()
                .any(|(_, r)| matches!(r, Ok((Status::Missing | Status::Differs, _))));
            let (code, result) = combine(checks.into_iter().map(|(destination, result)| {
                let result = result.map(|(status, detail)| match status {
                    Status::Differs => format!("differs: {detail}"),
                    Status::Skipped => format!("skipped: {detail}"),
                    other => other.to_string(),
                });
                (destination, result)
            }));
            match code {
                ResultCode::Succeeded if damaged => (ResultCode::PermanentFailure, result),
                code => (code, result),
            }
        }
        Mode::Restore => unreachable!("restore tasks are answered above"),
        Mode::Replicate => {
            let mut event = task_event(object, head.version_id.clone(), Some(head.size));
            event.etag = Some(head.etag.trim_matches('"').to_owned());
            // What a verify task would call damage (bytes, the storage class a rule now asks
            // for, metadata) is written again, as `repair` and `backfill` do: a replicate job
            // then leaves nothing its verify job reports. Later writes still stand.
            let differs: Vec<String> =
                verify_object(replicator, region, &object.bucket, &head, &object.key)
                    .await
                    .into_iter()
                    .filter_map(|(destination, check)| match check {
                        Ok((Status::Differs, _)) => destination,
                        _ => None,
                    })
                    .collect();
            let run = match differs.is_empty() {
                true => crate::run::Run::new(stop_at),
                false => crate::run::Run::rewriting(stop_at, differs),
            }
            .for_tool()
            .with_ledger(ledger.clone());
            let outcomes = replicator.replicate_in(&event, &run).await;
            count(&event, &outcomes, read_head + run.requests(), counted);
            answer(outcomes)
        }
    }
}

/// Whoever writes a manifest chooses its buckets, as an event's sender does: every mode acts
/// only on the deployment's own sources (`SOURCE_BUCKETS`, checked before any call); a restore
/// writes only into the manifest's bucket, and may read bytes from a replica (`From`: a
/// configured destination on the function's endpoint, or another of its sources).
fn not_allowed<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    mode: Mode,
    bucket: &str,
    from: Option<&str>,
) -> Option<ReplicationError> {
    let config = replicator.config();
    if !config.allows_source(bucket) {
        return Some(ReplicationError::SourceBucketNotAllowed(bucket.to_owned()));
    }
    let from = from.filter(|_| mode == Mode::Restore)?;
    let a_replica = config
        .rules
        .iter()
        .any(|r| r.destination.endpoint.is_none() && r.destination.bucket == from);
    (!config.allows_source(from) && !a_replica)
        .then(|| ReplicationError::SourceBucketNotAllowed(from.to_owned()))
}

/// A restore task: the version it names copied back as its key's current one.
async fn restore<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    object: &TaskObject,
    (from, read_at): (Option<&str>, Option<i64>),
    stop_at: Option<Instant>,
) -> (ResultCode, String) {
    use super::restore::TaskOutcome;
    let Some(read_at) = read_at else {
        return (
            ResultCode::PermanentFailure,
            "InvalidUserArguments: a restore job says when its plan read the bucket (\"ReadAt\", as restore --manifest-out prints it): without it a task cannot tell a write made after the plan, which it must never replace".to_owned(),
        );
    };
    let Some(version) = object.version_id.as_deref() else {
        return (
            ResultCode::PermanentFailure,
            "InvalidTask: a restore task names the version to bring back (the manifest's third column, as restore --manifest-out writes it)".to_owned(),
        );
    };
    let run = crate::run::Run::new(stop_at).for_tool();
    let task = super::restore::restore_task(
        replicator,
        &object.bucket,
        &object.key,
        version,
        (from, read_at),
        &run,
    );
    // The same words as the command line's report.
    match task.await {
        Ok(TaskOutcome::Restored) => (ResultCode::Succeeded, "restored".to_owned()),
        Ok(TaskOutcome::AlreadyAsOf) => (ResultCode::Succeeded, "already as of T".to_owned()),
        Ok(TaskOutcome::Newer) => (
            ResultCode::Succeeded,
            "newer: written since the plan or the task read it; left as it is".to_owned(),
        ),
        Ok(TaskOutcome::Skipped(why)) => (ResultCode::Succeeded, format!("skipped: {why}")),
        Ok(TaskOutcome::Refused(why)) => (ResultCode::PermanentFailure, why),
        Err(e) => failed(&e),
    }
}

/// A verify task for a key whose source's current version is a delete marker: at each
/// destination a rule for the key names, what the engine's convergence would do there now.
/// Where it would write (hide the replica, or put the source's newest object version back), the
/// replica is stale: damage, so the task fails and a FailedTasksOnly report lists it.
async fn verify_deleted<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    region: &str,
    object: &TaskObject,
    current: &Current,
) -> (ResultCode, String) {
    let rules = crate::rules::select_for_key(replicator.config(), &object.bucket, &object.key);
    if rules.is_empty() {
        return skipped(&SkipReason::NoMatchingRule);
    }
    let mut damaged = false;
    let mut checks = Vec::new();
    for rule in rules {
        let judged = replicator
            .judge(rule, region, &object.bucket, &object.key, current)
            .await;
        // Delete markers not replicated here: the destination lacks the source's newest object
        // version. Over an object of its own it is `stale`, where it holds none `missing`, as
        // `verify` says.
        let holds = match &judged {
            Ok(Decision::Copy { .. }) => holds_object(replicator, rule, &object.key).await,
            _ => Ok(false),
        };
        let judged = judged.and_then(|d| holds.map(|holds| (d, holds))).map(
            |(decision, holds)| match decision {
                Decision::Hide(read) => {
                    damaged = true;
                    // Nothing there to hide (`None`): the marker itself is missing.
                    let status = if read.is_some() { "stale" } else { "missing" };
                    format!("{status}: deleted in the source")
                }
                Decision::Copy { head, .. } => {
                    damaged = true;
                    format!(
                        "{}: deleted in the source, whose newest object version {} is not the destination's",
                        if holds { "stale" } else { "missing" },
                        head.version_id.as_deref().unwrap_or("null")
                    )
                }
                Decision::Settled(Settled::InSync) => Status::Same.to_string(),
                Decision::Settled(Settled::Later) => Status::NewerAtDestination.to_string(),
                Decision::Settled(Settled::Skipped(reason)) => format!("skipped: {reason}"),
            },
        );
        checks.push((Some(rule.destination.id().to_string()), judged));
    }
    match combine(checks.into_iter()) {
        (ResultCode::Succeeded, result) if damaged => (ResultCode::PermanentFailure, result),
        other => other,
    }
}

/// A replicate task for a key whose source's current version is a delete marker: convergence
/// at each destination; "in sync" where it writes nothing.
async fn replicate_deleted<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    object: &TaskObject,
    stop_at: Option<Instant>,
    ledger: &std::sync::Arc<crate::run::Ledger>,
    counted: &mut bool,
) -> (ResultCode, String) {
    let event = task_event(object, None, None);
    let run = crate::run::Run::new(stop_at)
        .for_tool()
        .with_ledger(ledger.clone());
    let outcomes = replicator.converge_key(&event, &run).await;
    count(&event, &outcomes, 1 + run.requests(), counted);
    if outcomes.is_empty() {
        return (ResultCode::Succeeded, "in sync".to_owned());
    }
    answer(outcomes)
}

/// A replicate task's requests and outcomes, counted as every outcome is (its replicas are
/// counted from its ledger, whatever wrote them).
fn count(
    event: &ObjectEvent,
    outcomes: &[crate::replicate::DestinationOutcome],
    requests: u32,
    counted: &mut bool,
) {
    crate::metrics::requests(&event.bucket, requests);
    for o in outcomes {
        crate::metrics::outcome(event, o.destination.as_deref(), &o.result);
    }
    *counted = true;
}

/// A replicate task's answer: each destination's verdict, the worst code first.
fn answer(outcomes: Vec<crate::replicate::DestinationOutcome>) -> (ResultCode, String) {
    combine(outcomes.into_iter().map(|o| {
        let result = o.result.map(|done| match done.verdict() {
            Verdict::Replicated => "replicated".to_owned(),
            Verdict::InSync => "in sync".to_owned(),
            Verdict::Skipped(reason) => format!("skipped: {reason}"),
        });
        (o.destination, result)
    }))
}

/// Whether the destination of `rule` holds an object under `key` now.
async fn holds_object<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    rule: &crate::config::Rule,
    key: &str,
) -> Result<bool, ReplicationError> {
    let at = replicator.locate(rule, key).await?;
    let current = replicator
        .destination()
        .replica_current(&at)
        .await
        .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    Ok(matches!(current, Current::Object(_)))
}

fn skipped(reason: &SkipReason) -> (ResultCode, String) {
    (ResultCode::Succeeded, format!("skipped: {reason}"))
}

fn failed(e: &ReplicationError) -> (ResultCode, String) {
    let code = match e.disposition() {
        Disposition::Retry => ResultCode::TemporaryFailure,
        _ => ResultCode::PermanentFailure,
    };
    (code, format!("{}: {e}", e.code()))
}

/// One result from each destination's: the worst code wins (a permanent failure over a
/// temporary one over success), and with several destinations each is named.
fn combine(
    outcomes: impl Iterator<Item = (Option<String>, Result<String, ReplicationError>)>,
) -> (ResultCode, String) {
    let parts: Vec<(Option<String>, ResultCode, String)> = outcomes
        .map(|(destination, result)| match result {
            Ok(text) => (destination, ResultCode::Succeeded, text),
            Err(e) => {
                let (code, text) = failed(&e);
                (destination, code, text)
            }
        })
        .collect();
    let rank = |c: &ResultCode| match c {
        ResultCode::Succeeded => 0,
        ResultCode::TemporaryFailure => 1,
        ResultCode::PermanentFailure => 2,
    };
    let code = parts
        .iter()
        .map(|p| p.1)
        .max_by_key(rank)
        .unwrap_or(ResultCode::Succeeded);
    let text = match parts.as_slice() {
        [(_, _, text)] => text.clone(),
        _ => parts
            .iter()
            .map(|(d, _, text)| match d {
                Some(d) => format!("{d}: {text}"),
                None => text.clone(),
            })
            .collect::<Vec<_>>()
            .join("; "),
    };
    (code, text)
}

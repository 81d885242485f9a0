//! Keys through the replication engine, for backfill and repair: one key's decision (its history
//! oldest first, then what is current, as its event would go; written anew where a check found
//! it damaged), and how the outcomes of a run count.

use std::collections::BTreeMap;
use std::fmt;
use std::process::ExitCode;

use super::runner::{self, Runner};
use crate::error::{ReplicationError, Side};
use crate::events::{EventKind, ObjectEvent};
use crate::replicate::{DestinationOutcome, Done, Replicator, SkipReason, Verdict};
use crate::run::Run;
use crate::store::{Current, DestinationStore, SourceStore};

/// What a backfill did, printed as its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Replicas written.
    pub replicated: usize,
    /// Destinations whose current version (or history) already held the replica.
    pub in_sync: usize,
    /// Keys or destinations deliberately not replicated (no rule, archived, ...).
    pub skipped: usize,
    /// Failures (each printed with its code).
    pub failed: usize,
    /// Keys not started because the run was interrupted.
    pub not_started: usize,
    /// Destinations left because they could not be listed (each failure is listed once, with
    /// an empty key).
    pub unavailable: usize,
}

impl Tally {
    /// Counts one outcome.
    pub fn add(&mut self, result: &Result<Done, ReplicationError>) {
        match result.as_ref().map(Done::verdict) {
            Ok(Verdict::Replicated) => self.replicated += 1,
            Ok(Verdict::InSync) => self.in_sync += 1,
            Ok(Verdict::Skipped(_)) => self.skipped += 1,
            Err(_) => self.failed += 1,
        }
    }
}

impl Tally {
    /// The closing line of `verb` (`backfill`, `repair`); what an interruption left is the
    /// runner's line above it.
    pub fn summary(&self, verb: &str) -> String {
        let unavailable = match self.unavailable {
            0 => String::new(),
            1 => ", 1 destination unavailable".to_owned(),
            n => format!(", {n} destinations unavailable"),
        };
        format!(
            "{verb}: {} replicated, {} already in sync, {} skipped, {} failed{unavailable}",
            self.replicated, self.in_sync, self.skipped, self.failed
        )
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary("backfill"))
    }
}

/// One failure: the key, the destination if specific to one, and the error. An empty key is a
/// destination that could not be listed, and was left.
pub type Failure = (String, Option<String>, ReplicationError);

/// A key to replicate: its object versions (oldest first, `all_versions` only) and size.
pub(super) struct Work {
    pub(super) key: String,
    pub(super) history: Vec<String>,
    pub(super) bytes: u64,
    /// Destinations a check found missing or damaged (repair only).
    pub(super) rewrite: Vec<String>,
    /// Destinations left for this key (backfill: a key deleted in the source is acted on only
    /// where its check found work, as its dry run counts it).
    pub(super) leave: Vec<String>,
    /// The source's current version as its listing of versions showed it (id, ETag): the
    /// engine then reads whether it is still current beside its ACL, not before.
    pub(super) listed: Option<(String, String)>,
    /// Only the current version's tags or ACL differ (repair): they are synced onto its
    /// replicas as a tag or ACL change's event would, the version `String` being the one the
    /// check read; nothing is copied again (one replica a version).
    pub(super) metadata: Vec<(EventKind, Option<String>)>,
}

/// Runs each key's work through the engine on `runner`: the counts (one per key and
/// destination) and every failure.
pub(super) async fn replicate_keys<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    region: &str,
    work: Vec<Work>,
    runner: &Runner<'_>,
    unavailable: Vec<(String, ReplicationError)>,
) -> (Tally, Vec<Failure>) {
    let leaving: Vec<String> = unavailable.iter().map(|(d, _)| d.clone()).collect();
    let leaving = &leaving;
    let ran = runner
        .run(
            work,
            |work| work.bytes,
            |work| async move {
                let outcomes = key(replicator, bucket, region, &work, leaving).await;
                let bytes = work.bytes;
                ((work, outcomes), bytes)
            },
        )
        .await;
    let mut tally = Tally {
        unavailable: unavailable.len(),
        ..Tally::default()
    };
    let mut failures: Vec<Failure> = unavailable
        .into_iter()
        .map(|(destination, e)| (String::new(), Some(destination), e))
        .collect();
    for (work, outcomes) in ran.outcomes {
        // One key at one destination counts once, by what matters most of what happened there
        // (a failure, else a write, else in sync, else a skip); every failure is still listed.
        let mut per_destination: BTreeMap<Option<String>, &Result<Done, ReplicationError>> =
            BTreeMap::new();
        for outcome in &outcomes {
            let slot = per_destination
                .entry(outcome.destination.clone())
                .or_insert(&outcome.result);
            if weight(&outcome.result) > weight(slot) {
                *slot = &outcome.result;
            }
        }
        for result in per_destination.values() {
            tally.add(result);
        }
        for outcome in outcomes {
            if let Err(e) = outcome.result {
                failures.push((work.key.clone(), outcome.destination, e));
            }
        }
    }
    tally.not_started = ran.not_started;
    (tally, failures)
}

/// Prints a backfill's or repair's failures and closing line; the exit status.
pub fn closing(verb: &str, done: Result<(Tally, Vec<Failure>), ReplicationError>) -> ExitCode {
    match done {
        Ok((tally, failures)) => {
            let rows: Vec<Vec<String>> = failures
                .iter()
                .map(|(key, destination, e)| {
                    let to = format!("-> {}", destination.as_deref().unwrap_or("-"));
                    let (what, key) = match key.is_empty() {
                        true => ("unavailable", "-"),
                        false => ("failed", key.as_str()),
                    };
                    vec![
                        what.to_owned(),
                        key.to_owned(),
                        to,
                        format!("{}: {e}", e.code()),
                    ]
                })
                .collect();
            for line in runner::columns(&rows) {
                println!("{line}");
            }
            runner::close(
                &tally.summary(verb),
                tally.not_started,
                tally.failed + tally.unavailable,
            )
        }
        Err(e) => runner::cannot_run(verb, &e),
    }
}

/// How much an outcome says about a key at one destination: a failure most, then a write.
fn weight(result: &Result<Done, ReplicationError>) -> u8 {
    match result.as_ref().map(Done::verdict) {
        Err(_) => 3,
        Ok(Verdict::Replicated) => 2,
        Ok(Verdict::InSync) => 1,
        Ok(Verdict::Skipped(_)) => 0,
    }
}

/// One key: its history oldest first (history mode: copied only where missing, no
/// convergence), then what is current now through the engine as its event would go.
pub(super) async fn key<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    region: &str,
    work: &Work,
    leaving: &[String],
) -> Vec<DestinationOutcome> {
    let leaving: Vec<String> = leaving.iter().chain(&work.leave).cloned().collect();
    let leaving = leaving.as_slice();
    let event = |kind, version_id: Option<String>, etag: Option<String>| ObjectEvent {
        kind,
        index: 0,
        event_name: "Backfill".to_owned(),
        region: Some(region.to_owned()),
        bucket: bucket.to_owned(),
        key: work.key.clone(),
        version_id,
        null_version: false,
        etag,
        sequencer: None,
        event_time: None,
        size: None,
    };
    if !work.metadata.is_empty() {
        let run = Run::new(None).for_tool().leaving(leaving.to_vec());
        let mut outcomes = Vec::new();
        for (kind, version) in &work.metadata {
            // The `null` version (an unversioned source's, or one written before versioning)
            // is named as such, as its change's event names it.
            let mut change = event(*kind, version.clone().filter(|v| v != "null"), None);
            change.null_version = version.as_deref().is_none_or(|v| v == "null");
            outcomes.extend(replicator.replicate_in(&change, &run).await);
        }
        return outcomes;
    }
    let run = || {
        match work.rewrite.is_empty() {
            true => Run::new(None).for_tool(),
            false => Run::rewriting(None, work.rewrite.clone()).for_tool(),
        }
        .leaving(leaving.to_vec())
    };
    // Listed as current: the engine reads whether it still is beside the rest. A version
    // deleted since the listing leaves the key to be read as below.
    if let Some((version, etag)) = &work.listed {
        let listed = event(
            EventKind::Created,
            Some(version.clone()),
            Some(etag.clone()),
        );
        let outcomes = replicator.replicate_in(&listed, &run()).await;
        let gone = outcomes
            .iter()
            .any(|o| matches!(o.result, Ok(Done::Skipped(SkipReason::VersionGone))));
        if !gone {
            return outcomes;
        }
    }
    // The listing may be stale: what is current is read now.
    let current = match replicator.source().current(region, bucket, &work.key).await {
        Ok(current) => current,
        Err(f) => {
            return vec![DestinationOutcome {
                destination: None,
                result: Err(ReplicationError::classify(Side::Source, f)),
            }]
        }
    };
    let current_id = current.version_id().unwrap_or("null").to_owned();
    let mut outcomes = Vec::new();
    let history = Run::history(None, matches!(current, Current::DeleteMarker(..)))
        .for_tool()
        .leaving(leaving.to_vec());
    for version in work.history.iter().filter(|v| **v != current_id) {
        let done = replicator
            .replicate_in(
                &event(EventKind::Created, Some(version.clone()), None),
                &history,
            )
            .await;
        // Later versions must not land before an earlier one that failed.
        let failed = done.iter().any(|o| o.result.is_err());
        outcomes.extend(done);
        if failed {
            return outcomes;
        }
    }
    let run = run();
    let last = match current {
        Current::Object(head) => event(
            EventKind::Created,
            head.version_id.clone(),
            Some(head.etag.trim_matches('"').to_owned()),
        ),
        // Replicated where the rules replicate delete markers; a named skip elsewhere.
        Current::DeleteMarker(..) if !work.history.is_empty() => {
            event(EventKind::DeleteMarkerCreated, None, None)
        }
        // A key deleted in the source (its replica stale, or its newest object version never
        // sent): as the engine would leave it, a delete marker where the rule replicates them,
        // else the newest object version.
        Current::DeleteMarker(..) => {
            // Only rules whose destinations this run acts on. A delete marker has no tags:
            // only rules without tag filters replicate it; every other destination a rule for
            // the key names follows the newest object version, judged by its own tags.
            let acted_on =
                |r: &&crate::config::Rule| !leaving.contains(&r.destination.id().to_string());
            let config = replicator.config();
            let markers: Vec<_> = crate::rules::select(config, bucket, &work.key, &[])
                .into_iter()
                .filter(|r| acted_on(r) && r.delete_marker_replication)
                .collect();
            let any: Vec<_> = crate::rules::select_for_key(config, bucket, &work.key)
                .into_iter()
                .filter(acted_on)
                .collect();
            let mut last = Vec::new();
            if !markers.is_empty() {
                last.push(event(EventKind::DeleteMarkerCreated, None, None));
            }
            let follows_newest = any.iter().any(|r| {
                !markers
                    .iter()
                    .any(|m| m.destination.id() == r.destination.id())
            });
            if follows_newest {
                match replicator
                    .source()
                    .newest_object_version(region, bucket, &work.key)
                    .await
                {
                    Ok(Some(newest)) => last.push(event(EventKind::Created, Some(newest), None)),
                    Ok(None) => {}
                    Err(f) => {
                        outcomes.push(DestinationOutcome {
                            destination: None,
                            result: Err(ReplicationError::classify(Side::Source, f)),
                        });
                        return outcomes;
                    }
                }
            }
            for e in &last {
                outcomes.extend(replicator.replicate_in(e, &run).await);
            }
            return outcomes;
        }
        // Deleted for good since the listing: nothing to replicate.
        Current::Absent => return outcomes,
    };
    outcomes.extend(replicator.replicate_in(&last, &run).await);
    outcomes
}

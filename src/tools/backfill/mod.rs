//! Existing objects under replication: every source object the rules select goes through the
//! same engine as an event for it would (tags, ACL, lock, checksums, multipart and all), so a
//! replica already in sync copies nothing. With `all_versions`, each key's history is copied
//! oldest first before its current version, so a destination that held none of the key keeps
//! the source's order.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use super::compare::{self, Finding, Status};
use super::engine::{closing, replicate_keys, Work};
use super::progress::{Bar, Progress, Quiet};
use super::runner::{self, Runner};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

pub use super::engine::{Failure, Tally};
pub use dry_run::{dry_run, plan, Plan};

mod dry_run;
mod spare;

/// Keys replicated at once, unless the caller says otherwise.
pub const CONCURRENCY: u16 = 8;

/// What to backfill.
#[derive(Debug, Clone)]
pub struct Options {
    /// The source bucket.
    pub bucket: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// Every version of each key, oldest first, not only the current one.
    pub all_versions: bool,
    /// Keys worked on at once.
    pub concurrency: u16,
}

/// Replicates every object under the prefix. Keys not yet started when `stop` is set are left
/// (and counted); keys in hand finish.
pub async fn backfill<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Failure>), ReplicationError> {
    let region = replicator.bucket_region(&options.bucket).await?;
    let source = replicator.source();
    let src_err = |f| ReplicationError::classify(Side::Source, f);
    let work: Vec<Work> = if options.all_versions {
        let mut by_key: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
        for v in source
            .list_versions(&region, &options.bucket, &options.prefix)
            .await
            .map_err(src_err)?
        {
            let (history, bytes) = by_key.entry(v.key).or_default();
            history.push(v.version_id);
            *bytes += v.size;
        }
        by_key
            .into_iter()
            .map(|(key, (history, bytes))| Work {
                key,
                history,
                bytes,
                rewrite: Vec::new(),
                leave: Vec::new(),
                listed: None,
                metadata: Vec::new(),
            })
            .collect()
    } else {
        return at_listing_speed(replicator, options, &region, progress, stop).await;
    };
    let unavailable = unavailable_destinations(replicator, &options.bucket, &work).await;
    let runner = Runner {
        concurrency: options.concurrency,
        progress,
        stop,
    };
    Ok(replicate_keys(
        replicator,
        &options.bucket,
        &region,
        work,
        &runner,
        unavailable,
    )
    .await)
}

/// The destinations that cannot be listed (refused, the bucket gone), each found once by one
/// listing of the first key it receives: `--all-versions` lists no destination up front, yet a
/// gone one is reported once and left, as the listing check reports it, not failed per key.
async fn unavailable_destinations<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    work: &[Work],
) -> Vec<(String, ReplicationError)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut unavailable = Vec::new();
    for w in work {
        let rules = crate::rules::select_for_key(replicator.config(), bucket, &w.key);
        if rules
            .iter()
            .all(|r| seen.contains(&r.destination.id().to_string()))
        {
            continue;
        }
        seen.extend(rules.iter().map(|r| r.destination.id().to_string()));
        for (destination, e) in replicator.unavailable_destinations(bucket, &w.key).await {
            if !unavailable.iter().any(|(d, _)| *d == destination) {
                unavailable.push((destination, e));
            }
        }
    }
    unavailable
}

/// Current versions: both sides' listings are merged first (verify's check), and only the keys
/// they do not prove in sync at every destination go through the engine. A replica the
/// listings prove (its source's size, ETag and storage class) costs no request of its own.
async fn at_listing_speed<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Failure>), ReplicationError> {
    let check = compare::Options {
        bucket: options.bucket.clone(),
        prefix: options.prefix.clone(),
        deep: false,
        explain_missing: false,
    };
    // The listing comparison costs no request per key in sync: verify's pace, the same stop.
    let runner = Runner {
        concurrency: compare::CONCURRENCY,
        progress: &Quiet,
        stop,
    };
    let checked = compare::check(replicator, &check, &runner).await?;
    let findings = checked.findings;
    let history = checked.history;
    // A destination that could not be listed is reported once and left; the others are
    // backfilled all the same.
    let unavailable = checked.unavailable;
    let learn = async {
        if findings.iter().any(for_the_engine) {
            replicator.learn_source(region, &options.bucket).await;
        }
        Ok(())
    };
    let ((listed, _), ()) = futures::try_join!(
        spare::current_versions(replicator, options, region, &findings, history),
        learn,
    )?;
    let mut by_key: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in &findings {
        by_key.entry(&f.key).or_default().push(f);
    }
    let mut settled = Tally::default();
    let mut work = Vec::new();
    for (key, found) in by_key {
        // Missing, differing, or not readable somewhere: the engine decides at every
        // destination, as an event for the key would.
        if found.iter().any(|f| for_the_engine(f)) {
            // A replica that differs (its bytes, or the storage class a rule now asks for) and
            // is no later write is written again, as `repair` does and the dry run says; later
            // writes still stand (the engine's rewrite keeps every guard but "already there").
            let rewrite = found
                .iter()
                .filter(|f| f.status == Status::Differs)
                .map(|f| f.destination.clone())
                .collect();
            // The engine acts only where the check did not prove the key in sync: a destination
            // it proved (the source's current bytes there, a later write, a deliberate skip) is
            // left and counted as such, as the dry run counts it, whether or not another
            // destination of the key needs the engine. So a key deleted in the source is owed its
            // newest object version only where the check found it missing, and an object of the
            // current version's bytes that is no replica (another writer's) stays, as it does
            // where no destination of the key needs the engine.
            let leave = replicator
                .config()
                .rules
                .iter()
                .map(|r| r.destination.id().to_string())
                .filter(|d| {
                    !found
                        .iter()
                        .any(|f| &f.destination == d && for_the_engine(f))
                })
                .collect();
            for f in found.iter().filter(|f| !for_the_engine(f)) {
                settled.count(f);
            }
            work.push(Work {
                key: key.to_owned(),
                history: Vec::new(),
                bytes: found.iter().map(|f| f.size).max().unwrap_or(0),
                rewrite,
                leave,
                listed: listed.get(key).cloned(),
                metadata: Vec::new(),
            });
            continue;
        }
        for f in found {
            settled.count(f);
        }
    }
    let runner = Runner {
        concurrency: options.concurrency,
        progress,
        stop,
    };
    let (tally, failures) = replicate_keys(
        replicator,
        &options.bucket,
        region,
        work,
        &runner,
        unavailable,
    )
    .await;
    Ok((
        Tally {
            replicated: tally.replicated,
            in_sync: tally.in_sync + settled.in_sync,
            skipped: tally.skipped + settled.skipped,
            failed: tally.failed,
            not_started: tally.not_started + checked.not_started,
            unavailable: tally.unavailable,
        },
        failures,
    ))
}

impl Tally {
    /// Counts a key at a destination the check settled without the engine.
    fn count(&mut self, f: &Finding) {
        match f.status {
            Status::Same | Status::Unproven => self.in_sync += 1,
            Status::Skipped | Status::NewerAtDestination => self.skipped += 1,
            // A destination's replica of a key the source no longer has, an object only the
            // destination holds: not a backfill's to touch.
            _ => {}
        }
    }
}

/// Whether the check leaves a key at a destination to the engine: missing, differing, or not
/// readable there.
pub(super) fn for_the_engine(f: &Finding) -> bool {
    matches!(f.status, Status::Missing | Status::Differs | Status::Error)
}

/// `backfill`: the run with a progress bar and Ctrl-C, its failures and closing line; the exit
/// status.
pub async fn command<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
) -> ExitCode {
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("backfill");
    let done = backfill(replicator, options, &progress, &stop).await;
    progress.finish();
    closing("backfill", done)
}

//! Existing objects under replication: every source object the rules select goes through the
//! same engine as an event for it would (tags, ACL, lock, checksums, multipart and all), so a
//! replica already in sync copies nothing. With `all_versions`, each key's history is copied
//! oldest first before its current version, so a destination that held none of the key keeps
//! the source's order. `repair` rewrites what a check found missing or damaged.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::ready;
use futures::stream::{self, StreamExt};

use crate::error::{ReplicationError, Side};
use crate::events::{EventKind, ObjectEvent};
use crate::replicate::{DestinationOutcome, Done, Replicator, SkipReason, Verdict};
use crate::run::Run;
use crate::store::{Current, DestinationStore, SourceStore};

/// Keys replicated at once, unless the caller says otherwise.
pub const CONCURRENCY: u16 = 8;

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
    /// The closing line of `verb` (`backfill`, `repair`), after a line saying what an
    /// interruption left.
    pub fn summary(&self, verb: &str) -> String {
        let mut out = String::new();
        if self.not_started > 0 {
            out += &format!(
                "interrupted: {} keys not started (run again to carry on)\n",
                self.not_started
            );
        }
        out += &format!(
            "{verb}: {} replicated, {} already in sync, {} skipped, {} failed",
            self.replicated, self.in_sync, self.skipped, self.failed
        );
        out
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary("backfill"))
    }
}

/// One failure: the key, the destination if specific to one, and the error.
pub type Failure = (String, Option<String>, ReplicationError);

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

/// Hears how a long run advances (a progress bar, or periodic lines).
pub trait Progress: Sync {
    /// The work is known: `keys` keys of `bytes` bytes in all (as listed).
    fn planned(&self, keys: u64, bytes: u64);
    /// One key is done, of `bytes` bytes.
    fn done(&self, bytes: u64);
}

/// No progress reports.
pub struct Quiet;

impl Progress for Quiet {
    fn planned(&self, _keys: u64, _bytes: u64) {}
    fn done(&self, _bytes: u64) {}
}

/// A key to replicate: its object versions (oldest first, `all_versions` only) and size.
struct Work {
    key: String,
    history: Vec<String>,
    bytes: u64,
    /// Destinations a check found missing or damaged (repair only).
    rewrite: Vec<String>,
    /// Destinations whose listing of versions shows the key never written there.
    never_written_at: Vec<String>,
    /// The source's current version as its listing of versions showed it (id, ETag): the
    /// engine then reads whether it is still current beside its ACL, not before.
    listed: Option<(String, String)>,
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
                never_written_at: Vec::new(),
                listed: None,
            })
            .collect()
    } else {
        return at_listing_speed(replicator, options, &region, progress, stop).await;
    };
    run(
        replicator,
        &options.bucket,
        &region,
        work,
        options.concurrency,
        progress,
        stop,
    )
    .await
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
    use crate::verify::Status;
    let check = crate::verify::Options {
        bucket: options.bucket.clone(),
        prefix: options.prefix.clone(),
        deep: false,
        explain_missing: false,
    };
    let findings = crate::verify::verify(replicator, &check).await?;
    let learn = async {
        if findings.iter().any(for_the_engine) {
            replicator.learn_source(region, &options.bucket).await;
        }
        Ok(())
    };
    let (never_written, listed, ()) = futures::try_join!(
        never_written(replicator, &options.prefix, &findings),
        current_versions(replicator, options, region, &findings),
        learn,
    )?;
    let mut by_key: BTreeMap<&str, Vec<&crate::verify::Finding>> = BTreeMap::new();
    for f in &findings {
        by_key.entry(&f.key).or_default().push(f);
    }
    let mut settled = Tally::default();
    let mut work = Vec::new();
    for (key, found) in by_key {
        // Missing, differing, or not readable somewhere: the engine decides at every
        // destination, as an event for the key would.
        if found.iter().any(|f| for_the_engine(f)) {
            let never_written_at = never_written
                .iter()
                .filter(|(_, keys)| keys.contains(key))
                .map(|(destination, _)| destination.clone())
                .collect();
            work.push(Work {
                key: key.to_owned(),
                history: Vec::new(),
                bytes: found.iter().map(|f| f.size).max().unwrap_or(0),
                rewrite: Vec::new(),
                never_written_at,
                listed: listed.get(key).cloned(),
            });
            continue;
        }
        for f in found {
            match f.status {
                Status::Same | Status::Unproven => settled.in_sync += 1,
                Status::Skipped | Status::NewerAtDestination => settled.skipped += 1,
                // A destination's replica of a key the source no longer has, an object only
                // the destination holds: not a backfill's to touch.
                _ => {}
            }
        }
    }
    let (tally, failures) = run(
        replicator,
        &options.bucket,
        region,
        work,
        options.concurrency,
        progress,
        stop,
    )
    .await?;
    Ok((
        Tally {
            replicated: tally.replicated,
            in_sync: tally.in_sync + settled.in_sync,
            skipped: tally.skipped + settled.skipped,
            failed: tally.failed,
            not_started: tally.not_started,
        },
        failures,
    ))
}

/// Whether the check leaves a key at a destination to the engine: missing, differing, or not
/// readable there.
fn for_the_engine(f: &crate::verify::Finding) -> bool {
    use crate::verify::Status;
    matches!(f.status, Status::Missing | Status::Differs | Status::Error)
}

/// Per destination on the function's own endpoint, the keys missing there that were never
/// written there (no version, no delete marker): their copies need no read of the destination
/// first, only the condition that the key still holds nothing. The destination's versions are
/// listed only where its missing keys outnumber the pages of its listing, so that the listing
/// costs less than the reads it saves.
async fn never_written<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    prefix: &str,
    findings: &[crate::verify::Finding],
) -> Result<BTreeMap<String, BTreeSet<String>>, ReplicationError> {
    use crate::verify::Status;
    let mut found: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for f in findings {
        let (missing, listed) = found.entry(&f.destination).or_default();
        match f.status {
            Status::Missing => drop(missing.insert(&f.key)),
            _ => *listed += 1,
        }
    }
    let mut never = BTreeMap::new();
    for (destination, (missing, listed)) in found {
        if missing.is_empty() || missing.len() * LISTING_PAGE <= listed {
            continue;
        }
        let rule = replicator.config().rules.iter().find(|r| {
            r.enabled
                && r.destination.endpoint.is_none()
                && r.destination.id().to_string() == destination
        });
        let Some(rule) = rule else { continue };
        let at = replicator.locate(rule, prefix).await?;
        let written = replicator
            .destination()
            .keys_with_history(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let keys = missing
            .into_iter()
            .filter(|k| !written.contains(*k))
            .map(str::to_owned)
            .collect();
        never.insert(destination.to_owned(), keys);
    }
    Ok(never)
}

/// Entries of one listing page.
const LISTING_PAGE: usize = 1000;

/// The source's current object versions (id and ETag by key), listed where the keys the check
/// leaves to the engine outnumber the pages of the source's listing: each such key's copy then
/// starts without a read of the source's current version first, a round trip per key for one
/// per thousand keys. Listed beside the destinations' versions, so it adds no trip of its own.
/// Keys whose current version is a delete marker, or `null` (written while versioning was off),
/// are left out: those are read as before.
async fn current_versions<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    findings: &[crate::verify::Finding],
) -> Result<BTreeMap<String, (String, String)>, ReplicationError> {
    let keys: BTreeSet<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    let engine: BTreeSet<&str> = findings
        .iter()
        .filter(|f| for_the_engine(f))
        .map(|f| f.key.as_str())
        .collect();
    if engine.is_empty() || engine.len() * LISTING_PAGE <= keys.len() {
        return Ok(BTreeMap::new());
    }
    let history = replicator
        .source()
        .history(region, &options.bucket, &options.prefix)
        .await
        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
    Ok(history
        .into_iter()
        .filter(|p| p.latest && !p.delete_marker && p.version_id != "null")
        .filter(|p| engine.contains(p.key.as_str()))
        .map(|p| (p.key, (p.version_id, p.etag.trim_matches('"').to_owned())))
        .collect())
}

/// Replicates again each key a check found missing or differing, to the destinations where it
/// did (a replica that claims to be the source's version but is not is written anew).
pub async fn repair<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    findings: &[crate::verify::Finding],
    concurrency: u16,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Failure>), ReplicationError> {
    use crate::verify::Status;
    let region = replicator.bucket_region(bucket).await?;
    let mut by_key: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in findings
        .iter()
        .filter(|f| matches!(f.status, Status::Missing | Status::Differs | Status::Stale))
    {
        by_key
            .entry(&f.key)
            .or_default()
            .push(f.destination.clone());
    }
    let work = by_key
        .into_iter()
        .map(|(key, rewrite)| Work {
            key: key.to_owned(),
            history: Vec::new(),
            bytes: 0,
            rewrite,
            never_written_at: Vec::new(),
            listed: None,
        })
        .collect();
    run(
        replicator,
        bucket,
        &region,
        work,
        concurrency,
        progress,
        stop,
    )
    .await
}

async fn run<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    region: &str,
    work: Vec<Work>,
    concurrency: u16,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Failure>), ReplicationError> {
    progress.planned(work.len() as u64, work.iter().map(|w| w.bytes).sum());
    let total = work.len();
    let mut results = stream::iter(work)
        .take_while(|_| ready(!stop.load(Ordering::SeqCst)))
        .map(|work| async move {
            let outcomes = key(replicator, bucket, region, &work).await;
            (work, outcomes)
        })
        .buffer_unordered(usize::from(concurrency.max(1)));
    let (mut tally, mut failures, mut started) = (Tally::default(), Vec::new(), 0);
    while let Some((work, outcomes)) = results.next().await {
        started += 1;
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
        progress.done(work.bytes);
    }
    tally.not_started = total - started;
    Ok((tally, failures))
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
async fn key<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    region: &str,
    work: &Work,
) -> Vec<DestinationOutcome> {
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
    let run = || match work.rewrite.is_empty() {
        true => Run::new(None)
            .for_tool()
            .never_written_at(work.never_written_at.clone()),
        false => Run::rewriting(None, work.rewrite.clone()).for_tool(),
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
    let history = Run::history(None, matches!(current, Current::DeleteMarker(_))).for_tool();
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
        Current::DeleteMarker(_) if !work.history.is_empty() => {
            event(EventKind::DeleteMarkerCreated, None, None)
        }
        // A stale replica of a key deleted in the source: as the engine would leave it, a
        // delete marker where the rule replicates them, else the newest object version.
        Current::DeleteMarker(_) if !work.rewrite.is_empty() => {
            let selecting = crate::rules::select(replicator.config(), bucket, &work.key, &[]);
            let mut last = Vec::new();
            if selecting.iter().any(|r| r.delete_marker_replication) {
                last.push(event(EventKind::DeleteMarkerCreated, None, None));
            }
            if selecting.iter().any(|r| !r.delete_marker_replication) {
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
        // Deleted since the listing: nothing to replicate.
        Current::DeleteMarker(_) | Current::Absent => return outcomes,
    };
    outcomes.extend(replicator.replicate_in(&last, &run).await);
    outcomes
}

//! Existing objects under replication: every source object the rules select goes through the
//! same engine as an event for it would (tags, ACL, lock, checksums, multipart and all), so a
//! replica already in sync copies nothing. With `all_versions`, each key's history is copied
//! oldest first before its current version, so a destination that held none of the key keeps
//! the source's order.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use super::compare::{self, Finding, Status};
use super::cost;
use super::engine::{closing, replicate_keys, Work};
use super::progress::{Bar, Progress, Quiet};
use super::runner::{self, Runner};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, Past, SourceStore};

pub use super::engine::{Failure, Tally};

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
                never_written_at: Vec::new(),
                listed: None,
                metadata: Vec::new(),
            })
            .collect()
    } else {
        return at_listing_speed(replicator, options, &region, progress, stop).await;
    };
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
        Vec::new(),
    )
    .await)
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
    let (never_written, listed, ()) = futures::try_join!(
        never_written(replicator, &options.prefix, &findings),
        current_versions(replicator, options, region, &findings, history),
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
            let never_written_at = never_written
                .iter()
                .filter(|(_, keys)| keys.contains(key))
                .map(|(destination, _)| destination.clone())
                .collect();
            // A replica that differs (its bytes, or the storage class a rule now asks for) and
            // is no later write is written again, as `repair` does and the dry run says; later
            // writes still stand (the engine's rewrite keeps every guard but "already there").
            let rewrite = found
                .iter()
                .filter(|f| f.status == Status::Differs)
                .map(|f| f.destination.clone())
                .collect();
            work.push(Work {
                key: key.to_owned(),
                history: Vec::new(),
                bytes: found.iter().map(|f| f.size).max().unwrap_or(0),
                rewrite,
                never_written_at,
                listed: listed.get(key).cloned(),
                metadata: Vec::new(),
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

/// Whether the check leaves a key at a destination to the engine: missing, differing, or not
/// readable there.
fn for_the_engine(f: &Finding) -> bool {
    matches!(f.status, Status::Missing | Status::Differs | Status::Error)
}

/// Per destination on the function's own endpoint, the keys missing there that were never
/// written there (no version, no delete marker): their copies need no read of the destination
/// first, only the condition that the key still holds nothing. The destination's versions are
/// listed only while its missing keys outnumber the pages of that listing of versions (not of
/// current keys: a bucket with deep history has many more), so that the listing costs less
/// than the reads it saves; once the pages reach that count the listing stops and the keys are
/// read as usual.
pub(super) async fn never_written<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    prefix: &str,
    findings: &[Finding],
) -> Result<BTreeMap<String, BTreeSet<String>>, ReplicationError> {
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
        // Its current keys are a floor on the pages of its listing of versions.
        if missing.len() <= listed.div_ceil(LISTING_PAGE).max(1) {
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
            .keys_with_history(&at, missing.len() - 1)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let Some(written) = written else { continue };
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

/// The source's current object versions (id and ETag by key), listed while the keys the check
/// leaves to the engine outnumber the pages of the source's listing of versions: each such
/// key's copy then starts without a read of the source's current version first, a round trip
/// per key for one per thousand versions. Listed beside the destinations' versions, so it adds
/// no trip of its own. Keys whose current version is a delete marker, or `null` (written while
/// versioning was off), are left out: those are read as before.
pub(super) async fn current_versions<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    findings: &[Finding],
    listed: Option<Vec<Past>>,
) -> Result<BTreeMap<String, (String, String)>, ReplicationError> {
    let keys: BTreeSet<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    let engine: BTreeSet<&str> = findings
        .iter()
        .filter(|f| for_the_engine(f))
        .map(|f| f.key.as_str())
        .collect();
    // Listed by the check already (a rule keeps object versions after a delete): no more.
    // Otherwise its current keys are a floor on the pages of the listing of versions.
    let history = match listed {
        Some(history) => history,
        None if engine.len() <= keys.len().div_ceil(LISTING_PAGE).max(1) => {
            return Ok(BTreeMap::new());
        }
        None => {
            let history = replicator
                .source()
                .history_within(region, &options.bucket, &options.prefix, engine.len() - 1)
                .await
                .map_err(|f| ReplicationError::classify(Side::Source, f))?;
            let Some(history) = history else {
                return Ok(BTreeMap::new());
            };
            history
        }
    };
    Ok(history
        .into_iter()
        .filter(|p| p.latest && !p.delete_marker && p.version_id != "null")
        .filter(|p| engine.contains(p.key.as_str()))
        .map(|p| (p.key, (p.version_id, p.etag.trim_matches('"').to_owned())))
        .collect())
}

/// `backfill --dry-run`: what a backfill of current versions would replicate, from the
/// listings as verify compares them, with the bytes to copy and the request cost; the exit
/// status (0 when every key could be checked).
pub async fn dry_run<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: String,
    prefix: String,
) -> ExitCode {
    let options = compare::Options {
        bucket,
        prefix,
        deep: false,
        explain_missing: true,
    };
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("backfill (dry run)");
    let run = Runner {
        concurrency: compare::CONCURRENCY,
        progress: &progress,
        stop: &stop,
    };
    let checked = compare::check(replicator, &options, &run).await;
    progress.finish();
    let (findings, not_started, unavailable) = match checked {
        Ok(checked) => (checked.findings, checked.not_started, checked.unavailable),
        Err(e) => return runner::cannot_run("backfill", &e),
    };
    let todo: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::Missing | Status::Differs))
        .collect();
    // In columns, as every tool prints its lines.
    let would = todo.iter().map(|f| {
        let to = format!("-> {}", f.destination);
        vec![
            "would replicate".to_owned(),
            f.key.clone(),
            to,
            String::new(),
        ]
    });
    let failed = findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .map(|f| {
            let to = format!("-> {}", f.destination);
            vec!["failed".to_owned(), f.key.clone(), to, f.detail.clone()]
        });
    for line in runner::columns(&would.chain(failed).collect::<Vec<_>>()) {
        println!("{line}");
    }
    let unavailable_words = compare::print_unavailable(&unavailable);
    let tally = compare::Tally::of(&findings);
    // What a real run would say: an unproven replica names the current version (in
    // sync); a deliberate skip and a later write at a destination are skipped.
    let summary = format!(
        "backfill (dry run): {} to replicate, {} already in sync, {} skipped, {} failed{unavailable_words}",
        todo.len(),
        tally.same + tally.unproven,
        tally.skipped + tally.newer_at_destination,
        tally.errors
    );
    // Each copy: HEAD of the source, its ACL and the destination's current object, the copy
    // itself (one request, or a multipart copy's), then the ordering check (HEAD of the
    // source's current version); the listings of both sides, a page per 1,000 keys.
    let settings = &replicator.config().copy;
    let bytes: u64 = todo.iter().map(|f| f.size).sum();
    let copies = todo
        .iter()
        .map(|f| cost::copy_requests(f.size, &f.etag, settings))
        .fold(cost::Requests::default(), |sum, r| cost::Requests {
            put: sum.put + r.put,
            get: sum.get + r.get,
        });
    let listings = 2 * (findings.len() as u64 / 1000 + 1);
    let reads = 4 * todo.len() as u64 + copies.get;
    let line = cost::cost_line("backfill", bytes, copies.put + listings, reads);
    runner::close(
        &format!("{summary}\n{line}"),
        not_started,
        tally.errors + unavailable.len(),
    )
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

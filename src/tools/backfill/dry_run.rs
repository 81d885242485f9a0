//! `backfill --dry-run`: what a backfill of current versions would replicate and what it would
//! cost, predicted from the same check, the same listings of versions and the same decisions
//! the run makes (keys never written at a destination are copied without a read there first,
//! and their history is read after), so that its counts are the run's.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use super::super::compare::{self, Finding, Status};
use super::super::cost::{self, Requests};
use super::super::progress::Bar;
use super::super::runner::{self, Runner};
use super::{for_the_engine, spare, Options};
use crate::error::ReplicationError;
use crate::replicate::Replicator;
use crate::store::{Current, DestinationStore, SourceStore};

/// What a backfill of current versions would do.
#[derive(Debug)]
pub struct Plan {
    /// Each key at each destination, explained as `verify` explains it.
    pub findings: Vec<Finding>,
    /// Keys not checked because the run was stopped.
    pub not_started: usize,
    /// Destinations that could not be listed, with the failure.
    pub unavailable: Vec<(String, ReplicationError)>,
    /// The bytes to copy.
    pub bytes: u64,
    /// The requests the run would make, by price class.
    pub requests: Requests,
}

impl Plan {
    /// Keys at destinations the run would replicate.
    pub fn to_replicate(&self) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| matches!(f.status, Status::Missing | Status::Differs))
            .collect()
    }

    /// The counts the run's closing line would show: replicated, already in sync, skipped,
    /// failed.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let tally = compare::Tally::of(&self.findings);
        // An unproven replica names the current version (in sync); a deliberate skip and a
        // later write at a destination are skipped.
        (
            self.to_replicate().len(),
            tally.same + tally.unproven,
            tally.skipped + tally.newer_at_destination,
            tally.errors,
        )
    }
}

/// The plan: the check as the run makes it (`missing` unexplained, so the run's decisions
/// follow from it), the listings of versions the run would make, then the missing keys
/// explained for the report.
pub async fn plan<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    runner: &Runner<'_>,
) -> Result<Plan, ReplicationError> {
    let check = compare::Options {
        bucket: options.bucket.clone(),
        prefix: options.prefix.clone(),
        deep: false,
        explain_missing: false,
    };
    let checked = compare::check(replicator, &check, runner).await?;
    let region = replicator.bucket_region(&options.bucket).await?;
    let mut findings = checked.findings;
    let (listed, current_pages) =
        spare::current_versions(replicator, options, &region, &findings, checked.history).await?;
    let engine: BTreeSet<String> = findings
        .iter()
        .filter(|f| for_the_engine(f))
        .map(|f| f.key.clone())
        .collect();
    compare::explain_missing(replicator, &check, &mut findings).await?;

    let mut requests = checked.listing;
    requests.put += current_pages as u64;
    if !engine.is_empty() {
        replicator.learn_source(&region, &options.bucket).await;
        // Object Lock, and Object Ownership where a rule carries ACLs.
        let carries = replicator
            .config()
            .rules
            .iter()
            .any(|r| r.enabled && !r.destination.owner_override);
        requests.get += 1 + u64::from(carries);
    }
    let settings = &replicator.config().copy;
    let mut by_key: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| engine.contains(&f.key)) {
        by_key.entry(&f.key).or_default().push(f);
    }
    let mut bytes = 0;
    for (key, found) in by_key {
        let copies: Vec<&&Finding> = found
            .iter()
            .filter(|f| matches!(f.status, Status::Missing | Status::Differs))
            .collect();
        // The source's current version (read first too where the source's listing of versions
        // did not give it), and its ACL where the copy carries it.
        requests.get += 1 + u64::from(!listed.contains_key(key));
        let rule = replicator
            .config()
            .rules
            .iter()
            .filter(|r| r.enabled && key.starts_with(&r.filter.prefix))
            .max_by_key(|r| r.priority);
        if let Some(rule) = rule {
            if replicator
                .reads_source_acl(&region, &options.bucket, rule)
                .await
            {
                requests.get += 1;
            }
        }
        // Each destination's current object, and where the key holds nothing there and the
        // server is not AWS S3, its listing of versions (a plain 404 may stand for a marker).
        let endpoint = |f: &Finding| {
            replicator
                .config()
                .rule_for_destination(&f.destination)
                .and_then(|r| r.destination.endpoint.as_ref().map(|e| e.url.as_str()))
        };
        for f in &found {
            requests.get += 1;
            let endpoint = endpoint(f);
            if f.status == Status::Missing && replicator.destination().absence_is_listed(endpoint) {
                requests.put += 1;
            }
        }
        for f in &copies {
            if f.status == Status::Differs {
                let current = listed.get(key).map(|(version, _)| version.as_str());
                requests.put += u64::from(
                    replica_of_another_version(replicator, &options.bucket, key, f, current)
                        .await?,
                );
            }
            let copy = cost::copy_requests(f.size, &f.etag, settings);
            // Every copy on a write condition (`If-Match` over an object, `If-None-Match: *`
            // over nothing or a delete marker; the function's own endpoint only) is proven
            // after it lands: the listing of the key's versions there (`replicate::landed`).
            requests.put += copy.put + u64::from(endpoint(f).is_none());
            requests.get += copy.get;
            bytes += f.size;
        }
        // The source's current version again, after the copies (convergence): not for a
        // `null` version (ordering needs versions), where the listing of versions showed one.
        let null = listed
            .get(key)
            .is_some_and(|(version, _)| version == "null");
        if !copies.is_empty() && !null {
            requests.get += 1;
        }
    }
    Ok(Plan {
        findings,
        not_started: checked.not_started,
        unavailable: checked.unavailable,
        bytes,
        requests,
    })
}

/// Whether the destination of `f` holds a replica of another version of this source's key
/// (not the source's current one, `current`, where its listing gave it): the run's copy then
/// lists the source's versions first, so as never to put an older version over a newer one's
/// replica. The dry run reads that replica's record (one HEAD of its own, not the run's).
async fn replica_of_another_version<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    key: &str,
    f: &Finding,
    current: Option<&str>,
) -> Result<bool, ReplicationError> {
    let Some(rule) = replicator.config().rule_for_destination(&f.destination) else {
        return Ok(false);
    };
    let at = replicator.locate(rule, key).await?;
    let held = replicator
        .destination()
        .replica_current(&at)
        .await
        .map_err(|e| ReplicationError::classify(crate::error::Side::Destination, e))?;
    let Current::Object(held) = held else {
        return Ok(false);
    };
    Ok(held
        .replica_record(&at.bucket, &at.key)
        .is_some_and(|r| r.from(bucket) && Some(r.version) != current && current != Some("null")))
}

/// `backfill --dry-run`: the plan's lines, its counts and its cost; the exit status (0 when
/// every key could be checked and every destination listed).
pub async fn dry_run<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: String,
    prefix: String,
) -> ExitCode {
    let options = Options {
        bucket,
        prefix,
        all_versions: false,
        concurrency: super::CONCURRENCY,
    };
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("backfill (dry run)");
    let run = Runner {
        concurrency: compare::CONCURRENCY,
        progress: &progress,
        stop: &stop,
    };
    let planned = plan(replicator, &options, &run).await;
    progress.finish();
    let plan = match planned {
        Ok(plan) => plan,
        Err(e) => return runner::cannot_run("backfill", &e),
    };
    // In columns, as every tool prints its lines.
    let would = plan.to_replicate().into_iter().map(|f| {
        let to = format!("-> {}", f.destination);
        vec![
            "would replicate".to_owned(),
            f.key.clone(),
            to,
            String::new(),
        ]
    });
    let failed = plan
        .findings
        .iter()
        .filter(|f| f.status == Status::Error)
        .map(|f| {
            let to = format!("-> {}", f.destination);
            vec!["failed".to_owned(), f.key.clone(), to, f.detail.clone()]
        });
    for line in runner::columns(&would.chain(failed).collect::<Vec<_>>()) {
        println!("{line}");
    }
    let unavailable = compare::print_unavailable(&plan.unavailable);
    let (replicate, in_sync, skipped, errors) = plan.counts();
    let summary = format!(
        "backfill (dry run): {replicate} to replicate, {in_sync} already in sync, {skipped} skipped, {errors} failed{unavailable}"
    );
    let line = cost::cost_line("backfill", plan.bytes, plan.requests.put, plan.requests.get);
    runner::close(
        &format!("{summary}\n{line}"),
        plan.not_started,
        errors + plan.unavailable.len(),
    )
}

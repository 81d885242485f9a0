//! Proof that replicas are complete: the source's current objects against each destination the
//! rules select, from listings alone (a replica keeps its source's ETag, so size and ETag equal
//! means the same bytes), and with `deep` also HEAD, tags and ACL of both sides.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;

use futures::future::join_all;

use super::progress::Quiet;
use super::runner::Runner;
use crate::config::{DestinationId, Rule};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, Listed, SourceStore};

mod deep;
mod listing;
mod object;
mod proof;
mod status;

pub use object::{verify_object, KeyCheck};
pub use status::{print_findings, print_unavailable, Finding, Status, Tally};

/// Keys checked at once unless `--concurrency` says otherwise (each needs HEAD, and with
/// --deep tags and ACL, on both sides).
pub const CONCURRENCY: u16 = 16;

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The source bucket.
    pub bucket: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// Also HEAD both sides and compare headers, user metadata, the replica marker, tags, ACL.
    pub deep: bool,
    /// Read what tells a key absent at a destination apart: missing, a deliberate skip, or
    /// deleted at the destination after it arrived. Without it such a key is `missing` at no
    /// cost, for a caller (backfill) whose engine decides that itself.
    pub explain_missing: bool,
}

/// What a check came to.
pub struct Checked {
    /// Destination by destination, each in key order.
    pub findings: Vec<Finding>,
    /// Keys not checked because the run was stopped.
    pub not_started: usize,
    /// Destinations that could not be listed, with the failure: none of their keys was checked.
    pub unavailable: Vec<(String, ReplicationError)>,
    /// The source's versions and delete markers, where they were listed (a rule keeps object
    /// versions after a delete).
    pub history: Option<Vec<crate::store::Past>>,
    /// The requests the check made: its listings (pages of 1,000, one at least per listing),
    /// the region lookups, and the reads of keys the listings could not settle.
    pub listing: crate::tools::cost::Requests,
}

/// Verifies every destination the configuration's enabled rules name for the source bucket,
/// [`CONCURRENCY`] keys at once, to the end (no progress, no Ctrl-C).
pub async fn verify<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
) -> Result<Vec<Finding>, ReplicationError> {
    let stop = AtomicBool::new(false);
    let runner = Runner {
        concurrency: CONCURRENCY,
        progress: &Quiet,
        stop: &stop,
    };
    Ok(check(replicator, options, &runner).await?.findings)
}

/// Verifies every destination the configuration's enabled rules name for the source bucket, on
/// `runner`: one key (at every destination) per decision, so a stopped check says which keys it
/// left.
pub async fn check<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    runner: &Runner<'_>,
) -> Result<Checked, ReplicationError> {
    let mut destinations: BTreeMap<DestinationId, Vec<&Rule>> = BTreeMap::new();
    for rule in replicator.config().rules.iter().filter(|r| r.enabled) {
        let own = rule.destination.endpoint.is_none() && rule.destination.bucket == options.bucket;
        if !own {
            destinations
                .entry(rule.destination.id())
                .or_default()
                .push(rule);
        }
    }
    // Where a rule does not replicate delete markers, a key deleted in the source leaves its
    // destination the source's newest object version: one that never got there is missing,
    // and only a listing of versions shows such a key.
    let deletes_kept = destinations
        .values()
        .flatten()
        .any(|r| !r.delete_marker_replication);
    // Both sides are listed at once: the source (after its region), and every destination.
    let source = async {
        let region = replicator.bucket_region(&options.bucket).await?;
        let src_err = |f| ReplicationError::classify(Side::Source, f);
        let current = async {
            replicator
                .source()
                .list_objects(&region, &options.bucket, &options.prefix)
                .await
                .map_err(src_err)
        };
        let deleted = async {
            match deletes_kept {
                true => replicator
                    .source()
                    .history(&region, &options.bucket, &options.prefix)
                    .await
                    .map(Some)
                    .map_err(src_err),
                false => Ok(None),
            }
        };
        let (listed, history) = futures::try_join!(current, deleted)?;
        Ok::<_, ReplicationError>((region, listed, history))
    };
    // A destination that cannot be listed (refused, gone) is reported once with its reason;
    // the others are still checked.
    let replicas = join_all(destinations.iter().map(|(id, rules)| async move {
        let listed = async {
            let at = replicator.locate(rules[0], &options.prefix).await?;
            let replicas = replicator
                .destination()
                .list_replicas(&at)
                .await
                .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
            Ok::<_, ReplicationError>((at, replicas))
        };
        (id, rules, listed.await)
    }));
    let (source, listed) = futures::join!(source, replicas);
    let (region, source, history) = source?;
    let deleted = history.as_deref().map(deleted_keys).unwrap_or_default();
    let pages = |n: usize| n.div_ceil(1000).max(1) as u64;
    let mut listing = crate::tools::cost::Requests {
        put: pages(source.len()) + history.as_ref().map_or(0, |h| pages(h.len())),
        // The source's region; each destination's where no rule names it.
        get: 1 + destinations
            .values()
            .filter(|rules| rules[0].destination.region.is_none())
            .count() as u64,
    };
    let (mut replicas, mut unavailable) = (Vec::new(), Vec::new());
    for (id, rules, result) in listed {
        match result {
            Ok((at, listed)) => {
                listing.put += pages(listed.len());
                replicas.push((id, rules, at, listed));
            }
            // The refused listing is a request made all the same.
            Err(e) => {
                listing.put += 1;
                unavailable.push((id.to_string(), e));
            }
        }
    }
    let check = Check {
        replicator,
        options,
        region: &region,
        reads: Default::default(),
        lists: Default::default(),
    };
    // Each key with its pair of listed objects at each destination (by index).
    let mut keys: BTreeMap<&str, Vec<(usize, Pair<'_>)>> = BTreeMap::new();
    for (i, (_, rules, _, listed)) in replicas.iter().enumerate() {
        for (src, dst) in listing::pairs(&source, listed) {
            let key = src.or(dst).map_or("", |o| o.key.as_str());
            keys.entry(key).or_default().push((i, (src, dst)));
        }
        // A key deleted in the source that this destination does not list either, where a
        // rule for it keeps object versions after a delete: judged as the engine would.
        for key in &deleted {
            let kept = rules
                .iter()
                .any(|r| !r.delete_marker_replication && key.starts_with(&r.filter.prefix));
            let listed_there = listed
                .binary_search_by(|o| o.key.as_str().cmp(key.as_str()))
                .is_ok();
            if kept && !listed_there {
                keys.entry(key).or_default().push((i, (None, None)));
            }
        }
    }
    let (check, replicas) = (&check, &replicas);
    let ran = runner
        .run(
            keys.into_iter().collect(),
            |_| 0,
            |(key, pairs)| async move {
                let mut found = Vec::new();
                for (i, (src, dst)) in pairs {
                    let (id, rules, at, _) = &replicas[i];
                    if let Some(f) = check.judge(id, rules, at, key, (src, dst)).await {
                        found.push((i, f));
                    }
                }
                (found, 0)
            },
        )
        .await;
    listing.get += check.reads.load(std::sync::atomic::Ordering::Relaxed);
    listing.put += check.lists.load(std::sync::atomic::Ordering::Relaxed);
    let mut findings: Vec<(usize, Finding)> = ran.outcomes.into_iter().flatten().collect();
    findings.sort_by(|(a, f), (b, g)| (a, &f.key).cmp(&(b, &g.key)));
    Ok(Checked {
        findings: findings.into_iter().map(|(_, f)| f).collect(),
        not_started: ran.not_started,
        unavailable,
        history,
        listing,
    })
}

/// A key's listed object in the source and at a destination (either may be absent; both, for
/// a key deleted in the source).
type Pair<'l> = (Option<&'l Listed>, Option<&'l Listed>);

/// The keys whose current entry is a delete marker and which still have an object version.
fn deleted_keys(history: &[crate::store::Past]) -> Vec<String> {
    let mut keys = Vec::new();
    let mut entries = history.iter().peekable();
    while let Some(first) = entries.next() {
        let mut has_object = !first.delete_marker;
        while let Some(next) = entries.next_if(|e| e.key == first.key) {
            has_object |= !next.delete_marker;
        }
        if first.latest && first.delete_marker && has_object {
            keys.push(first.key.clone());
        }
    }
    keys
}

struct Check<'a, S, D> {
    replicator: &'a Replicator<S, D>,
    options: &'a Options,
    region: &'a str,
    /// The reads made past the listings (a dry run counts them as the run's).
    reads: std::sync::atomic::AtomicU64,
    /// The listings of one key's versions those reads made (a HEAD answered 404 off AWS).
    lists: std::sync::atomic::AtomicU64,
}

impl<S, D> Check<'_, S, D> {
    fn read(&self, n: u64) {
        self.reads
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts the listing a read of a key holding nothing makes where `listed`.
    fn listed_if(&self, absent: bool, listed: bool) {
        if absent && listed {
            self.lists
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The keys `check` found `missing` without reading further (`explain_missing` off, as backfill
/// checks), explained as `verify` explains them: missing, a deliberate skip, or deleted at the
/// destination after it arrived. For a dry run that must first check as the run does.
pub async fn explain_missing<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    findings: &mut [Finding],
) -> Result<(), ReplicationError> {
    let region = replicator.bucket_region(&options.bucket).await?;
    let check = Check {
        replicator,
        options,
        region: &region,
        reads: Default::default(),
        lists: Default::default(),
    };
    let rules: Vec<&Rule> = replicator
        .config()
        .rules
        .iter()
        .filter(|r| r.enabled)
        .collect();
    for f in findings.iter_mut().filter(|f| f.status == Status::Missing) {
        let theirs: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| r.destination.id().to_string() == f.destination)
            .collect();
        // A key deleted in the source keeps what the check said of it.
        if !f.detail.is_empty() {
            continue;
        }
        let explained = match check.selecting_rule(&theirs, &f.key).await {
            Ok(Some(rule)) => check.absent(rule, &f.key).await,
            Ok(None) => Ok((Status::Missing, String::new())),
            Err(e) => Err(e),
        };
        (f.status, f.detail) = match explained {
            Ok(found) => found,
            Err(e) => (Status::Error, e.code().to_owned()),
        };
    }
    Ok(())
}

//! The listings of versions a backfill makes to spare per-key reads: the destination's (keys
//! never written there) and the source's (its current versions). Each is made only while the
//! keys it spares outnumber its pages, counted as it goes; the run and its dry run both ask here,
//! so the dry run counts the same pages and the same reads spared.

use std::collections::{BTreeMap, BTreeSet};

use super::super::compare::{Finding, Status};
use super::{for_the_engine, Options};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, Past, SourceStore};

/// Per destination on the function's own endpoint, the keys missing there that were never
/// written there (no version, no delete marker): their copies need no read of the destination
/// first, only the condition that the key still holds nothing. The destination's versions are
/// listed only while its missing keys outnumber the pages of that listing of versions (not of
/// current keys: a bucket with deep history has many more), so that the listing costs less
/// than the reads it saves; once the pages reach that count the listing stops and the keys are
/// read as usual.
/// With the pages listed.
pub(super) async fn never_written<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    prefix: &str,
    findings: &[Finding],
) -> Result<(BTreeMap<String, BTreeSet<String>>, usize), ReplicationError> {
    let mut found: BTreeMap<&str, (BTreeSet<&str>, usize)> = BTreeMap::new();
    for f in findings {
        let (missing, listed) = found.entry(&f.destination).or_default();
        match f.status {
            Status::Missing => drop(missing.insert(&f.key)),
            _ => *listed += 1,
        }
    }
    let (mut never, mut pages) = (BTreeMap::new(), 0);
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
        let (written, listed) = replicator
            .destination()
            .keys_with_history(&at, missing.len() - 1)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        pages += listed;
        let Some(written) = written else { continue };
        let keys = missing
            .into_iter()
            .filter(|k| !written.contains(*k))
            .map(str::to_owned)
            .collect();
        never.insert(destination.to_owned(), keys);
    }
    Ok((never, pages))
}

/// Entries of one listing page.
const LISTING_PAGE: usize = 1000;

/// The source's current object versions (id and ETag by key), listed while the keys the check
/// leaves to the engine outnumber the pages of the source's listing of versions: each such
/// key's copy then starts without a read of the source's current version first, a round trip
/// per key for one per thousand versions. Listed beside the destinations' versions, so it adds
/// no trip of its own. Keys whose current version is a delete marker, or `null` (written while
/// versioning was off), are left out: those are read as before. With the pages listed here
/// (none where the check's own listing of versions is `listed`).
pub(super) async fn current_versions<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    findings: &[Finding],
    listed: Option<Vec<Past>>,
) -> Result<(BTreeMap<String, (String, String)>, usize), ReplicationError> {
    let keys: BTreeSet<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    let engine: BTreeSet<&str> = findings
        .iter()
        .filter(|f| for_the_engine(f))
        .map(|f| f.key.as_str())
        .collect();
    // Listed by the check already (a rule keeps object versions after a delete): no more.
    // Otherwise its current keys are a floor on the pages of the listing of versions.
    let (history, pages) = match listed {
        Some(history) => (history, 0),
        None if engine.len() <= keys.len().div_ceil(LISTING_PAGE).max(1) => {
            return Ok((BTreeMap::new(), 0));
        }
        None => {
            let budget = engine.len() - 1;
            let history = replicator
                .source()
                .history_within(region, &options.bucket, &options.prefix, budget)
                .await
                .map_err(|f| ReplicationError::classify(Side::Source, f))?;
            let Some(history) = history else {
                return Ok((BTreeMap::new(), budget));
            };
            let pages = history.len().div_ceil(LISTING_PAGE).max(1);
            (history, pages)
        }
    };
    let current = history
        .into_iter()
        .filter(|p| p.latest && !p.delete_marker && p.version_id != "null")
        .filter(|p| engine.contains(p.key.as_str()))
        .map(|p| (p.key, (p.version_id, p.etag.trim_matches('"').to_owned())))
        .collect();
    Ok((current, pages))
}

//! The listing of versions a backfill makes to spare per-key reads: the source's (its current
//! versions). It is made only while the keys it spares outnumber its pages, counted as it goes;
//! the run and its dry run both ask here, so the dry run counts the same pages and the same reads
//! spared. (A destination's listing, to copy keys never written there without a read, spares
//! nothing: such a copy must read the key's history after, since `If-None-Match: *` lands on a
//! delete marker, one LIST, priced as a PUT, for each HEAD spared.)

use std::collections::{BTreeMap, BTreeSet};

use super::super::compare::Finding;
use super::{for_the_engine, Options};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, Past, SourceStore};

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

//! Proof that replicas are complete: the source's current objects against each destination the
//! rules select, from listings alone (a replica keeps its source's ETag, so size and ETag equal
//! means the same bytes), and with `deep` also HEAD, tags and ACL of both sides.

use std::collections::BTreeMap;

use futures::future::try_join_all;

use crate::config::{DestinationId, Rule};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

mod deep;
mod listing;
mod object;
mod proof;
mod status;

pub use object::{verify_object, KeyCheck};
pub use status::{print_findings, Finding, Status, Tally};

/// Keys checked at once (each needs HEAD, and with --deep tags and ACL, on both sides).
pub const CONCURRENCY: usize = 16;

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

/// Verifies every destination the configuration's enabled rules name for the source bucket.
pub async fn verify<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
) -> Result<Vec<Finding>, ReplicationError> {
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
    // Both sides are listed at once: the source (after its region), and every destination.
    let source = async {
        let region = replicator.bucket_region(&options.bucket).await?;
        let listed = replicator
            .source()
            .list_objects(&region, &options.bucket, &options.prefix)
            .await
            .map_err(|f| ReplicationError::classify(Side::Source, f))?;
        Ok::<_, ReplicationError>((region, listed))
    };
    let replicas = try_join_all(destinations.iter().map(|(id, rules)| async move {
        let at = replicator.locate(rules[0], &options.prefix).await?;
        let replicas = replicator
            .destination()
            .list_replicas(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        Ok::<_, ReplicationError>((id, rules, at, replicas))
    }));
    let ((region, source), replicas) = futures::try_join!(source, replicas)?;
    let check = Check {
        replicator,
        options,
        region: &region,
    };
    let mut findings = Vec::new();
    for (id, rules, at, replicas) in replicas {
        findings.extend(check.destination(id, rules, &at, &source, &replicas).await);
    }
    Ok(findings)
}

struct Check<'a, S, D> {
    replicator: &'a Replicator<S, D>,
    options: &'a Options,
    region: &'a str,
}

//! `repair --reseal`: after a record key is turned on (or rotated), replicas written without it
//! stand as writes of the destination's own (`newer-at-destination`, or `differs` where they
//! landed in the version's second). Each such key found by the check is resealed where its bytes
//! are proven the source version's (`Replicator::reseal`); nothing else is. One line per key,
//! then a closing count; `--dry-run` counts and lists without writing.

use std::collections::BTreeSet;

use super::compare::{Finding, Status};
use super::runner::Runner;
use crate::replicate::{Replicator, Reseal};
use crate::store::{DestinationStore, SourceStore};

/// Whether `--reseal` writes, or only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resealing {
    /// Lists and counts what would be resealed.
    DryRun,
    /// Reseals.
    Write,
}

/// What the reseal did, counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Count {
    sealed: usize,
    unproven: usize,
    failed: usize,
}

/// Reseals, at each destination a finding names, the replica of `bucket`'s key that the check
/// found standing as another write, on the tools' runner (its concurrency, its Ctrl-C); prints
/// each and the closing count. The keys and destinations resealed (or, in a dry run, that would
/// be).
pub async fn reseal<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    findings: &[Finding],
    resealing: Resealing,
    runner: &Runner<'_>,
) -> BTreeSet<(String, String)> {
    let dry_run = resealing == Resealing::DryRun;
    let mut done = BTreeSet::new();
    let mut count = Count::default();
    let candidates: Vec<(String, String)> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::NewerAtDestination | Status::Differs))
        .map(|f| (f.key.clone(), f.destination.clone()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ran = runner
        .run(
            candidates,
            |_| 0,
            |(key, destination)| async move {
                let rule = replicator.config().rule_for_destination(&destination);
                let outcome = match rule {
                    Some(rule) => Some(replicator.reseal(rule, bucket, &key, dry_run).await),
                    None => None,
                };
                ((key, destination, outcome), 0)
            },
        )
        .await;
    let mut outcomes = ran.outcomes;
    outcomes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    for (key, destination, outcome) in outcomes {
        match outcome {
            Some(Ok(Reseal::Sealed(written))) => {
                count.sealed += 1;
                let version = written.version_id.as_deref().unwrap_or("null");
                println!("resealed  {key}  {destination}  {version}");
                done.insert((key, destination));
            }
            Some(Ok(Reseal::Proven(proof))) => {
                count.sealed += 1;
                println!("reseal  {key}  {destination}  its bytes proven by the {proof}");
                done.insert((key, destination));
            }
            Some(Ok(Reseal::Unproven(why))) => {
                count.unproven += 1;
                println!("unproven  {key}  {destination}  {why}");
            }
            Some(Ok(Reseal::NotNeeded)) | None => {}
            Some(Err(e)) => {
                count.failed += 1;
                println!("failed  {key}  {destination}  {}: {e}", e.code());
            }
        }
    }
    if ran.not_started > 0 {
        println!(
            "interrupted: {} keys not started (run again to carry on)",
            ran.not_started
        );
    }
    let Count {
        sealed,
        unproven,
        failed,
    } = count;
    match dry_run {
        true => println!(
            "reseal --dry-run: {sealed} to reseal, {unproven} unproven (left), {failed} failed"
        ),
        false => println!("reseal: {sealed} resealed, {unproven} unproven (left), {failed} failed"),
    }
    done
}

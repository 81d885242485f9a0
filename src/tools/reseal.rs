//! `repair --reseal`: after a record key is turned on (or rotated), replicas written without it
//! stand as writes of the destination's own (`newer-at-destination`, or `differs` where they
//! landed in the version's second). Each such key found by the check is resealed where its bytes
//! are proven the source version's (`Replicator::reseal`); nothing else is. One line per key,
//! then a closing count; `--dry-run` counts and lists without writing. Its failures and the
//! keys a Ctrl-C left are repair's, in its closing line and exit status (`super::repair`).

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

/// What a reseal came to: each key and destination by what happened there.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Resealed (or, in a dry run, that would be).
    pub sealed: BTreeSet<(String, String)>,
    /// Left as they are: their bytes are not proven the version's.
    pub unproven: usize,
    /// Failed, each printed with its code.
    pub failed: BTreeSet<(String, String)>,
    /// Not started because the run was stopped (Ctrl-C).
    pub not_started: BTreeSet<(String, String)>,
}

impl Resealed {
    /// The keys not started, each once (a key may be left at more than one destination).
    pub fn keys_not_started(&self) -> BTreeSet<&str> {
        self.not_started.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// Its line: `reseal: N resealed, M unproven (left), F failed`, or the dry run's `reseal
    /// --dry-run: N to reseal, ...`; `failed` is counted by the caller (a dry run's closing line
    /// also counts the keys its check could not read).
    pub fn line(&self, resealing: Resealing, failed: usize) -> String {
        let (sealed, unproven) = (self.sealed.len(), self.unproven);
        match resealing {
            Resealing::DryRun => format!(
                "reseal --dry-run: {sealed} to reseal, {unproven} unproven (left), {failed} failed"
            ),
            Resealing::Write => {
                format!("reseal: {sealed} resealed, {unproven} unproven (left), {failed} failed")
            }
        }
    }
}

/// Reseals, at each destination a finding names, the replica of `bucket`'s key that the check
/// found standing as another write, on the tools' runner (its concurrency, its Ctrl-C); prints
/// one line for each key acted on. What it came to: the caller prints the closing lines and
/// counts its failures and keys not started into the exit status.
pub async fn reseal<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    findings: &[Finding],
    resealing: Resealing,
    runner: &Runner<'_>,
) -> Resealed {
    let dry_run = resealing == Resealing::DryRun;
    let mut resealed = Resealed::default();
    let candidates: BTreeSet<(String, String)> = findings
        .iter()
        .filter(|f| matches!(f.status, Status::NewerAtDestination | Status::Differs))
        .map(|f| (f.key.clone(), f.destination.clone()))
        .collect();
    resealed.not_started = candidates.clone();
    let ran = runner
        .run(
            candidates.into_iter().collect(),
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
        let at = (key, destination);
        resealed.not_started.remove(&at);
        let (key, destination) = (&at.0, &at.1);
        match outcome {
            Some(Ok(Reseal::Sealed(written))) => {
                let version = written.version_id.as_deref().unwrap_or("null");
                println!("resealed  {key}  {destination}  {version}");
                resealed.sealed.insert(at);
            }
            Some(Ok(Reseal::Proven(proof))) => {
                println!("reseal  {key}  {destination}  its bytes proven by the {proof}");
                resealed.sealed.insert(at);
            }
            Some(Ok(Reseal::Unproven(why))) => {
                resealed.unproven += 1;
                println!("unproven  {key}  {destination}  {why}");
            }
            Some(Ok(Reseal::NotNeeded)) | None => {}
            Some(Err(e)) => {
                println!("failed  {key}  {destination}  {}: {e}", e.code());
                resealed.failed.insert(at);
            }
        }
    }
    resealed
}

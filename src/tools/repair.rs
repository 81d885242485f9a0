//! Repair: a deep check, then each key it found missing, differing or stale replicated again
//! through the engine, to the destinations where it was (a replica that claims to be the
//! source's version but is not is written anew). Extra objects are left.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use super::compare::{self, Finding, Status, Tally};
use super::engine::{self, closing, replicate_keys, Work};
use super::progress::{Bar, Progress};
use super::reseal::{Resealed, Resealing};
use super::runner::{self, Runner};
use crate::error::ReplicationError;
use crate::events::EventKind;
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

/// Replicates again each key a check found missing or differing, to the destinations where it
/// did (a replica that claims to be the source's version but is not is written anew).
pub async fn repair<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    findings: &[Finding],
    unavailable: Vec<(String, ReplicationError)>,
    concurrency: u16,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(engine::Tally, Vec<engine::Failure>), ReplicationError> {
    let region = replicator.bucket_region(bucket).await?;
    let mut by_key: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings.iter().filter(|f| repairs(f)) {
        by_key.entry(&f.key).or_default().push(f);
    }
    let work = by_key
        .into_iter()
        .map(|(key, found)| {
            let work = Work {
                key: key.to_owned(),
                history: Vec::new(),
                bytes: 0,
                rewrite: Vec::new(),
                leave: Vec::new(),
                listed: None,
                metadata: Vec::new(),
            };
            match metadata_only(&found) {
                Some(metadata) => Work { metadata, ..work },
                None => Work {
                    rewrite: found.iter().map(|f| f.destination.clone()).collect(),
                    ..work
                },
            }
        })
        .collect();
    let runner = Runner {
        concurrency,
        progress,
        stop,
    };
    Ok(replicate_keys(replicator, bucket, &region, work, &runner, unavailable).await)
}
/// `repair`: `verify --deep` (its findings and counts printed), then the repair with a progress
/// bar, its failures and closing line; the exit status. Both run on the runner under one
/// Ctrl-C: stopped during the check, nothing is repaired and the closing line counts the keys
/// left.
pub async fn command<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: String,
    prefix: String,
    concurrency: u16,
    reseal: Option<Resealing>,
) -> ExitCode {
    let options = compare::Options {
        bucket: bucket.clone(),
        prefix,
        deep: true,
        explain_missing: true,
    };
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("verify");
    // The check reads (HEAD, tags, ACL of both sides) at verify's pace, not the copies'.
    let check = Runner {
        concurrency: compare::CONCURRENCY,
        progress: &progress,
        stop: &stop,
    };
    let checked = compare::check(replicator, &options, &check).await;
    progress.finish();
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => return runner::cannot_run("repair", &e),
    };
    let mut findings = checked.findings;
    compare::print_findings(&findings);
    println!("{}", Tally::of(&findings));
    let mut resealed = None;
    if let Some(resealing) = reseal {
        let progress = Bar::new("reseal");
        let runner = Runner {
            concurrency,
            progress: &progress,
            stop: &stop,
        };
        let done = super::reseal::reseal(replicator, &bucket, &findings, resealing, &runner).await;
        progress.finish();
        if resealing == Resealing::DryRun {
            return dry_run_closing(&done, &findings, &checked.unavailable, checked.not_started);
        }
        println!("{}", done.line(resealing, done.failed.len()));
        // A key resealed is a replica again: nothing more to repair there.
        findings.retain(|f| {
            !done
                .sealed
                .contains(&(f.key.clone(), f.destination.clone()))
        });
        resealed = Some(done);
    }
    // Destinations that could not be listed are named once, by the repair's closing lines.
    let progress = Bar::new("repair");
    let done = repair(
        replicator,
        &bucket,
        &findings,
        checked.unavailable,
        concurrency,
        &progress,
        &stop,
    )
    .await;
    progress.finish();
    // A key its check could not read may be damaged: it counts as failed; one it did not
    // reach is left, as a key the repair did not start.
    let unchecked = Tally::of(&findings).errors;
    closing(
        "repair",
        done.map(|(mut tally, failures)| {
            tally.failed += unchecked;
            tally.not_started += checked.not_started;
            if let Some(resealed) = &resealed {
                let (failed, left) = resealed_left(resealed, &failures, &findings);
                tally.failed += failed;
                tally.not_started += left;
            }
            (tally, failures)
        }),
    )
}

/// Whether repair acts on what a finding says: a replica missing, damaged or stale.
fn repairs(f: &Finding) -> bool {
    matches!(f.status, Status::Missing | Status::Differs | Status::Stale)
}

/// What the reseal before a repair adds to the repair's count: its failures (a key and
/// destination the repair also failed at counts once, as the repair counts each key once at
/// each destination) and the keys it did not start that the repair does not hold (stopped,
/// the repair starts none of its own, and counts those).
fn resealed_left(
    resealed: &Resealed,
    failures: &[engine::Failure],
    findings: &[Finding],
) -> (usize, usize) {
    let failed = resealed
        .failed
        .iter()
        .filter(|(key, destination)| {
            !failures
                .iter()
                .any(|(k, d, _)| k == key && d.as_ref().is_none_or(|d| d == destination))
        })
        .count();
    let repairing: BTreeSet<&str> = findings
        .iter()
        .filter(|f| repairs(f))
        .map(|f| f.key.as_str())
        .collect();
    let left = resealed
        .keys_not_started()
        .into_iter()
        .filter(|key| !repairing.contains(key))
        .count();
    (failed, left)
}

/// The close of `repair --reseal --dry-run`, which repairs nothing: the destinations its check
/// could not list, what a Ctrl-C left, then the reseal's line as the closing line, whose
/// `failed` counts the keys the check could not read too (as `backfill --dry-run` does). The
/// exit status is repair's: 130 when keys were left unchecked or not started, 1 when anything
/// failed or a destination could not be listed.
fn dry_run_closing(
    resealed: &Resealed,
    findings: &[Finding],
    unavailable: &[(String, ReplicationError)],
    not_checked: usize,
) -> ExitCode {
    let failed = resealed.failed.len() + Tally::of(findings).errors;
    let unavailable_words = compare::print_unavailable(unavailable);
    let line = resealed.line(Resealing::DryRun, failed);
    runner::close(
        &format!("{line}{unavailable_words}"),
        not_checked + resealed.keys_not_started().len(),
        failed + unavailable.len(),
    )
}

/// Where every finding of a key says only its tags or ACL differ (the replica's bytes and
/// record are the version's), the changes to sync in place, as the events for them would;
/// `None` where anything else needs the replica written again.
fn metadata_only(found: &[&Finding]) -> Option<Vec<(EventKind, Option<String>)>> {
    let mut kinds = Vec::new();
    for f in found {
        if f.status != Status::Differs {
            return None;
        }
        // `None`: an unversioned source's object, whose version is `null`.
        let version = f.version_id.clone();
        for field in f.detail.split(' ') {
            let kind = match field {
                "tags" => EventKind::TagsChanged,
                "acl" => EventKind::AclChanged,
                _ => return None,
            };
            if !kinds.contains(&(kind, version.clone())) {
                kinds.push((kind, version.clone()));
            }
        }
    }
    Some(kinds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(key: &str, status: Status) -> Finding {
        Finding {
            key: key.into(),
            version_id: None,
            destination: "dst".into(),
            status,
            detail: String::new(),
            size: 0,
            etag: String::new(),
        }
    }

    fn at(key: &str) -> (String, String) {
        (key.into(), "dst".into())
    }

    #[test]
    fn a_key_the_reseal_and_the_repair_both_left_counts_once() {
        let resealed = Resealed {
            failed: [at("both-failed"), at("reseal-failed")].into(),
            not_started: [at("repair-holds-it"), at("only-resealing")].into(),
            ..Resealed::default()
        };
        // Both failed at one key: the repair's failure, at that destination or at the source.
        for destination in [Some("dst".to_owned()), None] {
            let failures = vec![(
                "both-failed".to_owned(),
                destination,
                ReplicationError::DeadlineReached,
            )];
            let findings = [
                finding("repair-holds-it", Status::Differs),
                finding("only-resealing", Status::NewerAtDestination),
            ];
            // The repair counts `repair-holds-it` as not started (stopped, it starts none).
            assert_eq!(resealed_left(&resealed, &failures, &findings), (1, 1));
        }
        assert_eq!(resealed_left(&resealed, &[], &[]), (2, 2));
    }
}

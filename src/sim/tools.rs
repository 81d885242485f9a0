//! Invariant 7: the tools agree with each other over generated states (issue 35). Checked in
//! the final, quiet state of each history (and for the dry run also mid-history, where
//! backfill runs): the dry run's counts are the run's; `verify` is clean exactly when `repair`
//! would write nothing; the CLI's `verify` and a Batch Operations verify task give each key the
//! same status at each destination.

use std::sync::atomic::AtomicBool;

use super::world::World;
use super::Violation;
use crate::events::batch::{BatchJob, BatchTask, Mode, TaskObject};
use crate::fake::FakeS3;
use crate::replicate::Replicator;
use crate::tools::compare::{self, Finding, Status};
use crate::tools::progress::Quiet;
use crate::tools::runner::Runner;

type Sim = Replicator<FakeS3, FakeS3>;

fn violation7(class: &'static str, detail: String) -> Violation {
    Violation {
        invariant: 7,
        class,
        detail,
    }
}

/// A backfill of current versions after its dry run: the log line, and a violation where the
/// dry run's counts are not the run's.
pub(super) async fn backfill_after_its_dry_run(
    replicator: &Sim,
    bucket: &str,
    stop: &AtomicBool,
) -> (String, Option<Violation>) {
    let options = crate::tools::backfill::Options {
        bucket: bucket.to_owned(),
        prefix: String::new(),
        all_versions: false,
        concurrency: 2,
    };
    let runner = Runner {
        concurrency: 2,
        progress: &Quiet,
        stop,
    };
    let plan = match crate::tools::backfill::plan(replicator, &options, &runner).await {
        Ok(plan) => plan,
        Err(e) => return (format!("backfill {bucket} --dry-run: failed: {e}"), None),
    };
    let predicted = plan.counts();
    let done = crate::tools::backfill::backfill(replicator, &options, &Quiet, stop).await;
    let (tally, failures) = match done {
        Ok(done) => done,
        Err(e) => return (format!("backfill {bucket}: failed: {e}"), None),
    };
    let line = format!(
        "backfill {bucket}: {} ({} failures); the dry run said {predicted:?}",
        tally.summary("backfill"),
        failures.len()
    );
    let real = (tally.replicated, tally.in_sync, tally.skipped, tally.failed);
    let violation = (real != predicted).then(|| {
        violation7(
            "dry-run-counts-differ",
            format!(
                "{bucket}: dry run {predicted:?}, run {real:?}; {}",
                plan.findings
                    .iter()
                    .map(|f| format!("{} at {}: {} {}", f.key, f.destination, f.status, f.detail))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    });
    (line, violation)
}

/// Whether a finding is damage (what `verify` fails on).
fn damage(f: &Finding) -> bool {
    matches!(
        f.status,
        Status::Missing | Status::Differs | Status::Stale | Status::Error
    )
}

impl World {
    /// Invariant 7 on one source of function `f`, in the final state: returns the violations.
    /// `findings` are `verify --deep`'s, just made.
    pub(super) async fn check_agreement(
        &mut self,
        f: usize,
        bucket: &str,
        findings: &[Finding],
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        out.extend(self.cli_and_batch_agree(f, bucket).await);
        // verify clean exactly when repair writes nothing.
        let clean = !findings.iter().any(damage);
        let stop = AtomicBool::new(false);
        let replicator = &self.replicators[f];
        let repaired = crate::tools::repair::repair(
            replicator,
            bucket,
            findings,
            Vec::new(),
            2,
            &Quiet,
            &stop,
        )
        .await;
        let Ok((tally, failures)) = repaired else {
            return out;
        };
        self.log.push(format!(
            "final repair {bucket}: {} ({} failures)",
            tally.summary("repair"),
            failures.len()
        ));
        if clean && tally.replicated > 0 {
            out.push(violation7(
                "repair-writes-where-verify-is-clean",
                format!("{bucket}: {}", tally.summary("repair")),
            ));
        }
        if !clean && tally.replicated == 0 && tally.failed == 0 {
            let damaged: Vec<String> = findings
                .iter()
                .filter(|f| damage(f))
                .map(|f| format!("{} at {}: {} {}", f.key, f.destination, f.status, f.detail))
                .collect();
            out.push(violation7(
                "verify-damage-repair-leaves",
                format!("{bucket}: {}", damaged.join("; ")),
            ));
        }
        self.collect_notices();
        out
    }

    /// The CLI's `verify` (as HEAD sees it: tags and ACL aside) and a Batch verify task for
    /// every key the source lists or has deleted: the same status at each destination.
    async fn cli_and_batch_agree(&mut self, f: usize, bucket: &str) -> Vec<Violation> {
        let replicator = &self.replicators[f];
        let options = compare::Options {
            bucket: bucket.to_owned(),
            prefix: String::new(),
            deep: true,
            explain_missing: true,
        };
        let Ok(findings) = compare::verify(replicator, &options).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut keys: Vec<&str> = findings
            .iter()
            .filter(|f| f.status != Status::Extra)
            .map(|f| f.key.as_str())
            .collect();
        keys.dedup();
        let job = BatchJob {
            schema: "2.0".to_owned(),
            invocation_id: "sim".to_owned(),
            job_id: "sim".to_owned(),
            mode: Ok(Mode::Verify),
            from: None,
            read_at: None,
            tasks: keys
                .iter()
                .enumerate()
                .map(|(i, key)| BatchTask {
                    task_id: i.to_string(),
                    object: Ok(TaskObject {
                        bucket: bucket.to_owned(),
                        key: (*key).to_owned(),
                        version_id: None,
                    }),
                })
                .collect(),
        };
        let response = crate::tools::batch::run_job(replicator, job, None, None).await;
        for (key, result) in keys.iter().zip(&response.results) {
            for cli in findings.iter().filter(|f| f.key == *key) {
                let cli_status = as_head_sees(cli);
                let batch = batch_status(&result.result_string, &cli.destination);
                if batch.as_deref() != Some(cli_status) {
                    out.push(violation7(
                        "cli-and-batch-verify-disagree",
                        format!(
                            "{bucket}/{key} at {}: verify {} ({}), batch {:?}",
                            cli.destination, cli.status, cli.detail, result.result_string
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// A CLI finding's status as a HEAD-level check sees it: tags and ACL are `--deep`'s alone.
fn as_head_sees(f: &Finding) -> &'static str {
    let only_tags_or_acl = f.status == Status::Differs
        && f.detail
            .split(' ')
            .all(|field| field.starts_with("tags") || field.starts_with("acl"));
    match f.status {
        _ if only_tags_or_acl => "same",
        Status::Same => "same",
        Status::Missing => "missing",
        Status::Differs => "differs",
        Status::Unproven => "unproven",
        Status::Skipped => "skipped",
        Status::Stale => "stale",
        Status::NewerAtDestination => "newer-at-destination",
        Status::Extra => "extra",
        Status::Error => "error",
    }
}

/// The status a Batch verify task's result string gives `destination` (named where the task
/// had several): its first word.
fn batch_status(result: &str, destination: &str) -> Option<String> {
    let parts: Vec<&str> = result.split("; ").collect();
    let text = match parts.as_slice() {
        [one] if !one.starts_with(&format!("{destination}: ")) => *one,
        _ => parts
            .iter()
            .find_map(|p| p.strip_prefix(&format!("{destination}: ")))?,
    };
    let word = text.split([':', ' ']).next().unwrap_or_default().to_owned();
    Some(word)
}

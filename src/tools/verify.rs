//! Verify: the comparison of every current source object with its replicas (`compare`), each
//! key's status printed but `same`, optionally written to a `--report` CSV, and the counts.

use std::path::PathBuf;
use std::process::ExitCode;

use super::compare::{self, print_findings, print_unavailable, Finding, Options, Tally};
use super::progress::Bar;
use super::runner::{self, Runner};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

/// `verify`: the check on the runner (`concurrency` keys at once, a progress bar, Ctrl-C), the
/// findings, the report, the counts; the exit status (0 when nothing is missing, differs, is
/// stale or failed; 130 when stopped, with what was checked so far).
pub async fn command<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    report: Option<PathBuf>,
    concurrency: u16,
) -> ExitCode {
    if let Some(status) = runner::report_writable("verify", report.as_deref()) {
        return status;
    }
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("verify");
    let run = Runner {
        concurrency,
        progress: &progress,
        stop: &stop,
    };
    let checked = compare::check(replicator, options, &run).await;
    progress.finish();
    let checked = match checked {
        Ok(checked) => checked,
        Err(e) => return runner::cannot_run("verify", &e),
    };
    if let Some(path) = report {
        if let Err(e) = write_report(&path, &options.bucket, &checked.findings) {
            eprintln!("verify: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    print_findings(&checked.findings);
    // A destination that could not be listed is named with its reason and counted; the others
    // were checked all the same.
    let unavailable = print_unavailable(&checked.unavailable);
    let tally = Tally::of(&checked.findings);
    let failed = usize::from(!tally.complete()) + checked.unavailable.len();
    runner::close(
        &format!("{tally}{unavailable}"),
        checked.not_started,
        failed,
    )
}

/// The findings as CSV, one row per key and destination.
pub fn write_report(
    path: &std::path::Path,
    bucket: &str,
    findings: &[Finding],
) -> Result<(), csv::Error> {
    let header = [
        "source_bucket",
        "key",
        "version_id",
        "destination",
        "status",
        "detail",
    ];
    let rows = findings.iter().map(|f| {
        vec![
            bucket.to_owned(),
            f.key.clone(),
            f.version_id.clone().unwrap_or_default(),
            f.destination.clone(),
            f.status.to_string(),
            f.detail.clone(),
        ]
    });
    runner::write_report(path, &header, rows)
}

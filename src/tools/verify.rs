//! Verify: the comparison of every current source object with its replicas (`compare`), each
//! key's status printed but `same`, optionally written to a `--report` CSV, and the counts.

use std::path::PathBuf;
use std::process::ExitCode;

use super::compare::{self, print_findings, Finding, Options, Tally};
use super::runner;
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

/// `verify`: the findings, the report, the counts; the exit status (0 when nothing is missing,
/// differs, is stale or failed).
pub async fn command<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    report: Option<PathBuf>,
) -> ExitCode {
    let findings = match compare::verify(replicator, options).await {
        Ok(findings) => findings,
        Err(e) => return runner::cannot_run("verify", &e),
    };
    if let Some(path) = report {
        if let Err(e) = write_report(&path, &options.bucket, &findings) {
            eprintln!("verify: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    print_findings(&findings);
    let tally = Tally::of(&findings);
    let failed = usize::from(!tally.complete());
    runner::close(&tally.to_string(), 0, failed)
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

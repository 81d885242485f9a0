//! Point-in-time restore: each key of a bucket brought back to how it was at a time T, from the
//! bucket's own version history or from a replica's (each replica taken at its original write
//! time), copied back server-side with full fidelity as the key's new current version. History
//! is never deleted: a key newer than T can be hidden under a delete marker, nothing more.
//!
//! A run plans each key (`plan`: its state at T, and whether it already is that) and applies
//! what the plan says (`apply`); `report` holds the rows and counts, `task` a Batch
//! Operations restore task.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use super::cost::cost_line;
use super::progress::{Bar, Progress};
use super::runner::{self, Runner};
use crate::error::{ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{DestinationStore, SourceStore};

mod apply;
mod from;
mod plan;
mod report;
mod task;

use apply::one_key;
pub use plan::Uncertain;
use plan::{by_key, History};
use report::Requests;
pub use report::{write_manifest, Action, Row, Tally};
pub use task::{restore_task, TaskOutcome};

/// Keys restored at once unless `--concurrency` says otherwise.
pub const CONCURRENCY: u16 = 16;

/// What to restore.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bucket to bring back.
    pub bucket: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// T, in milliseconds since the epoch.
    pub as_of: i64,
    /// Take the history from this replica bucket instead of the bucket's own.
    pub from: Option<String>,
    /// Hide keys that did not exist at T under a delete marker.
    pub delete_newer: bool,
    /// How to count a multipart version that may have completed either side of T.
    pub uncertain: Uncertain,
    /// Write nothing; say what would be done.
    pub dry_run: bool,
    /// Keys worked on at once.
    pub concurrency: u16,
}

/// Why a restore could not start.
#[derive(Debug)]
pub enum RestoreError {
    /// The bucket's versioning is not Enabled: it has no history to restore from, and a copy
    /// would overwrite the only version.
    NotVersioned(String),
    /// Reading what is needed failed.
    Failed(ReplicationError),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::NotVersioned(bucket) => write!(
                f,
                "versioning is required: bucket {bucket} does not have versioning Enabled, so it keeps no history to restore from and a copy would overwrite its only version"
            ),
            RestoreError::Failed(e) => write!(f, "{}: {e}", e.code()),
        }
    }
}

impl From<ReplicationError> for RestoreError {
    fn from(e: ReplicationError) -> Self {
        RestoreError::Failed(e)
    }
}

/// Brings every key under the prefix back to how it was at T; the counts and one row per key.
pub async fn restore<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Row>), RestoreError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let region = replicator.bucket_region(&options.bucket).await?;
    let source = replicator.source();
    if !source
        .versioning_enabled(&region, &options.bucket)
        .await
        .map_err(src)?
    {
        return Err(RestoreError::NotVersioned(options.bucket.clone()));
    }
    let own = by_key(
        source
            .history(&region, &options.bucket, &options.prefix)
            .await
            .map_err(src)?,
    );
    let mut tally = Tally {
        get_class: 2,
        put_class: 1,
        ..Tally::default()
    };
    let (replica, theirs) = match &options.from {
        None => (None, None),
        Some(from) => {
            let from_region = replicator.bucket_region(from).await?;
            let listed = source
                .history(&from_region, from, &options.prefix)
                .await
                .map_err(src)?;
            tally.get_class += 1;
            tally.put_class += 1;
            (
                Some(History {
                    bucket: from,
                    region: from_region,
                }),
                Some(by_key(listed)),
            )
        }
    };
    let mut keys: Vec<&String> = own
        .keys()
        .chain(theirs.iter().flat_map(|t| t.keys()))
        .collect();
    keys.sort();
    keys.dedup();
    let empty = Vec::new();
    let runner = Runner {
        concurrency: options.concurrency,
        progress,
        stop,
    };
    let (replica, region) = (replica.as_ref(), &region);
    let ran = runner
        .run(
            keys,
            |_| 0,
            |key| {
                let now = own.get(key).unwrap_or(&empty);
                let past = theirs.as_ref().and_then(|t| t.get(key)).unwrap_or(&empty);
                let under: usize = own
                    .range::<String, _>(key..)
                    .take_while(|(k, _)| k.starts_with(key.as_str()))
                    .map(|(_, v)| v.len())
                    .sum();
                async move {
                    let mut requests = Requests::default();
                    let row = one_key(
                        replicator,
                        options,
                        region,
                        replica,
                        key,
                        now,
                        past,
                        &mut requests,
                        under,
                    )
                    .await;
                    let bytes = row.bytes;
                    ((row, requests), bytes)
                }
            },
        )
        .await;
    let mut rows: Vec<Row> = Vec::new();
    tally.not_started = ran.not_started as u64;
    for (row, requests) in ran.outcomes {
        tally.add(&row);
        tally.put_class += requests.put;
        tally.get_class += requests.get;
        rows.push(row);
    }
    // A listing page holds up to 1,000 entries.
    let entries: usize = own.values().map(Vec::len).sum::<usize>()
        + theirs
            .as_ref()
            .map_or(0, |t| t.values().map(Vec::len).sum::<usize>());
    tally.put_class += (entries / 1000) as u64;
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((tally, rows))
}

/// `restore`: the run with a progress bar and Ctrl-C, the manifest (`--manifest-out`), the
/// report, each key worth reading, the closing line (and for a dry run the cost); the exit
/// status.
pub async fn command<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    report: Option<PathBuf>,
    manifest_out: Option<PathBuf>,
) -> ExitCode {
    if let Some(status) = runner::report_writable("restore", report.as_deref()) {
        return status;
    }
    let stop = runner::stop_on_ctrl_c();
    let progress = Bar::new("restore");
    // When the plan read the bucket: a Batch task never replaces a write made since.
    let read_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let done = restore(replicator, options, &progress, &stop).await;
    progress.finish();
    if let (Some(path), Ok((_, rows))) = (&manifest_out, &done) {
        // The bucket a job writes into is the one its manifest names: the restored one.
        if let Err(e) = write_manifest(path, &options.bucket, rows) {
            eprintln!("restore: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        let from = match &options.from {
            Some(from) => format!(", \"From\": \"{from}\""),
            None => String::new(),
        };
        println!(
            "restore: manifest written to {}; run it as a Batch Operations job with userArguments {{\"Mode\": \"restore\"{from}, \"ReadAt\": \"{read_at}\"}}",
            path.display()
        );
    }
    restored(done, options, report.as_deref())
}

/// Prints a restore's rows worth reading, its report, closing line (and, for a dry run, bytes
/// and cost); the exit status.
fn restored(
    done: Result<(Tally, Vec<Row>), RestoreError>,
    options: &Options,
    report: Option<&Path>,
) -> ExitCode {
    let (tally, rows) = match done {
        Ok(done) => done,
        Err(e @ RestoreError::NotVersioned(_)) => {
            eprintln!("restore: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("restore: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = report {
        let header = ["key", "action", "version", "reason"];
        let lines = rows.iter().map(|r| {
            let version = r.version.clone().unwrap_or_default();
            vec![
                r.key.clone(),
                r.action.to_string(),
                version,
                r.reason.clone(),
            ]
        });
        if let Err(e) = runner::write_report(path, &header, lines) {
            eprintln!("restore: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let lines: Vec<Vec<String>> = rows
        .iter()
        .filter(|r| r.action != Action::AlreadyAsOf)
        .map(|r| {
            let verb = match (options.dry_run, r.action) {
                (true, Action::Restored) => "would restore".to_owned(),
                (true, Action::Deleted) => "would delete".to_owned(),
                (_, action) => action.to_string(),
            };
            let version = r.version.clone().unwrap_or_else(|| "-".to_owned());
            vec![verb, r.key.clone(), version, r.reason.clone()]
        })
        .collect();
    for line in runner::columns(&lines) {
        println!("{line}");
    }
    let mut closing = tally.summary(options.dry_run);
    if options.dry_run {
        closing += "\n";
        closing += &cost_line("restore", tally.bytes, tally.put_class, tally.get_class);
    }
    runner::close(&closing, tally.not_started as usize, tally.failed as usize)
}

//! The command-line mode of the same binary: argument parsing and output, wiring only. The
//! configuration is the function's (`REPLICATION_CONFIG` and the shorthand variables, or
//! `--config FILE`), the credentials and endpoint the caller's usual SDK ones.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

use crate::backfill;
use crate::error::ReplicationError;
use crate::verify::{self, Finding, Options, Status, Tally};

/// s3-replicator: run by Lambda without arguments; with a subcommand, a command-line tool that
/// uses the same configuration and replication code.
#[derive(Debug, Parser)]
#[command(name = "s3-replicator", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The replication-configuration JSON, instead of REPLICATION_CONFIG / DESTINATION_BUCKET.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prove every current source object the rules select has its replica: listings only
    /// (size, ETag, storage class), or with --deep also headers, user metadata, the replica
    /// marker, tags and ACL. Exit status 0 when nothing is missing, differs or failed.
    Verify {
        /// The source bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Also HEAD both sides and compare metadata, tags and ACL.
        #[arg(long)]
        deep: bool,
        /// Write every key's status as CSV
        /// (source_bucket,key,version_id,destination,status,detail).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Replicate every existing object the rules select, with the same engine as events (a
    /// replica already in sync copies nothing). Exit status 0 when nothing failed.
    Backfill {
        /// The source bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Every version of each key, oldest first, then its current version (a destination
        /// that held none of the key keeps the source's order).
        #[arg(long)]
        all_versions: bool,
        /// Only list what would be replicated (current versions, from listings as verify does).
        #[arg(long)]
        dry_run: bool,
        /// Keys replicated at once.
        #[arg(long, default_value_t = backfill::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// Bring every key back to how it was at a time: its version of that time copied back as
    /// the current one (from the bucket's own history, or a replica's). History is kept: keys
    /// newer than that time are left, or hidden under a delete marker with --delete-newer.
    /// Exit status 0 when nothing failed.
    Restore {
        /// The bucket to bring back (versioning must be Enabled).
        #[arg(long)]
        bucket: String,
        /// The time, RFC 3339 (2026-11-01T10:00:00Z, offsets allowed).
        #[arg(long, value_name = "TIME")]
        as_of: String,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Take the history from this replica bucket, each version at its original write time.
        #[arg(long, value_name = "REPLICA_BUCKET")]
        from: Option<String>,
        /// Hide keys that did not exist at that time under a delete marker.
        #[arg(long)]
        delete_newer: bool,
        /// Write nothing: say what would be done, the bytes to copy and the request cost.
        #[arg(long)]
        dry_run: bool,
        /// Write every key's outcome as CSV (key,action,version,reason).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// Write nothing; write the versions to bring back as an S3 Batch Operations CSV
        /// manifest (bucket,key,version), for a job with userArguments Mode "restore".
        #[arg(long, value_name = "FILE")]
        manifest_out: Option<PathBuf>,
        /// Keys restored at once.
        #[arg(long, default_value_t = crate::restore::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
    /// verify --deep, then replicate again what is missing or differs (to the destinations
    /// where it does). Extra objects are left. Exit status 0 when nothing failed.
    Repair {
        /// The source bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Keys replicated at once.
        #[arg(long, default_value_t = backfill::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
    },
}

/// Runs the command line `args` (the program name first); the process's exit status.
pub async fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    // Usage errors print clap's message and exit 2.
    let cli = Cli::parse_from(args);
    let config_file = match &cli.config {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) => {
                eprintln!("invalid configuration: --config {}: {e}", path.display());
                return ExitCode::from(2);
            }
        },
    };
    let var = |name: &str| match (&config_file, name) {
        (Some(text), "REPLICATION_CONFIG") => Some(text.clone()),
        // A configuration file replaces the shorthand variables.
        (Some(_), "DESTINATION_BUCKET" | "DESTINATION_REGION" | "REPLICATE_PREFIXES")
        | (Some(_), "STORAGE_CLASS" | "REPLICA_KMS_KEY_ID") => None,
        _ => std::env::var(name).ok(),
    };
    let sdk = crate::sdk::load().await;
    let replicator = match crate::wiring::load(&sdk, var).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            if cli.config.is_none() {
                eprintln!("(read from the environment; --config FILE reads the configuration JSON from a file)");
            }
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Restore {
            bucket,
            as_of,
            prefix,
            from,
            delete_newer,
            dry_run,
            report,
            manifest_out,
            concurrency,
        } => {
            let as_of = match chrono::DateTime::parse_from_rfc3339(&as_of) {
                Ok(t) => t.timestamp_millis(),
                Err(e) => {
                    eprintln!("restore: --as-of {as_of:?} is not an RFC 3339 time (2026-11-01T10:00:00Z): {e}");
                    return ExitCode::from(2);
                }
            };
            let options = crate::restore::Options {
                bucket,
                prefix,
                as_of,
                from,
                delete_newer,
                // A manifest is a plan for a job to carry out: nothing is written here.
                dry_run: dry_run || manifest_out.is_some(),
                concurrency,
            };
            let stop = stop_on_ctrl_c();
            let progress = Bar::new("restore");
            let done = crate::restore::restore(&replicator, &options, &progress, &stop).await;
            progress.finish();
            if let (Some(path), Ok((_, rows))) = (&manifest_out, &done) {
                let bucket = options.from.as_deref().unwrap_or(&options.bucket);
                if let Err(e) = crate::restore::write_manifest(path, bucket, rows) {
                    eprintln!("restore: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            restored(done, &options, report.as_deref())
        }
        Command::Backfill {
            bucket,
            prefix,
            dry_run: true,
            ..
        } => {
            let options = Options {
                bucket,
                prefix,
                deep: false,
                explain_missing: true,
            };
            let Some(findings) = checked("backfill", verify::verify(&replicator, &options).await)
            else {
                return ExitCode::FAILURE;
            };
            let todo: Vec<&Finding> = findings
                .iter()
                .filter(|f| matches!(f.status, Status::Missing | Status::Differs))
                .collect();
            for f in &todo {
                println!("would replicate {} -> {}", f.key, f.destination);
            }
            for f in findings.iter().filter(|f| f.status == Status::Error) {
                println!("failed   {} -> {}  {}", f.key, f.destination, f.detail);
            }
            let tally = Tally::of(&findings);
            // What a real run would say: an unproven replica names the current version (in
            // sync); a deliberate skip and a later write at a destination are skipped.
            println!(
                "backfill (dry run): {} to replicate, {} already in sync, {} skipped, {} failed",
                todo.len(),
                tally.same + tally.unproven,
                tally.skipped + tally.newer_at_destination,
                tally.errors
            );
            // Each copy: HEAD of the source, its ACL and the destination's current object, then
            // the copy itself; the listings of both sides, a page per 1,000 keys.
            let settings = &replicator.config().copy;
            let bytes: u64 = todo.iter().map(|f| f.size).sum();
            let copies: u64 = todo
                .iter()
                .map(|f| crate::restore::copy_requests(f.size, settings))
                .sum();
            let listings = 2 * (findings.len() as u64 / 1000 + 1);
            let line = crate::restore::cost_line(
                "backfill",
                bytes,
                copies + listings,
                3 * todo.len() as u64,
            );
            println!("{line}");
            match tally.errors {
                0 => ExitCode::SUCCESS,
                _ => ExitCode::FAILURE,
            }
        }
        Command::Backfill {
            bucket,
            prefix,
            all_versions,
            concurrency,
            ..
        } => {
            let options = backfill::Options {
                bucket,
                prefix,
                all_versions,
                concurrency,
            };
            let stop = stop_on_ctrl_c();
            let progress = Bar::new("backfill");
            let done = backfill::backfill(&replicator, &options, &progress, &stop).await;
            progress.finish();
            closing("backfill", done)
        }
        Command::Repair {
            bucket,
            prefix,
            concurrency,
        } => {
            let options = Options {
                bucket: bucket.clone(),
                prefix,
                deep: true,
                explain_missing: true,
            };
            let Some(findings) = checked("repair", verify::verify(&replicator, &options).await)
            else {
                return ExitCode::FAILURE;
            };
            print_findings(&findings);
            println!("{}", Tally::of(&findings));
            let stop = stop_on_ctrl_c();
            let progress = Bar::new("repair");
            let done = backfill::repair(
                &replicator,
                &bucket,
                &findings,
                concurrency,
                &progress,
                &stop,
            )
            .await;
            progress.finish();
            // A key its check could not read may be damaged: it counts as failed.
            let unchecked = Tally::of(&findings).errors;
            closing(
                "repair",
                done.map(|(mut tally, failures)| {
                    tally.failed += unchecked;
                    (tally, failures)
                }),
            )
        }
        Command::Verify {
            bucket,
            prefix,
            deep,
            report,
        } => {
            let options = Options {
                bucket,
                prefix,
                deep,
                explain_missing: true,
            };
            let Some(findings) = checked("verify", verify::verify(&replicator, &options).await)
            else {
                return ExitCode::FAILURE;
            };
            if let Some(path) = report {
                if let Err(e) = write_report(&path, &options.bucket, &findings) {
                    eprintln!("verify: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            print_findings(&findings);
            let tally = Tally::of(&findings);
            println!("{tally}");
            if tally.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The findings, or `None` after printing why there are none.
fn checked(verb: &str, findings: Result<Vec<Finding>, ReplicationError>) -> Option<Vec<Finding>> {
    findings
        .map_err(|e| eprintln!("{verb}: {}: {e}", e.code()))
        .ok()
}

fn print_findings(findings: &[Finding]) {
    for f in findings.iter().filter(|f| f.status != Status::Same) {
        println!(
            "{:<8} {} -> {}  {}",
            f.status, f.key, f.destination, f.detail
        );
    }
}

/// Prints a backfill's or repair's failures and closing line; the exit status.
fn closing(
    verb: &str,
    done: Result<(backfill::Tally, Vec<backfill::Failure>), ReplicationError>,
) -> ExitCode {
    match done {
        Ok((tally, failures)) => {
            for (key, destination, e) in &failures {
                let to = destination.as_deref().unwrap_or("-");
                println!("failed   {key} -> {to}  {}: {e}", e.code());
            }
            println!("{}", tally.summary(verb));
            if tally.not_started > 0 {
                ExitCode::from(130)
            } else if tally.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("{verb}: {}: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

/// Prints a restore's rows worth reading, its report, closing line (and, for a dry run, bytes
/// and cost); the exit status.
fn restored(
    done: Result<(crate::restore::Tally, Vec<crate::restore::Row>), crate::restore::RestoreError>,
    options: &crate::restore::Options,
    report: Option<&std::path::Path>,
) -> ExitCode {
    use crate::restore::{Action, RestoreError};
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
        let written = (|| -> Result<(), csv::Error> {
            let mut out = csv::Writer::from_path(path)?;
            out.write_record(["key", "action", "version", "reason"])?;
            for r in &rows {
                let version = r.version.as_deref().unwrap_or("");
                out.write_record([r.key.as_str(), &r.action.to_string(), version, &r.reason])?;
            }
            out.flush()?;
            Ok(())
        })();
        if let Err(e) = written {
            eprintln!("restore: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    for r in rows.iter().filter(|r| r.action != Action::AlreadyAsOf) {
        let verb = match (options.dry_run, r.action) {
            (true, Action::Restored) => "would restore".to_owned(),
            (true, Action::Deleted) => "would delete".to_owned(),
            (_, action) => action.to_string(),
        };
        let version = r.version.as_deref().unwrap_or("-");
        println!("{verb:<13} {}  {version}  {}", r.key, r.reason);
    }
    println!("{}", tally.summary(options.dry_run));
    if options.dry_run {
        let line =
            crate::restore::cost_line("restore", tally.bytes, tally.put_class, tally.get_class);
        println!("{line}");
    }
    if tally.not_started > 0 {
        ExitCode::from(130)
    } else if tally.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Set by the first Ctrl-C: no new key is started, and those in hand finish (a multipart copy
/// left by a second Ctrl-C, which quits at once, is resumed by the next run).
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("stopping: finishing the keys in hand (Ctrl-C again to quit now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}

/// Progress on a terminal as a bar (keys, bytes, rate, ETA); otherwise a plain line every
/// [`LINE_EVERY`].
struct Bar {
    verb: &'static str,
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
}

/// How often progress is printed when stdout is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Plain {
    keys: u64,
    total: u64,
    bytes: u64,
    started: Option<Instant>,
    printed: Option<Instant>,
}

impl Bar {
    fn new(verb: &'static str) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {wide_bar} {pos}/{len} keys, {msg} {rate} ETA {eta}",
                )
                .map(|style| {
                    // indicatif's own {per_sec} prints `14.0332/s`: whole keys, with the unit.
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0} keys/s", state.per_sec());
                        },
                    )
                })
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(verb);
            bar
        });
        Self {
            verb,
            bar,
            plain: Mutex::new(Plain::default()),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl backfill::Progress for Bar {
    fn planned(&self, keys: u64, _bytes: u64) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.total = keys;
        plain.started = Some(Instant::now());
        if let Some(bar) = &self.bar {
            bar.set_length(keys);
        }
    }

    fn done(&self, bytes: u64) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.keys += 1;
        plain.bytes += bytes;
        if let Some(bar) = &self.bar {
            bar.set_message(HumanBytes(plain.bytes).to_string());
            bar.inc(1);
            return;
        }
        let now = Instant::now();
        let last = plain.printed.or(plain.started).unwrap_or(now);
        if now - last >= LINE_EVERY {
            let secs = plain.started.map_or(0.0, |s| (now - s).as_secs_f64());
            println!(
                "{}: {}/{} keys, {}, {:.0} keys/s",
                self.verb,
                plain.keys,
                plain.total,
                HumanBytes(plain.bytes),
                plain.keys as f64 / secs.max(0.001)
            );
            plain.printed = Some(now);
        }
    }
}

/// The findings as CSV, one row per key and destination.
pub fn write_report(
    path: &std::path::Path,
    bucket: &str,
    findings: &[Finding],
) -> Result<(), csv::Error> {
    let mut out = csv::Writer::from_path(path)?;
    out.write_record([
        "source_bucket",
        "key",
        "version_id",
        "destination",
        "status",
        "detail",
    ])?;
    for f in findings {
        out.write_record([
            bucket,
            &f.key,
            f.version_id.as_deref().unwrap_or(""),
            &f.destination,
            &f.status.to_string(),
            &f.detail,
        ])?;
    }
    out.flush()?;
    Ok(())
}

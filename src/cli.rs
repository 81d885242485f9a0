//! The command-line mode of the same binary: argument parsing and output, wiring only. The
//! configuration is the function's (`REPLICATION_CONFIG` and the shorthand variables, or
//! `--config FILE`), the credentials and endpoint the caller's usual SDK ones.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Replicate the current version of every existing object the rules select, with the same
    /// engine as events (a replica already in sync copies nothing). Exit status 0 when nothing
    /// failed.
    Backfill {
        /// The source bucket.
        #[arg(long)]
        bucket: String,
        /// Only keys under this prefix.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Only list what would be replicated (from listings, as verify does).
        #[arg(long)]
        dry_run: bool,
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
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let replicator = match crate::wiring::build(&sdk, var) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Backfill {
            bucket,
            prefix,
            dry_run: true,
        } => {
            let options = Options {
                bucket,
                prefix,
                deep: false,
            };
            let findings = match verify::verify(&replicator, &options).await {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("backfill: {}: {e}", e.code());
                    return ExitCode::FAILURE;
                }
            };
            let todo: Vec<&Finding> = findings
                .iter()
                .filter(|f| matches!(f.status, Status::Missing | Status::Differs))
                .collect();
            for f in &todo {
                println!("would replicate {} -> {}", f.key, f.destination);
            }
            let tally = Tally::of(&findings);
            println!(
                "backfill (dry run): {} to replicate, {} already in sync",
                todo.len(),
                tally.same
            );
            ExitCode::SUCCESS
        }
        Command::Backfill {
            bucket,
            prefix,
            dry_run: false,
        } => match crate::backfill::backfill(&replicator, &bucket, &prefix).await {
            Ok((tally, failures)) => {
                for (key, destination, e) in &failures {
                    let to = destination.as_deref().unwrap_or("-");
                    println!("failed   {key} -> {to}  {}: {e}", e.code());
                }
                println!("{tally}");
                if tally.failed == 0 {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("backfill: {}: {e}", e.code());
                ExitCode::FAILURE
            }
        },
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
            };
            let findings = match verify::verify(&replicator, &options).await {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("verify: {}: {e}", e.code());
                    return ExitCode::FAILURE;
                }
            };
            if let Some(path) = report {
                if let Err(e) = write_report(&path, &options.bucket, &findings) {
                    eprintln!("verify: writing {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
            }
            for f in findings.iter().filter(|f| f.status != Status::Same) {
                println!(
                    "{:<8} {} -> {}  {}",
                    f.status, f.key, f.destination, f.detail
                );
            }
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

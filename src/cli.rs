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

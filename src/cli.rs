//! The command-line mode of the same binary: argument parsing and wiring only (each command is
//! run by its tool under `tools/`). The configuration is the function's (`REPLICATION_CONFIG` and
//! the shorthand variables, or `--config FILE`), the credentials and endpoint the caller's usual
//! SDK ones.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::tools::{backfill, compare, repair, restore, verify};

/// s3-replicator: run by Lambda without arguments; with a subcommand, a command-line tool that
/// uses the same configuration and replication code.
#[derive(Debug, Parser)]
// Help wrapped at the terminal's width, at most 100 columns (the doc comments are paragraphs).
#[command(name = "s3-replicator", version, about, max_term_width = 100)]
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
        /// Keys checked at once.
        #[arg(long, default_value_t = compare::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: u16,
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
        /// A multipart version whose completion may fall either side of the time (S3 records
        /// only its upload's start) makes its key `uncertain`, left alone; `before` or `after`
        /// counts every such version as completed before or after the time instead.
        #[arg(long, value_name = "before|after", value_parser = ["before", "after"])]
        uncertain: Option<String>,
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
        #[arg(long, default_value_t = restore::CONCURRENCY, value_parser = clap::value_parser!(u16).range(1..=256))]
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
        /// First reseal the replicas written before the record key was turned on (or under
        /// another key) whose bytes are proven the source version's: copied onto themselves
        /// with a sealed record (needs REPLICA_RECORD_KEY_SECRET_ARN).
        #[arg(long)]
        reseal: bool,
        /// With --reseal: only count and list what would be resealed; nothing is written.
        #[arg(long, requires = "reseal")]
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
    // A configuration error: one line naming it (and where it was read from); exit 2.
    let invalid = |e: &dyn std::fmt::Display| {
        eprintln!(
            "{}",
            configuration_error(&e.to_string(), cli.config.as_deref())
        );
        if cli.config.is_none() {
            eprintln!("(read from the environment; --config FILE reads the configuration JSON from a file)");
        }
        ExitCode::from(2)
    };
    // It is told first: it needs no credentials to find.
    let config = match crate::Config::from_env(var) {
        Ok(config) => config,
        Err(e) => return invalid(&e),
    };
    // The tools act where the function may: only on its own source buckets.
    if let Some(refused) = outside_sources(&cli.command, &config) {
        eprintln!("{refused}");
        return ExitCode::from(2);
    }
    let sdk = crate::sdk::load().await;
    if let Some(problem) = crate::sdk::credentials_problem(&sdk).await {
        eprintln!("s3-replicator: {problem}");
        return ExitCode::from(2);
    }
    let replicator = match crate::wiring::load(&sdk, var).await {
        Ok(r) => r,
        Err(e) => return invalid(&e),
    };
    match cli.command {
        Command::Restore {
            bucket,
            as_of,
            prefix,
            from,
            delete_newer,
            uncertain,
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
            let options = restore::Options {
                bucket,
                prefix,
                as_of,
                from,
                delete_newer,
                uncertain: match uncertain.as_deref() {
                    Some("before") => restore::Uncertain::Before,
                    Some("after") => restore::Uncertain::After,
                    _ => restore::Uncertain::Report,
                },
                // A manifest is a plan for a job to carry out: nothing is written here.
                dry_run: dry_run || manifest_out.is_some(),
                concurrency,
            };
            restore::command(&replicator, &options, report, manifest_out).await
        }
        Command::Backfill {
            bucket,
            prefix,
            dry_run: true,
            ..
        } => backfill::dry_run(&replicator, bucket, prefix).await,
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
            backfill::command(&replicator, &options).await
        }
        Command::Repair {
            bucket,
            prefix,
            concurrency,
            reseal,
            dry_run,
        } => {
            let reseal = reseal.then_some(match dry_run {
                true => crate::tools::reseal::Resealing::DryRun,
                false => crate::tools::reseal::Resealing::Write,
            });
            repair::command(&replicator, bucket, prefix, concurrency, reseal).await
        }
        Command::Verify {
            bucket,
            prefix,
            deep,
            report,
            concurrency,
        } => {
            let options = compare::Options {
                bucket,
                prefix,
                deep,
                explain_missing: true,
            };
            verify::command(&replicator, &options, report, concurrency).await
        }
    }
}

/// Why `command` may not run: its `--bucket` is outside a non-empty `SOURCE_BUCKETS`.
fn outside_sources(command: &Command, config: &crate::Config) -> Option<String> {
    let (tool, bucket) = match command {
        Command::Verify { bucket, .. } => ("verify", bucket),
        Command::Backfill { bucket, .. } => ("backfill", bucket),
        Command::Restore { bucket, .. } => ("restore", bucket),
        Command::Repair { bucket, .. } => ("repair", bucket),
    };
    (!config.allows_source(bucket)).then(|| {
        format!(
            "{tool}: --bucket {bucket:?} is not one of this function's source buckets \
             (SOURCE_BUCKETS: {}); nothing was done",
            config.source_buckets.join(", ")
        )
    })
}

/// A configuration error as the user gave the configuration: read from `--config FILE`, it
/// names the file where the function's message names its variable (and never asks for a
/// variable to be set, which the file replaces).
fn configuration_error(message: &str, file: Option<&std::path::Path>) -> String {
    let Some(file) = file else {
        return message.to_owned();
    };
    let file = format!("--config {}", file.display());
    if message.contains("no replication configured") {
        return format!("invalid configuration: {file}: the file holds no configuration");
    }
    message
        .replace("REPLICATION_CONFIG.", &format!("{file}: "))
        .replace("REPLICATION_CONFIG", &file)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::{configuration_error, Cli};

    #[test]
    fn a_configuration_file_is_named_not_the_variable() {
        let file = Some(std::path::Path::new("c.json"));
        assert_eq!(
            configuration_error(
                "invalid configuration: REPLICATION_CONFIG: no replication configured: set \
                 REPLICATION_CONFIG (AWS replication configuration JSON) or DESTINATION_BUCKET",
                file
            ),
            "invalid configuration: --config c.json: the file holds no configuration"
        );
        assert_eq!(
            configuration_error(
                "invalid configuration: REPLICATION_CONFIG.Rules[0].ID: must be 1 to 255 characters",
                file
            ),
            "invalid configuration: --config c.json: Rules[0].ID: must be 1 to 255 characters"
        );
        let env = "invalid configuration: REPLICATION_CONFIG: missing field `Rules`";
        assert_eq!(configuration_error(env, None), env);
    }

    #[test]
    fn help_fits_100_columns() {
        let mut cli = Cli::command();
        // Built as when parsing, so that subcommands take the parent's settings.
        cli.build();
        let mut helps = vec![cli.render_long_help().to_string()];
        for sub in cli.get_subcommands_mut() {
            helps.push(sub.render_long_help().to_string());
        }
        for help in helps {
            for line in help.lines() {
                assert!(
                    line.chars().count() <= 100,
                    "{} columns: {line}",
                    line.len()
                );
            }
        }
    }
}

//! What happens before the function can serve: a configuration that fails is reported the way
//! Lambda reports init failures (POST `/runtime/init/error`, so the console and the invoke
//! response show its type and message instead of a bare `Runtime.ExitError`), and a binary
//! started outside Lambda says what it is instead of panicking.

use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, PooledClient};
use serde_json::json;

use crate::config::ConfigError;

/// The `errorType` of an init failure caused by the configuration.
pub const INVALID_CONFIGURATION: &str = "InvalidConfiguration";

/// What the binary prints when started outside Lambda (lines of at most 100 columns).
pub const NOT_IN_LAMBDA: &str = concat!(
    "s3-replicator is an AWS Lambda function and runs where the Lambda Runtime API is\n",
    "(AWS_LAMBDA_RUNTIME_API is not set here). Deploy it with `make deploy` (docs/operations.md),\n",
    "or run it locally with `make local`, which starts the local S3 and `cargo lambda watch` and\n",
    "prints the `cargo lambda invoke` commands (docs/development.md).\n",
    "As a command-line tool, on the same configuration (or --config FILE):\n",
    "  s3-replicator verify   --bucket SOURCE   prove every replica, from listings (--deep: fully)\n",
    "  s3-replicator backfill --bucket SOURCE   replicate objects written before replication\n",
    "  s3-replicator repair   --bucket SOURCE   replicate again what verify finds missing or different\n",
    "  s3-replicator restore  --bucket BUCKET   bring every key back to its version at --as-of TIME\n",
    "(s3-replicator --help; s3-replicator COMMAND --help)."
);

/// Whether the process runs under a Lambda Runtime API (Lambda, or `cargo lambda watch`).
pub fn in_lambda() -> bool {
    std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some()
}

/// Posts the configuration error to the Runtime API's `/runtime/init/error`. A failure to post
/// is printed: the process exits non-zero either way.
pub async fn report_init_error(err: &ConfigError) {
    let body = json!({"errorType": INVALID_CONFIGURATION, "errorMessage": err.to_string()});
    let request = build_request()
        .method(http::Method::POST)
        .uri("/2018-06-01/runtime/init/error")
        .header(
            "Lambda-Runtime-Function-Error-Type",
            format!("Runtime.{INVALID_CONFIGURATION}"),
        )
        .body(Body::from(body.to_string()));
    let result = match request {
        Ok(request) => PooledClient::builder()
            .build()
            .call(request)
            .await
            .map(|response| response.status()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(status) if status.is_success() => {}
        Ok(status) => eprintln!("the Runtime API answered the init error with {status}"),
        Err(e) => eprintln!("could not report the init error to the Runtime API: {e}"),
    }
}

/// The function's log filter from `RUST_LOG` (`info`, `info,s3_replicator=debug`, ...): one
/// default level and levels per module. Unset, empty or unreadable, it is `info`.
pub fn log_filter(spec: Option<&str>) -> tracing_subscriber::filter::Targets {
    let info = || {
        tracing_subscriber::filter::Targets::new()
            .with_default(tracing_subscriber::filter::LevelFilter::INFO)
    };
    match spec.map(str::trim) {
        None | Some("") => info(),
        Some(spec) => spec.parse().unwrap_or_else(|_| info()),
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_filter_defaults_to_info() {
        for spec in [None, Some(""), Some("not a level=at all=")] {
            let filter = log_filter(spec);
            assert!(
                filter.would_enable("s3_replicator", &Level::INFO),
                "{spec:?}"
            );
            assert!(
                !filter.would_enable("s3_replicator", &Level::DEBUG),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn started_outside_lambda_it_names_every_subcommand() {
        use clap::CommandFactory;
        for sub in crate::cli::Cli::command().get_subcommands() {
            let line = format!("  s3-replicator {} ", sub.get_name());
            assert!(super::NOT_IN_LAMBDA.contains(&line), "{line:?} not named");
        }
        for line in super::NOT_IN_LAMBDA.lines() {
            assert!(line.chars().count() <= 100, "over 100 columns: {line}");
        }
    }

    #[test]
    fn log_filter_takes_levels_per_module() {
        let filter = log_filter(Some("info,s3_replicator=debug"));
        assert!(filter.would_enable("s3_replicator::handler", &Level::DEBUG));
        assert!(!filter.would_enable("aws_smithy_runtime", &Level::DEBUG));
        assert!(filter.would_enable("aws_smithy_runtime", &Level::INFO));
    }
}

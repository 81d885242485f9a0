//! Lambda entry point: wiring only.

use std::process::ExitCode;

use lambda_runtime::{run_concurrent, service_fn, LambdaEvent};
use s3_replicator::lambda_init::{in_lambda, log_filter, report_init_error, NOT_IN_LAMBDA};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args_os().len() > 1 {
        return s3_replicator::cli::run(std::env::args_os()).await;
    }
    if !in_lambda() {
        eprintln!("{NOT_IN_LAMBDA}");
        return ExitCode::from(2);
    }
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let log = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .without_time();
    tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .init();
    let sdk = s3_replicator::sdk::load().await;
    let replicator = match s3_replicator::wiring::load(&sdk, |name| std::env::var(name).ok()).await
    {
        Ok(replicator) => replicator,
        Err(err) => {
            // README's line, on the terminal and in the function's log, and to Lambda itself.
            eprintln!("{err}");
            report_init_error(&err).await;
            return ExitCode::FAILURE;
        }
    };
    // Metrics as CloudWatch Embedded Metric Format on stdout, flushed after every invocation
    // (before its deadline) and whenever latency samples could overflow the writer.
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| s3_replicator::metrics::NAMESPACE.to_owned());
    let metrics = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .init()
        .ok();
    s3_replicator::metrics::describe();
    s3_replicator::metrics::set_sources(&replicator.config().source_buckets);
    if let Some(metrics) = metrics {
        s3_replicator::metrics::set_flush(move || {
            let _ = metrics.flush(std::io::stdout().lock());
        });
    }
    // Lives as long as the process: one environment may serve several invocations at once
    // (AWS_LAMBDA_MAX_CONCURRENCY, Lambda Managed Instances); unset or 1, one at a time.
    let replicator: &'static _ = Box::leak(Box::new(replicator));
    let served = run_concurrent(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Some(s3_replicator::handler::deadline_from_runtime(
            event.context.deadline,
        ));
        s3_replicator::handler::respond_and_flush(replicator, event.payload, deadline).await
    }))
    .await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("the Lambda runtime stopped: {err}");
            ExitCode::FAILURE
        }
    }
}

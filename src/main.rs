//! Lambda entry point: wiring only.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let replicator = s3_replicator::wiring::build(&sdk, |name| std::env::var(name).ok())?;
    let replicator = &replicator;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Some(event.context.deadline());
        s3_replicator::handle_until(replicator, event.payload, deadline).await
    }))
    .await
}

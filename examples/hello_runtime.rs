//! The baseline of `make bench`'s init table: a hello-world `lambda_runtime` function, built
//! with the same profile as the function, to compare process start to first runtime poll.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}

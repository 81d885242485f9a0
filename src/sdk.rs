//! The AWS SDK's configuration and HTTP client, shared by the function and the CLI.
//!
//! The SDK's own default HTTPS client links aws-lc-rs (about 2 MB of the binary); this one is the
//! same hyper client on rustls with ring, trusting the system's root certificates (loaded on the
//! first TLS connection, not at start).

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The HTTP(S) client every SDK client of the function uses.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`, ...).
pub async fn load() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// `sdk` with [`https_client`] when it has no HTTP client of its own.
pub fn with_https_client(sdk: SdkConfig) -> SdkConfig {
    if sdk.http_client().is_some() {
        return sdk;
    }
    sdk.into_builder().http_client(https_client()).build()
}

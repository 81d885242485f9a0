//! The AWS SDK's configuration and HTTP client, shared by the function and the CLI.
//!
//! The SDK's own default HTTPS client links aws-lc-rs (about 2 MB of the binary); this one is the
//! same hyper client on rustls with ring, trusting the system's root certificates. Reading those
//! (a bundle and a directory of files) takes milliseconds, which the hyper client spends when an
//! SDK client is configured with it: [`Deferred`] puts that off until the first request, so that
//! cold start does not pay it before the function polls for its first event.

use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::ProvideRegion;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::OnceCell;

/// The HTTP(S) client every SDK client of the function uses.
pub fn https_client() -> SharedHttpClient {
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    SharedHttpClient::new(Deferred(client))
}

/// The SDK configuration from the environment (region, credentials, `AWS_ENDPOINT_URL`, ...).
///
/// Region and credentials come from the SDK's default chains, which look at the environment
/// variables first. Lambda sets those, so the rest of each chain (profile files, SSO, web
/// identity through STS, the container and instance metadata endpoints) is only built when the
/// environment has no answer: building it took about a tenth of the function's cold start.
/// Without a region in the environment (an operator's machine), the SDK loads as it would.
pub async fn load() -> SdkConfig {
    let Some(region) = EnvironmentVariableRegionProvider::new().region().await else {
        return defaults().load().await;
    };
    let credentials = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else(
        "DefaultChain",
        DefaultChainWhenAsked {
            region: region.clone(),
            chain: OnceCell::new(),
        },
    );
    defaults()
        .region(region)
        .credentials_provider(credentials)
        .load()
        .await
}

/// The services the function and the tools call with the SDK's own endpoint settings, by the
/// service id the SDK's endpoint settings name them with (`AWS_ENDPOINT_URL_<ID>`, a profile's
/// `[services]` section), and how this module names them.
const SERVICES: [(&str, &str); 3] = [
    ("S3", "S3"),
    ("Secrets Manager", "Secrets Manager"),
    ("STS", "STS"),
];

/// The endpoint the SDK's clients of `service_id` will send their requests to, resolved as they
/// resolve it: a service's own setting (`AWS_ENDPOINT_URL_<ID>`, or `endpoint_url` in a
/// profile's `[services]` section), else the global one (`AWS_ENDPOINT_URL`, `endpoint_url` in
/// the profile, from the config file `AWS_CONFIG_FILE` or `~/.aws/config` names). `None`: AWS's.
pub fn endpoint_of(sdk: &SdkConfig, service_id: &str) -> Option<String> {
    if sdk.get_origin("endpoint_url").is_client_config() {
        return sdk.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id(service_id)
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build()
        .ok()?;
    sdk.service_config()
        .and_then(|c| c.load_config(key))
        .or_else(|| sdk.endpoint_url().map(str::to_owned))
}

/// Refuses an SDK endpoint, wherever it was set, on plain `http://` to another host: every
/// request to it is signed with the function's credentials and carries objects or secrets.
/// `allowed`: the user said so by name ([`crate::config::ALLOW_PLAIN_HTTP_ENDPOINTS`]).
pub fn refuse_plain_http(sdk: &SdkConfig, allowed: bool) -> Result<(), crate::config::ConfigError> {
    if allowed {
        return Ok(());
    }
    for (service_id, name) in SERVICES {
        let Some(url) = endpoint_of(sdk, service_id) else {
            continue;
        };
        if crate::config::plain_http_off_host(&url) {
            let env = format!(
                "AWS_ENDPOINT_URL_{}",
                service_id.to_uppercase().replace(' ', "_")
            );
            return Err(crate::config::ConfigError::new(
                format!("the {name} endpoint"),
                format!("the SDK would send every {name} request, signed with the function's credentials, over plain HTTP to another host ({url}; set by {env}, AWS_ENDPOINT_URL, or endpoint_url in the AWS config file's profile or [services] section); use an https:// endpoint, or set {}=true to allow it (local tests only)", crate::config::ALLOW_PLAIN_HTTP_ENDPOINTS),
            ));
        }
    }
    Ok(())
}

/// The SDK's own loader, with this module's HTTP client.
fn defaults() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client())
}

/// The SDK's default credential chain, exactly as its loader builds it for `region`, built on
/// the first request for credentials.
#[derive(Debug)]
struct DefaultChainWhenAsked {
    region: Region,
    chain: OnceCell<Option<SharedCredentialsProvider>>,
}

impl ProvideCredentials for DefaultChainWhenAsked {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let chain = self
                .chain
                .get_or_init(|| async {
                    let sdk = defaults().region(self.region.clone()).load().await;
                    sdk.credentials_provider()
                })
                .await;
            match chain {
                Some(chain) => chain.provide_credentials().await,
                None => Err(CredentialsError::not_loaded(
                    "the SDK's default credential chain is unset",
                )),
            }
        })
    }
}

/// What a command says when no credential source has any: the cause first, in one line.
pub const NO_CREDENTIALS: &str = "no AWS credentials: none in the environment \
(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), a profile (AWS_PROFILE, ~/.aws: keys, SSO, a role), \
web identity, or container or instance metadata";

/// Why `sdk` cannot sign a request, in one line, or `None` when it has credentials. Asked before
/// the first request, so a command without credentials says so instead of failing at whatever
/// it tried first (a bucket's region) with the credential chain's whole story.
pub async fn credentials_problem(sdk: &SdkConfig) -> Option<String> {
    let Some(provider) = sdk.credentials_provider() else {
        return Some(NO_CREDENTIALS.to_owned());
    };
    match provider.provide_credentials().await {
        Ok(_) => None,
        Err(CredentialsError::CredentialsNotLoaded(_)) => Some(NO_CREDENTIALS.to_owned()),
        Err(e) => {
            // A source that is set up but failed (an expired SSO token, a role that cannot be
            // assumed, instance metadata refusing): its causes on one line, without the
            // generic "an error occurred while loading credentials" above them.
            let mut causes = Vec::new();
            let mut next: Option<&dyn std::error::Error> = Some(&e);
            while let Some(cause) = next {
                causes.push(cause.to_string().replace('\n', " "));
                next = cause.source();
            }
            if causes.len() > 1 {
                causes.remove(0);
            }
            Some(format!(
                "could not load AWS credentials: {}",
                causes.join(": ")
            ))
        }
    }
}

/// `sdk` with [`https_client`] when it has no HTTP client of its own.
pub fn with_https_client(sdk: SdkConfig) -> SdkConfig {
    if sdk.http_client().is_some() {
        return sdk;
    }
    sdk.into_builder().http_client(https_client()).build()
}

/// The hyper client, but for one thing: it loads the root certificates when its first connector
/// is made (the first request), not when an SDK client is configured with it.
#[derive(Debug)]
struct Deferred(SharedHttpClient);

impl HttpClient for Deferred {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    // The hyper client makes a connector here, on purpose, to load the certificates early.
    fn validate_base_client_config(
        &self,
        _: &RuntimeComponentsBuilder,
        _: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    fn sdk_with(provider: Option<SharedCredentialsProvider>) -> SdkConfig {
        let mut sdk = SdkConfig::builder().behavior_version(BehaviorVersion::latest());
        sdk.set_credentials_provider(provider);
        sdk.build()
    }

    #[derive(Debug)]
    struct Failing(fn() -> CredentialsError);

    impl ProvideCredentials for Failing {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err((self.0)()))
        }
    }

    #[tokio::test]
    async fn no_credentials_is_one_line_naming_the_cause() {
        let none = sdk_with(None);
        let not_loaded = sdk_with(Some(SharedCredentialsProvider::new(Failing(|| {
            CredentialsError::not_loaded("no providers in chain provided credentials")
        }))));
        for sdk in [none, not_loaded] {
            let line = credentials_problem(&sdk).await.unwrap();
            assert_eq!(line, NO_CREDENTIALS);
            assert!(line.starts_with("no AWS credentials: "), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[tokio::test]
    async fn a_source_that_fails_names_its_causes_on_one_line() {
        let sdk = sdk_with(Some(SharedCredentialsProvider::new(Failing(|| {
            CredentialsError::provider_error("the SSO session\nhas expired")
        }))));
        let line = credentials_problem(&sdk).await.unwrap();
        assert!(
            line.starts_with("could not load AWS credentials: "),
            "{line}"
        );
        assert_eq!(
            line,
            "could not load AWS credentials: the SSO session has expired"
        );
        assert!(
            !line.contains("ProviderError"),
            "not the Debug form: {line}"
        );
    }

    #[tokio::test]
    async fn credentials_are_no_problem() {
        let keys = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let sdk = sdk_with(Some(SharedCredentialsProvider::new(keys)));
        assert_eq!(credentials_problem(&sdk).await, None);
    }
}

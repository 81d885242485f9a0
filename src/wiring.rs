//! Building the live replicator from the environment, shared by the Lambda binary and tests.

use std::collections::HashMap;

use aws_sdk_s3::config::Credentials;

use crate::aws_s3::{AwsS3, Remote};
use crate::config::{Config, ConfigError};
use crate::replicate::Replicator;

/// The replicator on real S3.
pub type LiveReplicator = Replicator<AwsS3, AwsS3>;

/// Reads the configuration and builds the replicator from an SDK configuration. `var` reads
/// environment variables.
pub fn build(
    sdk: &aws_config::SdkConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Result<LiveReplicator, ConfigError> {
    build_with(sdk, var, |destination| destination)
}

/// As [`build`], with the destination store wrapped by `wrap` (tests inject faults with it).
pub fn build_with<D: crate::store::DestinationStore>(
    sdk: &aws_config::SdkConfig,
    var: impl Fn(&str) -> Option<String>,
    wrap: impl FnOnce(AwsS3) -> D,
) -> Result<Replicator<AwsS3, D>, ConfigError> {
    let config = Config::from_env(&var)?;
    let force_path_style = match var("S3_FORCE_PATH_STYLE").as_deref().map(str::trim) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ConfigError {
                field: "S3_FORCE_PATH_STYLE".into(),
                message: format!("must be true or false, not {other:?}"),
            })
        }
    };
    let default_region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let remotes = remotes(&config, &var)?;
    let s3 = AwsS3::new(sdk.clone(), force_path_style);
    let dst = AwsS3::new(sdk.clone(), force_path_style).with_remotes(remotes);
    Ok(Replicator::new(config, s3, wrap(dst), default_region))
}

/// Clients' settings for destinations on other endpoints; their credentials are read from the
/// environment variables the configuration names, now, so a missing one fails init.
fn remotes(
    config: &Config,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Remote>, ConfigError> {
    let mut remotes = HashMap::new();
    for rule in &config.rules {
        let Some(endpoint) = &rule.destination.endpoint else {
            continue;
        };
        let credentials = match &endpoint.credentials {
            None => None,
            Some((key_var, secret_var)) => {
                let read = |name: &str| {
                    var(name)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| ConfigError {
                            field: name.to_owned(),
                            message: format!(
                                "is named in rule {:?}'s Destination.Credentials but is not set",
                                rule.id
                            ),
                        })
                };
                Some(Credentials::new(
                    read(key_var)?,
                    read(secret_var)?,
                    None,
                    None,
                    "replication-config",
                ))
            }
        };
        remotes.insert(
            endpoint.url.clone(),
            Remote {
                credentials,
                force_path_style: endpoint.force_path_style,
            },
        );
    }
    Ok(remotes)
}

//! Building the live replicator from the environment, shared by the Lambda binary and tests.

use crate::aws_s3::AwsS3;
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
    // Source and destination share one client cache; the traits keep their roles apart.
    let s3 = AwsS3::new(sdk.clone(), force_path_style);
    let dst = AwsS3::new(sdk.clone(), force_path_style);
    Ok(Replicator::new(config, s3, dst, default_region))
}

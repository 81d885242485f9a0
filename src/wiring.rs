//! Building the live replicator from the environment, shared by the Lambda binary and tests.

use std::collections::HashMap;

use aws_sdk_s3::config::Credentials;

use crate::aws_s3::{AwsS3, Remote};
use crate::config::{Config, ConfigError, CredentialSource};
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

/// As [`build`], first reading from AWS Secrets Manager the credentials a rule names by
/// `Credentials.SecretArn` (only that secret: a secret that cannot be read fails init, naming
/// the rule). The Lambda binary and the command line start this way.
pub async fn load(
    sdk: &aws_config::SdkConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Result<LiveReplicator, ConfigError> {
    let config = Config::from_env(&var)?;
    let allowed =
        var(crate::config::ALLOW_PLAIN_HTTP_ENDPOINTS).is_some_and(|v| v.trim() == "true");
    crate::sdk::refuse_plain_http(sdk, allowed)?;
    install_record_key(sdk, &var).await?;
    let mut secrets = HashMap::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let Some(CredentialSource::Secret(arn)) = rule
            .destination
            .endpoint
            .as_ref()
            .and_then(|e| e.credentials.as_ref())
        else {
            continue;
        };
        if secrets.contains_key(arn) {
            continue;
        }
        let field = format!("REPLICATION_CONFIG.Rules[{i}].Destination.Credentials.SecretArn");
        secrets.insert(
            arn.clone(),
            read_secret(sdk, arn)
                .await
                .map_err(|message| ConfigError { field, message })?,
        );
    }
    build_resolved(sdk, config, var, &secrets, |destination| destination)
}

/// Reads the replica record key from the secret `REPLICA_RECORD_KEY_SECRET_ARN` names and
/// installs it for the process (`crate::store::record_mac`); unset, nothing is installed. A
/// secret that cannot be read, or holds too short a key, fails init naming the setting.
async fn install_record_key(
    sdk: &aws_config::SdkConfig,
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    use crate::config::REPLICA_RECORD_KEY_SECRET_ARN as SETTING;
    use crate::store::record_mac::{install, RecordKey};
    let Some(arn) = crate::config::record_key_secret_arn(var)? else {
        return Ok(());
    };
    let fail = |message: String| ConfigError {
        field: SETTING.to_owned(),
        message,
    };
    let out = get_secret(sdk, &arn).await.map_err(fail)?;
    // The secret's text as it is (a generated password, say), or its binary value.
    let bytes = match (out.secret_string(), out.secret_binary()) {
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(blob)) => blob.as_ref().to_vec(),
        (None, None) => return Err(fail(format!("{arn} holds no value"))),
    };
    let key = RecordKey::new(bytes).map_err(|e| fail(format!("{arn}: {e}")))?;
    install(key).map_err(fail)
}

/// A Secrets Manager secret's value, read in the secret's own region.
async fn get_secret(
    sdk: &aws_config::SdkConfig,
    arn: &str,
) -> Result<aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput, String> {
    // arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME: read in the secret's own region.
    let region = arn.split(':').nth(3).unwrap_or_default().to_owned();
    let conf = aws_sdk_secretsmanager::config::Builder::from(sdk)
        .region(aws_sdk_secretsmanager::config::Region::new(region))
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{arn} could not be read: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            )
        })
}

/// An access key from a Secrets Manager secret whose JSON holds `AccessKeyId` and
/// `SecretAccessKey`.
async fn read_secret(sdk: &aws_config::SdkConfig, arn: &str) -> Result<(String, String), String> {
    let out = get_secret(sdk, arn).await?;
    let text = out
        .secret_string()
        .ok_or_else(|| format!("{arn} holds no SecretString"))?;
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| format!("{arn} is not JSON with AccessKeyId and SecretAccessKey"))?;
    let field = |name: &str| {
        value[name]
            .as_str()
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("{arn} has no {name}"))
    };
    Ok((field("AccessKeyId")?, field("SecretAccessKey")?))
}

/// As [`build`], with the destination store wrapped by `wrap` (tests inject faults with it).
pub fn build_with<D: crate::store::DestinationStore>(
    sdk: &aws_config::SdkConfig,
    var: impl Fn(&str) -> Option<String>,
    wrap: impl FnOnce(AwsS3) -> D,
) -> Result<Replicator<AwsS3, D>, ConfigError> {
    build_resolved(sdk, Config::from_env(&var)?, var, &HashMap::new(), wrap)
}

/// The access keys read from Secrets Manager, by secret ARN.
type Secrets = HashMap<String, (String, String)>;

/// The replicator for `config` (read from `var`), with the secrets it names already read.
fn build_resolved<D: crate::store::DestinationStore>(
    sdk: &aws_config::SdkConfig,
    config: Config,
    var: impl Fn(&str) -> Option<String>,
    secrets: &Secrets,
    wrap: impl FnOnce(AwsS3) -> D,
) -> Result<Replicator<AwsS3, D>, ConfigError> {
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
    let remotes = remotes(&config, &var, secrets)?;
    let s3 = AwsS3::new(sdk.clone(), force_path_style);
    let dst = AwsS3::new(sdk.clone(), force_path_style).with_remotes(remotes);
    Ok(Replicator::new(config, s3, wrap(dst), default_region))
}

/// Clients' settings for destinations on other endpoints; their credentials are read from the
/// environment variables the configuration names, now, so a missing one fails init.
fn remotes(
    config: &Config,
    var: &impl Fn(&str) -> Option<String>,
    secrets: &Secrets,
) -> Result<HashMap<String, Remote>, ConfigError> {
    let mut remotes = HashMap::new();
    for (i, rule) in config.rules.iter().enumerate() {
        let Some(endpoint) = &rule.destination.endpoint else {
            continue;
        };
        let credentials = match &endpoint.credentials {
            None => None,
            Some(CredentialSource::Secret(arn)) => {
                let Some((key, secret)) = secrets.get(arn) else {
                    return Err(ConfigError {
                        field: format!(
                            "REPLICATION_CONFIG.Rules[{i}].Destination.Credentials.SecretArn"
                        ),
                        message: format!("{arn} is read at init by wiring::load, not here"),
                    });
                };
                Some(Credentials::new(key, secret, None, None, "secrets-manager"))
            }
            Some(CredentialSource::Variables {
                access_key_id: key_var,
                secret_access_key: secret_var,
            }) => {
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
            endpoint.id(),
            Remote {
                url: endpoint.url.clone(),
                credentials,
                force_path_style: endpoint.force_path_style,
            },
        );
    }
    Ok(remotes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_rules_for_one_endpoint_with_different_credentials_keep_their_own() {
        let rule = |id: &str, bucket: &str, key_var: &str| {
            format!(
                r#"{{"ID":"{id}","Priority":1,"Status":"Enabled","Filter":{{}},"DeleteMarkerReplication":{{"Status":"Disabled"}},
                   "Destination":{{"Bucket":"{bucket}","Endpoint":"https://s3.other.example","Region":"r1",
                   "Credentials":{{"AccessKeyIdVariable":"{key_var}","SecretAccessKeyVariable":"{key_var}_SECRET"}}}}}}"#
            )
        };
        let json = format!(
            r#"{{"Rules":[{},{}]}}"#,
            rule("a", "bucket-a", "KEY_A"),
            rule("b", "bucket-b", "KEY_B")
        );
        let config = Config::from_json(&json).unwrap();
        let vars: HashMap<&str, &str> = HashMap::from([
            ("KEY_A", "id-a"),
            ("KEY_A_SECRET", "secret-a"),
            ("KEY_B", "id-b"),
            ("KEY_B_SECRET", "secret-b"),
        ]);
        let remotes = remotes(
            &config,
            &|name| vars.get(name).map(|v| v.to_string()),
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(remotes.len(), 2);
        for rule in &config.rules {
            let id = rule.destination.endpoint.as_ref().unwrap().id();
            let remote = &remotes[&id];
            assert_eq!(remote.url, "https://s3.other.example");
            let key = remote
                .credentials
                .as_ref()
                .unwrap()
                .access_key_id()
                .to_owned();
            assert_eq!(key, if rule.id == "a" { "id-a" } else { "id-b" });
        }
    }
}

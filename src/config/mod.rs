//! Configuration, parsed and validated once at init.
//!
//! The language is the AWS replication configuration JSON (what `aws s3api put-bucket-replication
//! --replication-configuration` takes), given in `REPLICATION_CONFIG`, or a one-rule shorthand in
//! `DESTINATION_BUCKET` / `DESTINATION_REGION` / `REPLICATE_PREFIXES` / `STORAGE_CLASS`.
//!
//! `raw` holds the JSON's serde shapes, `validate` turns them into the typed [`Config`] naming
//! the field at fault, and `env` reads the environment (the JSON, the shorthand, the settings).

use std::fmt;

use crate::copy::CopySettings;

mod env;
mod raw;
mod validate;

use raw::RawConfig;

pub(crate) use env::plain_http_off_host;
pub use env::{record_key_secret_arn, ALLOW_PLAIN_HTTP_ENDPOINTS, REPLICA_RECORD_KEY_SECRET_ARN};
pub(crate) use validate::{bucket_name, check_region, check_storage_class};

/// A configuration error, naming the setting or JSON field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {field}: {message}")]
pub struct ConfigError {
    /// The environment variable or JSON path, e.g. `REPLICATION_CONFIG.Rules[0].Destination.Bucket`.
    pub field: String,
    /// What is wrong and, where it helps, what to write instead.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// All rules, enabled and disabled, in the order given.
    pub rules: Vec<Rule>,
    /// `REPLICATE_VERSION_DELETES=true`: a permanently deleted source version also deletes its
    /// replica. Off by default, as in S3, so a malicious delete is not replicated.
    pub replicate_version_deletes: bool,
    /// Multipart copy settings.
    pub copy: CopySettings,
    /// `SOURCE_BUCKETS`: the only buckets whose events are acted on (empty: any).
    pub source_buckets: Vec<String>,
    /// `RECORD_CONCURRENCY`: keys of one invocation worked on at once.
    pub record_concurrency: usize,
}

/// Keys of one invocation worked on at once unless `RECORD_CONCURRENCY` says otherwise.
pub const RECORD_CONCURRENCY: usize = 8;

/// One replication rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's `ID` (generated as `rule-N` when absent).
    pub id: String,
    /// Higher wins among rules for the same destination bucket.
    pub priority: i64,
    /// `Status: Enabled`.
    pub enabled: bool,
    /// Which objects the rule selects.
    pub filter: Filter,
    /// `DeleteMarkerReplication: Enabled` (always on for legacy prefix-only rules, as in AWS).
    pub delete_marker_replication: bool,
    /// `SourceSelectionCriteria.SseKmsEncryptedObjects: Enabled`: SSE-KMS objects are replicated.
    pub replicate_sse_kms: bool,
    /// Where matching objects go.
    pub destination: Destination,
}

/// A rule's filter: an object matches when its key starts with `prefix` and it has all `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Key prefix; empty matches every key.
    pub prefix: String,
    /// Tags (key, value) the object version must all carry.
    pub tags: Vec<(String, String)>,
}

impl Filter {
    /// Whether a key and its tags satisfy the filter.
    pub fn matches(&self, key: &str, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix) && self.tags.iter().all(|t| tags.contains(t))
    }
}

/// A destination bucket and how replicas are written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Bucket name (an ARN in the configuration is reduced to its name).
    pub bucket: String,
    /// Region, when configured (extension); otherwise discovered once at run time.
    pub region: Option<String>,
    /// Storage class for replicas; `None` keeps the source's.
    pub storage_class: Option<String>,
    /// The destination bucket owner's account, sent as the expected bucket owner.
    pub account: Option<String>,
    /// `AccessControlTranslation.Owner: Destination`: replicas get `bucket-owner-full-control`.
    pub owner_override: bool,
    /// `EncryptionConfiguration.ReplicaKmsKeyID`.
    pub replica_kms_key_id: Option<String>,
    /// Extension: a destination on another S3 endpoint (another partition or provider), where
    /// server-side copy is impossible and objects are streamed.
    pub endpoint: Option<RemoteEndpoint>,
}

/// What identifies a destination: its bucket and the endpoint it is on (`None`: the function's
/// own). Buckets of one name on two endpoints are two destinations.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DestinationId {
    /// [`RemoteEndpoint::id`], or `None` for the function's own endpoint.
    pub endpoint: Option<String>,
    /// Bucket name.
    pub bucket: String,
}

impl fmt::Display for DestinationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.endpoint {
            None => write!(f, "{}", self.bucket),
            Some(endpoint) => write!(f, "{} at {endpoint}", self.bucket),
        }
    }
}

impl Destination {
    /// The destination's identity, for rules, caches and outcomes.
    pub fn id(&self) -> DestinationId {
        DestinationId {
            endpoint: self.endpoint.as_ref().map(RemoteEndpoint::id),
            bucket: self.bucket.clone(),
        }
    }
}

impl RemoteEndpoint {
    /// Whether AWS runs this endpoint (another partition): it takes what S3 takes (the SDK's
    /// checksum trailers, SSE-S3 restated); any other server is S3-compatible only in part.
    pub fn run_by_aws(&self) -> bool {
        run_by_aws(&self.url)
    }

    /// The endpoint with the credentials used on it: two rules for one URL with different
    /// credentials are two clients.
    pub fn id(&self) -> String {
        match &self.credentials {
            None => self.url.clone(),
            Some(CredentialSource::Variables { access_key_id, .. }) => {
                format!("{} (credentials {access_key_id})", self.url)
            }
            Some(CredentialSource::Secret(arn)) => format!("{} (credentials {arn})", self.url),
        }
    }
}

/// An S3 endpoint other than the function's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEndpoint {
    /// The endpoint URL.
    pub url: String,
    /// Path-style addressing (most non-AWS servers need it).
    pub force_path_style: bool,
    /// Where the access key for that endpoint comes from; `None` uses the function's own
    /// credentials.
    pub credentials: Option<CredentialSource>,
}

/// Where a remote endpoint's access key is read from, at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// Two environment variables, by name (local use).
    Variables {
        /// The variable holding the access key id.
        access_key_id: String,
        /// The variable holding the secret access key.
        secret_access_key: String,
    },
    /// An AWS Secrets Manager secret, by ARN, whose JSON holds `AccessKeyId` and
    /// `SecretAccessKey`.
    Secret(String),
}

/// Storage classes a replication destination accepts.
pub const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "OUTPOSTS",
    "GLACIER_IR",
];

impl Config {
    /// Parses and validates AWS replication-configuration JSON.
    pub fn from_json(json: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." || path == "?" {
                "REPLICATION_CONFIG".to_owned()
            } else {
                format!("REPLICATION_CONFIG.{path}")
            };
            ConfigError::new(field, e.into_inner().to_string())
        })?;
        // Trailing text after the JSON document is a mistake, not something to ignore.
        de.end().map_err(|e| {
            ConfigError::new(
                "REPLICATION_CONFIG",
                format!("unexpected text after the JSON document: {e}"),
            )
        })?;
        raw.validate()
    }

    /// Whether events of `bucket` may be acted on (`SOURCE_BUCKETS`).
    pub fn allows_source(&self, bucket: &str) -> bool {
        self.source_buckets.is_empty() || self.source_buckets.iter().any(|b| b == bucket)
    }

    /// Whether this deployment itself may write `bucket`'s keys from more than one place: it
    /// hears several source buckets (or any, `SOURCE_BUCKETS` unset: fan-in), or `bucket` is
    /// one of them (two-way with one function). A concurrent delivery of another source's
    /// event may then put a delete marker on a key between an event's read and its copy.
    pub fn writes_from_several_sources(&self, bucket: &str) -> bool {
        self.source_buckets.len() != 1 || self.source_buckets.iter().any(|b| b == bucket)
    }

    /// An enabled rule writing to `destination` (a [`DestinationId`] as it prints, as the tools'
    /// findings name it): the first in the configuration.
    pub fn rule_for_destination(&self, destination: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.enabled && r.destination.id().to_string() == destination)
    }

    /// Whether an enabled rule writing to `destination` filters `key` on tags (its prefix
    /// matches): only then do the source's tags decide what that destination gets.
    pub fn filters_on_tags(&self, destination: &DestinationId, key: &str) -> bool {
        self.rules.iter().any(|r| {
            r.enabled
                && r.destination.id() == *destination
                && !r.filter.tags.is_empty()
                && key.starts_with(&r.filter.prefix)
        })
    }

    /// Whether any enabled rule filters on tags (then the source's tags must be read to match).
    pub fn uses_tag_filters(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.enabled && !r.filter.tags.is_empty())
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.id, self.destination.bucket)
    }
}

#[cfg(test)]
mod tests;

/// The domains of AWS's S3 endpoints in every partition (commercial, China, GovCloud, the
/// European Sovereign Cloud, dual-stack), which take the SDK's checksum trailers.
const AWS_DOMAINS: [&str; 4] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "api.aws",
    "amazonaws.eu",
];

/// The host of `url` (after any scheme; without user info, port or an IPv6 address's
/// brackets).
pub(crate) fn url_host(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    }
}

/// Whether `url`'s host is one of AWS's.
pub fn run_by_aws(url: &str) -> bool {
    let host = url_host(url).trim_end_matches('.').to_ascii_lowercase();
    AWS_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

//! Configuration, parsed and validated once at init.
//!
//! The language is the AWS replication configuration JSON (what `aws s3api put-bucket-replication
//! --replication-configuration` takes), given in `REPLICATION_CONFIG`, or a one-rule shorthand in
//! `DESTINATION_BUCKET` / `DESTINATION_REGION` / `REPLICATE_PREFIXES` / `STORAGE_CLASS`.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;

use crate::copy::{CopySettings, COPY_OBJECT_LIMIT, MAX_PART, MIN_PART};

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
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
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
}

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
    /// The endpoint with the credentials used on it: two rules for one URL with different
    /// credentials are two clients.
    pub fn id(&self) -> String {
        match &self.credentials {
            None => self.url.clone(),
            Some((key, _)) => format!("{} (credentials {key})", self.url),
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
    /// Names of the environment variables holding the access key id and secret; `None` uses
    /// the function's own credentials.
    pub credentials: Option<(String, String)>,
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
    /// Reads the configuration from environment variables through `var` (testable without env).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let flag = |name: &str| match set(name).as_deref().map(str::trim) {
            None => Ok(None),
            Some("false") => Ok(Some(false)),
            Some("true") => Ok(Some(true)),
            Some(other) => Err(ConfigError::new(
                name,
                format!("must be true or false, not {other:?}"),
            )),
        };
        let replicate_version_deletes = flag("REPLICATE_VERSION_DELETES")?.unwrap_or(false);
        let delete_markers = flag("REPLICATE_DELETE_MARKERS")?;
        let mut config = Self::rules_from_env(&set, delete_markers)?;
        config.replicate_version_deletes = replicate_version_deletes;
        if let Some(key) = set("SOURCE_KMS_KEY_ARN") {
            // The source bucket encrypts every new object with this key: a configuration that
            // does not select SSE-KMS objects would skip every one of them, silently.
            if !config
                .rules
                .iter()
                .any(|r| r.enabled && r.replicate_sse_kms)
            {
                return Err(ConfigError::new(
                    "SOURCE_KMS_KEY_ARN",
                    format!("the source bucket encrypts new objects with {key}, but no enabled rule replicates SSE-KMS objects: set REPLICA_KMS_KEY_ID (the template's ReplicaKmsKeyArn), or give a rule SourceSelectionCriteria.SseKmsEncryptedObjects Enabled and Destination.EncryptionConfiguration.ReplicaKmsKeyID"),
                ));
            }
        }
        let number = |name: &str, default: u64, min: u64, max: u64| match set(name) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ConfigError::new(
                    name,
                    format!("must be a whole number from {min} to {max}, not {v:?}"),
                )),
            },
        };
        let defaults = CopySettings::default();
        let timeout = match set("FUNCTION_TIMEOUT_SECONDS") {
            None => None,
            Some(_) => Some(number("FUNCTION_TIMEOUT_SECONDS", 0, 1, 900)?),
        };
        config.copy = CopySettings {
            threshold: number(
                "MULTIPART_THRESHOLD",
                defaults.threshold,
                MIN_PART,
                COPY_OBJECT_LIMIT,
            )?,
            part_size: number(
                "MULTIPART_PART_SIZE",
                defaults.part_size,
                MIN_PART,
                MAX_PART,
            )?,
            concurrency: number("MULTIPART_CONCURRENCY", defaults.concurrency as u64, 1, 256)?
                as usize,
            time_margin: std::time::Duration::from_secs(number(
                "MULTIPART_TIME_MARGIN_SECONDS",
                defaults.time_margin.as_secs(),
                1,
                600,
            )?),
        };
        if let Some(timeout) = timeout {
            // At least half of every invocation must be usable, or large copies never finish.
            let margin = config.copy.time_margin.as_secs();
            if timeout < 2 * margin {
                return Err(ConfigError::new(
                    "MULTIPART_TIME_MARGIN_SECONDS",
                    format!("{margin} s leaves too little of the function's {timeout} s timeout (FUNCTION_TIMEOUT_SECONDS) to start any copy: the margin may be at most half the timeout; raise the timeout or lower the margin"),
                ));
            }
        }
        Ok(config)
    }

    fn rules_from_env(
        set: &impl Fn(&str) -> Option<String>,
        delete_markers: Option<bool>,
    ) -> Result<Self, ConfigError> {
        let shorthand: Vec<&str> = [
            "DESTINATION_BUCKET",
            "DESTINATION_REGION",
            "REPLICATE_PREFIXES",
            "STORAGE_CLASS",
            "REPLICA_KMS_KEY_ID",
        ]
        .into_iter()
        .filter(|name| set(name).is_some())
        .collect();
        match set("REPLICATION_CONFIG") {
            Some(json) => {
                if let Some(first) = shorthand.first() {
                    return Err(ConfigError::new(
                        *first,
                        "cannot be combined with REPLICATION_CONFIG; put everything in REPLICATION_CONFIG or use only the shorthand variables",
                    ));
                }
                let config = Self::from_json(&json)?;
                // The deployment withholds s3:DeleteObject: a rule relying on it would fail.
                if delete_markers == Some(false) {
                    if let Some(i) = config
                        .rules
                        .iter()
                        .position(|r| r.enabled && r.delete_marker_replication)
                    {
                        return Err(ConfigError::new(
                            format!("REPLICATION_CONFIG.Rules[{i}].DeleteMarkerReplication"),
                            "is Enabled but REPLICATE_DELETE_MARKERS is false, so the deployment grants no s3:DeleteObject on the destinations: set the template's ReplicateDeleteMarkers to true, or disable it in the rule",
                        ));
                    }
                }
                Ok(config)
            }
            None => {
                let Some(bucket) = set("DESTINATION_BUCKET") else {
                    let field = shorthand.first().copied().unwrap_or("REPLICATION_CONFIG");
                    return Err(ConfigError::new(
                        field,
                        "no replication configured: set REPLICATION_CONFIG (AWS replication configuration JSON) or DESTINATION_BUCKET",
                    ));
                };
                let mut config = Self::from_shorthand(
                    &bucket,
                    set("DESTINATION_REGION"),
                    set("REPLICATE_PREFIXES").as_deref(),
                    set("STORAGE_CLASS"),
                )?;
                let replica_key = set("REPLICA_KMS_KEY_ID").map(|k| k.trim().to_owned());
                for rule in &mut config.rules {
                    rule.delete_marker_replication = delete_markers.unwrap_or(false);
                    // A replica key given selects SSE-KMS objects, as a full configuration
                    // with SseKmsEncryptedObjects Enabled and that ReplicaKmsKeyID would.
                    rule.replicate_sse_kms = replica_key.is_some();
                    rule.destination.replica_kms_key_id = replica_key.clone();
                }
                Ok(config)
            }
        }
    }

    /// Builds the one-destination configuration of the shorthand variables.
    pub fn from_shorthand(
        bucket: &str,
        region: Option<String>,
        prefixes: Option<&str>,
        storage_class: Option<String>,
    ) -> Result<Self, ConfigError> {
        let bucket = bucket_name(bucket.trim(), "DESTINATION_BUCKET")?;
        if let Some(region) = &region {
            check_region(region, "DESTINATION_REGION")?;
        }
        if let Some(class) = &storage_class {
            check_storage_class(class, "STORAGE_CLASS")?;
        }
        let mut list: Vec<String> = prefixes
            .unwrap_or("")
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if list.is_empty() {
            list.push(String::new());
        }
        let count = list.len() as i64;
        let rules = list
            .into_iter()
            .enumerate()
            .map(|(i, prefix)| Rule {
                id: format!("shorthand-{}", i + 1),
                // Distinct priorities: overlapping prefixes then resolve deterministically.
                priority: count - i as i64,
                enabled: true,
                filter: Filter {
                    prefix,
                    tags: Vec::new(),
                },
                delete_marker_replication: false,
                replicate_sse_kms: false,
                destination: Destination {
                    bucket: bucket.clone(),
                    region: region.clone(),
                    storage_class: storage_class.clone(),
                    account: None,
                    owner_override: false,
                    replica_kms_key_id: None,
                    endpoint: None,
                },
            })
            .collect();
        Ok(Self {
            rules,
            replicate_version_deletes: false,
            copy: CopySettings::default(),
        })
    }

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

    /// Whether any enabled rule filters on tags (then the source's tags must be read to match).
    pub fn uses_tag_filters(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.enabled && !r.filter.tags.is_empty())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawConfig {
    #[allow(dead_code)] // accepted for compatibility; the function's own role is used
    role: Option<String>,
    rules: Vec<RawRule>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Enabled,
    Disabled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct StatusOnly {
    status: Status,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawRule {
    #[serde(rename = "ID")]
    id: Option<String>,
    priority: Option<i64>,
    status: Status,
    filter: Option<RawFilter>,
    prefix: Option<String>,
    delete_marker_replication: Option<StatusOnly>,
    destination: RawDestination,
    source_selection_criteria: Option<RawSourceSelection>,
    existing_object_replication: Option<StatusOnly>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawFilter {
    prefix: Option<String>,
    tag: Option<RawTag>,
    and: Option<RawAnd>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawAnd {
    prefix: Option<String>,
    tags: Option<Vec<RawTag>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawTag {
    key: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawSourceSelection {
    sse_kms_encrypted_objects: Option<StatusOnly>,
    replica_modifications: Option<StatusOnly>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawDestination {
    bucket: String,
    account: Option<String>,
    storage_class: Option<String>,
    access_control_translation: Option<RawAccessControlTranslation>,
    encryption_configuration: Option<RawEncryption>,
    replication_time: Option<serde_json::Value>,
    metrics: Option<serde_json::Value>,
    /// Extension: the destination bucket's region, saving a lookup.
    region: Option<String>,
    /// Extension: another S3 endpoint.
    endpoint: Option<String>,
    /// Extension: path-style addressing for `Endpoint`.
    force_path_style: Option<bool>,
    /// Extension: credentials for `Endpoint`.
    credentials: Option<RawCredentials>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawCredentials {
    access_key_id_variable: String,
    secret_access_key_variable: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct RawAccessControlTranslation {
    owner: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEncryption {
    #[serde(rename = "ReplicaKmsKeyID")]
    replica_kms_key_id: Option<String>,
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        if self.rules.is_empty() {
            return Err(ConfigError::new(
                "REPLICATION_CONFIG.Rules",
                "at least one rule is required",
            ));
        }
        if self.rules.len() > 1000 {
            return Err(ConfigError::new(
                "REPLICATION_CONFIG.Rules",
                "at most 1000 rules are allowed (as in S3)",
            ));
        }
        let legacy = self.rules.iter().filter(|r| r.filter.is_none()).count();
        if legacy != 0 && legacy != self.rules.len() {
            return Err(ConfigError::new(
                "REPLICATION_CONFIG.Rules",
                "rules with Filter and legacy rules with a rule-level Prefix cannot be mixed (as in S3); give every rule a Filter",
            ));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut ids = HashSet::new();
        for (i, raw) in self.rules.into_iter().enumerate() {
            let rule = raw.validate(i)?;
            if !ids.insert(rule.id.clone()) {
                return Err(ConfigError::new(
                    format!("REPLICATION_CONFIG.Rules[{i}].ID"),
                    format!("duplicate rule ID {:?}", rule.id),
                ));
            }
            rules.push(rule);
        }
        check_priority_ties(&rules)?;
        Ok(Config {
            rules,
            replicate_version_deletes: false,
            copy: CopySettings::default(),
        })
    }
}

impl RawRule {
    fn validate(self, i: usize) -> Result<Rule, ConfigError> {
        let at = |field: &str| format!("REPLICATION_CONFIG.Rules[{i}].{field}");
        let id = match self.id {
            Some(id) if id.is_empty() || id.len() > 255 => {
                return Err(ConfigError::new(at("ID"), "must be 1 to 255 characters"))
            }
            Some(id) => id,
            None => format!("rule-{}", i + 1),
        };
        let legacy = self.filter.is_none();
        let filter = match (self.filter, self.prefix) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    at("Prefix"),
                    "a rule-level Prefix cannot be combined with Filter; use Filter.Prefix",
                ))
            }
            (Some(f), None) => f.validate(&at("Filter"))?,
            (None, Some(prefix)) => Filter {
                prefix,
                tags: Vec::new(),
            },
            (None, None) => {
                return Err(ConfigError::new(
                    at("Filter"),
                    "each rule needs a Filter (use {} to select every object)",
                ))
            }
        };
        let priority = match (legacy, self.priority) {
            (false, Some(p)) if p < 0 => {
                return Err(ConfigError::new(at("Priority"), "must not be negative"))
            }
            (false, Some(p)) => p,
            (false, None) => {
                return Err(ConfigError::new(
                    at("Priority"),
                    "is required for rules with a Filter (as in S3); the higher number wins",
                ))
            }
            (true, Some(_)) => {
                return Err(ConfigError::new(
                    at("Priority"),
                    "is only allowed on rules with a Filter (as in S3)",
                ))
            }
            (true, None) => 0,
        };
        let delete_marker_replication = match (legacy, self.delete_marker_replication) {
            (true, Some(_)) => {
                return Err(ConfigError::new(
                    at("DeleteMarkerReplication"),
                    "is only allowed on rules with a Filter; legacy Prefix rules always replicate delete markers (as in S3)",
                ))
            }
            (true, None) => true,
            (false, None) => {
                return Err(ConfigError::new(
                    at("DeleteMarkerReplication"),
                    "is required for rules with a Filter (as in S3): {\"Status\": \"Enabled\"} or {\"Status\": \"Disabled\"}",
                ))
            }
            (false, Some(s)) => s.status == Status::Enabled,
        };
        if delete_marker_replication && !filter.tags.is_empty() {
            return Err(ConfigError::new(
                at("DeleteMarkerReplication"),
                "cannot be Enabled for a rule that filters on tags (as in S3): delete markers carry no tags",
            ));
        }
        if let Some(existing) = self.existing_object_replication {
            if existing.status == Status::Enabled {
                return Err(ConfigError::new(
                    at("ExistingObjectReplication"),
                    "Enabled is not supported: this function replicates objects as their events arrive; copy existing objects once with S3 Batch Operations or a sync tool",
                ));
            }
        }
        let mut replicate_sse_kms = false;
        if let Some(ssc) = self.source_selection_criteria {
            if let Some(m) = ssc.replica_modifications {
                if m.status == Status::Enabled {
                    return Err(ConfigError::new(
                        at("SourceSelectionCriteria.ReplicaModifications"),
                        "Enabled is not supported yet",
                    ));
                }
            }
            replicate_sse_kms = ssc
                .sse_kms_encrypted_objects
                .is_some_and(|s| s.status == Status::Enabled);
        }
        let destination = self.destination.validate(&at("Destination"))?;
        if replicate_sse_kms && destination.replica_kms_key_id.is_none() {
            return Err(ConfigError::new(
                at("Destination.EncryptionConfiguration.ReplicaKmsKeyID"),
                "is required when SourceSelectionCriteria.SseKmsEncryptedObjects is Enabled (as in S3)",
            ));
        }
        Ok(Rule {
            id,
            priority,
            enabled: self.status == Status::Enabled,
            filter,
            delete_marker_replication,
            replicate_sse_kms,
            destination,
        })
    }
}

impl RawFilter {
    fn validate(self, at: &str) -> Result<Filter, ConfigError> {
        let given = [
            self.prefix.is_some(),
            self.tag.is_some(),
            self.and.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given > 1 {
            return Err(ConfigError::new(
                at,
                "give only one of Prefix, Tag or And (use And to combine a prefix and tags)",
            ));
        }
        let filter = if let Some(prefix) = self.prefix {
            Filter {
                prefix,
                tags: Vec::new(),
            }
        } else if let Some(tag) = self.tag {
            Filter {
                prefix: String::new(),
                tags: vec![tag.validate(&format!("{at}.Tag"))?],
            }
        } else if let Some(and) = self.and {
            let tags = and
                .tags
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(j, t)| t.validate(&format!("{at}.And.Tags[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let keys: HashSet<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
            if keys.len() != tags.len() {
                return Err(ConfigError::new(
                    format!("{at}.And.Tags"),
                    "a tag key may appear only once",
                ));
            }
            Filter {
                prefix: and.prefix.unwrap_or_default(),
                tags,
            }
        } else {
            Filter::default()
        };
        if filter.prefix.len() > 1024 {
            return Err(ConfigError::new(
                format!("{at}.Prefix"),
                "is longer than an S3 key can be (1024 bytes)",
            ));
        }
        Ok(filter)
    }
}

impl RawTag {
    fn validate(self, at: &str) -> Result<(String, String), ConfigError> {
        if self.key.is_empty() || self.key.chars().count() > 128 {
            return Err(ConfigError::new(
                format!("{at}.Key"),
                "must be 1 to 128 characters",
            ));
        }
        if self.value.chars().count() > 256 {
            return Err(ConfigError::new(
                format!("{at}.Value"),
                "must be at most 256 characters",
            ));
        }
        Ok((self.key, self.value))
    }
}

impl RawDestination {
    fn validate(self, at: &str) -> Result<Destination, ConfigError> {
        let bucket = bucket_name(&self.bucket, &format!("{at}.Bucket"))?;
        if let Some(class) = &self.storage_class {
            check_storage_class(class, &format!("{at}.StorageClass"))?;
        }
        if let Some(region) = &self.region {
            check_region(region, &format!("{at}.Region"))?;
        }
        if let Some(account) = &self.account {
            if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError::new(
                    format!("{at}.Account"),
                    "must be a 12-digit AWS account ID",
                ));
            }
        }
        for (name, value) in [
            ("ReplicationTime", &self.replication_time),
            ("Metrics", &self.metrics),
        ] {
            if let Some(value) = value {
                if value.get("Status").and_then(|s| s.as_str()) != Some("Disabled") {
                    return Err(ConfigError::new(
                        format!("{at}.{name}"),
                        "only {\"Status\": \"Disabled\"} is supported: replication time control and replication metrics are features of native S3 replication",
                    ));
                }
            }
        }
        let owner_override = match self.access_control_translation {
            None => false,
            Some(t) if t.owner == "Destination" => {
                if self.account.is_none() {
                    return Err(ConfigError::new(
                        format!("{at}.Account"),
                        "is required with AccessControlTranslation (as in S3)",
                    ));
                }
                true
            }
            Some(t) => {
                return Err(ConfigError::new(
                    format!("{at}.AccessControlTranslation.Owner"),
                    format!("must be \"Destination\", not {:?}", t.owner),
                ))
            }
        };
        let replica_kms_key_id = match self.encryption_configuration {
            Some(RawEncryption {
                replica_kms_key_id: Some(k),
            }) if k.trim().is_empty() => {
                return Err(ConfigError::new(
                    format!("{at}.EncryptionConfiguration.ReplicaKmsKeyID"),
                    "must not be empty",
                ))
            }
            Some(e) => e.replica_kms_key_id,
            None => None,
        };
        let endpoint = match self.endpoint {
            None => {
                if self.force_path_style.is_some() || self.credentials.is_some() {
                    return Err(ConfigError::new(
                        format!("{at}.Endpoint"),
                        "is required with ForcePathStyle or Credentials",
                    ));
                }
                None
            }
            Some(url) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError::new(
                        format!("{at}.Endpoint"),
                        format!("{url:?} is not an http:// or https:// URL"),
                    ));
                }
                if self.region.is_none() {
                    return Err(ConfigError::new(
                        format!("{at}.Region"),
                        "is required with Endpoint (the bucket's region on that endpoint)",
                    ));
                }
                Some(RemoteEndpoint {
                    url,
                    force_path_style: self.force_path_style.unwrap_or(false),
                    credentials: self
                        .credentials
                        .map(|c| (c.access_key_id_variable, c.secret_access_key_variable)),
                })
            }
        };
        Ok(Destination {
            bucket,
            region: self.region,
            storage_class: self.storage_class,
            account: self.account,
            owner_override,
            replica_kms_key_id,
            endpoint,
        })
    }
}

/// Rules for one destination with equal priority whose prefixes overlap cannot be ordered.
fn check_priority_ties(rules: &[Rule]) -> Result<(), ConfigError> {
    let enabled: Vec<(usize, &Rule)> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.enabled)
        .collect();
    for (n, (i, a)) in enabled.iter().enumerate() {
        for (j, b) in &enabled[n + 1..] {
            let overlap = a.filter.prefix.starts_with(&b.filter.prefix)
                || b.filter.prefix.starts_with(&a.filter.prefix);
            if a.destination.bucket == b.destination.bucket && a.priority == b.priority && overlap {
                return Err(ConfigError::new(
                    format!("REPLICATION_CONFIG.Rules[{j}].Priority"),
                    format!(
                        "rules {:?} (Rules[{i}]) and {:?} overlap, share destination {:?} and have the same priority {}; give them different priorities",
                        a.id, b.id, a.destination.bucket, a.priority
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn bucket_name(value: &str, field: &str) -> Result<String, ConfigError> {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => {
            // arn:PARTITION:s3:::NAME
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts.as_slice() {
                [_, "s3", "", "", name] => *name,
                _ => {
                    return Err(ConfigError::new(
                        field,
                        format!("{value:?} is not an S3 bucket ARN (arn:aws:s3:::BUCKET)"),
                    ))
                }
            }
        }
        None => value,
    };
    if !crate::names::is_bucket_name(name) {
        return Err(ConfigError::new(
            field,
            format!(
                "{name:?} is not a valid bucket name (3-63 lowercase letters, digits, '.', '-')"
            ),
        ));
    }
    Ok(name.to_owned())
}

fn check_region(region: &str, field: &str) -> Result<(), ConfigError> {
    if crate::names::is_region(region) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("{region:?} is not a region name such as eu-west-1"),
        ))
    }
}

fn check_storage_class(class: &str, field: &str) -> Result<(), ConfigError> {
    if STORAGE_CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("{class:?} is not one of {}", STORAGE_CLASSES.join(", ")),
        ))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.id, self.destination.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn err_field(json: &str) -> String {
        Config::from_json(json).unwrap_err().field
    }

    const FULL: &str = r#"{
      "Role": "arn:aws:iam::123456789012:role/replication",
      "Rules": [
        {"ID": "logs", "Priority": 2, "Status": "Enabled",
         "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "class", "Value": "keep"}]}},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": "arn:aws:s3:::dst-logs", "StorageClass": "STANDARD_IA",
                         "Account": "123456789012",
                         "AccessControlTranslation": {"Owner": "Destination"},
                         "EncryptionConfiguration": {"ReplicaKmsKeyID": "arn:aws:kms:eu-west-1:123456789012:key/abc"}},
         "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}}},
        {"ID": "all", "Priority": 1, "Status": "Disabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"},
         "Destination": {"Bucket": "dst-all", "Region": "eu-west-1"}}
      ]
    }"#;

    #[test]
    fn full_aws_configuration_is_understood() {
        let cfg = Config::from_json(FULL).unwrap();
        let logs = &cfg.rules[0];
        assert_eq!(logs.id, "logs");
        assert_eq!(logs.priority, 2);
        assert_eq!(logs.filter.prefix, "logs/");
        assert_eq!(logs.filter.tags, vec![("class".into(), "keep".into())]);
        assert!(!logs.delete_marker_replication);
        assert!(logs.replicate_sse_kms);
        assert_eq!(logs.destination.bucket, "dst-logs");
        assert_eq!(
            logs.destination.storage_class.as_deref(),
            Some("STANDARD_IA")
        );
        assert!(logs.destination.owner_override);
        assert!(logs.destination.replica_kms_key_id.is_some());
        let all = &cfg.rules[1];
        assert!(!all.enabled);
        assert!(all.delete_marker_replication);
        assert_eq!(all.destination.region.as_deref(), Some("eu-west-1"));
        assert!(cfg.uses_tag_filters());
    }

    #[test]
    fn legacy_prefix_rules_replicate_delete_markers() {
        let cfg = Config::from_json(
            r#"{"Rules":[{"Status":"Enabled","Prefix":"a/","Destination":{"Bucket":"dst-b"}}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.rules[0].id, "rule-1");
        assert_eq!(cfg.rules[0].filter.prefix, "a/");
        assert!(cfg.rules[0].delete_marker_replication);
    }

    #[test]
    fn unknown_field_is_rejected_with_its_path() {
        let e = Config::from_json(
            r#"{"Rules":[{"Status":"Enabled","Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b","Bukcet":"x"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "REPLICATION_CONFIG.Rules[0].Destination.Bukcet");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn misspelt_status_names_the_field() {
        let e = Config::from_json(
            r#"{"Rules":[{"Status":"enabled","Prefix":"","Destination":{"Bucket":"dst-b"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "REPLICATION_CONFIG.Rules[0].Status");
        assert!(e.message.contains("Enabled"), "{e}");
    }

    #[test]
    fn trailing_text_after_the_configuration_is_rejected() {
        let e = Config::from_json(r#"{"Rules":[{"Priority":1,"Status":"Enabled","Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b"}}]} x"#).unwrap_err();
        assert_eq!(e.field, "REPLICATION_CONFIG");
        assert!(e.message.contains("after the JSON document"), "{e}");
    }

    #[test]
    fn invalid_json_is_a_configuration_error() {
        assert_eq!(err_field("{not json"), "REPLICATION_CONFIG");
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let rule = |body: &str| format!(r#"{{"Rules":[{{"Status":"Enabled",{body}}}]}}"#);
        let cases = [
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"Not_A_Bucket"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.Bucket",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b","StorageClass":"COLD"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.StorageClass",
            ),
            (
                rule(
                    r#""Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Priority",
            ),
            (
                rule(r#""Priority":1,"Filter":{},"Destination":{"Bucket":"dst-b"}"#),
                "REPLICATION_CONFIG.Rules[0].DeleteMarkerReplication",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{"Tag":{"Key":"k","Value":"v"}},"DeleteMarkerReplication":{"Status":"Enabled"},"Destination":{"Bucket":"dst-b"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].DeleteMarkerReplication",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{"Prefix":"a","Tag":{"Key":"k","Value":"v"}},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Filter",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"ExistingObjectReplication":{"Status":"Enabled"},"Destination":{"Bucket":"dst-b"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].ExistingObjectReplication",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b","ReplicationTime":{"Status":"Enabled","Time":{"Minutes":15}}}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.ReplicationTime",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"SourceSelectionCriteria":{"SseKmsEncryptedObjects":{"Status":"Enabled"}},"Destination":{"Bucket":"dst-b"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.EncryptionConfiguration.ReplicaKmsKeyID",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b","AccessControlTranslation":{"Owner":"Destination"}}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.Account",
            ),
            (
                rule(
                    r#""Priority":1,"Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"arn:aws:sqs:::q"}"#,
                ),
                "REPLICATION_CONFIG.Rules[0].Destination.Bucket",
            ),
            (r#"{"Rules":[]}"#.to_owned(), "REPLICATION_CONFIG.Rules"),
        ];
        for (json, field) in cases {
            assert_eq!(err_field(&json), field, "{json}");
        }
    }

    #[test]
    fn remote_endpoint_destination_is_understood_and_checked() {
        let rule = |destination: &str| {
            format!(
                r#"{{"Rules":[{{"Priority":1,"Status":"Enabled","Filter":{{}},"DeleteMarkerReplication":{{"Status":"Disabled"}},"Destination":{destination}}}]}}"#
            )
        };
        let cfg = Config::from_json(&rule(
            r#"{"Bucket":"dst-b","Region":"auto","Endpoint":"https://r2.example","ForcePathStyle":true,
               "Credentials":{"AccessKeyIdVariable":"R2_KEY","SecretAccessKeyVariable":"R2_SECRET"}}"#,
        ))
        .unwrap();
        let remote = cfg.rules[0].destination.endpoint.clone().unwrap();
        assert_eq!(remote.url, "https://r2.example");
        assert!(remote.force_path_style);
        assert_eq!(
            remote.credentials,
            Some(("R2_KEY".into(), "R2_SECRET".into()))
        );
        for (destination, field) in [
            (
                r#"{"Bucket":"dst-b","Endpoint":"https://x.example"}"#,
                "Region",
            ),
            (
                r#"{"Bucket":"dst-b","Region":"r","Endpoint":"ftp://x"}"#,
                "Endpoint",
            ),
            (r#"{"Bucket":"dst-b","ForcePathStyle":true}"#, "Endpoint"),
        ] {
            assert_eq!(
                err_field(&rule(destination)),
                format!("REPLICATION_CONFIG.Rules[0].Destination.{field}")
            );
        }
    }

    #[test]
    fn overlapping_rules_with_equal_priority_for_one_destination_are_rejected() {
        let e = Config::from_json(
            r#"{"Rules":[
              {"ID":"a","Priority":1,"Status":"Enabled","Filter":{"Prefix":"x/"},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b"}},
              {"ID":"b","Priority":1,"Status":"Enabled","Filter":{"Prefix":"x/y"},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-b"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "REPLICATION_CONFIG.Rules[1].Priority");
    }

    #[test]
    fn mixing_legacy_and_filter_rules_is_rejected() {
        let e = Config::from_json(
            r#"{"Rules":[
              {"Status":"Enabled","Prefix":"a","Destination":{"Bucket":"dst-b"}},
              {"Priority":1,"Status":"Enabled","Filter":{},"DeleteMarkerReplication":{"Status":"Disabled"},"Destination":{"Bucket":"dst-c"}}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.field, "REPLICATION_CONFIG.Rules");
    }

    #[test]
    fn shorthand_builds_one_rule_per_prefix() {
        let cfg = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "arn:aws:s3:::dst-b"),
            ("DESTINATION_REGION", "eu-west-1"),
            ("REPLICATE_PREFIXES", "logs/, images/"),
            ("STORAGE_CLASS", "GLACIER_IR"),
        ]))
        .unwrap();
        assert_eq!(cfg.rules.len(), 2);
        assert_eq!(cfg.rules[0].filter.prefix, "logs/");
        assert_eq!(cfg.rules[1].filter.prefix, "images/");
        assert!(cfg.rules.iter().all(|r| r.destination.bucket == "dst-b"
            && r.destination.region.as_deref() == Some("eu-west-1")
            && r.destination.storage_class.as_deref() == Some("GLACIER_IR")));
    }

    #[test]
    fn shorthand_without_prefixes_replicates_everything() {
        let cfg = Config::from_env(env(&[("DESTINATION_BUCKET", "dst-b")])).unwrap();
        assert_eq!(cfg.rules.len(), 1);
        assert_eq!(cfg.rules[0].filter.prefix, "");
    }

    #[test]
    fn both_configuration_forms_together_fail() {
        let e = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("REPLICATION_CONFIG", FULL),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "DESTINATION_BUCKET");
    }

    #[test]
    fn no_configuration_fails() {
        assert_eq!(
            Config::from_env(env(&[])).unwrap_err().field,
            "REPLICATION_CONFIG"
        );
        assert_eq!(
            Config::from_env(env(&[("REPLICATE_PREFIXES", "a/")]))
                .unwrap_err()
                .field,
            "REPLICATE_PREFIXES"
        );
    }

    #[test]
    fn version_deletes_are_opt_in_and_checked() {
        let cfg = Config::from_env(env(&[("DESTINATION_BUCKET", "dst-b")])).unwrap();
        assert!(!cfg.replicate_version_deletes);
        let cfg = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("REPLICATE_VERSION_DELETES", "true"),
        ]))
        .unwrap();
        assert!(cfg.replicate_version_deletes);
        let e = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("REPLICATE_VERSION_DELETES", "yes"),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "REPLICATE_VERSION_DELETES");
    }

    #[test]
    fn timeout_that_leaves_no_time_outside_the_margin_fails_init() {
        let with = |timeout: &str, margin: &str| {
            Config::from_env(env(&[
                ("DESTINATION_BUCKET", "dst-b"),
                ("FUNCTION_TIMEOUT_SECONDS", timeout),
                ("MULTIPART_TIME_MARGIN_SECONDS", margin),
            ]))
        };
        let e = with("10", "30").unwrap_err();
        assert_eq!(e.field, "MULTIPART_TIME_MARGIN_SECONDS");
        assert!(e.message.contains("10 s timeout"), "{e}");
        assert!(with("60", "30").is_ok());
        assert_eq!(
            with("ten", "30").unwrap_err().field,
            "FUNCTION_TIMEOUT_SECONDS"
        );
    }

    #[test]
    fn shorthand_takes_delete_markers_and_the_replica_key_from_the_environment() {
        let cfg = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("REPLICATE_DELETE_MARKERS", "true"),
            ("REPLICA_KMS_KEY_ID", "arn:aws:kms:eu-west-1:1:key/r"),
        ]))
        .unwrap();
        let rule = &cfg.rules[0];
        assert!(rule.delete_marker_replication && rule.replicate_sse_kms);
        assert_eq!(
            rule.destination.replica_kms_key_id.as_deref(),
            Some("arn:aws:kms:eu-west-1:1:key/r")
        );
        let plain = Config::from_env(env(&[("DESTINATION_BUCKET", "dst-b")])).unwrap();
        assert!(!plain.rules[0].delete_marker_replication && !plain.rules[0].replicate_sse_kms);
        let e = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("REPLICATE_DELETE_MARKERS", "yes"),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "REPLICATE_DELETE_MARKERS");
    }

    #[test]
    fn source_kms_key_without_a_rule_for_kms_objects_fails_init() {
        let e = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("SOURCE_KMS_KEY_ARN", "arn:aws:kms:us-east-1:1:key/s"),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "SOURCE_KMS_KEY_ARN");
        assert!(e.message.contains("REPLICA_KMS_KEY_ID"), "{e}");
    }

    #[test]
    fn multipart_settings_are_read_and_checked() {
        let cfg = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("MULTIPART_THRESHOLD", "8388608"),
            ("MULTIPART_CONCURRENCY", "4"),
        ]))
        .unwrap();
        assert_eq!(cfg.copy.threshold, 8 * 1024 * 1024);
        assert_eq!(cfg.copy.concurrency, 4);
        assert_eq!(cfg.copy.part_size, CopySettings::default().part_size);
        for (name, value) in [
            ("MULTIPART_THRESHOLD", "6GiB"),
            ("MULTIPART_THRESHOLD", "6442450944"),
            ("MULTIPART_PART_SIZE", "1024"),
            ("MULTIPART_CONCURRENCY", "0"),
        ] {
            let e = Config::from_env(env(&[("DESTINATION_BUCKET", "dst-b"), (name, value)]))
                .unwrap_err();
            assert_eq!(e.field, name);
        }
    }

    #[test]
    fn shorthand_rejects_bad_storage_class() {
        let e = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst-b"),
            ("STORAGE_CLASS", "standard"),
        ]))
        .unwrap_err();
        assert_eq!(e.field, "STORAGE_CLASS");
    }
}

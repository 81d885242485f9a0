//! The configuration from environment variables: `REPLICATION_CONFIG` or the one-rule shorthand,
//! and the settings beside it.

use super::{
    bucket_name, check_region, check_storage_class, Config, ConfigError, Destination, Filter, Rule,
};
use crate::copy::{CopySettings, COPY_OBJECT_LIMIT, MAX_PART, MIN_PART};

/// The setting that allows a remote endpoint over plain `http://` (local tests).
pub const ALLOW_PLAIN_HTTP_ENDPOINTS: &str = "ALLOW_PLAIN_HTTP_ENDPOINTS";

/// The setting naming the Secrets Manager secret that holds the replica record key
/// (`crate::store::record_mac`): an ARN, read once at init. Unset: records are not sealed.
pub const REPLICA_RECORD_KEY_SECRET_ARN: &str = "REPLICA_RECORD_KEY_SECRET_ARN";

/// The secret [`REPLICA_RECORD_KEY_SECRET_ARN`] names, if it is set: the full ARN of a Secrets
/// Manager secret (never a wildcard or a partial name, which the role could not be granted).
pub fn record_key_secret_arn(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(arn) = var(REPLICA_RECORD_KEY_SECRET_ARN)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    };
    match parts.as_slice() {
        ["arn", partition, "secretsmanager", region, account, "secret", name]
            if partition.starts_with("aws")
                && !region.is_empty()
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && name_ok(name) =>
        {
            Ok(Some(arn))
        }
        _ => Err(ConfigError::new(
            REPLICA_RECORD_KEY_SECRET_ARN,
            format!("{arn:?} is not the full ARN of an AWS Secrets Manager secret"),
        )),
    }
}

/// Whether `url` is plain `http://` to a host other than this machine's loopback.
pub(crate) fn plain_http_off_host(url: &str) -> bool {
    let url = url.trim();
    if !url
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
    {
        return false;
    }
    let host = super::url_host(url);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !loopback
}

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
        // Unset or empty: any bucket. Set to something that names no bucket (`,`, blanks): a
        // mistake, never "any".
        if let Some(list) = var("SOURCE_BUCKETS").filter(|v| !v.is_empty()) {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                config
                    .source_buckets
                    .push(bucket_name(name, "SOURCE_BUCKETS")?);
            }
            if config.source_buckets.is_empty() {
                return Err(ConfigError::new(
                    "SOURCE_BUCKETS",
                    format!("{list:?} names no bucket; leave it unset or empty to act on every bucket's events"),
                ));
            }
        }
        // Every request to another endpoint is signed, with its named credentials or the
        // function's own, and carries the object: in the clear only when the user says so.
        if flag(ALLOW_PLAIN_HTTP_ENDPOINTS)? != Some(true) {
            for (i, rule) in config.rules.iter().enumerate() {
                if let Some(endpoint) = &rule.destination.endpoint {
                    if endpoint.url.starts_with("http://") {
                        return Err(ConfigError::new(
                            format!("REPLICATION_CONFIG.Rules[{i}].Destination.Endpoint"),
                            format!("rule {:?} sends destination {:?} its objects and signed requests over plain HTTP ({}); use an https:// endpoint, or set {ALLOW_PLAIN_HTTP_ENDPOINTS}=true to allow it (local tests only)", rule.id, rule.destination.bucket, endpoint.url),
                        ));
                    }
                }
            }
        }
        // The function's own endpoint (the SDK's override): the same, but for a server on this
        // machine's loopback (local tests and the demo), which no request leaves the host for.
        if flag(ALLOW_PLAIN_HTTP_ENDPOINTS)? != Some(true) {
            for name in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"] {
                if let Some(url) = set(name).filter(|u| plain_http_off_host(u)) {
                    return Err(ConfigError::new(
                        name,
                        format!("sends every S3 request, signed with the function's credentials, and every object over plain HTTP to another host ({url}); use an https:// endpoint, or set {ALLOW_PLAIN_HTTP_ENDPOINTS}=true to allow it (local tests only)"),
                    ));
                }
            }
        }
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
        config.record_concurrency = number(
            "RECORD_CONCURRENCY",
            super::RECORD_CONCURRENCY as u64,
            1,
            1000,
        )? as usize;
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
            "DESTINATION_ACCOUNT",
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
                // The deployment grants these replica keys only: a rule naming another would
                // fail on every SSE-KMS object.
                if let Some(granted) = set("REPLICA_KMS_KEY_ARNS") {
                    let granted: Vec<&str> = granted
                        .split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .collect();
                    let stray = config.rules.iter().enumerate().find_map(|(i, r)| {
                        let key = r.destination.replica_kms_key_id.as_deref()?;
                        (r.enabled && !granted.contains(&key)).then_some((i, key))
                    });
                    if let Some((i, key)) = stray {
                        return Err(ConfigError::new(
                            format!("REPLICATION_CONFIG.Rules[{i}].Destination.EncryptionConfiguration.ReplicaKmsKeyID"),
                            format!("names {key}, but the deployment grants only the replica keys {granted:?} (REPLICA_KMS_KEY_ARNS): add its ARN to the template's ReplicaKmsKeyArn (comma-separated)"),
                        ));
                    }
                }
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
                // Sent as the expected bucket owner: a bucket of that name in another account
                // (deleted and taken by someone else) refuses every write.
                let account = set("DESTINATION_ACCOUNT").map(|a| a.trim().to_owned());
                if let Some(a) = &account {
                    if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(ConfigError::new(
                            "DESTINATION_ACCOUNT",
                            format!("{a:?} is not a 12-digit AWS account ID"),
                        ));
                    }
                }
                for rule in &mut config.rules {
                    rule.destination.account = account.clone();
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
            source_buckets: Vec::new(),
            record_concurrency: super::RECORD_CONCURRENCY,
        })
    }
}

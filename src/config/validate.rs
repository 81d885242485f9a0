//! The raw JSON shapes validated into the typed configuration, each error naming its field.

use std::collections::HashSet;

use super::raw::*;
use super::{
    Config, ConfigError, CredentialSource, Destination, Filter, RemoteEndpoint, Rule,
    STORAGE_CLASSES,
};
use crate::copy::CopySettings;

impl RawConfig {
    pub(super) fn validate(self) -> Result<Config, ConfigError> {
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
            source_buckets: Vec::new(),
            record_concurrency: super::RECORD_CONCURRENCY,
        })
    }
}

impl RawRule {
    pub(super) fn validate(self, i: usize) -> Result<Rule, ConfigError> {
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
    pub(super) fn validate(self, at: &str) -> Result<Filter, ConfigError> {
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
    pub(super) fn validate(self, at: &str) -> Result<(String, String), ConfigError> {
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
    pub(super) fn validate(self, at: &str) -> Result<Destination, ConfigError> {
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
                let credentials = match self.credentials {
                    None => None,
                    Some(c) => Some(match (c.access_key_id_variable, c.secret_access_key_variable, c.secret_arn) {
                        (Some(access_key_id), Some(secret_access_key), None) => {
                            CredentialSource::Variables {
                                access_key_id,
                                secret_access_key,
                            }
                        }
                        (None, None, Some(arn)) if arn.starts_with("arn:") && arn.contains(":secretsmanager:") => {
                            CredentialSource::Secret(arn)
                        }
                        (None, None, Some(arn)) => {
                            return Err(ConfigError::new(
                                format!("{at}.Credentials.SecretArn"),
                                format!("{arn:?} is not the ARN of an AWS Secrets Manager secret"),
                            ))
                        }
                        _ => {
                            return Err(ConfigError::new(
                                format!("{at}.Credentials"),
                                "takes SecretArn alone, or AccessKeyIdVariable and SecretAccessKeyVariable together",
                            ))
                        }
                    }),
                };
                Some(RemoteEndpoint {
                    url,
                    force_path_style: self.force_path_style.unwrap_or(false),
                    credentials,
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

pub(crate) fn bucket_name(value: &str, field: &str) -> Result<String, ConfigError> {
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

pub(crate) fn check_region(region: &str, field: &str) -> Result<(), ConfigError> {
    if crate::names::is_region(region) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("{region:?} is not a region name such as eu-west-1"),
        ))
    }
}

pub(crate) fn check_storage_class(class: &str, field: &str) -> Result<(), ConfigError> {
    if STORAGE_CLASSES.contains(&class) {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("{class:?} is not one of {}", STORAGE_CLASSES.join(", ")),
        ))
    }
}

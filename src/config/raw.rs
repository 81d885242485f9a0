//! The replication configuration JSON as serde reads it, before validation.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawConfig {
    #[allow(dead_code)] // accepted for compatibility; the function's own role is used
    pub(super) role: Option<String>,
    pub(super) rules: Vec<RawRule>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Status {
    Enabled,
    Disabled,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct StatusOnly {
    pub(super) status: Status,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawRule {
    #[serde(rename = "ID")]
    pub(super) id: Option<String>,
    pub(super) priority: Option<i64>,
    pub(super) status: Status,
    pub(super) filter: Option<RawFilter>,
    pub(super) prefix: Option<String>,
    pub(super) delete_marker_replication: Option<StatusOnly>,
    pub(super) destination: RawDestination,
    pub(super) source_selection_criteria: Option<RawSourceSelection>,
    pub(super) existing_object_replication: Option<StatusOnly>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawFilter {
    pub(super) prefix: Option<String>,
    pub(super) tag: Option<RawTag>,
    pub(super) and: Option<RawAnd>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawAnd {
    pub(super) prefix: Option<String>,
    pub(super) tags: Option<Vec<RawTag>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawTag {
    pub(super) key: String,
    pub(super) value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawSourceSelection {
    pub(super) sse_kms_encrypted_objects: Option<StatusOnly>,
    pub(super) replica_modifications: Option<StatusOnly>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawDestination {
    pub(super) bucket: String,
    pub(super) account: Option<String>,
    pub(super) storage_class: Option<String>,
    pub(super) access_control_translation: Option<RawAccessControlTranslation>,
    pub(super) encryption_configuration: Option<RawEncryption>,
    pub(super) replication_time: Option<serde_json::Value>,
    pub(super) metrics: Option<serde_json::Value>,
    /// Extension: the destination bucket's region, saving a lookup.
    pub(super) region: Option<String>,
    /// Extension: another S3 endpoint.
    pub(super) endpoint: Option<String>,
    /// Extension: path-style addressing for `Endpoint`.
    pub(super) force_path_style: Option<bool>,
    /// Extension: credentials for `Endpoint`.
    pub(super) credentials: Option<RawCredentials>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawCredentials {
    pub(super) access_key_id_variable: Option<String>,
    pub(super) secret_access_key_variable: Option<String>,
    pub(super) secret_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(super) struct RawAccessControlTranslation {
    pub(super) owner: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEncryption {
    #[serde(rename = "ReplicaKmsKeyID")]
    pub(super) replica_kms_key_id: Option<String>,
}

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
        Some(super::CredentialSource::Variables {
            access_key_id: "R2_KEY".into(),
            secret_access_key: "R2_SECRET".into()
        })
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
        ("RECORD_CONCURRENCY", "64"),
    ]))
    .unwrap();
    assert_eq!(cfg.copy.threshold, 8 * 1024 * 1024);
    assert_eq!(cfg.copy.concurrency, 4);
    assert_eq!(cfg.record_concurrency, 64);
    assert_eq!(cfg.copy.part_size, CopySettings::default().part_size);
    for (name, value) in [
        ("MULTIPART_THRESHOLD", "6GiB"),
        ("MULTIPART_THRESHOLD", "6442450944"),
        ("MULTIPART_PART_SIZE", "1024"),
        ("MULTIPART_CONCURRENCY", "0"),
        ("RECORD_CONCURRENCY", "0"),
        ("RECORD_CONCURRENCY", "many"),
    ] {
        let e =
            Config::from_env(env(&[("DESTINATION_BUCKET", "dst-b"), (name, value)])).unwrap_err();
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

#[test]
fn source_buckets_are_read_and_a_bad_name_fails_init_naming_the_variable() {
    let config = Config::from_env(env(&[
        ("DESTINATION_BUCKET", "dst"),
        ("SOURCE_BUCKETS", "src-a, src-b"),
    ]))
    .unwrap();
    assert!(config.allows_source("src-a") && config.allows_source("src-b"));
    assert!(!config.allows_source("elsewhere"));
    let err = Config::from_env(env(&[
        ("DESTINATION_BUCKET", "dst"),
        ("SOURCE_BUCKETS", "Not_A_Bucket"),
    ]))
    .unwrap_err();
    assert_eq!(err.field, "SOURCE_BUCKETS");
    let open = Config::from_env(env(&[("DESTINATION_BUCKET", "dst")])).unwrap();
    assert!(open.allows_source("anything"), "unset: any bucket");
    let empty = Config::from_env(env(&[
        ("DESTINATION_BUCKET", "dst"),
        ("SOURCE_BUCKETS", ""),
    ]));
    assert!(
        empty.unwrap().allows_source("anything"),
        "empty: any bucket"
    );
    // A list that names no bucket is a mistake, never "any bucket".
    for nothing in [",", " ", " , "] {
        let err = Config::from_env(env(&[
            ("DESTINATION_BUCKET", "dst"),
            ("SOURCE_BUCKETS", nothing),
        ]))
        .unwrap_err();
        assert_eq!(err.field, "SOURCE_BUCKETS", "{nothing:?}");
    }
}

#[test]
fn the_record_key_secret_is_a_full_secrets_manager_arn_or_unset() {
    use super::{record_key_secret_arn, REPLICA_RECORD_KEY_SECRET_ARN as SETTING};
    let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:record-key-AbCdEf";
    assert_eq!(
        record_key_secret_arn(env(&[(SETTING, arn)])).unwrap(),
        Some(arn.to_owned())
    );
    assert_eq!(record_key_secret_arn(env(&[(SETTING, " ")])).unwrap(), None);
    assert_eq!(record_key_secret_arn(env(&[])).unwrap(), None);
    for bad in [
        "record-key",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*",
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a,b",
        "arn:aws:kms:eu-west-1:123456789012:key/k",
        "arn:aws:secretsmanager:eu-west-1:*:secret:record-key",
    ] {
        let err = record_key_secret_arn(env(&[(SETTING, bad)])).unwrap_err();
        assert_eq!(err.field, SETTING, "{bad}");
    }
}

#[test]
fn the_shorthand_destination_account_is_the_expected_bucket_owner() {
    let config = Config::from_env(env(&[
        ("DESTINATION_BUCKET", "dst"),
        ("DESTINATION_ACCOUNT", "123456789012"),
    ]))
    .unwrap();
    assert_eq!(
        config.rules[0].destination.account.as_deref(),
        Some("123456789012")
    );
    let err = Config::from_env(env(&[
        ("DESTINATION_BUCKET", "dst"),
        ("DESTINATION_ACCOUNT", "12345"),
    ]))
    .unwrap_err();
    assert_eq!(err.field, "DESTINATION_ACCOUNT");
    let err = Config::from_env(env(&[
        ("REPLICATION_CONFIG", r#"{"Rules":[]}"#),
        ("DESTINATION_ACCOUNT", "123456789012"),
    ]))
    .unwrap_err();
    assert_eq!(
        err.field, "DESTINATION_ACCOUNT",
        "not with the full configuration"
    );
}

//! The template's IAM role is enough to replicate with full fidelity, and no broader: the function
//! runs against moto with IAM enforced, as a user whose policy is exactly the role's statements,
//! read from template.yaml with the parameters substituted.

use std::process::Command;

use crate::common::*;
use aws_sdk_s3::types::ObjectCannedAcl;
use s3_replicator::error::InvocationError;
use s3_replicator::handle;
use serde_json::{json, Value};

/// Requests the IAM set-up makes before enforcement starts (scripts/iam_from_template.py).
const SETUP_CALLS: &str = "6";

struct Users {
    admin: aws_config::SdkConfig,
    replicator: aws_config::SdkConfig,
    policy: Value,
}

fn users(endpoint: &str, params: &[(&str, &str)]) -> Users {
    let v: Value = from_template(&["--endpoint", endpoint], params);
    let sdk = |user: &str| {
        sdk_config_as(
            endpoint,
            "us-east-1",
            v["users"][user]["access_key_id"].as_str().unwrap(),
            v["users"][user]["secret_access_key"].as_str().unwrap(),
        )
    };
    Users {
        admin: sdk("admin"),
        replicator: sdk("replicator"),
        policy: v["policy"].clone(),
    }
}

#[tokio::test]
async fn template_role_replicates_fully_and_cannot_write_elsewhere() {
    let server = start_moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS)]);
    let src = unique_bucket("lp-src");
    let dst = unique_bucket("lp-dst");
    let outside = unique_bucket("lp-outside");
    let users = users(
        &server.endpoint,
        &[
            ("SourceBucketName", &src),
            ("DestinationBucketArns", &format!("arn:aws:s3:::{dst}")),
        ],
    );
    // The policy really is the role's: nothing outside the named buckets, no wildcards.
    let text = users.policy.to_string();
    assert!(text.contains(&format!("arn:aws:s3:::{dst}/*")));
    assert!(!text.contains(&outside) && !text.contains("\"s3:*\"") && !text.contains("\"*\""));

    let admin = client_from(&users.admin);
    for (bucket, region) in [
        (&src, "us-east-1"),
        (&dst, "eu-west-1"),
        (&outside, "us-east-1"),
    ] {
        let mut create = admin.create_bucket().bucket(bucket.as_str());
        if region != "us-east-1" {
            create = create.create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(region.into())
                    .build(),
            );
        }
        create.send().await.expect("admin creates bucket");
        admin
            .put_bucket_versioning()
            .bucket(bucket.as_str())
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let put = put_with(&admin, &src, "doc.txt", b"least privilege", |b| {
        b.metadata("owner", "ops")
            .tagging("team=storage")
            .acl(ObjectCannedAcl::PublicRead)
            .content_type("text/plain")
    })
    .await;

    // The replicator itself cannot do what the role does not allow.
    let restricted = client_from(&users.replicator);
    let denied = restricted
        .put_object()
        .bucket(&outside)
        .key("x")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert!(
        denied.is_err(),
        "a write outside the destination must be denied"
    );

    let config = json!({"Rules": [
        {"ID": "allowed", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": format!("arn:aws:s3:::{dst}")}},
        {"ID": "not-allowed", "Priority": 2, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": outside, "Region": "us-east-1"}}
    ]})
    .to_string();
    let replicator = replicator_with(&users.replicator, &[("REPLICATION_CONFIG", &config)]);
    let err = handle(&replicator, created_event(std::slice::from_ref(&put)))
        .await
        .unwrap_err();
    let InvocationError::RecordsFailed { failures, .. } = &err else {
        panic!("{err}")
    };
    let codes: Vec<(Option<&str>, &str)> = failures
        .iter()
        .map(|f| (f.destination.as_deref(), f.code))
        .collect();
    // The function reads the destination's current version before writing (duplicate events
    // copy nothing), so the denial shows on that first call.
    assert_eq!(
        codes,
        vec![(Some(outside.as_str()), "DstReadNotPermitted")],
        "{err}"
    );

    // The allowed destination got the full replica.
    assert_eq!(
        body_of(&admin, &dst, "doc.txt", None).await,
        b"least privilege"
    );
    let head = admin
        .head_object()
        .bucket(&dst)
        .key("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap().get("owner").map(String::as_str),
        Some("ops")
    );
    assert_eq!(head.content_type(), Some("text/plain"));
    let tags = admin
        .get_object_tagging()
        .bucket(&dst)
        .key("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].key(), "team");
    assert!(grants_read(&admin, &dst, "doc.txt").await);
    assert_eq!(version_count(&admin, &outside, "doc.txt").await, 0);

    // A multipart source takes the multipart path (part HEADs, upload listing, UploadPartCopy,
    // Complete): the role allows that too.
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    let big = multipart_source(&admin, &src, "big.bin", &parts).await;
    let only_allowed = json!({"Rules": [
        {"ID": "allowed", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": format!("arn:aws:s3:::{dst}")}}]})
    .to_string();
    let replicator = replicator_with(&users.replicator, &[("REPLICATION_CONFIG", &only_allowed)]);
    let summary = handle(&replicator, created_event(std::slice::from_ref(&big)))
        .await
        .expect("the role allows a multipart copy");
    assert_eq!(summary.replicated, 1);
    let head = admin
        .head_object()
        .bucket(&dst)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), big.etag);
}

/// A Batch Operations restore job runs under the function's role: as deployed with a Batch
/// Operations bucket, the role may copy a past version back into the source (the role had no
/// s3:PutObject there, and every task failed AccessDenied), and still writes nowhere else.
#[tokio::test]
async fn template_role_runs_a_batch_restore_job_into_the_source() {
    let server = start_moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS)]);
    let src = unique_bucket("lp-rst-src");
    let dst = unique_bucket("lp-rst-dst");
    let users = users(
        &server.endpoint,
        &[
            ("SourceBucketName", &src),
            ("DestinationBucketArns", &format!("arn:aws:s3:::{dst}")),
            ("BatchOperationsBucket", "lp-ops-bucket"),
        ],
    );
    let admin = client_from(&users.admin);
    for bucket in [&src, &dst] {
        admin
            .create_bucket()
            .bucket(bucket.as_str())
            .send()
            .await
            .unwrap();
        admin
            .put_bucket_versioning()
            .bucket(bucket.as_str())
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let good = put_with(&admin, &src, "doc.txt", b"good", |b| {
        b.tagging("team=storage")
    })
    .await;
    put(&admin, &src, "doc.txt", b"ransomed").await;
    let config = json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": format!("arn:aws:s3:::{dst}")}}]})
    .to_string();
    let replicator = replicator_with(&users.replicator, &[("REPLICATION_CONFIG", &config)]);
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {"Mode": "restore", "ReadAt": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}},
        "tasks": [{"taskId": "t0", "s3Bucket": src, "s3Key": "doc.txt",
                   "s3VersionId": good.version_id}]});
    let answer = s3_replicator::respond(&replicator, job, None)
        .await
        .unwrap();
    assert_eq!(answer["results"][0]["resultString"], "restored", "{answer}");
    assert_eq!(body_of(&admin, &src, "doc.txt", None).await, b"good");
}

/// What `scripts/iam_from_template.py ARGS` reads out of template.yaml (or does with it) with
/// these parameters.
fn from_template<T: serde::de::DeserializeOwned>(args: &[&str], params: &[(&str, &str)]) -> T {
    let mut cmd = Command::new(repo_root().join(".venv/bin/python"));
    cmd.arg(repo_root().join("scripts/iam_from_template.py"))
        .arg(repo_root().join("template.yaml"))
        .args(args);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    json_from(&mut cmd)
}

/// The account `scripts/iam_from_template.py` deploys into (`AWS::AccountId`).
const ACCOUNT_ID: &str = "123456789012";

/// The function's environment as template.yaml builds it from these parameters.
fn template_env(params: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    from_template(&["--function-env"], params)
}

#[test]
fn template_subscribes_every_event_the_function_acts_on() {
    use s3_replicator::events::EventKind;
    let base = [
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
    ];
    let subscribed: Vec<String> = from_template(&["--bucket-events"], &base);
    let covers = |subscribed: &[String], name: &str| {
        subscribed
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => format!("s3:{name}").starts_with(prefix),
                None => *pattern == format!("s3:{name}"),
            })
    };
    for (name, kind) in [
        ("ObjectCreated:Put", EventKind::Created),
        ("ObjectCreated:CompleteMultipartUpload", EventKind::Created),
        (
            "ObjectRemoved:DeleteMarkerCreated",
            EventKind::DeleteMarkerCreated,
        ),
        ("ObjectAcl:Put", EventKind::AclChanged),
        ("ObjectTagging:Put", EventKind::TagsChanged),
        ("ObjectTagging:Delete", EventKind::TagsChanged),
    ] {
        assert_eq!(EventKind::of(name, true), Some(kind));
        assert!(
            covers(&subscribed, name),
            "{name} is not subscribed: {subscribed:?}"
        );
    }
    // Version deletes are subscribed only when they are replicated.
    assert!(!covers(&subscribed, "ObjectRemoved:Delete"));
    let mut opted = base.to_vec();
    opted.push(("ReplicateVersionDeletes", "true"));
    let subscribed: Vec<String> = from_template(&["--bucket-events"], &opted);
    assert!(covers(&subscribed, "ObjectRemoved:Delete"));
    assert_eq!(template_env(&opted)["REPLICATE_VERSION_DELETES"], "true");
}

#[test]
fn template_shorthand_parameters_make_a_valid_configuration() {
    let env = template_env(&[
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("DestinationRegion", "eu-west-1"),
        ("ReplicatePrefixes", "logs/,img/"),
        ("StorageClass", "STANDARD_IA"),
    ]);
    let config = s3_replicator::Config::from_env(|k| env.get(k).cloned()).unwrap();
    assert_eq!(config.rules.len(), 2);
    let dst = &config.rules[0].destination;
    assert_eq!(dst.bucket, "replica-bucket");
    assert_eq!(dst.region.as_deref(), Some("eu-west-1"));
    assert_eq!(dst.storage_class.as_deref(), Some("STANDARD_IA"));
    // The shorthand sends an expected bucket owner: this stack's account unless one is named.
    assert_eq!(dst.account.as_deref(), Some(ACCOUNT_ID));
    let named = template_env(&[
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("DestinationAccount", "210987654321"),
    ]);
    let config = s3_replicator::Config::from_env(|k| named.get(k).cloned()).unwrap();
    assert_eq!(
        config.rules[0].destination.account.as_deref(),
        Some("210987654321")
    );
}

#[test]
fn template_replication_config_parameter_replaces_the_shorthand() {
    let json = r#"{"Rules":[{"ID":"r","Priority":1,"Status":"Enabled","Filter":{"Prefix":"a/"},"DeleteMarkerReplication":{"Status":"Enabled"},"Destination":{"Bucket":"arn:aws:s3:::other-replica"}}]}"#;
    let env = template_env(&[
        ("SourceBucketName", "src-bucket"),
        (
            "DestinationBucketArns",
            "arn:aws:s3:::replica-bucket,arn:aws:s3:::other-replica",
        ),
        ("ReplicatePrefixes", "ignored/"),
        ("ReplicationConfig", json),
        ("ReplicateDeleteMarkers", "true"),
    ]);
    let config = s3_replicator::Config::from_env(|k| env.get(k).cloned()).unwrap();
    assert_eq!(config.rules.len(), 1);
    assert_eq!(config.rules[0].id, "r");
    assert_eq!(config.rules[0].destination.bucket, "other-replica");
}

/// What the function calls, and the IAM actions AWS documents for each call and header it uses
/// ("Actions, resources, and condition keys for Amazon S3"; "Permissions for Amazon S3 API
/// operations"; AWS KMS with S3 multipart uploads). `when` names the deployment option that
/// makes the function call it; `None`: always.
#[rustfmt::skip]
const CALLS: &[(&str, Option<&str>, &str, &[&str])] = &[
    // call (and header)                                 when                 resource  actions
    ("HeadObject / GetObject / copy read of a version",  None,                "src/*",  &["s3:GetObject", "s3:GetObjectVersion"]),
    ("GetObjectTagging of a version",                    None,                "src/*",  &["s3:GetObjectTagging", "s3:GetObjectVersionTagging"]),
    ("GetObjectAcl of a version",                        None,                "src/*",  &["s3:GetObjectAcl", "s3:GetObjectVersionAcl"]),
    ("GetObjectRetention (and HeadObject's lock mode)",  None,                "src/*",  &["s3:GetObjectRetention"]),
    ("GetObjectLegalHold (and HeadObject's legal hold)", None,                "src/*",  &["s3:GetObjectLegalHold"]),
    ("GetObjectLockConfiguration",                       None,                "src",    &["s3:GetBucketObjectLockConfiguration"]),
    ("GetBucketOwnershipControls",                       None,                "src",    &["s3:GetBucketOwnershipControls"]),
    ("HeadObject: 404, not 403, for a deleted version",  None,                "src",    &["s3:ListBucket"]),
    ("ListObjectVersions of a source key",               None,                "src",    &["s3:ListBucketVersions"]),
    ("CopyObject / multipart upload / PutObject",        None,                "dst/*",  &["s3:PutObject"]),
    ("x-amz-tagging on a write",                         None,                "dst/*",  &["s3:PutObjectTagging"]),
    ("x-amz-grant-* / x-amz-acl on a write",             None,                "dst/*",  &["s3:PutObjectAcl"]),
    ("x-amz-object-lock-mode / -retain-until-date",      None,                "dst/*",  &["s3:PutObjectRetention"]),
    ("x-amz-object-lock-legal-hold",                     None,                "dst/*",  &["s3:PutObjectLegalHold"]),
    ("PutObjectTagging / DeleteObjectTagging of a version", None,             "dst/*",  &["s3:PutObjectVersionTagging", "s3:DeleteObjectVersionTagging"]),
    ("PutObjectAcl of a version",                        None,                "dst/*",  &["s3:PutObjectVersionAcl"]),
    ("ListParts",                                        None,                "dst/*",  &["s3:ListMultipartUploadParts"]),
    ("AbortMultipartUpload",                             None,                "dst/*",  &["s3:AbortMultipartUpload"]),
    ("HeadObject of a replica (current or version)",     None,                "dst/*",  &["s3:GetObject", "s3:GetObjectVersion"]),
    ("GetBucketLocation",                                None,                "dst",    &["s3:GetBucketLocation"]),
    ("HeadObject: 404, not 403, for a missing replica",  None,                "dst",    &["s3:ListBucket"]),
    ("ListObjectVersions",                               None,                "dst",    &["s3:ListBucketVersions"]),
    ("ListMultipartUploads",                             None,                "dst",    &["s3:ListBucketMultipartUploads"]),
    ("DeleteObject without a version (delete marker)",   Some("markers"),     "dst/*",  &["s3:DeleteObject"]),
    ("DeleteObject of a version (own writes withdrawn)", None,                "dst/*",  &["s3:DeleteObjectVersion"]),
    ("Batch restore: CopyObject / multipart back into the source", Some("batch"), "src/*", &["s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectAcl", "s3:PutObjectRetention", "s3:PutObjectLegalHold"]),
    ("Batch restore: ListParts / AbortMultipartUpload",  Some("batch"),       "src/*",  &["s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"]),
    ("Batch restore: our write withdrawn by its version", Some("batch"),      "src/*",  &["s3:DeleteObjectVersion"]),
    ("Batch restore: ListMultipartUploads, GetBucketVersioning", Some("batch"), "src",  &["s3:ListBucketMultipartUploads", "s3:GetBucketVersioning"]),
    ("Batch restore: a replica version's tags and ACL",  Some("batch"),       "dst/*",  &["s3:GetObjectVersionTagging", "s3:GetObjectVersionAcl"]),
    ("reading an SSE-KMS source",                        Some("source-key"),  "src-key", &["kms:Decrypt"]),
    ("Batch restore: a copy back under the source's key", Some("batch-source-key"), "src-key", &["kms:GenerateDataKey"]),
    ("CopyObject into SSE-KMS",                          Some("replica-key"), "replica-key", &["kms:GenerateDataKey"]),
    ("multipart upload into SSE-KMS",                    Some("replica-key"), "replica-key", &["kms:GenerateDataKey", "kms:Decrypt"]),
    ("GetSecretValue of a remote endpoint's credentials", Some("secrets"),    "secret", &["secretsmanager:GetSecretValue"]),
    ("GetSecretValue of the replica record key",         Some("record-key"), "record-key", &["secretsmanager:GetSecretValue"]),
    ("logging",                                          None,                "logs",   &["logs:CreateLogStream", "logs:PutLogEvents"]),
    ("the failure destination",                          None,                "queue",  &["sqs:SendMessage"]),
];

/// The conditions a grant for a class of resource must carry (`Null`: none). KMS keys are used only
/// by S3 on the function's behalf (`kms:ViaService`, "Condition keys for AWS KMS") and only for
/// objects of the named buckets: S3's encryption context `aws:s3:arn` is the object's ARN, or the
/// bucket's with S3 Bucket Keys ("Using SSE-KMS", Encryption context). A key is regional and S3
/// uses a key of its bucket's region: the source key's region is the key ARN's; replica keys may
/// sit in several regions, which a template cannot map one by one.
fn conditions(class: &str) -> Value {
    match class {
        "src-key" => json!({
            "StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn":
                ["arn:aws:s3:::src-bucket", "arn:aws:s3:::src-bucket/*"]}}),
        "replica-key" => json!({
            "StringLike": {"kms:ViaService": "s3.*.amazonaws.com",
                "kms:EncryptionContext:aws:s3:arn":
                    ["arn:aws:s3:::replica-bucket", "arn:aws:s3:::replica-bucket/*"]}}),
        _ => Value::Null,
    }
}

/// A condition block as one comparable string: keys and lists in order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, String)> =
                map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect();
            entries.sort();
            let inner: Vec<String> = entries.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => {
            let mut inner: Vec<String> = items.iter().map(canonical).collect();
            inner.sort();
            format!("[{}]", inner.join(","))
        }
        other => other.to_string(),
    }
}

#[test]
fn template_role_grants_exactly_what_the_calls_need() {
    use std::collections::BTreeSet;
    let resource = |class: &str| match class {
        "src/*" => "arn:aws:s3:::src-bucket/*".to_owned(),
        "src" => "arn:aws:s3:::src-bucket".to_owned(),
        "dst/*" => "arn:aws:s3:::replica-bucket/*".to_owned(),
        "dst" => "arn:aws:s3:::replica-bucket".to_owned(),
        "src-key" => "arn:aws:kms:us-east-1:123456789012:key/source".to_owned(),
        "replica-key" => "arn:aws:kms:us-east-1:123456789012:key/replica".to_owned(),
        "secret" => "arn:aws:secretsmanager:us-east-1:123456789012:secret:remote-AbCdEf".to_owned(),
        "record-key" => {
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:record-key-AbCdEf".to_owned()
        }
        "logs" => {
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/s3-replicator-replicator:*"
                .to_owned()
        }
        "queue" => "arn:aws:sqs:us-east-1:123456789012:FailureQueue".to_owned(),
        other => panic!("{other}"),
    };
    /// The options switched on, and the template parameters that switch them on.
    type Options = (
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
    );
    let options: &[Options] = &[
        (&[], &[]),
        (&["markers"], &[("ReplicateDeleteMarkers", "true")]),
        (&["batch"], &[("BatchOperationsBucket", "ops-bucket")]),
        (
            &["batch", "source-key", "replica-key", "batch-source-key"],
            &[
                ("BatchOperationsBucket", "ops-bucket"),
                (
                    "SourceKmsKeyArn",
                    "arn:aws:kms:us-east-1:123456789012:key/source",
                ),
                (
                    "ReplicaKmsKeyArn",
                    "arn:aws:kms:us-east-1:123456789012:key/replica",
                ),
            ],
        ),
        (&["versions"], &[("ReplicateVersionDeletes", "true")]),
        (
            &["source-key", "replica-key"],
            &[
                (
                    "SourceKmsKeyArn",
                    "arn:aws:kms:us-east-1:123456789012:key/source",
                ),
                (
                    "ReplicaKmsKeyArn",
                    "arn:aws:kms:us-east-1:123456789012:key/replica",
                ),
            ],
        ),
        (
            &["secrets"],
            &[(
                "RemoteCredentialsSecretArns",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:remote-AbCdEf",
            )],
        ),
        (
            &["record-key"],
            &[(
                "ReplicaRecordKeySecretArn",
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:record-key-AbCdEf",
            )],
        ),
    ];
    for (on, extra) in options {
        let mut params = vec![
            ("SourceBucketName", "src-bucket"),
            ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ];
        params.extend_from_slice(extra);
        // Each grant: resource, action, and the conditions it is granted under.
        let needed: BTreeSet<(String, String, String)> = CALLS
            .iter()
            .filter(|(_, when, _, _)| when.is_none_or(|w| on.contains(&w)))
            .flat_map(|(_, _, class, actions)| {
                actions.iter().map(|a| {
                    (
                        resource(class),
                        a.to_string(),
                        canonical(&conditions(class)),
                    )
                })
            })
            .collect();
        let policy: Value = from_template(&[], &params);
        let as_list = |v: &Value| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap().to_owned())
                .collect(),
            other => vec![other.as_str().unwrap().to_owned()],
        };
        let mut granted = BTreeSet::new();
        for statement in policy["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            let condition = canonical(statement.get("Condition").unwrap_or(&Value::Null));
            for r in as_list(&statement["Resource"]) {
                for a in as_list(&statement["Action"]) {
                    granted.insert((r.clone(), a, condition.clone()));
                }
            }
        }
        let missing: Vec<_> = needed.difference(&granted).collect();
        let broader: Vec<_> = granted.difference(&needed).collect();
        assert!(
            missing.is_empty(),
            "options {on:?}: not granted: {missing:?}"
        );
        assert!(
            broader.is_empty(),
            "options {on:?}: granted but never needed: {broader:?}"
        );
    }
}

#[tokio::test]
async fn template_kms_option_deploys_a_configuration_that_replicates_kms_objects() {
    let s3 = client();
    let src = versioned_bucket(&s3, "kms-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "kms-dst", "eu-west-1").await;
    let dst_arn = format!("arn:aws:s3:::{dst}");
    let kms = [
        ("SourceBucketName", src.as_str()),
        ("DestinationBucketArns", dst_arn.as_str()),
        (
            "SourceKmsKeyArn",
            "arn:aws:kms:us-east-1:123456789012:key/source",
        ),
        (
            "ReplicaKmsKeyArn",
            "arn:aws:kms:us-east-1:123456789012:key/replica",
        ),
    ];
    let env = template_env(&kms);
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // As the bucket's default encryption writes it.
    let put = put_with(&s3, &src, "secret.txt", b"classified", |b| {
        b.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKms)
            .ssekms_key_id("arn:aws:kms:us-east-1:123456789012:key/source")
    })
    .await;
    let summary = handle(
        &replicator(&server().endpoint, &vars),
        created_event(std::slice::from_ref(&put)),
    )
    .await
    .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (1, 0));
    let replica = s3
        .head_object()
        .bucket(&dst)
        .key("secret.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        replica.ssekms_key_id(),
        Some("arn:aws:kms:us-east-1:123456789012:key/replica")
    );

    // The function refuses to start with a source key and no way to replicate its objects.
    let mut env = env;
    env.insert("REPLICA_KMS_KEY_ID".into(), String::new());
    let err = s3_replicator::Config::from_env(|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(err.field, "SOURCE_KMS_KEY_ARN", "{err}");
}

#[test]
fn template_without_delete_marker_permission_refuses_a_rule_that_needs_it() {
    let json = r#"{"Rules":[{"ID":"r","Priority":1,"Status":"Enabled","Filter":{},"DeleteMarkerReplication":{"Status":"Enabled"},"Destination":{"Bucket":"arn:aws:s3:::replica-bucket"}}]}"#;
    let params = [
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("ReplicationConfig", json),
    ];
    let env = template_env(&params);
    let err = s3_replicator::Config::from_env(|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(
        err.field, "REPLICATION_CONFIG.Rules[0].DeleteMarkerReplication",
        "{err}"
    );
    let mut allowed = params.to_vec();
    allowed.push(("ReplicateDeleteMarkers", "true"));
    let env = template_env(&allowed);
    assert!(s3_replicator::Config::from_env(|k| env.get(k).cloned()).is_ok());
}

/// The Batch Operations role reads manifests and writes reports only under its two prefixes,
/// lists the source for generated manifests, and reads no object (the function does that).
#[tokio::test]
async fn batch_operations_role_reads_manifests_and_writes_reports_only_under_its_prefixes() {
    let server = start_moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS)]);
    let src = unique_bucket("bo-src");
    let ops = unique_bucket("bo-ops");
    let v: Value = from_template(
        &[
            "--endpoint",
            &server.endpoint,
            "--role",
            "BatchOperationsRole",
        ],
        &[
            ("SourceBucketName", &src),
            ("DestinationBucketArns", "arn:aws:s3:::bo-dst"),
            ("BatchOperationsBucket", &ops),
        ],
    );
    let sdk = |user: &str| {
        sdk_config_as(
            &server.endpoint,
            "us-east-1",
            v["users"][user]["access_key_id"].as_str().unwrap(),
            v["users"][user]["secret_access_key"].as_str().unwrap(),
        )
    };
    let (admin, batch) = (client_from(&sdk("admin")), client_from(&sdk("replicator")));
    for bucket in [&src, &ops] {
        admin.create_bucket().bucket(bucket).send().await.unwrap();
    }
    for (bucket, key) in [
        (&ops, "batch-manifests/job.csv"),
        (&ops, "elsewhere/job.csv"),
        (&src, "data.txt"),
    ] {
        put(&admin, bucket, key, b"src,data.txt\n").await;
    }
    let get = |bucket: &str, key: &str| batch.get_object().bucket(bucket).key(key).send();
    let put_to = |bucket: &str, key: &str| {
        batch
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(b"report".to_vec().into())
            .send()
    };
    assert!(get(&ops, "batch-manifests/job.csv").await.is_ok());
    assert!(get(&ops, "elsewhere/job.csv").await.is_err());
    assert!(
        get(&src, "data.txt").await.is_err(),
        "objects are read by the function"
    );
    assert!(put_to(&ops, "batch-reports/job-1/report.csv").await.is_ok());
    assert!(put_to(&ops, "batch-manifests/forged.csv").await.is_err());
    assert!(put_to(&src, "data.txt").await.is_err());
    assert!(batch.list_objects_v2().bucket(&src).send().await.is_ok());
    assert!(batch.list_objects_v2().bucket(&ops).send().await.is_err());
    let policy = v["policy"].to_string();
    assert!(policy.contains("lambda:InvokeFunction"), "{policy}");
    assert!(
        !policy.contains("\"*\"") && !policy.contains("s3:*"),
        "{policy}"
    );
}

#[test]
fn template_creates_no_batch_operations_role_without_its_bucket() {
    let out = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/iam_from_template.py"))
        .arg(repo_root().join("template.yaml"))
        .args(["--role", "BatchOperationsRole"])
        .args(["--param", "SourceBucketName=src"])
        .args(["--param", "DestinationBucketArns=arn:aws:s3:::dst"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not created"));
}

/// Runs `script` in the venv's Python with boto3 pointed at `endpoint` as the given user; its
/// stdout parsed as JSON.
fn boto3_as(endpoint: &str, keys: &Value, script: &str) -> Value {
    let prelude = format!(
        "import boto3, json, sys\nsqs = boto3.client('sqs', endpoint_url='{endpoint}', region_name='us-east-1', \
         aws_access_key_id='{}', aws_secret_access_key='{}')\n",
        keys["access_key_id"].as_str().unwrap(),
        keys["secret_access_key"].as_str().unwrap()
    );
    json_from(
        Command::new(repo_root().join(".venv/bin/python"))
            .arg("-c")
            .arg(prelude + script),
    )
}

/// With the SQS trigger the role may read and delete from the event queue, and from nothing
/// else: not the dead-letter queue (a redrive is an operator's act), and it may not send to it.
#[tokio::test]
async fn sqs_trigger_role_reads_only_its_event_queue() {
    let server = start_moto_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS)]);
    let v: Value = from_template(
        &["--endpoint", &server.endpoint],
        &[
            ("SourceBucketName", "sq-src"),
            ("DestinationBucketArns", "arn:aws:s3:::sq-dst"),
            ("Trigger", "SQS"),
        ],
    );
    let made = boto3_as(
        &server.endpoint,
        &v["users"]["admin"],
        "urls = {n: sqs.create_queue(QueueName=n)['QueueUrl'] for n in ('EventQueue', 'EventDeadLetterQueue')}\n\
         for u in urls.values(): sqs.send_message(QueueUrl=u, MessageBody='{}')\n\
         print(json.dumps(urls))",
    );
    let script = format!(
        "def attempt(f):\n    try:\n        f()\n        return 'allowed'\n    except Exception as e:\n        return 'denied' if 'AccessDenied' in str(e) or 'not authorized' in str(e) else str(e)\n\
         q, dlq = '{}', '{}'\n\
         def take(u):\n    m = sqs.receive_message(QueueUrl=u, WaitTimeSeconds=0)['Messages'][0]\n    sqs.delete_message(QueueUrl=u, ReceiptHandle=m['ReceiptHandle'])\n\
         print(json.dumps({{'take_event': attempt(lambda: take(q)), 'take_dead_letter': attempt(lambda: take(dlq)),\n\
           'send_event': attempt(lambda: sqs.send_message(QueueUrl=q, MessageBody='x'))}}))",
        made["EventQueue"].as_str().unwrap(),
        made["EventDeadLetterQueue"].as_str().unwrap()
    );
    let tried = boto3_as(&server.endpoint, &v["users"]["replicator"], &script);
    assert_eq!(tried["take_event"], "allowed", "{tried}");
    assert_eq!(tried["take_dead_letter"], "denied", "{tried}");
    assert_eq!(tried["send_event"], "denied", "{tried}");
}

#[test]
fn only_the_sqs_trigger_grants_queue_reads_and_each_trigger_subscribes_once() {
    for (trigger, reads) in [
        ("S3Notification", false),
        ("SQS", true),
        ("EventBridge", false),
    ] {
        let params = [
            ("SourceBucketName", "t-src"),
            ("DestinationBucketArns", "arn:aws:s3:::t-dst"),
            ("Trigger", trigger),
        ];
        let policy: Value = from_template(&[], &params);
        assert_eq!(
            policy.to_string().contains("sqs:ReceiveMessage"),
            reads,
            "{trigger}"
        );
        let events: Vec<String> = from_template(&["--bucket-events"], &params);
        assert_eq!(
            events.is_empty(),
            trigger == "EventBridge",
            "{trigger}: {events:?}"
        );
    }
}

/// The SQS mapping's concurrency is bounded below the function's reserved concurrency, so a
/// burst is held in the queue rather than throttled into the dead-letter queue.
#[test]
fn sqs_mapping_concurrency_stays_below_reserved_concurrency() {
    let params = [
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("Trigger", "SQS"),
    ];
    let mapping: Value = from_template(&["--resource", "EventQueueMapping"], &params);
    let reserved: Value = from_template(
        &[
            "--resource",
            "ReplicatorFunction.ReservedConcurrentExecutions",
        ],
        &params,
    );
    let mapping_max = mapping["ScalingConfig"]["MaximumConcurrency"]
        .as_str()
        .and_then(|v| v.parse::<u32>().ok())
        .or_else(|| {
            mapping["ScalingConfig"]["MaximumConcurrency"]
                .as_u64()
                .map(|v| v as u32)
        })
        .expect("ScalingConfig.MaximumConcurrency");
    let reserved = reserved
        .as_str()
        .and_then(|v| v.parse::<u32>().ok())
        .or_else(|| reserved.as_u64().map(|v| v as u32))
        .expect("ReservedConcurrentExecutions");
    assert!(
        (2..reserved).contains(&mapping_max),
        "mapping {mapping_max}, reserved {reserved}"
    );
}

#[test]
fn template_grants_every_replica_key_listed_and_refuses_a_rule_naming_another() {
    let keys =
        "arn:aws:kms:us-east-1:123456789012:key/one,arn:aws:kms:eu-west-1:123456789012:key/two";
    let rule = |i: u32, key: &str| {
        format!(
            r#"{{"ID":"r{i}","Priority":{i},"Status":"Enabled","Filter":{{"Prefix":"p{i}/"}},"SourceSelectionCriteria":{{"SseKmsEncryptedObjects":{{"Status":"Enabled"}}}},"DeleteMarkerReplication":{{"Status":"Disabled"}},"Destination":{{"Bucket":"arn:aws:s3:::replica-bucket","EncryptionConfiguration":{{"ReplicaKmsKeyID":"{key}"}}}}}}"#
        )
    };
    let two_keys = format!(
        r#"{{"Rules":[{},{}]}}"#,
        rule(1, "arn:aws:kms:us-east-1:123456789012:key/one"),
        rule(2, "arn:aws:kms:eu-west-1:123456789012:key/two")
    );
    let mut params = vec![
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("ReplicaKmsKeyArn", keys),
        ("ReplicationConfig", two_keys.as_str()),
    ];
    let policy: Value = from_template(&[], &params);
    let kms = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "EncryptReplicasKms")
        .expect("replica keys are granted");
    assert_eq!(
        kms["Resource"],
        serde_json::json!(keys.split(',').collect::<Vec<_>>())
    );
    let env = template_env(&params);
    assert!(s3_replicator::Config::from_env(|k| env.get(k).cloned()).is_ok());

    let stray = format!(
        r#"{{"Rules":[{},{}]}}"#,
        rule(1, "arn:aws:kms:us-east-1:123456789012:key/one"),
        rule(2, "arn:aws:kms:eu-west-1:123456789012:key/three")
    );
    params[3] = ("ReplicationConfig", stray.as_str());
    let env = template_env(&params);
    let err = s3_replicator::Config::from_env(|k| env.get(k).cloned()).unwrap_err();
    assert_eq!(
        err.field,
        "REPLICATION_CONFIG.Rules[1].Destination.EncryptionConfiguration.ReplicaKmsKeyID",
        "{err}"
    );
}

//! The deployment templates refuse what would widen a grant: a parameter that becomes a name in
//! a policy refuses a wildcard (and a prefix refuses the empty prefix), the template check finds
//! a parameter that would let one in, and destination.yaml trusts a replicator of another account
//! with deletes only where they are replicated and with writes the bucket owns where ownership is
//! translated.

use std::process::{Command, Output};

use crate::common::*;
use serde_json::Value;

/// `scripts/iam_from_template.py TEMPLATE ARGS` with these parameters, as run.
fn from(template: &str, args: &[&str], params: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(repo_root().join(".venv/bin/python"));
    cmd.arg(repo_root().join("scripts/iam_from_template.py"))
        .arg(repo_root().join(template))
        .args(args);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={v}"));
    }
    cmd.output().expect("run iam_from_template.py")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn template_refuses_a_wildcard_where_a_name_belongs() {
    let base = [
        ("SourceBucketName", "src-bucket"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket"),
        ("BatchOperationsBucket", "ops-bucket"),
    ];
    let with = |name: &'static str, value: &'static str| {
        let mut params: Vec<(&str, &str)> =
            base.iter().copied().filter(|(k, _)| *k != name).collect();
        params.push((name, value));
        params
    };
    // The deployment as documented is accepted.
    json_of(&from("template.yaml", &[], &base));
    json_of(&from(
        "template.yaml",
        &[],
        &with(
            "ReplicaKmsKeyArn",
            "arn:aws:kms:us-east-1:123456789012:key/one,arn:aws:kms:eu-west-1:123456789012:key/two",
        ),
    ));
    for (name, value) in [
        ("DestinationBucketArns", "arn:aws:s3:::*"),
        ("DestinationBucketArns", "arn:aws:s3:::replica-bucket,*"),
        ("SourceKmsKeyArn", "*"),
        ("ReplicaKmsKeyArn", "*"),
        (
            "ReplicaKmsKeyArn",
            "arn:aws:kms:us-east-1:123456789012:key/*",
        ),
        (
            "RemoteCredentialsSecretArns",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        ),
        (
            "ReplicaRecordKeySecretArn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:*",
        ),
        (
            "ReplicaRecordKeySecretArn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:a,arn:aws:secretsmanager:us-east-1:123456789012:secret:b",
        ),
        ("BatchManifestPrefix", ""),
        ("BatchManifestPrefix", "manifests"),
        ("BatchReportPrefix", ""),
        ("BatchReportPrefix", "*/"),
    ] {
        let out = from(
            "template.yaml",
            &["--role", "BatchOperationsRole"],
            &with(name, value),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value:?} was accepted");
        assert!(
            stderr.contains(name) && stderr.contains("AllowedPattern"),
            "{name}={value:?}: {stderr}"
        );
    }
    let role = from(
        "destination.yaml",
        &["--resource", "ReplicaBucketPolicy"],
        &[("BucketName", "rep-bucket"), ("ReplicatorRoleArn", "*")],
    );
    assert!(!role.status.success(), "a wildcard principal was accepted");
}

/// `scripts/check_template.py` (run by `make templates`) on these files: passed, and what it said.
fn check(paths: &[&std::path::Path]) -> (bool, String) {
    let out = Command::new(repo_root().join(".venv/bin/python"))
        .arg(repo_root().join("scripts/check_template.py"))
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn template_check_refuses_a_parameter_that_would_let_a_wildcard_into_a_policy() {
    let (ok, said) = check(&[
        &repo_root().join("template.yaml"),
        &repo_root().join("destination.yaml"),
    ]);
    assert!(ok, "{said}");
    // The same template with a key parameter that takes anything, and a prefix that may be empty.
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let loose: String = text
        .lines()
        .scan(None::<&str>, |parameter, line| {
            if line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':') {
                *parameter = Some(line.trim().trim_end_matches(':'));
            }
            let pattern = line.trim_start().starts_with("AllowedPattern:");
            Some(match *parameter {
                Some("ReplicaKmsKeyArn") if pattern => String::new(),
                Some("BatchReportPrefix") if pattern => {
                    "    AllowedPattern: \"^[^*]*$\"".to_owned()
                }
                _ => line.to_owned(),
            })
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(loose, text);
    let path = std::env::temp_dir().join(format!("{}-loose-template.yaml", unique_bucket("t")));
    std::fs::write(&path, loose).unwrap();
    let (ok, said) = check(&[&path]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(
            "parameter ReplicaKmsKeyArn becomes a name in a policy but has no AllowedPattern"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "parameter BatchReportPrefix is a prefix in a policy but its AllowedPattern accepts ''"
        ),
        "{said}"
    );
    let _ = std::fs::remove_file(path);
}

/// The Allow statements of destination.yaml's bucket policy with these parameters:
/// (Sid, actions, condition).
fn destination_grants(params: &[(&str, &str)]) -> Vec<(String, Vec<String>, Value)> {
    let mut all = vec![
        ("BucketName", "rep-bucket"),
        (
            "ReplicatorRoleArn",
            "arn:aws:iam::123456789012:role/replicator",
        ),
    ];
    all.extend_from_slice(params);
    let policy = json_of(&from(
        "destination.yaml",
        &["--resource", "ReplicaBucketPolicy.PolicyDocument"],
        &all,
    ));
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .map(|s| {
            let actions = match &s["Action"] {
                Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
                v => vec![v.as_str().unwrap().to_owned()],
            };
            (
                s["Sid"].as_str().unwrap().to_owned(),
                actions,
                s.get("Condition").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn granted(grants: &[(String, Vec<String>, Value)], action: &str) -> bool {
    grants.iter().any(|(_, a, _)| a.iter().any(|x| x == action))
}

#[test]
fn destination_trusts_delete_markers_only_where_replicated_and_owned_writes_where_translated() {
    let plain = destination_grants(&[]);
    assert!(granted(&plain, "s3:PutObject"), "{plain:?}");
    assert!(!granted(&plain, "s3:DeleteObject"), "{plain:?}");
    // A version delete is granted always: the function deletes again, by the version id its
    // write answered, a write of its own that must not stand (a copy that landed over a later
    // delete), whatever the deletes replicated.
    assert!(granted(&plain, "s3:DeleteObjectVersion"), "{plain:?}");

    let markers = destination_grants(&[("ReplicateDeleteMarkers", "true")]);
    assert!(granted(&markers, "s3:DeleteObject"), "{markers:?}");

    // Ownership translated: every grant of PutObject asks bucket-owner-full-control of a write
    // that sends an ACL, and the bucket owns every object.
    let owned = destination_grants(&[("OwnerOverride", "true")]);
    let puts: Vec<_> = owned
        .iter()
        .filter(|(_, a, _)| a.iter().any(|x| x == "s3:PutObject"))
        .collect();
    assert!(!puts.is_empty(), "{owned:?}");
    for (sid, _, condition) in puts {
        assert_eq!(
            condition["StringEqualsIfExists"]["s3:x-amz-acl"], "bucket-owner-full-control",
            "{sid}: {condition}"
        );
    }
    let ownership = json_of(&from(
        "destination.yaml",
        &["--resource", "ReplicaBucket.OwnershipControls"],
        &[("BucketName", "rep-bucket"), ("OwnerOverride", "true")],
    ));
    assert_eq!(
        ownership["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
}

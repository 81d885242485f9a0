//! What anyone who can write a manifest, an event, a key or a configuration cannot make the
//! function do (docs/security.md): act on a bucket outside `SOURCE_BUCKETS` in any Batch
//! Operations mode or tool, send a remote endpoint its objects and signed requests over plain
//! HTTP unasked, put a formula into a `--report` CSV, or mint metric dimensions.

use std::process::Command;

use crate::common::*;
use serde_json::{json, Value};

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// A schema 2.0 job in `mode` with a task per (bucket, key, version).
fn job(mode: &str, tasks: &[(&str, &str, Option<&str>)]) -> Value {
    let tasks: Vec<Value> = tasks
        .iter()
        .enumerate()
        .map(|(i, (bucket, key, version))| {
            json!({"taskId": format!("task-{i}"), "s3Bucket": bucket,
                   "s3Key": form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>(),
                   "s3VersionId": version})
        })
        .collect();
    let mut arguments = json!({"Mode": mode});
    if mode == "restore" {
        // The plan read the bucket after every write the test made.
        arguments["ReadAt"] =
            json!((chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339());
    }
    json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
           "job": {"id": "job-1", "userArguments": arguments}, "tasks": tasks})
}

fn results(response: &Value) -> Vec<(String, String)> {
    response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["resultCode"].as_str().unwrap().to_owned(),
                r["resultString"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// A source the deployment allows, a bucket it does not, and a destination.
struct World {
    s3: aws_sdk_s3::Client,
    src: String,
    other: String,
    dst: String,
}

async fn world(label: &str) -> World {
    let s3 = client();
    World {
        src: versioned_bucket(&s3, &format!("{label}-src"), "us-east-1").await,
        other: versioned_bucket(&s3, &format!("{label}-other"), "us-east-1").await,
        dst: versioned_bucket(&s3, &format!("{label}-dst"), "eu-west-1").await,
        s3,
    }
}

#[tokio::test]
async fn batch_tasks_of_every_mode_act_only_on_source_buckets() {
    let w = world("acl-batch").await;
    let replicator = replicator(
        &server().endpoint,
        &[
            ("REPLICATION_CONFIG", &config(&w.dst)),
            ("SOURCE_BUCKETS", &w.src),
        ],
    );
    // A bucket outside the allow-list, rolled forward by someone: its good version is v1.
    let good = put(&w.s3, &w.other, "k", b"good").await;
    put(&w.s3, &w.other, "k", b"ransomed").await;
    let v1 = good.version_id.clone().unwrap();
    for mode in ["restore", "verify", "replicate"] {
        let answer = s3_replicator::respond(
            &replicator,
            job(mode, &[(w.other.as_str(), "k", Some(v1.as_str()))]),
            None,
        )
        .await
        .unwrap();
        let (code, text) = &results(&answer)[0];
        assert_eq!(code, "PermanentFailure", "{mode}: {text}");
        assert!(
            text.starts_with("SourceBucketNotAllowed") && text.contains(&w.other),
            "{mode}: {text}"
        );
    }
    assert_eq!(version_count(&w.s3, &w.other, "k").await, 2, "untouched");
    assert_eq!(body_of(&w.s3, &w.other, "k", None).await, b"ransomed");
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 0);

    // A replica that names a bucket outside the allow-list as its source: a restore job writes
    // only into the bucket its manifest names, and the replica bucket is no source of the
    // function's: refused, and nothing written there or in the bucket the record names.
    let planted = put_with(&w.s3, &w.dst, "planted", b"attacker's", |b| {
        b.metadata("replica-source-version-id", "v-none")
            .metadata("replica-source-bucket", &w.other)
    })
    .await;
    let answer = s3_replicator::respond(
        &replicator,
        job(
            "restore",
            &[(w.dst.as_str(), "planted", planted.version_id.as_deref())],
        ),
        None,
    )
    .await
    .unwrap();
    let (code, text) = &results(&answer)[0];
    assert_eq!(code, "PermanentFailure", "{text}");
    assert!(
        text.starts_with("SourceBucketNotAllowed") && text.contains(&w.dst),
        "{text}"
    );
    assert_eq!(version_count(&w.s3, &w.other, "planted").await, 0);
    assert_eq!(version_count(&w.s3, &w.dst, "planted").await, 1);

    // The deployment's own source is restored as before.
    let mine = put(&w.s3, &w.src, "k", b"good").await;
    put(&w.s3, &w.src, "k", b"ransomed").await;
    let answer = s3_replicator::respond(
        &replicator,
        job(
            "restore",
            &[(w.src.as_str(), "k", mine.version_id.as_deref())],
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        results(&answer)[0],
        ("Succeeded".to_owned(), "restored".to_owned())
    );
    assert_eq!(body_of(&w.s3, &w.src, "k", None).await, b"good");
}

/// The binary as an operator runs it, against the local S3.
fn cli(env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    command
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .envs(env.iter().copied());
    command
}

#[tokio::test]
async fn tools_refuse_a_bucket_outside_source_buckets() {
    let w = world("acl-cli").await;
    put(&w.s3, &w.other, "k", b"good").await;
    put(&w.s3, &w.other, "k", b"ransomed").await;
    let env = [
        ("DESTINATION_BUCKET", w.dst.as_str()),
        ("SOURCE_BUCKETS", &w.src),
    ];
    let commands: [&[&str]; 4] = [
        &["verify", "--bucket", &w.other],
        &["backfill", "--bucket", &w.other],
        &["repair", "--bucket", &w.other],
        &[
            "restore",
            "--bucket",
            &w.other,
            "--as-of",
            "2020-01-01T00:00:00Z",
        ],
    ];
    for args in commands {
        let out = cli(&env).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "--bucket {:?} is not one of this function's source buckets",
                w.other
            )) && stderr.contains(&w.src),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(version_count(&w.s3, &w.other, "k").await, 2);
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 0);
    // Its own source: verify runs (and finds the replica missing).
    put(&w.s3, &w.src, "k", b"mine").await;
    let out = cli(&env)
        .args(["verify", "--bucket", &w.src])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("1 missing"), "{stdout}");
}

#[tokio::test]
async fn a_plain_http_endpoint_is_refused_at_init_unless_allowed_by_name() {
    let remote = |url: &str| {
        json!({"Rules": [{"ID": "far", "Priority": 1, "Status": "Enabled", "Filter": {},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": "far-bucket", "Region": "us-east-1", "Endpoint": url,
                "ForcePathStyle": true,
                "Credentials": {"AccessKeyIdVariable": "REMOTE_KEY",
                                "SecretAccessKeyVariable": "REMOTE_SECRET"}}}]})
        .to_string()
    };
    let plain = remote("http://127.0.0.1:9");
    let env = |config: &str, allow: Option<&str>| {
        let mut env = vec![
            ("REPLICATION_CONFIG".to_owned(), config.to_owned()),
            ("REMOTE_KEY".to_owned(), "k".to_owned()),
            ("REMOTE_SECRET".to_owned(), "s".to_owned()),
        ];
        if let Some(allow) = allow {
            env.push(("ALLOW_PLAIN_HTTP_ENDPOINTS".to_owned(), allow.to_owned()));
        }
        env
    };
    // Through the binary's init (the command line reads the configuration first).
    let out = cli(&[])
        .envs(env(&plain, None))
        .args(["verify", "--bucket", "any-bucket"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for named in [
        "REPLICATION_CONFIG.Rules[0].Destination.Endpoint",
        "\"far-bucket\"",
        "http://127.0.0.1:9",
        "ALLOW_PLAIN_HTTP_ENDPOINTS=true",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
    let from_env = |env: Vec<(String, String)>| {
        s3_replicator::Config::from_env(|k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
    };
    assert!(from_env(env(&plain, Some("false"))).is_err());
    assert!(from_env(env(&plain, Some("true"))).is_ok());
    assert!(from_env(env(&remote("https://s3.example"), None)).is_ok());
}

/// The function's own endpoint (the SDK's `AWS_ENDPOINT_URL`) carries every request signed
/// with its credentials: plain HTTP to another host is refused as a remote endpoint's is; a
/// server on the loopback (local tests, the demo) is no network hop.
#[tokio::test]
async fn a_plain_http_own_endpoint_off_this_host_is_refused_unless_allowed() {
    let config = json!({"Rules": [{"ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": "dst-bucket"}}]})
    .to_string();
    for name in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"] {
        let out = cli(&[])
            .env("REPLICATION_CONFIG", &config)
            .env(name, "http://192.0.2.7:9000")
            .args(["verify", "--bucket", "any-bucket"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        for named in [
            name,
            "http://192.0.2.7:9000",
            "ALLOW_PLAIN_HTTP_ENDPOINTS=true",
        ] {
            assert!(stderr.contains(named), "{named}: {stderr}");
        }
    }
    // Wherever else the SDK takes an endpoint from: a profile's endpoint_url, a [services]
    // section for S3, another service's own variable (the record key's Secrets Manager).
    let dir = std::env::temp_dir().join(format!("plain-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile");
    std::fs::write(
        &profile,
        "[default]\nendpoint_url = http://192.0.2.7:9000\n",
    )
    .unwrap();
    let services = dir.join("services");
    std::fs::write(
        &services,
        "[default]\nservices = far\n[services far]\ns3 =\n  endpoint_url = http://192.0.2.7:9000\n",
    )
    .unwrap();
    let (profile, services) = (profile.to_str().unwrap(), services.to_str().unwrap());
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("AWS_CONFIG_FILE", profile)], "S3"),
        (&[("AWS_CONFIG_FILE", services)], "S3"),
        (
            &[("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://192.0.2.7:9000")],
            "Secrets Manager",
        ),
    ];
    for (env, service) in cases {
        let mut command = cli(env);
        if env[0].0 == "AWS_CONFIG_FILE" {
            command.env_remove("AWS_ENDPOINT_URL");
        }
        let out = command
            .env("REPLICATION_CONFIG", &config)
            .args(["verify", "--bucket", "any-bucket"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stderr}");
        for named in [
            format!("the {service} endpoint"),
            "http://192.0.2.7:9000".to_owned(),
            "ALLOW_PLAIN_HTTP_ENDPOINTS=true".to_owned(),
        ] {
            assert!(stderr.contains(&named), "{env:?} {named}: {stderr}");
        }
    }
    let from_env = |url: &str, allow: Option<&str>| {
        s3_replicator::Config::from_env(|k| match k {
            "REPLICATION_CONFIG" => Some(config.clone()),
            "AWS_ENDPOINT_URL" => Some(url.to_owned()),
            "ALLOW_PLAIN_HTTP_ENDPOINTS" => allow.map(str::to_owned),
            _ => None,
        })
    };
    for off_host in [
        "http://192.0.2.7",
        "HTTP://s3.internal.example:80/",
        "http://127.0.0.1.attacker.example",
        "http://localhost@192.0.2.7",
    ] {
        assert!(from_env(off_host, None).is_err(), "{off_host}");
        assert!(from_env(off_host, Some("false")).is_err(), "{off_host}");
        assert!(from_env(off_host, Some("true")).is_ok(), "{off_host}");
    }
    for fine in [
        "http://127.0.0.1:5000",
        "http://localhost:4566/",
        "http://[::1]:9000",
        "https://s3.internal.example",
    ] {
        assert!(from_env(fine, None).is_ok(), "{fine}");
    }
}

#[tokio::test]
async fn report_csv_cells_never_start_a_formula() {
    let w = world("csv").await;
    let keys = [
        "=HYPERLINK(\"http://attacker.example\",\"click\")",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "plain=key.txt",
    ];
    for key in keys {
        put(&w.s3, &w.src, key, b"x").await;
    }
    let report = std::env::temp_dir().join(format!("{}.csv", w.src));
    let out = cli(&[("DESTINATION_BUCKET", &w.dst)])
        .args(["verify", "--bucket", &w.src, "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let written: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_owned()).collect();
    let _ = std::fs::remove_file(&report);
    for key in keys {
        let expected = match key.chars().next() {
            Some('=' | '+' | '-' | '@') => format!("'{key}"),
            _ => key.to_owned(),
        };
        assert!(written.contains(&expected), "{expected:?} in {written:?}");
    }
}

#[tokio::test]
async fn metric_dimensions_name_only_configured_source_buckets() {
    let w = world("dims").await;
    let forged = put(&w.s3, &w.other, "k", b"not ours").await;
    let (_, documents) = crate::metrics::invoke(
        created_event(std::slice::from_ref(&forged)),
        &[
            ("REPLICATION_CONFIG", &config(&w.dst)),
            ("SOURCE_BUCKETS", &w.src),
        ],
        60_000,
    )
    .await;
    let sources: Vec<&str> = documents
        .iter()
        .filter_map(|d| d.get("SourceBucket").and_then(Value::as_str))
        .collect();
    assert!(!sources.is_empty(), "{documents:#?}");
    assert!(
        sources.iter().all(|s| *s == "other"),
        "{sources:?} in {documents:#?}"
    );
}

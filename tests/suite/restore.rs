//! Point-in-time restore against the local S3: a bucket's history, a bad pass after T, and the
//! bucket brought back as of T from its own history or from its replica.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::*;
use aws_sdk_s3::Client;
use s3_replicator::tools::restore::{restore, Action, Options, Tally, Uncertain};
use serde_json::json;

/// Keys a restore must handle as any other: a space, a plus, a percent sign, unicode.
const KEYS: [&str; 4] = [
    "plain.txt",
    "with space.txt",
    "plus+and%25.txt",
    "ünïcödé/ключ.txt",
];

async fn pause() {
    // S3's Last-Modified has one-second resolution: T falls strictly between the passes.
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn tags_of(s3: &Client, bucket: &str, key: &str) -> Vec<(String, String)> {
    let out = s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    out.tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// What a user sees of a key: bytes, content type, user metadata, tags; `None` when absent.
async fn seen(
    s3: &Client,
    bucket: &str,
    key: &str,
) -> Option<(
    Vec<u8>,
    Option<String>,
    HashMap<String, String>,
    Vec<(String, String)>,
)> {
    let head = s3.head_object().bucket(bucket).key(key).send().await.ok()?;
    Some((
        body_of(s3, bucket, key, None).await,
        head.content_type().map(str::to_owned),
        head.metadata().cloned().unwrap_or_default(),
        tags_of(s3, bucket, key).await,
    ))
}

async fn put_as(s3: &Client, bucket: &str, key: &str, body: &[u8], owner: &str) -> Put {
    put_with(s3, bucket, key, body, |b| {
        b.content_type("text/plain")
            .metadata("owner", owner)
            .tagging(format!("stage={owner}"))
    })
    .await
}

async fn run(
    replicator: &s3_replicator::wiring::LiveReplicator,
    bucket: &str,
    as_of: i64,
    from: Option<&str>,
    delete_newer: bool,
) -> (Tally, Vec<s3_replicator::tools::restore::Row>) {
    run_as(
        replicator,
        bucket,
        as_of,
        from,
        delete_newer,
        Uncertain::Report,
    )
    .await
}

/// `run`, counting a multipart version that may have completed either side of T as `uncertain`
/// says.
async fn run_as(
    replicator: &s3_replicator::wiring::LiveReplicator,
    bucket: &str,
    as_of: i64,
    from: Option<&str>,
    delete_newer: bool,
    uncertain: Uncertain,
) -> (Tally, Vec<s3_replicator::tools::restore::Row>) {
    let options = Options {
        bucket: bucket.to_owned(),
        prefix: String::new(),
        as_of,
        from: from.map(str::to_owned),
        delete_newer,
        uncertain,
        dry_run: false,
        concurrency: 4,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    restore(
        replicator,
        &options,
        &s3_replicator::tools::progress::Quiet,
        &stop,
    )
    .await
    .unwrap()
}

/// A source whose every key in KEYS was written ("good") and replicated.
struct Replicated {
    s3: Client,
    src: String,
    dst: String,
    config: String,
    replicator: s3_replicator::wiring::LiveReplicator,
}

async fn replicated(label: &str) -> Replicated {
    let s3 = client();
    let src = versioned_bucket(&s3, &format!("{label}-src"), "us-east-1").await;
    let dst = versioned_bucket(&s3, &format!("{label}-dst"), "eu-west-1").await;
    let config = config(&dst);
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let mut puts = Vec::new();
    for key in KEYS {
        puts.push(put_as(&s3, &src, key, format!("good {key}").as_bytes(), "good").await);
    }
    s3_replicator::handle(&replicator, created_event(&puts))
        .await
        .unwrap();
    Replicated {
        s3,
        src,
        dst,
        config,
        replicator,
    }
}

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

#[tokio::test]
async fn restore_brings_every_key_back_as_of_t_and_a_second_run_writes_nothing() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit", "us-east-1").await;
    // Before T: each key written, then overwritten; "gone" written and deleted; a multipart key.
    let mut before = HashMap::new();
    for key in KEYS {
        put_as(&s3, &bucket, key, b"first draft", "draft").await;
        put_as(&s3, &bucket, key, format!("good {key}").as_bytes(), "good").await;
    }
    put(&s3, &bucket, "gone.txt", b"deleted before T").await;
    s3.delete_object()
        .bucket(&bucket)
        .key("gone.txt")
        .send()
        .await
        .unwrap();
    let parts = vec![body(5 * MIB), b"tail".to_vec()];
    let big = multipart_source(&s3, &bucket, "big.bin", &parts).await;
    for key in KEYS {
        before.insert(key, seen(&s3, &bucket, key).await.unwrap());
    }
    pause().await;
    let t = now_ms();
    pause().await;
    // After T, the bad deploy: other bytes, metadata and tags; a deletion; a new key.
    put_as(&s3, &bucket, KEYS[0], b"ransomed", "attacker").await;
    put_as(&s3, &bucket, KEYS[1], b"ransomed", "attacker").await;
    s3.delete_object()
        .bucket(&bucket)
        .key(KEYS[2])
        .send()
        .await
        .unwrap();
    put(&s3, &bucket, "big.bin", b"overwritten").await;
    put(&s3, &bucket, "new.txt", b"created after T").await;

    let replicator = replicator(
        &server().endpoint,
        &[("REPLICATION_CONFIG", &config("unused"))],
    );
    // The multipart upload began and completed before T, but S3 records only its start: the
    // operator who knows says so (without it the key is `uncertain`, left alone).
    let (tally, _) = run(&replicator, &bucket, t, None, false).await;
    assert_eq!((tally.restored, tally.uncertain), (3, 1));
    let before_t = Uncertain::Before;
    let (tally, rows) = run_as(&replicator, &bucket, t, None, false, before_t).await;
    let action = |key: &str| rows.iter().find(|r| r.key == key).map(|r| r.action);
    assert_eq!(
        (tally.restored, tally.already, tally.newer, tally.failed),
        (1, 5, 1, 0),
        "{rows:#?}"
    );
    assert_eq!(action("gone.txt"), Some(Action::AlreadyAsOf));
    assert_eq!(action("new.txt"), Some(Action::Newer));
    for key in KEYS {
        assert_eq!(
            seen(&s3, &bucket, key).await.as_ref(),
            before.get(key),
            "{key}"
        );
    }
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.e_tag().unwrap().trim_matches('"'),
        big.etag,
        "the multipart ETag is kept"
    );
    assert!(seen(&s3, &bucket, "new.txt").await.is_some(), "left alone");

    // --delete-newer hides what did not exist at T; history stays.
    let (tally, _) = run_as(&replicator, &bucket, t, None, true, before_t).await;
    assert_eq!((tally.restored, tally.deleted), (0, 1));
    assert!(seen(&s3, &bucket, "new.txt").await.is_none());
    assert_eq!(
        version_count(&s3, &bucket, "new.txt").await,
        1,
        "nothing deleted for good"
    );

    // Everything is as of T: a second run writes nothing.
    let versions = version_ids(&s3, &bucket, KEYS[0]).await.len();
    let (tally, _) = run_as(&replicator, &bucket, t, None, true, before_t).await;
    assert_eq!(
        (tally.restored, tally.deleted, tally.already, tally.failed),
        (0, 0, 7, 0)
    );
    assert_eq!(version_ids(&s3, &bucket, KEYS[0]).await.len(), versions);
}

#[tokio::test]
async fn restore_brings_back_an_acl_or_storage_class_changed_with_the_same_bytes() {
    use aws_sdk_s3::types::{ObjectCannedAcl, StorageClass};
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit-acl", "us-east-1").await;
    put(&s3, &bucket, "acl.txt", b"same bytes").await;
    put(&s3, &bucket, "class.txt", b"same bytes").await;
    pause().await;
    let t = now_ms();
    pause().await;
    // After T: the same bytes written again, made public; the same bytes in another class.
    put_with(&s3, &bucket, "acl.txt", b"same bytes", |b| {
        b.acl(ObjectCannedAcl::PublicRead)
    })
    .await;
    put_with(&s3, &bucket, "class.txt", b"same bytes", |b| {
        b.storage_class(StorageClass::StandardIa)
    })
    .await;

    let replicator = replicator(
        &server().endpoint,
        &[("REPLICATION_CONFIG", &config("unused"))],
    );
    let (tally, rows) = run(&replicator, &bucket, t, None, false).await;
    assert_eq!((tally.restored, tally.already), (2, 0), "{rows:#?}");
    let acl = s3
        .get_object_acl()
        .bucket(&bucket)
        .key("acl.txt")
        .send()
        .await
        .unwrap();
    assert!(
        acl.grants().iter().all(|g| g
            .grantee()
            .and_then(|g| g.uri())
            .is_none_or(|uri| !uri.contains("AllUsers"))),
        "no longer public: {acl:?}"
    );
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("class.txt")
        .send()
        .await
        .unwrap();
    assert!(
        head.storage_class()
            .is_none_or(|c| *c == StorageClass::Standard),
        "{:?}",
        head.storage_class()
    );
    let (tally, _) = run(&replicator, &bucket, t, None, false).await;
    assert_eq!((tally.restored, tally.already), (0, 2));
}

#[tokio::test]
async fn restore_from_the_replica_brings_back_a_key_whose_whole_history_was_deleted() {
    let Replicated {
        s3,
        src,
        dst,
        replicator,
        ..
    } = replicated("pit").await;
    let before = seen(&s3, &src, KEYS[3]).await.unwrap();
    pause().await;
    let t = now_ms();
    pause().await;
    // The attacker erases the whole history of one key in the source, and rewrites another.
    for id in version_ids(&s3, &src, KEYS[3]).await {
        s3.delete_object()
            .bucket(&src)
            .key(KEYS[3])
            .version_id(id)
            .send()
            .await
            .unwrap();
    }
    put_as(&s3, &src, KEYS[0], b"ransomed", "attacker").await;

    let (tally, rows) = run(&replicator, &src, t, Some(&dst), false).await;
    assert_eq!(
        (tally.restored, tally.already, tally.failed),
        (2, 2, 0),
        "{rows:#?}"
    );
    let (bytes, content_type, metadata, tags) = seen(&s3, &src, KEYS[3]).await.unwrap();
    assert_eq!(
        (&bytes, &content_type, &tags),
        (&before.0, &before.1, &before.3)
    );
    // Our own entries stay behind: the restored object is an original, which replication
    // carries on like any other write.
    assert_eq!(metadata, before.2);
    assert!(
        metadata.keys().all(|k| !k.starts_with("replica-")),
        "{metadata:?}"
    );
    assert_eq!(
        seen(&s3, &src, KEYS[0]).await.unwrap().0,
        format!("good {}", KEYS[0]).into_bytes()
    );
}

/// Writes the key once the restore has read the bucket (its plan is made), before any copy.
struct WritesWhenPlanned {
    bucket: String,
}

impl s3_replicator::tools::progress::Progress for WritesWhenPlanned {
    fn planned(&self, _keys: u64, _bytes: u64) {
        let bucket = self.bucket.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                put(&client(), &bucket, "k", b"newest, by a person").await;
            });
        })
        .join()
        .unwrap();
    }

    fn done(&self, _bytes: u64) {}
}

#[tokio::test]
async fn restore_never_replaces_a_write_made_after_the_run_read_the_key() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit-race", "us-east-1").await;
    put(&s3, &bucket, "k", b"good").await;
    pause().await;
    let t = now_ms();
    pause().await;
    put(&s3, &bucket, "k", b"bad").await;
    let replicator = replicator(
        &server().endpoint,
        &[("REPLICATION_CONFIG", &config("unused"))],
    );
    let options = Options {
        bucket: bucket.clone(),
        prefix: String::new(),
        as_of: t,
        from: None,
        delete_newer: false,
        uncertain: s3_replicator::tools::restore::Uncertain::Report,
        dry_run: false,
        concurrency: 1,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let racer = WritesWhenPlanned {
        bucket: bucket.clone(),
    };
    let (tally, rows) = restore(&replicator, &options, &racer, &stop).await.unwrap();
    assert_eq!((tally.restored, tally.newer), (0, 1), "{rows:#?}");
    assert_eq!(
        body_of(&s3, &bucket, "k", None).await,
        b"newest, by a person"
    );
}

#[tokio::test]
async fn restore_refuses_an_unversioned_bucket_and_a_bad_time() {
    let s3 = client();
    let bucket = unique_bucket("pit-plain");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let cli = |as_of: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
            .env("AWS_ENDPOINT_URL", &server().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("S3_FORCE_PATH_STYLE", "true")
            .env("DESTINATION_BUCKET", "unused")
            .args(["restore", "--bucket", &bucket, "--as-of", as_of])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = cli("2026-11-01T10:00:00+01:00");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("versioning is required"), "{stderr}");
    let (code, stderr) = cli("yesterday");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--as-of"), "{stderr}");
}

#[tokio::test]
async fn dry_run_writes_nothing_and_says_what_it_would_do_and_cost() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit-dry", "us-east-1").await;
    put(&s3, &bucket, "a b.txt", b"good").await;
    pause().await;
    let t = rfc3339_in_utc_plus_one(now_ms());
    pause().await;
    put(&s3, &bucket, "a b.txt", b"bad!").await;
    put(&s3, &bucket, "new.txt", b"new").await;
    let report = std::env::temp_dir().join(format!("{bucket}.csv"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("DESTINATION_BUCKET", "unused")
        .args([
            "restore",
            "--bucket",
            &bucket,
            "--as-of",
            &t,
            "--dry-run",
            "--delete-newer",
        ])
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("restore (dry run): 1 restored, 0 already as of T, 1 deleted, 0 newer, 0 skipped, 0 uncertain, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("4 B to copy"), "{stdout}");
    assert!(
        stdout.contains("PUT/COPY/LIST") && stdout.contains('$'),
        "{stdout}"
    );
    assert_eq!(body_of(&s3, &bucket, "a b.txt", None).await, b"bad!");
    assert_eq!(
        version_count(&s3, &bucket, "a b.txt").await,
        2,
        "nothing written"
    );
    let rows = std::fs::read_to_string(&report).unwrap();
    assert!(rows.starts_with("key,action,version,reason\n"), "{rows}");
    assert!(
        rows.lines().any(|l| l.starts_with("a b.txt,restored,")),
        "{rows}"
    );
    assert!(
        rows.lines().any(|l| l.starts_with("new.txt,deleted,")),
        "{rows}"
    );
}

/// `ms` as RFC 3339 with an offset (UTC+01:00), as an operator may type it.
fn rfc3339_in_utc_plus_one(ms: i64) -> String {
    let t = aws_smithy_types::DateTime::from_millis(ms + 3_600_000)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    t.replace('Z', "+01:00")
}

/// The function's command line on the local S3, with this configuration in the environment.
fn cli(config: &str) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    command
        .env("AWS_ENDPOINT_URL", &server().endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("S3_FORCE_PATH_STYLE", "true")
        .env("REPLICATION_CONFIG", config);
    command
}

/// A Batch Operations job (schema 2.0, Mode restore, bytes read from `from` where given) with a
/// task per manifest row.
fn restore_job(manifest: &str, from: Option<&str>) -> serde_json::Value {
    let tasks: Vec<serde_json::Value> = manifest
        .lines()
        .enumerate()
        .map(|(i, row)| {
            let cols: Vec<&str> = row.split(',').collect();
            json!({"taskId": format!("task-{i}"), "s3Bucket": cols[0], "s3Key": cols[1],
                   "s3VersionId": cols[2]})
        })
        .collect();
    // The plan read the bucket after every write the tests made before it.
    let mut arguments = json!({"Mode": "restore", "ReadAt": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()});
    if let Some(from) = from {
        arguments["From"] = json!(from);
    }
    json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
           "job": {"id": "job-1", "userArguments": arguments}, "tasks": tasks})
}

fn task_results(answer: &serde_json::Value) -> Vec<(String, String)> {
    answer["results"]
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

#[tokio::test]
async fn a_manifest_of_the_plan_runs_as_a_batch_operations_restore_job() {
    let Replicated {
        s3,
        src,
        dst,
        config,
        replicator,
    } = replicated("pit-job").await;
    let before = seen(&s3, &src, KEYS[2]).await.unwrap();
    pause().await;
    let t = rfc3339_in_utc_plus_one(now_ms());
    pause().await;
    for key in KEYS {
        put_as(&s3, &src, key, b"ransomed", "attacker").await;
    }

    // The plan, from the replica's history: a manifest, and nothing written.
    let manifest = std::env::temp_dir().join(format!("{src}.manifest.csv"));
    let out = cli(&config)
        .args(["restore", "--bucket", &src, "--as-of", &t, "--from", &dst])
        .arg("--manifest-out")
        .arg(&manifest)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(
        body_of(&s3, &src, KEYS[2], None).await,
        b"ransomed",
        "a plan writes nothing"
    );
    let rows = std::fs::read_to_string(&manifest).unwrap();
    assert_eq!(rows.lines().count(), KEYS.len(), "{rows}");
    assert!(
        rows.lines().all(|l| l.starts_with(&format!("{src},"))),
        "the manifest names the bucket to write into: {rows}"
    );
    assert!(stdout.contains(&format!("\"From\": \"{dst}\"")), "{stdout}");

    // The job's tasks bring each key back into the bucket the manifest names, bytes from the
    // replica.
    let answer = s3_replicator::respond(&replicator, restore_job(&rows, Some(&dst)), None)
        .await
        .unwrap();
    let results = task_results(&answer);
    assert!(
        results
            .iter()
            .all(|(code, text)| code == "Succeeded" && text == "restored"),
        "{results:?}"
    );
    assert_eq!(seen(&s3, &src, KEYS[2]).await.unwrap(), before);
    // A retried or repeated job copies nothing again.
    let again = s3_replicator::respond(&replicator, restore_job(&rows, Some(&dst)), None)
        .await
        .unwrap();
    let results = task_results(&again);
    assert!(
        results.iter().all(|(_, text)| text == "already as of T"),
        "{results:?}"
    );
}

/// A `--report` that cannot be written is found before anything is restored: exit 2, one line
/// naming it, and the bucket as it was (no run whose record is lost at its end).
#[tokio::test]
async fn restore_with_a_report_it_cannot_write_restores_nothing() {
    let s3 = client();
    let bucket = versioned_bucket(&s3, "pit-report", "us-east-1").await;
    put(&s3, &bucket, "k", b"good").await;
    pause().await;
    let t = rfc3339_in_utc_plus_one(now_ms());
    pause().await;
    put(&s3, &bucket, "k", b"bad!").await;
    let out = cli(r#"{"Rules":[]}"#)
        .env_remove("REPLICATION_CONFIG")
        .env("DESTINATION_BUCKET", "unused")
        .args(["restore", "--bucket", &bucket, "--as-of", &t])
        .args(["--report", "/nonexistent-dir/report.csv"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--report /nonexistent-dir/report.csv"),
        "{stderr}"
    );
    assert_eq!(body_of(&s3, &bucket, "k", None).await, b"bad!");
    assert_eq!(version_count(&s3, &bucket, "k").await, 2, "nothing written");
}

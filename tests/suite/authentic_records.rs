//! A replica's record is authentic or ignored (issue 37, docs/security.md): with a record key
//! configured (`REPLICA_RECORD_KEY_SECRET_ARN`, a Secrets Manager secret on the local server),
//! `replica-*` metadata that anyone who may write an object can set, without this function's
//! MAC, steers nothing: it is never a reason to skip a write, never a source for restore. A
//! genuine replica still is one. Every test runs the binary (as Lambda, or as the command
//! line), since the key is installed once per process.

use std::process::Command;
use std::time::Duration;

use crate::common::*;
use serde_json::{json, Value};

/// The key's secret, made on the local server: its full ARN.
pub(crate) async fn record_key_secret() -> String {
    let sdk = sdk_config(&server().endpoint, "us-east-1");
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let out = secrets
        .create_secret()
        .name(unique_bucket("replica-record-key"))
        .secret_string("k3y-only-the-function-reads-0123456789abcdef0123456789abcdef")
        .send()
        .await
        .expect("create the secret");
    out.arn().unwrap().to_owned()
}

pub(crate) struct World {
    pub(crate) s3: aws_sdk_s3::Client,
    pub(crate) src: String,
    pub(crate) dst: String,
    pub(crate) secret: String,
}

impl World {
    /// A source and a destination whose name sorts before the source's (so the source wins a
    /// tie of seconds in the one order of writes), and the record key.
    pub(crate) async fn new(label: &str) -> Self {
        let s3 = client();
        World {
            dst: versioned_bucket(&s3, &format!("{label}-d"), "eu-west-1").await,
            src: versioned_bucket(&s3, &format!("{label}-s"), "us-east-1").await,
            secret: record_key_secret().await,
            s3,
        }
    }

    /// The function's configuration: with the record key unless `secret` was emptied.
    pub(crate) fn env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![
            ("SOURCE_BUCKETS", self.src.as_str()),
            ("DESTINATION_BUCKET", self.dst.as_str()),
            ("DESTINATION_REGION", "eu-west-1"),
            ("REPLICA_RECORD_KEY_SECRET_ARN", self.secret.as_str()),
        ];
        env.retain(|(_, v)| !v.is_empty());
        env
    }

    /// The function, as Lambda runs it, answering one event: its answer.
    pub(crate) async fn invoke(&self, puts: &[Put]) -> Value {
        let (answer, _) = crate::metrics::invoke(created_event(puts), &self.env(), 60_000).await;
        serde_json::from_str(&answer).unwrap()
    }

    /// The command line on this configuration: exit status and stdout.
    pub(crate) fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
            .envs(function_env(&self.env()))
            .env("AWS_ENDPOINT_URL", &server().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        (out.status.code(), format!("{stdout}{stderr}"))
    }

    pub(crate) async fn metadata(
        &self,
        bucket: &str,
        key: &str,
    ) -> std::collections::HashMap<String, String> {
        let head = self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        head.metadata().cloned().unwrap_or_default()
    }

    pub(crate) async fn last_modified_secs(&self, bucket: &str, key: &str) -> i64 {
        let head = self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        head.last_modified().unwrap().secs()
    }

    /// Writes `body` at the destination's `key` with a record as this function writes it, naming
    /// `version` of the source and dated `original_millis`, and a MAC made without the key.
    async fn plant(&self, bucket: &str, key: &str, body: &[u8], record: Forged<'_>) -> Put {
        let digest = hex::encode(<md5::Md5 as md5::Digest>::digest(key.as_bytes()));
        put_with(&self.s3, bucket, key, body, |b| {
            b.metadata("replica-source-version-id", record.version)
                .metadata("replica-source-bucket", record.from)
                .metadata("replica-written-to", bucket)
                .metadata("replica-written-key-md5", &digest)
                .metadata("replica-original-time", record.original_millis.to_string())
                .metadata("replica-record-mac", "0".repeat(64))
        })
        .await
    }
}

/// A forged record: the source bucket and version it names, and when it says the original was
/// written.
struct Forged<'a> {
    from: &'a str,
    version: &'a str,
    original_millis: i64,
}

pub(crate) fn replicated(answer: &Value) -> u64 {
    answer["replicated"].as_u64().unwrap()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A genuine replica, written with the key configured, carries a MAC, verifies as `same`, and a
/// redelivery of its event writes nothing.
#[tokio::test]
async fn a_genuine_replica_is_sealed_verifies_and_is_not_written_twice() {
    let w = World::new("rec-genuine").await;
    let v1 = put(&w.s3, &w.src, "k", b"original").await;
    let answer = w.invoke(std::slice::from_ref(&v1)).await;
    assert_eq!(replicated(&answer), 1, "{answer}");
    let meta = w.metadata(&w.dst, "k").await;
    let mac = meta
        .get("replica-record-mac")
        .expect("the record is sealed");
    assert!(
        mac.len() == 64 && mac.chars().all(|c| c.is_ascii_hexdigit()),
        "{mac}"
    );
    let (code, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 same"), "{out}");
    let again = w.invoke(std::slice::from_ref(&v1)).await;
    assert_eq!(replicated(&again), 0, "{again}");
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 1);
    // backfill (the engine, as for an event) finds it in sync too.
    let (code, out) = w.cli(&["backfill", "--bucket", &w.src]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(version_count(&w.s3, &w.dst, "k").await, 1, "{out}");
}

/// An object planted at the destination, with a record naming the very source version its
/// event carries, is no reason to skip the copy: it is a write of someone else's, and (made in
/// the same second, by a bucket that sorts before the source) earlier than the source's in the
/// one order of writes, so the source's version replaces it.
#[tokio::test]
async fn a_forged_already_replicated_record_is_replaced() {
    let w = World::new("rec-skip").await;
    // The plant must land in the second the source's version did; retried on a new key when
    // the clock ticked between the two writes.
    for attempt in 0..5 {
        let key = format!("k{attempt}");
        let v1 = put(&w.s3, &w.src, &key, b"original").await;
        let t1 = w.last_modified_secs(&w.src, &key).await;
        let version = v1.version_id.clone().unwrap();
        let forged = Forged {
            from: &w.src,
            version: &version,
            original_millis: t1 * 1000,
        };
        w.plant(&w.dst, &key, b"attacker", forged).await;
        if w.last_modified_secs(&w.dst, &key).await != t1 {
            continue;
        }
        let answer = w.invoke(std::slice::from_ref(&v1)).await;
        assert_eq!(
            replicated(&answer),
            1,
            "trusted the planted record: {answer}"
        );
        assert_eq!(body_of(&w.s3, &w.dst, &key, None).await, b"original");
        assert_eq!(
            w.metadata(&w.dst, &key).await["replica-source-version-id"],
            version
        );
        return;
    }
    panic!("the clock ticked between every source write and its plant");
}

/// The same plant made a second after the source's version is a later write at the destination:
/// it stands, as any write made there does, and `verify` calls it that, not a replica.
#[tokio::test]
async fn a_forged_record_is_reported_as_another_write_not_as_the_replica() {
    let w = World::new("rec-later").await;
    let v1 = put(&w.s3, &w.src, "k", b"original").await;
    let t1 = w.last_modified_secs(&w.src, "k").await;
    let version = v1.version_id.clone().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let forged = Forged {
        from: &w.src,
        version: &version,
        original_millis: t1 * 1000,
    };
    w.plant(&w.dst, "k", b"attacker", forged).await;
    let (code, out) = w.cli(&["verify", "--bucket", &w.src]);
    assert!(out.contains("1 newer-at-destination"), "{code:?}: {out}");
    assert!(!out.contains("1 differs"), "{out}");
}

/// A record dated far in the future, planted at the destination, does not block the key: the
/// source's next version is replicated over it. (The recorded time is never taken as later than
/// the plant's own `Last-Modified`; what the forged record still won, before it had to be
/// proven, was the tie within that second, by naming a source bucket that sorts last.)
#[tokio::test]
async fn a_forged_future_original_time_does_not_block_the_key() {
    let w = World::new("rec-future").await;
    for attempt in 0..5 {
        let key = format!("k{attempt}");
        // Claimed to come from a bucket that sorts after every source, dated in 2100.
        let forged = Forged {
            from: "zzzz-elsewhere",
            version: "v-forged",
            original_millis: 4_102_444_800_000,
        };
        w.plant(&w.dst, &key, b"blocker", forged).await;
        let t = w.last_modified_secs(&w.dst, &key).await;
        // The source's next write, in the plant's second (retried when the clock ticked).
        let v2 = put(&w.s3, &w.src, &key, b"second").await;
        if w.last_modified_secs(&w.src, &key).await != t {
            continue;
        }
        let answer = w.invoke(std::slice::from_ref(&v2)).await;
        assert_eq!(replicated(&answer), 1, "blocked by the plant: {answer}");
        assert_eq!(body_of(&w.s3, &w.dst, &key, None).await, b"second");
        let (code, out) = w.cli(&["verify", "--bucket", &w.src, "--prefix", &key]);
        assert_eq!(code, Some(0), "{out}");
        return;
    }
    panic!("the clock ticked between every plant and the source's write");
}

/// `restore --from REPLICA` never copies back a planted object whose record dates it just
/// before T: the genuine replica of the version as of T is restored.
#[tokio::test]
async fn restore_from_a_replica_never_picks_a_forged_record() {
    let w = World::new("rec-restore").await;
    let good = put(&w.s3, &w.src, "k", b"good").await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&good)).await), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t = now_millis();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    put(&w.s3, &w.src, "k", b"ransomed").await;
    // Dated just before T, after the good version: the newest "original" as of T.
    let forged = Forged {
        from: &w.src,
        version: "v-forged",
        original_millis: (t / 1000) * 1000 - 500,
    };
    w.plant(&w.dst, "k", b"attacker", forged).await;
    let as_of = chrono::DateTime::from_timestamp_millis(t)
        .unwrap()
        .to_rfc3339();
    let (code, out) = w.cli(&[
        "restore", "--bucket", &w.src, "--as-of", &as_of, "--from", &w.dst,
    ]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(body_of(&w.s3, &w.src, "k", None).await, b"good", "{out}");
}

/// A writer of the source cannot mark an object of their own as a replica (so that it is never
/// replicated) with a record the key does not prove.
#[tokio::test]
async fn a_forged_record_in_the_source_does_not_hide_an_object_from_replication() {
    let w = World::new("rec-hide").await;
    let forged = Forged {
        from: &w.dst,
        version: "v-forged",
        original_millis: now_millis(),
    };
    let hidden = w.plant(&w.src, "k", b"mine", forged).await;
    let answer = w.invoke(std::slice::from_ref(&hidden)).await;
    assert_eq!(replicated(&answer), 1, "{answer}");
    assert_eq!(body_of(&w.s3, &w.dst, "k", None).await, b"mine");
}

/// A key that cannot be read fails init, naming the setting; so does a partial ARN.
#[tokio::test]
async fn an_unreadable_record_key_fails_init_naming_the_setting() {
    let w = World::new("rec-init").await;
    let missing = json!(w.secret.replace("replica-record-key", "no-such-secret"));
    for arn in [missing.as_str().unwrap(), "replica-record-key"] {
        let mut env = w.env();
        env.retain(|(k, _)| *k != "REPLICA_RECORD_KEY_SECRET_ARN");
        env.push(("REPLICA_RECORD_KEY_SECRET_ARN", arn));
        let out = Command::new(env!("CARGO_BIN_EXE_s3-replicator"))
            .envs(function_env(&env))
            .env("AWS_ENDPOINT_URL", &server().endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(["verify", "--bucket", &w.src])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arn}: {stderr}");
        assert!(
            stderr.contains("REPLICA_RECORD_KEY_SECRET_ARN"),
            "{arn}: {stderr}"
        );
    }
}

/// A Batch Operations restore task of a planted version never writes into the source its forged
/// record names: without a proven record the version belongs to the bucket it is in, which is
/// no source of this function's.
#[tokio::test]
async fn a_batch_restore_task_never_takes_its_target_from_a_forged_record() {
    let w = World::new("rec-batch").await;
    put(&w.s3, &w.src, "k", b"good").await;
    let forged = Forged {
        from: &w.src,
        version: "v-forged",
        original_millis: now_millis(),
    };
    let planted = w.plant(&w.dst, "k", b"attacker", forged).await;
    let job = json!({"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {"Mode": "restore", "ReadAt": (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339()}},
        "tasks": [{"taskId": "t0", "s3Bucket": w.dst, "s3Key": "k",
                   "s3VersionId": planted.version_id}]});
    let (answer, _) = crate::metrics::invoke(job, &w.env(), 60_000).await;
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let result = &answer["results"][0];
    assert_eq!(result["resultCode"], "PermanentFailure", "{answer}");
    assert!(
        result["resultString"]
            .as_str()
            .unwrap()
            .starts_with("SourceBucketNotAllowed"),
        "{answer}"
    );
    assert_eq!(body_of(&w.s3, &w.src, "k", None).await, b"good");
    assert_eq!(version_count(&w.s3, &w.src, "k").await, 1);
}

/// Replicas written before the key was configured (or under another key, after a rotation)
/// carry no record the key proves: listings still prove their bytes, `verify --deep` no longer
/// calls them the replica, and the source's next write of the key replaces them with a sealed
/// replica.
#[tokio::test]
async fn records_written_without_the_key_stop_counting_until_the_next_write() {
    let w = World::new("rec-rotate").await;
    let unkeyed: Vec<(&str, &str)> = w
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "REPLICA_RECORD_KEY_SECRET_ARN")
        .collect();
    let v1 = put(&w.s3, &w.src, "k", b"first").await;
    let (answer, _) =
        crate::metrics::invoke(created_event(std::slice::from_ref(&v1)), &unkeyed, 60_000).await;
    assert!(answer.contains("\"replicated\":1"), "{answer}");
    assert!(!w
        .metadata(&w.dst, "k")
        .await
        .contains_key("replica-record-mac"));
    let (code, out) = w.cli(&["verify", "--bucket", &w.src]);
    assert_eq!(code, Some(0), "the bytes are the source's: {out}");
    // Not the replica any more: an object written there at its own time. Landed in the source
    // version's second, the tie goes by bucket name and its record differs (`replica-marker`);
    // in a later second it is a later write there (docs/security.md, turning the key on).
    let (_, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert!(
        (out.contains("replica-marker") && out.contains("1 differs"))
            || out.contains("1 newer-at-destination"),
        "{out}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let v2 = put(&w.s3, &w.src, "k", b"second").await;
    assert_eq!(replicated(&w.invoke(std::slice::from_ref(&v2)).await), 1);
    assert!(w
        .metadata(&w.dst, "k")
        .await
        .contains_key("replica-record-mac"));
    let (code, out) = w.cli(&["verify", "--bucket", &w.src, "--deep"]);
    assert_eq!(code, Some(0), "{out}");
}

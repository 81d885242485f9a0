//! Destinations on another S3 endpoint, where no server-side copy is possible: two separate local
//! S3 servers, the bytes streamed through the function with full fidelity.

use crate::common::*;
use aws_sdk_s3::types::ObjectCannedAcl;
use aws_sdk_s3::Client;
use s3_replicator::{handle, Summary};
use serde_json::json;

/// The other endpoint: a moto server of its own, started once for this binary.
fn remote() -> &'static Server {
    static REMOTE: std::sync::OnceLock<Server> = std::sync::OnceLock::new();
    REMOTE.get_or_init(start_moto)
}

struct Setup {
    local: Client,
    remote: Client,
    src: String,
    dst: String,
}

async fn setup() -> Setup {
    let local = client();
    let remote_client = client_for(&remote().endpoint);
    let src = versioned_bucket(&local, "st-src", "us-east-1").await;
    let dst = versioned_bucket(&remote_client, "st-dst", "us-east-1").await;
    Setup {
        local,
        remote: remote_client,
        src,
        dst,
    }
}

/// The function's environment for a rule streaming into the other endpoint's `dst`.
fn remote_env(dst: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let config = json!({"Rules": [{"ID": "elsewhere", "Priority": 1, "Status": "Enabled",
        "Filter": {}, "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst, "Region": "us-east-1", "Endpoint": remote().endpoint,
            "ForcePathStyle": true,
            "Credentials": {"AccessKeyIdVariable": "REMOTE_KEY",
                            "SecretAccessKeyVariable": "REMOTE_SECRET"}}}]})
    .to_string();
    let mut env = vec![
        ("REPLICATION_CONFIG".to_owned(), config),
        // The other endpoint is a local server, on plain http.
        ("ALLOW_PLAIN_HTTP_ENDPOINTS".to_owned(), "true".to_owned()),
        ("REMOTE_KEY".to_owned(), "remote-key".to_owned()),
        ("REMOTE_SECRET".to_owned(), "remote-secret".to_owned()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

async fn replicate(t: &Setup, p: &Put, extra: &[(&str, &str)]) -> Summary {
    let env = remote_env(&t.dst, extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    handle(
        &replicator(&server().endpoint, &env),
        created_event(std::slice::from_ref(p)),
    )
    .await
    .expect("replicates")
}

#[tokio::test]
async fn streamed_part_stored_as_other_bytes_fails_the_record_and_leaves_no_upload() {
    let t = setup().await;
    let data = body(24 * MIB + 1);
    let p = put(&t.local, &t.src, "garbled.bin", &data).await;
    let part = (8 * MIB).to_string();
    let vars: std::collections::HashMap<String, String> = function_env(&[])
        .into_iter()
        .chain(remote_env(&t.dst, &[("MULTIPART_PART_SIZE", &part)]))
        .collect();
    // Part 2 reaches the destination as other bytes of the same length.
    let garbling = s3_replicator::wiring::build_with(
        &sdk_config(&server().endpoint, "us-east-1"),
        |name| vars.get(name).cloned(),
        |d| s3_replicator::faults::Faulty::new(d, |_| None).garbling(|n| n == 2),
    )
    .expect("valid configuration");
    let err = handle(&garbling, created_event(std::slice::from_ref(&p)))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ReplicaMismatch"), "{err}");
    assert!(err.to_string().contains("part 2"), "{err}");
    let uploads = t
        .remote
        .list_multipart_uploads()
        .bucket(&t.dst)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "the upload is aborted");
    assert_eq!(version_count(&t.remote, &t.dst, "garbled.bin").await, 0);
}

#[tokio::test]
async fn small_object_streams_to_another_endpoint_with_full_fidelity() {
    let t = setup().await;
    let p = put_with(&t.local, &t.src, "doc.txt", b"across endpoints", |b| {
        b.content_type("text/plain")
            .cache_control("max-age=5")
            .metadata("team", "storage")
            .tagging("kind=doc")
            .acl(ObjectCannedAcl::PublicRead)
    })
    .await;
    assert_eq!(replicate(&t, &p, &[]).await.replicated, 1);
    assert_eq!(
        version_count(&t.local, &t.src, "doc.txt").await,
        1,
        "nothing written locally"
    );
    assert_eq!(
        body_of(&t.remote, &t.dst, "doc.txt", None).await,
        b"across endpoints"
    );
    let head = t
        .remote
        .head_object()
        .bucket(&t.dst)
        .key("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(head.cache_control(), Some("max-age=5"));
    let meta = head.metadata().unwrap();
    assert_eq!(meta.get("team").map(String::as_str), Some("storage"));
    assert_eq!(meta.get("replica-source-version-id"), p.version_id.as_ref());
    let tags = t
        .remote
        .get_object_tagging()
        .bucket(&t.dst)
        .key("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "doc");
    assert!(grants_read(&t.remote, &t.dst, "doc.txt").await);
    // A repeated event reads the remote destination and copies nothing.
    assert_eq!(replicate(&t, &p, &[]).await.replicated, 0);
}

#[tokio::test]
async fn multipart_source_streams_in_its_own_parts_keeping_its_etag() {
    let t = setup().await;
    let (p, data) = four_part_source(&t.local, &t.src, "big.bin").await;
    assert_eq!(replicate(&t, &p, &[]).await.replicated, 1);
    let head = t
        .remote
        .head_object()
        .bucket(&t.dst)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.e_tag().unwrap().trim_matches('"'),
        p.etag,
        "ETag parity"
    );
    assert_eq!(body_of(&t.remote, &t.dst, "big.bin", None).await, data);
    let uploads = t
        .remote
        .list_multipart_uploads()
        .bucket(&t.dst)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty());
}

#[tokio::test]
async fn single_part_object_above_the_part_size_streams_in_parts() {
    let t = setup().await;
    let data = body(24 * MIB + 1);
    let p = put(&t.local, &t.src, "single.bin", &data).await;
    let part = (8 * MIB).to_string();
    assert_eq!(
        replicate(&t, &p, &[("MULTIPART_PART_SIZE", &part)])
            .await
            .replicated,
        1
    );
    assert_eq!(body_of(&t.remote, &t.dst, "single.bin", None).await, data);
    let head = t
        .remote
        .head_object()
        .bucket(&t.dst)
        .key("single.bin")
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().ends_with("-4\""),
        "{:?}",
        head.e_tag()
    );
}

#[test]
fn missing_credentials_variable_fails_init_naming_it() {
    let config = json!({"Rules": [{"Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": "remote-bucket", "Region": "auto",
            "Endpoint": "https://storage.example",
            "Credentials": {"AccessKeyIdVariable": "NOT_SET_KEY",
                            "SecretAccessKeyVariable": "NOT_SET_SECRET"}}}]})
    .to_string();
    let vars = [("REPLICATION_CONFIG", config.as_str())];
    let err =
        s3_replicator::wiring::build(&sdk_config("http://127.0.0.1:9", "us-east-1"), |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .err()
        .expect("init fails");
    assert_eq!(err.field, "NOT_SET_KEY");
}

/// The SHA-256 checksum S3 reports for an object (ChecksumMode ENABLED).
async fn sha256_of(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap()
        .checksum_sha256()
        .map(str::to_owned)
}

#[tokio::test]
async fn streamed_replica_keeps_the_sources_checksum_algorithm() {
    let t = setup().await;
    let p = put_with(&t.local, &t.src, "summed.txt", b"checked bytes", |b| {
        b.checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
    })
    .await;
    let source = sha256_of(&t.local, &t.src, "summed.txt").await;
    assert!(source.is_some());
    replicate(&t, &p, &[]).await;
    assert_eq!(sha256_of(&t.remote, &t.dst, "summed.txt").await, source);
}

#[tokio::test]
async fn sha_objects_streamed_in_parts_replicate_with_a_composite_checksum() {
    let t = setup().await;
    let data = body(11 * MIB);
    let p = put_with(&t.local, &t.src, "summed.bin", &data, |b| {
        b.checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
    })
    .await;
    // Above the part size a streamed copy goes in parts of our own; S3 refuses a SHA upload as
    // FULL_OBJECT, so the replica's SHA-256 is composite, of those parts.
    let part = (5 * MIB).to_string();
    assert_eq!(
        replicate(&t, &p, &[("MULTIPART_PART_SIZE", &part)])
            .await
            .replicated,
        1
    );
    assert_eq!(body_of(&t.remote, &t.dst, "summed.bin", None).await, data);
    let head = t
        .remote
        .head_object()
        .bucket(&t.dst)
        .key("summed.bin")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.checksum_type(),
        Some(&aws_sdk_s3::types::ChecksumType::Composite)
    );
    assert!(
        head.checksum_sha256().is_some_and(|v| v.ends_with("-3")),
        "{:?}",
        head.checksum_sha256()
    );
}

#[tokio::test]
async fn credentials_for_another_endpoint_are_read_from_secrets_manager_at_init() {
    let t = setup().await;
    let sdk = sdk_config(&server().endpoint, "us-east-1");
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = unique_bucket("remote-credentials");
    let arn = secrets
        .create_secret()
        .name(&name)
        .secret_string(r#"{"AccessKeyId":"remote-key","SecretAccessKey":"remote-secret"}"#)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let config = |arn: &str| {
        json!({"Rules": [{"ID": "elsewhere", "Priority": 1, "Status": "Enabled", "Filter": {},
            "DeleteMarkerReplication": {"Status": "Disabled"},
            "Destination": {"Bucket": t.dst, "Region": "us-east-1", "Endpoint": remote().endpoint,
                "ForcePathStyle": true, "Credentials": {"SecretArn": arn}}}]})
        .to_string()
    };
    let load = |config: String| {
        let vars = function_env(&[
            ("REPLICATION_CONFIG", &config),
            ("ALLOW_PLAIN_HTTP_ENDPOINTS", "true"),
        ]);
        let sdk = sdk.clone();
        async move { s3_replicator::wiring::load(&sdk, |name| vars.get(name).cloned()).await }
    };
    let replicator = load(config(&arn))
        .await
        .expect("the secret is read at init");
    let p = put(&t.local, &t.src, "via secret.txt", b"from the secret").await;
    let summary = handle(&replicator, created_event(std::slice::from_ref(&p)))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(
        body_of(&t.remote, &t.dst, "via secret.txt", None).await,
        b"from the secret"
    );
    // A secret that cannot be read fails init, naming the rule's field.
    let missing = arn.replace(&name, &format!("{name}-gone"));
    let err = load(config(&missing)).await.err().expect("init fails");
    assert_eq!(
        err.field, "REPLICATION_CONFIG.Rules[0].Destination.Credentials.SecretArn",
        "{err}"
    );
    // The variables form stays for local use; a half of each is refused.
    let half = json!({"Rules": [{"ID": "x", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": "remote-bucket", "Region": "r1", "Endpoint": "https://s3.example",
            "Credentials": {"SecretArn": arn, "AccessKeyIdVariable": "K"}}}]})
    .to_string();
    let err = s3_replicator::Config::from_json(&half).unwrap_err();
    assert_eq!(
        err.field, "REPLICATION_CONFIG.Rules[0].Destination.Credentials",
        "{err}"
    );
}

/// Streamed to another endpoint, an object uploaded as one empty part: its empty range is read
/// as no bytes (no request names it) and uploaded as one empty part, the source's ETag.
#[tokio::test]
async fn a_multipart_source_of_one_empty_part_streams_keeping_its_etag() {
    let t = setup().await;
    let p = multipart_source(&t.local, &t.src, "empty.bin", &[Vec::new()]).await;
    assert_eq!(replicate(&t, &p, &[]).await.replicated, 1);
    let head = t
        .remote
        .head_object()
        .bucket(&t.dst)
        .key("empty.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.e_tag().unwrap().trim_matches('"'), p.etag);
    assert_eq!(body_of(&t.remote, &t.dst, "empty.bin", None).await, b"");
}

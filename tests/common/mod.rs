//! Shared helpers for integration tests: a moto S3 server on 127.0.0.1 (started once per test
//! binary unless `S3_TEST_ENDPOINT` names one), unique buckets, and events built from `events/`.
#![allow(dead_code)] // each test binary uses a different subset

pub mod proxy;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    VersioningConfiguration,
};
use aws_sdk_s3::Client;
use serde_json::Value;

use s3_replicator::wiring::{build, LiveReplicator};

pub struct Server {
    pub endpoint: String,
    _child: Option<Child>,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts a moto server of its own (used for tests needing two endpoints).
pub fn start_moto() -> Server {
    start_moto_with(&[])
}

/// Starts a moto server of its own with extra environment (e.g. IAM enforcement).
pub fn start_moto_with(env: &[(&str, &str)]) -> Server {
    start_moto_serving(env, None)
}

/// Starts a moto server of its own on HTTPS, with a certificate signed by a CA made for it,
/// whose certificate it writes to `dir/ca.pem`.
pub fn start_moto_tls(dir: &std::path::Path) -> Server {
    start_moto_serving(&[], Some(dir))
}

fn start_moto_serving(env: &[(&str, &str)], tls: Option<&std::path::Path>) -> Server {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make test` (or scripts/bootstrap.sh) to install the local S3 server",
        python.display()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(python);
    command
        .arg(repo_root().join("scripts/moto_server.py"))
        .arg(port.to_string())
        .arg("--parent-pid")
        .arg(std::process::id().to_string());
    if let Some(dir) = tls {
        command.arg("--tls").arg(dir);
    }
    let child = command
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    Server {
        endpoint: format!("{scheme}://127.0.0.1:{port}"),
        _child: Some(child),
    }
}

/// The shared server of this test binary.
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("S3_TEST_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Server {
            endpoint,
            _child: None,
        },
        _ => start_moto(),
    })
}

/// SDK configuration for a local endpoint with dummy credentials.
pub fn sdk_config(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    sdk_config_as(endpoint, region, "test", "test")
}

/// SDK configuration for a local endpoint with these credentials.
pub fn sdk_config_as(
    endpoint: &str,
    region: &str,
    key: &str,
    secret: &str,
) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .http_client(s3_replicator::sdk::https_client())
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            Credentials::new(key.to_owned(), secret.to_owned(), None, None, "tests"),
        ))
        .build()
}

/// A path-style client for setting up and checking buckets.
pub fn client_for(endpoint: &str) -> Client {
    client_from(&sdk_config(endpoint, "us-east-1"))
}

/// A path-style client from an SDK configuration.
pub fn client_from(sdk: &aws_config::SdkConfig) -> Client {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

pub fn client() -> Client {
    client_for(&server().endpoint)
}

/// A bucket name no other test uses.
pub fn unique_bucket(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a versioned bucket in `region`.
pub async fn versioned_bucket(s3: &Client, label: &str, region: &str) -> String {
    let name = unique_bucket(label);
    let mut create = s3.create_bucket().bucket(&name);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(region))
                .build(),
        );
    }
    create.send().await.expect("create bucket");
    s3.put_bucket_versioning()
        .bucket(&name)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("enable versioning");
    name
}

/// The replicator as the Lambda builds it, with these environment variables.
pub fn replicator(endpoint: &str, env: &[(&str, &str)]) -> LiveReplicator {
    replicator_with(&sdk_config(endpoint, "us-east-1"), env)
}

/// The replicator on an SDK configuration of the caller's (e.g. restricted credentials).
pub fn replicator_with(sdk: &aws_config::SdkConfig, env: &[(&str, &str)]) -> LiveReplicator {
    let vars = function_env(env);
    build(sdk, |name| vars.get(name).cloned()).expect("valid configuration")
}

/// The function's environment: `env`, path-style addressing unless it says otherwise.
pub fn function_env(env: &[(&str, &str)]) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.entry("S3_FORCE_PATH_STYLE".into())
        .or_insert("true".into());
    vars
}

/// The replicator with its destination calls passed through a fault rule first.
pub fn faulty_replicator(
    env: &[(&str, &str)],
    rule: impl Fn(s3_replicator::faults::Call) -> Option<s3_replicator::error::S3Failure>
        + Send
        + Sync
        + 'static,
) -> s3_replicator::Replicator<
    s3_replicator::aws_s3::AwsS3,
    s3_replicator::faults::Faulty<s3_replicator::aws_s3::AwsS3>,
> {
    let vars = function_env(env);
    s3_replicator::wiring::build_with(
        &sdk_config(&server().endpoint, "us-east-1"),
        |name| vars.get(name).cloned(),
        |d| s3_replicator::faults::Faulty::new(d, rule),
    )
    .expect("valid configuration")
}

/// What a put returned, to build its event.
#[derive(Clone, Debug)]
pub struct Put {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub etag: String,
    pub size: usize,
}

pub async fn put(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> Put {
    put_with(s3, bucket, key, body, |p| p).await
}

pub async fn put_with(
    s3: &Client,
    bucket: &str,
    key: &str,
    body: &[u8],
    customise: impl FnOnce(
        aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder,
) -> Put {
    let out = customise(
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec())),
    )
    .send()
    .await
    .expect("put object");
    Put {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: out.version_id().map(str::to_owned),
        etag: out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
        size: body.len(),
    }
}

/// The fixture `events/object-created-put.json`, re-aimed at these objects (one record each).
pub fn created_event(puts: &[Put]) -> Value {
    let template: Value =
        serde_json::from_str(include_str!("../../events/object-created-put.json")).unwrap();
    let record = template["Records"][0].clone();
    let records: Vec<Value> = puts
        .iter()
        .map(|p| {
            let mut r = record.clone();
            r["s3"]["bucket"]["name"] = p.bucket.clone().into();
            r["s3"]["bucket"]["arn"] = format!("arn:aws:s3:::{}", p.bucket).into();
            let encoded: String = form_urlencoded::byte_serialize(p.key.as_bytes()).collect();
            r["s3"]["object"]["key"] = encoded.into();
            r["s3"]["object"]["size"] = p.size.into();
            r["s3"]["object"]["eTag"] = p.etag.clone().into();
            match &p.version_id {
                Some(v) => r["s3"]["object"]["versionId"] = v.clone().into(),
                None => {
                    r["s3"]["object"]
                        .as_object_mut()
                        .unwrap()
                        .remove("versionId");
                }
            }
            r
        })
        .collect();
    serde_json::json!({ "Records": records })
}

pub async fn body_of(s3: &Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    s3.get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(str::to_owned))
        .send()
        .await
        .expect("get object")
        .body
        .collect()
        .await
        .unwrap()
        .to_vec()
}

/// The version ids (not delete markers) of `key` in `bucket`, newest first.
pub async fn version_ids(s3: &Client, bucket: &str, key: &str) -> Vec<String> {
    let out = s3
        .list_object_versions()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .expect("list versions");
    out.versions()
        .iter()
        .filter(|v| v.key() == Some(key))
        .filter_map(|v| v.version_id().map(str::to_owned))
        .collect()
}

/// The replica marker of the current version of `key` (the source version it replicates).
pub async fn marker_of(s3: &Client, bucket: &str, key: &str) -> Option<String> {
    s3.head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("head replica")
        .metadata()
        .and_then(|m| m.get("replica-source-version-id"))
        .cloned()
}

/// Number of versions (not delete markers) of `key` in `bucket`.
pub async fn version_count(s3: &Client, bucket: &str, key: &str) -> usize {
    version_ids(s3, bucket, key).await.len()
}

/// The destination version that is the replica of `source_version` (by its marker), newest first.
pub async fn replica_version_of(
    s3: &Client,
    bucket: &str,
    key: &str,
    source_version: &str,
) -> Option<String> {
    replicas_of(s3, bucket, key, source_version)
        .await
        .into_iter()
        .next()
}

/// Every destination version whose marker names `source_version`, newest first.
pub async fn replicas_of(
    s3: &Client,
    bucket: &str,
    key: &str,
    source_version: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    for id in version_ids(s3, bucket, key).await {
        let head = s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .version_id(&id)
            .send()
            .await
            .unwrap();
        if head
            .metadata()
            .and_then(|m| m.get("replica-source-version-id"))
            .map(String::as_str)
            == Some(source_version)
        {
            found.push(id);
        }
    }
    found
}

/// One record of the fixture's shape for any event name, with a sequencer.
pub fn record(
    event_name: &str,
    bucket: &str,
    key: &str,
    version: Option<&str>,
    etag: Option<&str>,
    sequencer: &str,
) -> Value {
    let template: Value =
        serde_json::from_str(include_str!("../../events/object-created-put.json")).unwrap();
    let mut r = template["Records"][0].clone();
    r["eventName"] = event_name.into();
    r["s3"]["bucket"]["name"] = bucket.into();
    let encoded: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let object = r["s3"]["object"].as_object_mut().unwrap();
    object.insert("key".into(), encoded.into());
    object.insert("sequencer".into(), sequencer.into());
    object.remove("versionId");
    object.remove("eTag");
    if let Some(v) = version {
        object.insert("versionId".into(), v.into());
    }
    if let Some(e) = etag {
        object.insert("eTag".into(), e.into());
    }
    r
}

/// An event of these records.
pub fn event_of(records: Vec<Value>) -> Value {
    serde_json::json!({ "Records": records })
}

/// Whether the current version of `key` has a READ grant (e.g. public-read).
pub async fn grants_read(s3: &Client, bucket: &str, key: &str) -> bool {
    let acl = s3
        .get_object_acl()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .expect("get object acl");
    acl.grants()
        .iter()
        .any(|g| g.permission() == Some(&aws_sdk_s3::types::Permission::Read))
}

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// Deterministic bytes with no period (xorshift64), so a misplaced range would show.
pub fn body(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Uploads `parts` as a multipart upload with metadata, tags and a public-read ACL.
pub async fn multipart_source(s3: &Client, bucket: &str, key: &str, parts: &[Vec<u8>]) -> Put {
    let upload = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type("application/x-big")
        .cache_control("no-store")
        .metadata("origin", "multipart")
        .tagging("size=large")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = upload.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let out = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(part.clone().into())
            .send()
            .await
            .unwrap();
        done.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(Into::into))
                .build(),
        );
    }
    let out = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    Put {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: out.version_id().map(str::to_owned),
        etag: out.e_tag().unwrap().trim_matches('"').to_owned(),
        size: parts.iter().map(Vec::len).sum(),
    }
}

/// A 64 MiB source in four parts (the last one short).
pub async fn four_part_source(s3: &Client, bucket: &str, key: &str) -> (Put, Vec<u8>) {
    let data = body(64 * MIB);
    let parts: Vec<Vec<u8>> = [20 * MIB, 20 * MIB, 20 * MIB, 4 * MIB]
        .iter()
        .scan(0, |start, len| {
            let part = data[*start..*start + len].to_vec();
            *start += len;
            Some(part)
        })
        .collect();
    (multipart_source(s3, bucket, key, &parts).await, data)
}

/// Runs a helper command that must succeed (its stderr is the failure message) and reads the
/// JSON it prints.
pub fn json_from<T: serde::de::DeserializeOwned>(command: &mut Command) -> T {
    let out = command.output().expect("run the helper");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the helper prints JSON")
}

/// A throwaway single-node Ceph RGW (`scripts/rgw.sh`), a second real S3 server: stopped when
/// dropped, and by its own watcher when this process ends (a shared one is never dropped).
pub struct Rgw {
    pub endpoint: String,
    dir: PathBuf,
}

/// Starts an RGW of its own (about 2.6 s); the S3 user `test` / `test`, as with moto.
pub fn start_rgw() -> Rgw {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "s3r-rgw-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/rgw.sh"))
        .arg("start")
        .arg(&dir)
        .arg("--parent-pid")
        .arg(std::process::id().to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/rgw.sh");
    assert!(
        out.status.success(),
        "Ceph RGW did not start (install it with `sudo bash scripts/bootstrap.sh --rgw`)"
    );
    Rgw {
        endpoint: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        dir,
    }
}

/// The shared RGW of this test binary, started on first use.
pub fn rgw() -> &'static Rgw {
    static RGW: OnceLock<Rgw> = OnceLock::new();
    RGW.get_or_init(start_rgw)
}

impl Rgw {
    /// Adds an S3 user whose access key and secret are both `name`, owning nothing.
    pub fn user(&self, name: &str) {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/rgw.sh"))
            .args(["user".as_ref(), self.dir.as_os_str(), name.as_ref()])
            .status()
            .expect("run scripts/rgw.sh user");
        assert!(status.success(), "creating the RGW user {name}");
    }
}

impl Drop for Rgw {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("scripts/rgw.sh"))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

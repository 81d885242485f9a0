//! The store traits on `aws_sdk_s3::Client`: copy-source encoding, error mapping, and one client
//! per region derived from one SDK configuration.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_s3::config::Region;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, ObjectCannedAcl, ObjectLockEnabled,
    ObjectLockLegalHoldStatus, ObjectLockMode, ServerSideEncryption, StorageClass,
    TaggingDirective, Type,
};
use aws_sdk_s3::Client;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::DateTime;
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{S3Failure, S3FailureKind};
use crate::store::{
    Acl, AclPlan, Body, Checksum, ContentHeaders, CopyRequest, Current, DestinationStore,
    Encryption, Grant, Grantee, Listed, ListedVersion, ObjectLock, ReplicaLocation, ReplicaSpec,
    SourceStore, SourceVersion, TagsPlan, TargetEncryption, UploadedPart, VersionRef, Written,
};

/// Restates a replica's content headers, user metadata, storage class, ACL, encryption, object
/// lock and expected owner on a CopyObject or CreateMultipartUpload builder (same setters,
/// different types).
macro_rules! apply_replica_spec {
    ($builder:expr, $target:expr) => {{
        let target: &ReplicaSpec = $target;
        let content = &target.content;
        let lock = &target.object_lock;
        let mut b = $builder
            .bucket(&target.bucket)
            .key(&target.key)
            .set_metadata(Some(target.metadata.clone().into_iter().collect()))
            .set_content_type(content.content_type.clone())
            .set_cache_control(content.cache_control.clone())
            .set_content_disposition(content.content_disposition.clone())
            .set_content_encoding(content.content_encoding.clone())
            .set_content_language(content.content_language.clone())
            .set_website_redirect_location(content.website_redirect_location.clone())
            .storage_class(StorageClass::from(target.storage_class.as_str()))
            .set_checksum_algorithm(checksum_algorithm(target))
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .set_object_lock_mode(lock.mode.as_deref().map(ObjectLockMode::from))
            .set_object_lock_retain_until_date(lock.retain_until)
            .set_object_lock_legal_hold_status(lock.legal_hold.map(|on| {
                if on {
                    ObjectLockLegalHoldStatus::On
                } else {
                    ObjectLockLegalHoldStatus::Off
                }
            }));
        b = match &target.acl {
            AclPlan::Default => b,
            AclPlan::BucketOwnerFullControl => b.acl(ObjectCannedAcl::BucketOwnerFullControl),
            AclPlan::Grants(g) => b
                .set_grant_full_control(g.full_control.clone())
                .set_grant_read(g.read.clone())
                .set_grant_read_acp(g.read_acp.clone())
                .set_grant_write_acp(g.write_acp.clone()),
        };
        match &target.encryption {
            TargetEncryption::BucketDefault => b,
            TargetEncryption::S3 => b.server_side_encryption(ServerSideEncryption::Aes256),
            TargetEncryption::Kms {
                algorithm,
                key_id,
                bucket_key,
            } => b
                .server_side_encryption(ServerSideEncryption::from(algorithm.as_str()))
                .ssekms_key_id(key_id)
                .bucket_key_enabled(*bucket_key),
        }
    }};
}

/// Sends, restating `Expires` byte for byte: the SDK's typed Expires would re-format or drop it.
macro_rules! send_with_expires {
    ($builder:expr, $target:expr) => {{
        let target: &ReplicaSpec = $target;
        match target.content.expires.clone() {
            Some(expires) => {
                $builder
                    .customize()
                    .mutate_request(move |req| {
                        req.headers_mut().insert("Expires", expires.clone());
                    })
                    .send()
                    .await
            }
            None => $builder.send().await,
        }
    }};
}

/// S3 through the AWS SDK, with a client per region built lazily from one `SdkConfig`.
pub struct AwsS3 {
    base: aws_config::SdkConfig,
    force_path_style: bool,
    clients: Mutex<HashMap<(Option<String>, String), Client>>,
    remotes: HashMap<String, Remote>,
    fixed: Option<Client>,
    /// The function's own endpoint is AWS S3 (no `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_S3`;
    /// a mocked client stands for AWS).
    on_aws: bool,
}

/// How to reach an S3 endpoint other than the function's own.
#[derive(Debug, Clone, Default)]
pub struct Remote {
    /// The endpoint URL.
    pub url: String,
    /// Credentials for it; `None` uses the function's own.
    pub credentials: Option<aws_sdk_s3::config::Credentials>,
    /// Path-style addressing.
    pub force_path_style: bool,
}

impl AwsS3 {
    /// `force_path_style` is for local S3 servers (`S3_FORCE_PATH_STYLE=true`).
    pub fn new(base: aws_config::SdkConfig, force_path_style: bool) -> Self {
        // S3 clients also take the service's own endpoint variable.
        let on_aws =
            base.endpoint_url().is_none() && std::env::var_os("AWS_ENDPOINT_URL_S3").is_none();
        Self {
            base: crate::sdk::with_https_client(base),
            force_path_style,
            clients: Mutex::new(HashMap::new()),
            remotes: HashMap::new(),
            fixed: None,
            on_aws,
        }
    }

    /// Adds the endpoints of destinations elsewhere, by [`crate::config::RemoteEndpoint::id`].
    pub fn with_remotes(mut self, remotes: HashMap<String, Remote>) -> Self {
        self.remotes = remotes;
        self
    }

    /// One given client for every region (tests with mocked clients).
    pub fn with_client(client: Client) -> Self {
        Self {
            base: aws_config::SdkConfig::builder().build(),
            force_path_style: false,
            clients: Mutex::new(HashMap::new()),
            remotes: HashMap::new(),
            fixed: Some(client),
            on_aws: true,
        }
    }

    /// The client for `region` of the function's own endpoint (built once, then shared).
    pub fn client(&self, region: &str) -> Client {
        self.client_at(region, None)
    }

    /// The client for `region` of the endpoint `endpoint` names (a remote's id, see
    /// [`Self::with_remotes`]; `None`: the function's own).
    pub fn client_at(&self, region: &str, endpoint: Option<&str>) -> Client {
        if let Some(client) = &self.fixed {
            return client.clone();
        }
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        clients
            .entry((endpoint.map(str::to_owned), region.to_owned()))
            .or_insert_with(|| {
                let mut conf = aws_sdk_s3::config::Builder::from(&self.base)
                    .region(Region::new(region.to_owned()))
                    .force_path_style(self.force_path_style);
                if let Some(id) = endpoint {
                    // An endpoint nobody registered is taken as a bare URL.
                    let remote = self.remotes.get(id).cloned().unwrap_or_else(|| Remote {
                        url: id.to_owned(),
                        ..Remote::default()
                    });
                    conf = conf
                        .endpoint_url(&remote.url)
                        .force_path_style(remote.force_path_style);
                    if let Some(credentials) = remote.credentials {
                        conf = conf.credentials_provider(credentials);
                    }
                }
                Client::from_conf(conf.build())
            })
            .clone()
    }

    /// Any client (for calls that work from every region, such as GetBucketLocation).
    fn default_client(&self) -> Client {
        let region = self
            .base
            .region()
            .map(|r| r.as_ref().to_owned())
            .unwrap_or_else(|| "us-east-1".to_owned());
        self.client(&region)
    }
}

/// Part-size HEADs in flight at once when reading a source's part layout.
const PART_HEAD_CONCURRENCY: usize = 16;

/// Characters left as they are in `x-amz-copy-source`: RFC 3986 unreserved, plus the `/` that
/// separates key segments.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The `x-amz-copy-source` value for a version: URL-encoded, as S3 requires and the SDK does not do.
pub fn copy_source(version: &VersionRef) -> String {
    let mut value = format!(
        "{}/{}",
        version.bucket,
        utf8_percent_encode(&version.key, COPY_SOURCE)
    );
    if let Some(id) = &version.version_id {
        value.push_str("?versionId=");
        value.extend(utf8_percent_encode(id, COPY_SOURCE));
    }
    value
}

/// Maps an SDK error to the domain's failure, keeping S3's code, status and message.
pub fn failure<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(m) => m.to_owned(),
        None => aws_smithy_types::error::display::DisplayErrorContext(&err).to_string(),
    };
    let kind = S3FailureKind::of(code.as_deref(), status);
    S3Failure {
        operation,
        kind,
        code,
        status,
        message,
    }
}

/// The object versions (not delete markers) of exactly `key`, newest first; with `first_only`,
/// stops at the first one found.
async fn key_versions(
    client: &Client,
    bucket: &str,
    key: &str,
    expected_bucket_owner: Option<&str>,
    first_only: bool,
) -> Result<Vec<ListedVersion>, S3Failure> {
    let mut versions = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .prefix(key)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectVersions", e))?;
        let mut past_key = false;
        for v in page.versions() {
            match v.key() {
                Some(k) if k == key => versions.extend(listed_version(v)),
                Some(k) if k > key => past_key = true,
                _ => {}
            }
        }
        // Listings are in key order: once past the key, nothing more is about it.
        if past_key || page.is_truncated() != Some(true) || (first_only && !versions.is_empty()) {
            return Ok(versions);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() && version_marker.is_none() {
            return Err(not_advancing("ListObjectVersions"));
        }
    }
}

/// A version as ListObjectVersions lists it.
fn listed_version(v: &aws_sdk_s3::types::ObjectVersion) -> Option<ListedVersion> {
    Some(ListedVersion {
        key: v.key()?.to_owned(),
        version_id: v.version_id().unwrap_or("null").to_owned(),
        size: u64::try_from(v.size().unwrap_or(0)).unwrap_or(0),
        etag: v.e_tag().unwrap_or_default().to_owned(),
    })
}

/// Puts each key's versions, listed newest first, oldest first (keys stay in order).
fn oldest_first(versions: &mut [ListedVersion]) {
    let mut start = 0;
    while start < versions.len() {
        let key = &versions[start].key;
        let end = start
            + versions[start..]
                .iter()
                .take_while(|v| &v.key == key)
                .count();
        versions[start..end].reverse();
        start = end;
    }
}

/// A bucket's current objects under `prefix`, in key order (ListObjectsV2, every page).
async fn list_current(
    client: &Client,
    bucket: &str,
    prefix: &str,
    expected_bucket_owner: Option<&str>,
) -> Result<Vec<Listed>, S3Failure> {
    let mut objects = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
            .send()
            .await
            .map_err(|e| failure("ListObjectsV2", e))?;
        objects.extend(page.contents().iter().filter_map(|o| {
            Some(Listed {
                key: o.key()?.to_owned(),
                size: u64::try_from(o.size()?).ok()?,
                etag: o.e_tag()?.to_owned(),
                storage_class: o
                    .storage_class()
                    .map_or("STANDARD", |c| c.as_str())
                    .to_owned(),
            })
        }));
        if page.is_truncated() != Some(true) {
            return Ok(objects);
        }
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return Err(not_advancing("ListObjectsV2"));
        }
    }
}

/// A truncated page without a marker to continue from.
fn not_advancing(operation: &'static str) -> S3Failure {
    S3Failure {
        operation,
        kind: S3FailureKind::ListingNotAdvancing,
        code: None,
        status: Some(200),
        message: "the page is truncated but names no marker to continue from".to_owned(),
    }
}

/// The checksum algorithm a write to `target` is made with: the source's, if it has one.
fn checksum_algorithm(target: &ReplicaSpec) -> Option<ChecksumAlgorithm> {
    target
        .checksum
        .as_ref()
        .map(|c| ChecksumAlgorithm::from(c.algorithm.as_str()))
}

/// A part's checksum in the upload's algorithm, from an answer's checksums in the order CRC32,
/// CRC32C, CRC64NVME, SHA1, SHA256.
fn part_checksum(target: &ReplicaSpec, values: [Option<&str>; 5]) -> Option<String> {
    let index = match target.checksum.as_ref()?.algorithm.as_str() {
        "CRC32" => 0,
        "CRC32C" => 1,
        "CRC64NVME" => 2,
        "SHA1" => 3,
        "SHA256" => 4,
        _ => return None,
    };
    values[index].map(str::to_owned)
}

/// The additional checksum HeadObject reports (with `ChecksumMode: ENABLED`).
fn checksum_of(out: &HeadObjectOutput) -> Option<Checksum> {
    let (name, value) = [
        ("CRC32", out.checksum_crc32()),
        ("CRC32C", out.checksum_crc32_c()),
        ("CRC64NVME", out.checksum_crc64_nvme()),
        ("SHA1", out.checksum_sha1()),
        ("SHA256", out.checksum_sha256()),
    ]
    .into_iter()
    .find_map(|(name, value)| value.map(|v| (name, v)))?;
    let full_object = match out.checksum_type() {
        Some(t) => *t == ChecksumType::FullObject,
        // Without a type: a composite checksum ends in -N (parts), a full one does not.
        None => !value.contains('-'),
    };
    Some(Checksum {
        algorithm: name.to_owned(),
        full_object,
    })
}

/// Bodies up to this size are read into memory before they are sent, so the SDK can retry the
/// request; larger ones stream through (a failure then fails the part, and the retry resumes).
pub const BUFFERED_BODY: u64 = 8 * 1024 * 1024;

/// A body the SDK can send: small ones buffered (retryable), large ones streamed.
async fn retryable(body: Body) -> Result<aws_sdk_s3::primitives::ByteStream, S3Failure> {
    if body.length > BUFFERED_BODY {
        return Ok(body.stream);
    }
    let bytes = body.stream.collect().await.map_err(|e| S3Failure {
        operation: "GetObject",
        kind: S3FailureKind::Other,
        code: None,
        status: None,
        message: format!("reading the body failed: {e}"),
    })?;
    Ok(bytes.into_bytes().into())
}

/// The answer S3 gives for a version without retention or legal hold.
fn no_lock<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("NoSuchObjectLockConfiguration")
}

/// A tag the SDK refuses to build (the source had it, so S3 would refuse it too).
fn invalid_tags(err: &dyn std::fmt::Display) -> S3Failure {
    S3Failure {
        operation: "PutObjectTagging",
        kind: S3FailureKind::InvalidRequest,
        code: None,
        status: None,
        message: err.to_string(),
    }
}

fn missing(operation: &'static str, what: &str) -> S3Failure {
    S3Failure {
        operation,
        kind: S3FailureKind::Other,
        code: None,
        status: Some(200),
        message: format!("the response carried no {what}"),
    }
}

fn to_source_version(out: HeadObjectOutput) -> Result<SourceVersion, S3Failure> {
    let etag = out
        .e_tag()
        .ok_or_else(|| missing("HeadObject", "ETag"))?
        .to_owned();
    let size = out
        .content_length()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| missing("HeadObject", "Content-Length"))?;
    let storage_class = out.storage_class().map(|c| c.as_str().to_owned());
    let archived = matches!(
        out.storage_class(),
        Some(StorageClass::Glacier | StorageClass::DeepArchive)
    ) && out
        .restore()
        .is_none_or(|r| !r.contains("ongoing-request=\"false\""))
        || out.archive_status().is_some();
    let encryption = if out.sse_customer_algorithm().is_some() {
        Encryption::Customer
    } else {
        match out.server_side_encryption() {
            None => Encryption::None,
            Some(ServerSideEncryption::Aes256) => Encryption::S3,
            Some(other) => Encryption::Kms {
                algorithm: other.as_str().to_owned(),
                key_id: out.ssekms_key_id().map(str::to_owned),
                bucket_key: out.bucket_key_enabled().unwrap_or(false),
            },
        }
    };
    let content = ContentHeaders {
        content_type: out.content_type().map(str::to_owned),
        cache_control: out.cache_control().map(str::to_owned),
        content_disposition: out.content_disposition().map(str::to_owned),
        content_encoding: out.content_encoding().map(str::to_owned),
        content_language: out.content_language().map(str::to_owned),
        expires: out.expires_string().map(str::to_owned),
        website_redirect_location: out.website_redirect_location().map(str::to_owned),
    };
    Ok(SourceVersion {
        size,
        etag,
        version_id: out.version_id().map(str::to_owned).filter(|v| v != "null"),
        content,
        metadata: out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        storage_class,
        archived,
        encryption,
        object_lock: ObjectLock {
            mode: out.object_lock_mode().map(|m| m.as_str().to_owned()),
            retain_until: out.object_lock_retain_until_date().cloned(),
            legal_hold: out
                .object_lock_legal_hold_status()
                .map(|s| *s == ObjectLockLegalHoldStatus::On),
        },
        tag_count: out.tag_count().and_then(|n| u32::try_from(n).ok()),
        parts_count: out.parts_count().and_then(|n| u32::try_from(n).ok()),
        checksum: checksum_of(&out),
        last_modified: out.last_modified().cloned(),
    })
}

/// HeadObject that tells an object, a delete marker (404 or 405 with `x-amz-delete-marker`) and
/// nothing (404) apart.
async fn head_current(
    client: &Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    expected_bucket_owner: Option<&str>,
) -> Result<Current, S3Failure> {
    let result = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .set_expected_bucket_owner(expected_bucket_owner.map(str::to_owned))
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    match result {
        Ok(out) => Ok(Current::Object(Box::new(to_source_version(out)?))),
        Err(err) => {
            if let Some(raw) = err.raw_response() {
                let headers = raw.headers();
                if headers.get("x-amz-delete-marker") == Some("true") {
                    return Ok(Current::DeleteMarker(
                        headers.get("x-amz-version-id").map(str::to_owned),
                    ));
                }
                if raw.status().as_u16() == 404 {
                    return Ok(Current::Absent);
                }
            }
            Err(failure("HeadObject", err))
        }
    }
}

fn acl_request(
    req: aws_sdk_s3::operation::put_object_acl::builders::PutObjectAclFluentBuilder,
    acl: &AclPlan,
) -> aws_sdk_s3::operation::put_object_acl::builders::PutObjectAclFluentBuilder {
    match acl {
        AclPlan::Default => req.acl(ObjectCannedAcl::Private),
        AclPlan::BucketOwnerFullControl => req.acl(ObjectCannedAcl::BucketOwnerFullControl),
        AclPlan::Grants(g) => req
            .set_grant_full_control(g.full_control.clone())
            .set_grant_read(g.read.clone())
            .set_grant_read_acp(g.read_acp.clone())
            .set_grant_write_acp(g.write_acp.clone()),
    }
}

impl SourceStore for AwsS3 {
    async fn head_version(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
    ) -> Result<SourceVersion, S3Failure> {
        let out = self
            .client(region)
            .head_object()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .set_if_match(if_match.map(str::to_owned))
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| failure("HeadObject", e))?;
        to_source_version(out)
    }

    async fn version_tags(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<Vec<(String, String)>, S3Failure> {
        let out = self
            .client(region)
            .get_object_tagging()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await
            .map_err(|e| failure("GetObjectTagging", e))?;
        Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }

    async fn version_acl(&self, region: &str, version: &VersionRef) -> Result<Acl, S3Failure> {
        let out = self
            .client(region)
            .get_object_acl()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await
            .map_err(|e| failure("GetObjectAcl", e))?;
        let grants = out
            .grants()
            .iter()
            .filter_map(|g| {
                let grantee = g.grantee()?;
                let grantee = match grantee.r#type() {
                    Type::CanonicalUser => Grantee::Id(grantee.id()?.to_owned()),
                    Type::Group => Grantee::Uri(grantee.uri()?.to_owned()),
                    Type::AmazonCustomerByEmail => {
                        Grantee::Email(grantee.email_address()?.to_owned())
                    }
                    _ => return None,
                };
                Some(Grant {
                    grantee,
                    permission: g.permission()?.as_str().to_owned(),
                })
            })
            .collect();
        Ok(Acl {
            owner_id: out.owner().and_then(|o| o.id()).map(str::to_owned),
            grants,
        })
    }

    fn omits_zero_tag_count(&self) -> bool {
        self.on_aws
    }

    async fn part_sizes(
        &self,
        region: &str,
        version: &VersionRef,
        parts: u32,
    ) -> Result<Vec<u64>, S3Failure> {
        let client = self.client(region);
        let heads = (1..=parts).map(|n| {
            let req = client
                .head_object()
                .bucket(&version.bucket)
                .key(&version.key)
                .set_version_id(version.version_id.clone())
                .part_number(n as i32);
            async move {
                let out = req.send().await.map_err(|e| failure("HeadObject", e))?;
                out.content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| missing("HeadObject", "Content-Length of a part"))
            }
        });
        futures::stream::iter(heads)
            .buffered(PART_HEAD_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn read(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> Result<Body, S3Failure> {
        let out = self
            .client(region)
            .get_object()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .set_if_match(if_match.map(str::to_owned))
            .set_range(range.map(|(start, end)| format!("bytes={start}-{}", end - 1)))
            .send()
            .await
            .map_err(|e| failure("GetObject", e))?;
        let length = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| missing("GetObject", "Content-Length"))?;
        Ok(Body {
            stream: out.body,
            length,
        })
    }

    async fn lock_enabled(&self, region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                == Some(&ObjectLockEnabled::Enabled)),
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => Ok(false),
            Err(e) => Err(failure("GetObjectLockConfiguration", e)),
        }
    }

    async fn acls_disabled(&self, region: &str, bucket: &str) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_bucket_ownership_controls()
            .bucket(bucket)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.ownership_controls().is_some_and(|c| {
                c.rules().iter().any(|r| {
                    r.object_ownership() == &aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced
                })
            })),
            Err(e) if e.code() == Some("OwnershipControlsNotFoundError") => Ok(false),
            Err(e) => Err(failure("GetBucketOwnershipControls", e)),
        }
    }

    async fn version_retention(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<Option<(String, DateTime)>, S3Failure> {
        let result = self
            .client(region)
            .get_object_retention()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out
                .retention()
                .and_then(|r| Some((r.mode()?.as_str().to_owned(), *r.retain_until_date()?)))),
            Err(e) if no_lock(&e) => Ok(None),
            Err(e) => Err(failure("GetObjectRetention", e)),
        }
    }

    async fn version_legal_hold(
        &self,
        region: &str,
        version: &VersionRef,
    ) -> Result<bool, S3Failure> {
        let result = self
            .client(region)
            .get_object_legal_hold()
            .bucket(&version.bucket)
            .key(&version.key)
            .set_version_id(version.version_id.clone())
            .send()
            .await;
        match result {
            Ok(out) => {
                Ok(out.legal_hold().and_then(|h| h.status())
                    == Some(&ObjectLockLegalHoldStatus::On))
            }
            Err(e) if no_lock(&e) => Ok(false),
            Err(e) => Err(failure("GetObjectLegalHold", e)),
        }
    }

    async fn newest_object_version(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, S3Failure> {
        let versions = key_versions(&self.client(region), bucket, key, None, true).await?;
        Ok(versions.into_iter().next().map(|v| v.version_id))
    }

    async fn list_objects(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Listed>, S3Failure> {
        list_current(&self.client(region), bucket, prefix, None).await
    }

    async fn list_versions(
        &self,
        region: &str,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        let client = self.client(region);
        let mut versions: Vec<ListedVersion> = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = client
                .list_object_versions()
                .bucket(bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| failure("ListObjectVersions", e))?;
            versions.extend(page.versions().iter().filter_map(listed_version));
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() && version_marker.is_none() {
                return Err(not_advancing("ListObjectVersions"));
            }
        }
        // S3 lists each key's versions newest first.
        oldest_first(&mut versions);
        Ok(versions)
    }

    async fn current(&self, region: &str, bucket: &str, key: &str) -> Result<Current, S3Failure> {
        head_current(&self.client(region), bucket, key, None, None).await
    }
}

impl DestinationStore for AwsS3 {
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Failure> {
        let out = self
            .default_client()
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| failure("GetBucketLocation", e))?;
        // An empty constraint is us-east-1; "EU" is the legacy name of eu-west-1.
        Ok(match out.location_constraint().map(|c| c.as_str()) {
            None | Some("") => "us-east-1".to_owned(),
            Some("EU") => "eu-west-1".to_owned(),
            Some(region) => region.to_owned(),
        })
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, S3Failure> {
        let target = &request.target;
        let mut copy = self
            .client_at(&target.region, target.endpoint.as_deref())
            .copy_object()
            .copy_source(copy_source(&request.source))
            .set_copy_source_if_match(request.source_if_match.clone())
            .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace);
        copy = apply_replica_spec!(copy, target);
        copy = match &target.tags {
            TagsPlan::FromSource => copy.tagging_directive(TaggingDirective::Copy),
            TagsPlan::Set(tags) => copy
                .tagging_directive(TaggingDirective::Replace)
                .tagging(tagging_header(tags)),
        };
        let out = send_with_expires!(copy, target).map_err(|e| failure("CopyObject", e))?;
        // The SDK turns an <Error> body in a 200 into an error; an empty result is one too.
        let etag = out
            .copy_object_result()
            .and_then(|r| r.e_tag())
            .ok_or_else(|| missing("CopyObject", "CopyObjectResult ETag"))?;
        Ok(Written {
            etag: etag.to_owned(),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> Result<String, S3Failure> {
        let mut create = self
            .client_at(&target.region, target.endpoint.as_deref())
            .create_multipart_upload()
            // A composite checksum needs the source's own layout, which multipart copies keep.
            .set_checksum_type(target.checksum.as_ref().map(|c| {
                if c.full_object {
                    ChecksumType::FullObject
                } else {
                    ChecksumType::Composite
                }
            }));
        create = apply_replica_spec!(create, target);
        if !tags.is_empty() {
            create = create.tagging(tagging_header(tags));
        }
        let out =
            send_with_expires!(create, target).map_err(|e| failure("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| missing("CreateMultipartUpload", "UploadId"))
    }

    async fn replica_current(&self, at: &ReplicaLocation) -> Result<Current, S3Failure> {
        head_current(
            &self.client_at(&at.region, at.endpoint.as_deref()),
            &at.bucket,
            &at.key,
            None,
            at.expected_bucket_owner.as_deref(),
        )
        .await
    }

    async fn put_delete_marker(&self, at: &ReplicaLocation) -> Result<(), S3Failure> {
        self.client_at(&at.region, at.endpoint.as_deref())
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("DeleteObject", e))?;
        Ok(())
    }

    async fn list_replicas(&self, at: &ReplicaLocation) -> Result<Vec<Listed>, S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        list_current(
            &client,
            &at.bucket,
            &at.key,
            at.expected_bucket_owner.as_deref(),
        )
        .await
    }

    async fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        key_versions(
            &client,
            &at.bucket,
            &at.key,
            at.expected_bucket_owner.as_deref(),
            false,
        )
        .await
    }

    async fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> Result<Written, S3Failure> {
        let mut put = self
            .client_at(&target.region, target.endpoint.as_deref())
            .put_object()
            .content_length(body.length as i64)
            .body(retryable(body).await?);
        put = apply_replica_spec!(put, target);
        if !tags.is_empty() {
            put = put.tagging(tagging_header(tags));
        }
        let out = send_with_expires!(put, target).map_err(|e| failure("PutObject", e))?;
        Ok(Written {
            etag: out
                .e_tag()
                .ok_or_else(|| missing("PutObject", "ETag"))?
                .to_owned(),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<UploadedPart, S3Failure> {
        let out = self
            .client_at(&target.region, target.endpoint.as_deref())
            .upload_part()
            .set_checksum_algorithm(checksum_algorithm(target))
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(body.length as i64)
            .body(retryable(body).await?)
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("UploadPart", e))?;
        Ok(UploadedPart {
            etag: out
                .e_tag()
                .map(str::to_owned)
                .ok_or_else(|| missing("UploadPart", "ETag"))?,
            checksum: part_checksum(
                target,
                [
                    out.checksum_crc32(),
                    out.checksum_crc32_c(),
                    out.checksum_crc64_nvme(),
                    out.checksum_sha1(),
                    out.checksum_sha256(),
                ],
            ),
        })
    }

    async fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        (start, end): (u64, u64),
    ) -> Result<UploadedPart, S3Failure> {
        let target = &request.target;
        let out = self
            .client_at(&target.region, target.endpoint.as_deref())
            .upload_part_copy()
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .copy_source(copy_source(&request.source))
            .copy_source_range(format!("bytes={start}-{}", end - 1))
            .set_copy_source_if_match(request.source_if_match.clone())
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("UploadPartCopy", e))?;
        let result = out
            .copy_part_result()
            .ok_or_else(|| missing("UploadPartCopy", "CopyPartResult"))?;
        Ok(UploadedPart {
            etag: result
                .e_tag()
                .map(str::to_owned)
                .ok_or_else(|| missing("UploadPartCopy", "CopyPartResult ETag"))?,
            checksum: part_checksum(
                target,
                [
                    result.checksum_crc32(),
                    result.checksum_crc32_c(),
                    result.checksum_crc64_nvme(),
                    result.checksum_sha1(),
                    result.checksum_sha256(),
                ],
            ),
        })
    }

    async fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> Result<Written, S3Failure> {
        let algorithm = target.checksum.as_ref().map(|c| c.algorithm.as_str());
        let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, part)| {
                        let done = aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(*n as i32)
                            .e_tag(&part.etag);
                        // Each part's checksum is repeated, in the upload's algorithm.
                        let value = part.checksum.clone();
                        match algorithm {
                            Some("CRC32") => done.set_checksum_crc32(value),
                            Some("CRC32C") => done.set_checksum_crc32_c(value),
                            Some("CRC64NVME") => done.set_checksum_crc64_nvme(value),
                            Some("SHA1") => done.set_checksum_sha1(value),
                            Some("SHA256") => done.set_checksum_sha256(value),
                            _ => done,
                        }
                        .build()
                    })
                    .collect(),
            ))
            .build();
        let out = self
            .client_at(&target.region, target.endpoint.as_deref())
            .complete_multipart_upload()
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("CompleteMultipartUpload", e))?;
        let etag = out
            .e_tag()
            .ok_or_else(|| missing("CompleteMultipartUpload", "ETag"))?;
        Ok(Written {
            etag: etag.to_owned(),
            version_id: out.version_id().map(str::to_owned),
        })
    }

    async fn list_uploads(&self, target: &ReplicaSpec) -> Result<Vec<String>, S3Failure> {
        let client = self.client_at(&target.region, target.endpoint.as_deref());
        let mut ids = Vec::new();
        let (mut key_marker, mut id_marker) = (None, None);
        loop {
            let page = client
                .list_multipart_uploads()
                .bucket(&target.bucket)
                .prefix(&target.key)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .set_expected_bucket_owner(target.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| failure("ListMultipartUploads", e))?;
            ids.extend(
                page.uploads()
                    .iter()
                    .filter(|u| u.key() == Some(target.key.as_str()))
                    .filter_map(|u| u.upload_id().map(str::to_owned)),
            );
            if page.is_truncated() != Some(true) {
                return Ok(ids);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                return Err(not_advancing("ListMultipartUploads"));
            }
        }
    }

    async fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
        let client = self.client_at(&target.region, target.endpoint.as_deref());
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let page = client
                .list_parts()
                .bucket(&target.bucket)
                .key(&target.key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .set_expected_bucket_owner(target.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| failure("ListParts", e))?;
            parts.extend(page.parts().iter().filter_map(|p| {
                Some((
                    u32::try_from(p.part_number()?).ok()?,
                    u64::try_from(p.size()?).ok()?,
                    UploadedPart {
                        etag: p.e_tag()?.to_owned(),
                        checksum: part_checksum(
                            target,
                            [
                                p.checksum_crc32(),
                                p.checksum_crc32_c(),
                                p.checksum_crc64_nvme(),
                                p.checksum_sha1(),
                                p.checksum_sha256(),
                            ],
                        ),
                    },
                ))
            }));
            if page.is_truncated() != Some(true) {
                return Ok(parts);
            }
            marker = page.next_part_number_marker().map(str::to_owned);
            if marker.is_none() {
                return Err(not_advancing("ListParts"));
            }
        }
    }

    async fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<(), S3Failure> {
        self.client_at(&target.region, target.endpoint.as_deref())
            .abort_multipart_upload()
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("AbortMultipartUpload", e))?;
        Ok(())
    }

    async fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<Current, S3Failure> {
        head_current(
            &self.client_at(&at.region, at.endpoint.as_deref()),
            &at.bucket,
            &at.key,
            Some(version_id),
            at.expected_bucket_owner.as_deref(),
        )
        .await
    }

    async fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        self.client_at(&at.region, at.endpoint.as_deref())
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("DeleteObject", e))?;
        Ok(())
    }

    async fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        let client = self.client_at(&at.region, at.endpoint.as_deref());
        if tags.is_empty() {
            client
                .delete_object_tagging()
                .bucket(&at.bucket)
                .key(&at.key)
                .version_id(version_id)
                .set_expected_bucket_owner(at.expected_bucket_owner.clone())
                .send()
                .await
                .map_err(|e| failure("DeleteObjectTagging", e))?;
            return Ok(());
        }
        let tag_set = tags
            .iter()
            .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid_tags(&e))?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(tag_set))
            .build()
            .map_err(|e| invalid_tags(&e))?;
        client
            .put_object_tagging()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .tagging(tagging)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("PutObjectTagging", e))?;
        Ok(())
    }

    async fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> Result<(), S3Failure> {
        let req = self
            .client_at(&at.region, at.endpoint.as_deref())
            .put_object_acl()
            .bucket(&at.bucket)
            .key(&at.key)
            .version_id(version_id)
            .set_expected_bucket_owner(at.expected_bucket_owner.clone());
        acl_request(req, acl)
            .send()
            .await
            .map_err(|e| failure("PutObjectAcl", e))?;
        Ok(())
    }
}

/// `x-amz-tagging`: tags as a form-encoded query string.
pub fn tagging_header(tags: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(key: &str, id: Option<&str>) -> VersionRef {
        VersionRef {
            bucket: "src".into(),
            key: key.into(),
            version_id: id.map(str::to_owned),
        }
    }

    #[test]
    fn copy_source_encodes_the_key_but_keeps_slashes() {
        assert_eq!(
            copy_source(&version("a dir/x+y%z?.txt", Some("v1.a_b"))),
            "src/a%20dir/x%2By%25z%3F.txt?versionId=v1.a_b"
        );
        assert_eq!(copy_source(&version("café", None)), "src/caf%C3%A9");
    }

    #[test]
    fn tagging_header_is_form_encoded() {
        let tags = vec![
            ("a b".to_owned(), "1&2".to_owned()),
            ("c".to_owned(), "=".to_owned()),
        ];
        assert_eq!(tagging_header(&tags), "a+b=1%262&c=%3D");
    }
}

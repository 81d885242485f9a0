//! The store traits on `aws_sdk_s3::Client`, one file per concern as mountpoint-s3-client keeps
//! one per operation: `reads` (the source side), `listings`, `writes` (copies, puts, deletes,
//! tags and ACLs: the destination side), `multipart`, and `errors` (S3's answers mapped to the
//! domain's failures). This file holds the client per region and endpoint, derived from one SDK
//! configuration, and what every request shares.

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_s3::config::Region;
use aws_sdk_s3::types::ChecksumAlgorithm;
use aws_sdk_s3::Client;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::store::{ReplicaSpec, VersionRef};

/// Restates a replica's content headers, user metadata, storage class, ACL, encryption, object
/// lock and expected owner on a CopyObject or CreateMultipartUpload builder (same setters,
/// different types).
macro_rules! apply_replica_spec {
    ($builder:expr, $target:expr) => {{
        let target: &$crate::store::ReplicaSpec = $target;
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
            .storage_class(aws_sdk_s3::types::StorageClass::from(
                target.storage_class.as_str(),
            ))
            .set_checksum_algorithm($crate::aws_s3::checksum_algorithm(target))
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .set_object_lock_mode(
                lock.mode
                    .as_deref()
                    .map(aws_sdk_s3::types::ObjectLockMode::from),
            )
            .set_object_lock_retain_until_date(lock.retain_until)
            .set_object_lock_legal_hold_status(lock.legal_hold.map(|on| {
                if on {
                    aws_sdk_s3::types::ObjectLockLegalHoldStatus::On
                } else {
                    aws_sdk_s3::types::ObjectLockLegalHoldStatus::Off
                }
            }));
        b = match &target.acl {
            $crate::store::AclPlan::Default => b,
            $crate::store::AclPlan::BucketOwnerFullControl => {
                b.acl(aws_sdk_s3::types::ObjectCannedAcl::BucketOwnerFullControl)
            }
            $crate::store::AclPlan::Grants(g) => b
                .set_grant_full_control(g.full_control.clone())
                .set_grant_read(g.read.clone())
                .set_grant_read_acp(g.read_acp.clone())
                .set_grant_write_acp(g.write_acp.clone()),
        };
        match &target.encryption {
            $crate::store::TargetEncryption::BucketDefault => b,
            $crate::store::TargetEncryption::S3 => {
                b.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256)
            }
            $crate::store::TargetEncryption::Kms {
                algorithm,
                key_id,
                bucket_key,
            } => b
                .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::from(
                    algorithm.as_str(),
                ))
                .ssekms_key_id(key_id)
                .bucket_key_enabled(*bucket_key),
        }
    }};
}

/// Sets the write condition of a replica on a CopyObject, PutObject or CompleteMultipartUpload
/// builder (same setters, different types).
macro_rules! apply_condition {
    ($builder:expr, $target:expr) => {{
        let target: &$crate::store::ReplicaSpec = $target;
        match &target.condition {
            None => $builder,
            Some($crate::store::WriteCondition::IfMatch(etag)) => $builder.if_match(etag),
            Some($crate::store::WriteCondition::IfNoneMatch) => $builder.if_none_match("*"),
        }
    }};
}

/// Sends, restating `Expires` byte for byte: the SDK's typed Expires would re-format or drop it.
/// With `plain` (a streamed body to a server AWS does not run, see `body`), without the SDK's
/// checksum trailer.
macro_rules! send_with_expires {
    ($builder:expr, $target:expr) => {
        send_with_expires!($builder, $target, false)
    };
    ($builder:expr, $target:expr, $plain:expr) => {{
        let target: &$crate::store::ReplicaSpec = $target;
        let plain: bool = $plain;
        match (target.content.expires.clone(), plain) {
            (None, false) => $builder.send().await,
            (expires, _) => {
                let mut custom = $builder.customize();
                if let Some(expires) = expires {
                    custom = custom.mutate_request(move |req| {
                        req.headers_mut().insert("Expires", expires.clone());
                    });
                }
                if plain {
                    custom =
                        custom.config_override($crate::aws_s3::body::without_checksum_trailer());
                }
                custom.send().await
            }
        }
    }};
}

mod body;
mod errors;
mod listings;
mod multipart;
mod reads;
mod version_order;
mod writes;

pub use body::BUFFERED_BODY;
pub use errors::failure;

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

    /// The URL of the endpoint `endpoint` names (as [`Self::client_at`] takes it; `None`: the
    /// function's own, whose URL is not needed).
    fn url_of<'a>(&'a self, endpoint: Option<&'a str>) -> Option<&'a str> {
        let id = endpoint?;
        Some(self.remotes.get(id).map_or(id, |r| r.url.as_str()))
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

/// The checksum algorithm a write to `target` is made with: the source's, if it has one.
fn checksum_algorithm(target: &ReplicaSpec) -> Option<ChecksumAlgorithm> {
    target
        .checksum
        .as_ref()
        .map(|c| ChecksumAlgorithm::from(c.algorithm.as_str()))
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

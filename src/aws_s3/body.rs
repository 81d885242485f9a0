//! The body a request sends: small ones buffered so the SDK can retry, large ones streamed.
//! Both single-request writes and multipart parts send bodies this way.
//!
//! The SDK sends a streamed body `aws-chunked`, its checksum (CRC32 by default, or the upload's
//! algorithm) in a trailer after the last chunk, signed `STREAMING-UNSIGNED-PAYLOAD-TRAILER`
//! (over `http://`, `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`). AWS S3 verifies that
//! trailer; many S3-compatible servers know neither value: Ceph RGW 16.2 takes it for the body's
//! SHA-256 and refuses the request (`XAmzContentSHA256Mismatch`). So to an endpoint AWS does not
//! run, a streamed body goes plain (`UNSIGNED-PAYLOAD`, no checksum), and the caller proves what
//! landed by the MD5 the server answers as its ETag (`crate::copy::tee`). A buffered body carries
//! its checksum in a header and a signed payload hash, which every server checks or ignores.

use aws_sdk_s3::config::RequestChecksumCalculation;
use aws_sdk_s3::primitives::ByteStream;

use crate::config::run_by_aws;
use crate::error::{S3Failure, S3FailureKind};
use crate::store::Body;

/// Bodies up to this size are read into memory before they are sent, so the SDK can retry the
/// request; larger ones stream through (a failure then fails the part, and the retry resumes).
pub const BUFFERED_BODY: u64 = 8 * 1024 * 1024;

/// A body ready for the SDK, and how it goes.
pub(super) struct Outgoing {
    /// The bytes.
    pub stream: ByteStream,
    /// Streamed rather than buffered (the SDK would add its checksum as a trailer).
    pub streamed: bool,
}

/// A body the SDK can send: small ones buffered (retryable), large ones streamed.
pub(super) async fn retryable(body: Body) -> Result<Outgoing, S3Failure> {
    if body.length > BUFFERED_BODY {
        return Ok(Outgoing {
            stream: body.stream,
            streamed: true,
        });
    }
    let bytes = body.stream.collect().await.map_err(|e| S3Failure {
        operation: "GetObject",
        kind: S3FailureKind::Other,
        code: None,
        status: None,
        message: format!("reading the body failed: {e}"),
    })?;
    Ok(Outgoing {
        stream: bytes.into_bytes().into(),
        streamed: false,
    })
}

impl Outgoing {
    /// Whether this body must go without the SDK's checksum trailer to `url` (`None`: the
    /// function's own endpoint, which only ever copies server-side or buffered).
    pub fn plain_to(&self, url: Option<&str>) -> bool {
        self.streamed && url.is_some_and(|u| !run_by_aws(u))
    }
}

/// The SDK's checksum left to the server (none is computed, no trailer is sent): a request's
/// configuration for a streamed body to an endpoint AWS does not run.
pub(super) fn without_checksum_trailer() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_hosts_in_every_partition_are_known_and_others_are_not() {
        for url in [
            "https://s3.us-east-1.amazonaws.com",
            "https://bucket.s3.cn-north-1.amazonaws.com.cn/",
            "https://s3.dualstack.us-west-2.amazonaws.com:443",
            "https://s3.us-gov-west-1.amazonaws.com",
            "https://s3.eusc-de-east-1.amazonaws.eu",
            "https://s3.us-east-1.api.aws",
            "HTTPS://S3.AMAZONAWS.COM.",
        ] {
            assert!(run_by_aws(url), "{url}");
        }
        for url in [
            "http://127.0.0.1:7480",
            "https://rgw.example.com",
            "https://amazonaws.com.evil.example",
            "https://notamazonaws.com",
            "https://user@minio.local:9000/amazonaws.com",
            "http://[::1]:9000",
        ] {
            assert!(!run_by_aws(url), "{url}");
        }
    }

    fn outgoing(streamed: bool) -> Outgoing {
        Outgoing {
            stream: ByteStream::from_static(b""),
            streamed,
        }
    }

    /// The headers of the request a streamed 9 MiB PutObject (or UploadPart) with a CRC32
    /// source checksum sends to `url`, captured before it leaves.
    async fn sent_to(url: &str, part: bool) -> aws_smithy_runtime_api::http::Headers {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        use aws_smithy_http_client::test_util::capture_request;
        let (http, request) = capture_request(None);
        let base = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "test", "test", None, None, "test",
                )),
            )
            .http_client(http)
            .build();
        let remote = super::super::Remote {
            url: url.to_owned(),
            credentials: None,
            force_path_style: true,
        };
        let s3 = super::super::AwsS3::new(base, true)
            .with_remotes([("there".to_owned(), remote)].into_iter().collect());
        let target = crate::store::ReplicaSpec {
            bucket: "dst".to_owned(),
            key: "k".to_owned(),
            region: "us-east-1".to_owned(),
            content: Default::default(),
            metadata: Default::default(),
            tags: crate::store::TagsPlan::Set(Vec::new()),
            acl: crate::store::AclPlan::Default,
            storage_class: "STANDARD".to_owned(),
            encryption: crate::store::TargetEncryption::BucketDefault,
            object_lock: Default::default(),
            checksum: Some(crate::store::Checksum {
                algorithm: "CRC32".to_owned(),
                full_object: true,
                value: "AAAAAA==".to_owned(),
            }),
            expected_bucket_owner: None,
            endpoint: Some("there".to_owned()),
            condition: None,
        };
        // Teed, the body is a stream the SDK cannot read ahead, as a GetObject's is.
        let body = crate::copy::tee(Body::from_bytes(vec![7; 9 * 1024 * 1024])).0;
        // The capture answers an empty 200: no ETag, so the call itself fails.
        match part {
            true => {
                let _ = super::super::multipart::upload_part(&s3, &target, "u", 1, body).await;
            }
            false => {
                use crate::store::DestinationStore;
                let _ = s3.put_object(&target, body, &[]).await;
            }
        }
        request.expect_request().headers().clone()
    }

    /// Issue #40: RGW 16.2 refused every streamed part and PUT (`XAmzContentSHA256Mismatch`).
    /// Other servers get a plain streamed body; AWS's keep the checksum trailer S3 verifies.
    #[tokio::test]
    async fn a_streamed_body_has_the_checksum_trailer_only_on_aws() {
        for part in [false, true] {
            let plain = sent_to("http://127.0.0.1:7480", part).await;
            let header = |h: &aws_smithy_runtime_api::http::Headers, name: &str| {
                h.get(name).map(str::to_owned)
            };
            assert_eq!(
                header(&plain, "x-amz-content-sha256").as_deref(),
                Some("UNSIGNED-PAYLOAD"),
                "part: {part}"
            );
            for absent in [
                "content-encoding",
                "x-amz-trailer",
                "x-amz-sdk-checksum-algorithm",
            ] {
                assert_eq!(header(&plain, absent), None, "{absent}, part: {part}");
            }
            let length = header(&plain, "content-length");
            assert_eq!(length.as_deref(), Some("9437184"), "part: {part}");
            let aws = sent_to("https://s3.cn-north-1.amazonaws.com.cn", part).await;
            assert_eq!(
                header(&aws, "x-amz-content-sha256").as_deref(),
                Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
                "part: {part}"
            );
            let trailer = header(&aws, "x-amz-trailer");
            assert_eq!(
                trailer.as_deref(),
                Some("x-amz-checksum-crc32"),
                "part: {part}"
            );
        }
    }

    #[test]
    fn only_streamed_bodies_to_other_servers_go_without_the_trailer() {
        let rgw = Some("http://127.0.0.1:7480");
        let aws = Some("https://s3.cn-north-1.amazonaws.com.cn");
        assert!(outgoing(true).plain_to(rgw));
        assert!(!outgoing(false).plain_to(rgw));
        assert!(!outgoing(true).plain_to(aws));
        assert!(!outgoing(true).plain_to(None));
    }
}

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

/// The domains of AWS's S3 endpoints in every partition (commercial, China, GovCloud, the
/// European Sovereign Cloud, dual-stack), which take the SDK's checksum trailers.
const AWS_DOMAINS: [&str; 4] = [
    "amazonaws.com",
    "amazonaws.com.cn",
    "api.aws",
    "amazonaws.eu",
];

/// Whether `url`'s host is one of AWS's.
fn run_by_aws(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    AWS_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
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

//! The body a request sends: small ones buffered so the SDK can retry, large ones streamed.
//! Both single-request writes and multipart parts send bodies this way.

use crate::error::{S3Failure, S3FailureKind};
use crate::store::Body;

/// Bodies up to this size are read into memory before they are sent, so the SDK can retry the
/// request; larger ones stream through (a failure then fails the part, and the retry resumes).
pub const BUFFERED_BODY: u64 = 8 * 1024 * 1024;

/// A body the SDK can send: small ones buffered (retryable), large ones streamed.
pub(super) async fn retryable(body: Body) -> Result<aws_sdk_s3::primitives::ByteStream, S3Failure> {
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

//! S3's answers mapped to the domain's failures, keeping S3's code, status and message.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::{S3Failure, S3FailureKind};

/// Maps an SDK error to the domain's failure, keeping S3's code, status and message.
pub fn failure<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> S3Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(m) => m.to_owned(),
        None => causes(&err),
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

/// An error with no service message (no connection, a timeout): each cause's own words on one
/// line, `dispatch failure: io error: ... Connection refused`, without the Debug form that the
/// SDK's `DisplayErrorContext` appends.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        causes.push(cause.to_string().replace('\n', " "));
        next = cause.source();
    }
    causes.join(": ")
}

/// A truncated page without a marker to continue from.
pub(super) fn not_advancing(operation: &'static str) -> S3Failure {
    S3Failure {
        operation,
        kind: S3FailureKind::ListingNotAdvancing,
        code: None,
        status: Some(200),
        message: "the page is truncated but names no marker to continue from".to_owned(),
    }
}

/// The answer S3 gives for a version without retention or legal hold.
pub(super) fn no_lock<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    err.code() == Some("NoSuchObjectLockConfiguration")
}

/// A tag the SDK refuses to build (the source had it, so S3 would refuse it too).
pub(super) fn invalid_tags(err: &dyn std::fmt::Display) -> S3Failure {
    S3Failure {
        operation: "PutObjectTagging",
        kind: S3FailureKind::InvalidRequest,
        code: None,
        status: None,
        message: err.to_string(),
    }
}

pub(super) fn missing(operation: &'static str, what: &str) -> S3Failure {
    S3Failure {
        operation,
        kind: S3FailureKind::Other,
        code: None,
        status: Some(200),
        message: format!("the response carried no {what}"),
    }
}

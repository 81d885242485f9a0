//! What a failed S3 call answered, and the causes the engine tells apart: the raw material that
//! [`super::ReplicationError::classify`] turns into a failure code.

use std::fmt;

/// What an S3 call answered when it failed: the operation, the S3 error code, HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Failure {
    /// The S3 API operation, e.g. `CopyObject`.
    pub operation: &'static str,
    /// Classified cause, independent of the exact S3 error code.
    pub kind: S3FailureKind,
    /// The S3 error code, when the response had one (HEAD errors have none).
    pub code: Option<String>,
    /// The HTTP status, when a response arrived at all.
    pub status: Option<u16>,
    /// The service's message, or the transport error's text.
    pub message: String,
}

/// The causes the replication logic reacts to differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3FailureKind {
    /// The key, version or upload does not exist.
    NotFound,
    /// The bucket does not exist.
    NoSuchBucket,
    /// The caller lacks permission.
    AccessDenied,
    /// An `If-Match` style precondition did not hold.
    PreconditionFailed,
    /// The bucket has ACLs disabled (Object Ownership: bucket owner enforced).
    AclNotSupported,
    /// The object is archived and cannot be read without a restore.
    InvalidObjectState,
    /// The request was refused because of its shape or size (e.g. a copy above 5 GiB).
    InvalidRequest,
    /// A listing said it was truncated but gave no marker to go on from (some S3-compatible
    /// servers do); following it would loop until the function times out.
    ListingNotAdvancing,
    /// Anything else, including throttling and network failures after retries.
    Other,
}

impl S3FailureKind {
    /// The cause of an S3 error response, from its code and HTTP status.
    pub fn of(code: Option<&str>, status: Option<u16>) -> Self {
        match (code, status) {
            (Some("NoSuchBucket"), _) => Self::NoSuchBucket,
            (Some("NoSuchKey" | "NoSuchVersion" | "NotFound" | "NoSuchUpload"), _) => {
                Self::NotFound
            }
            (
                Some(
                    "AccessDenied"
                    | "AllAccessDisabled"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch",
                ),
                _,
            ) => Self::AccessDenied,
            (Some("PreconditionFailed"), _) => Self::PreconditionFailed,
            (Some("AccessControlListNotSupported"), _) => Self::AclNotSupported,
            (Some("InvalidObjectState"), _) => Self::InvalidObjectState,
            (Some("InvalidRequest" | "EntityTooLarge"), _) => Self::InvalidRequest,
            (Some(_), _) => Self::Other,
            // HEAD errors carry no body, hence no code.
            (None, Some(404)) => Self::NotFound,
            (None, Some(403)) => Self::AccessDenied,
            (None, Some(412)) => Self::PreconditionFailed,
            (None, _) => Self::Other,
        }
    }
}

impl fmt::Display for S3Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.operation)?;
        match (&self.code, self.status) {
            (Some(code), Some(status)) => write!(f, " failed with {code} (HTTP {status})")?,
            (Some(code), None) => write!(f, " failed with {code}")?,
            (None, Some(status)) => write!(f, " failed with HTTP {status}")?,
            (None, None) => write!(f, " failed")?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl S3Failure {
    /// Throttling, 5xx, network failures and an empty or unreadable 200 may pass on a retry.
    pub fn is_transient(&self) -> bool {
        let transient_code = matches!(
            self.code.as_deref(),
            Some(
                "SlowDown"
                    | "RequestTimeout"
                    | "InternalError"
                    | "ServiceUnavailable"
                    | "Throttling"
                    | "ThrottlingException"
                    | "RequestTimeTooSkewed"
                    // 409s that say "try again": a conflicting operation in progress, and a
                    // conditional write racing another (S3's own advice is to retry both).
                    | "OperationAborted"
                    | "ConditionalRequestConflict"
            )
        );
        let empty_200 = self.status == Some(200) && self.code.is_none();
        transient_code || empty_200 || self.status.is_none_or(|s| s >= 500)
    }
}

//! Failure codes for one replication, modelled on S3's own replication failure reasons, and the
//! invocation-level error that makes Lambda retry and, in the end, use the on-failure destination.

use std::fmt;

use lambda_runtime::Diagnostic;

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

/// Why one object version could not be replicated to one destination. Each variant has a stable code.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ReplicationError {
    /// The source version was deleted before it could be read.
    #[error("source version no longer exists: {0}")]
    SrcVersionNotFound(S3Failure),
    /// HeadObject on the source was denied.
    #[error("not permitted to read the source object's metadata: {0}")]
    SrcHeadObjectNotPermitted(S3Failure),
    /// GetObjectTagging on the source was denied.
    #[error("not permitted to read the source object's tags: {0}")]
    SrcGetObjectTaggingNotPermitted(S3Failure),
    /// GetObjectAcl on the source was denied.
    #[error("not permitted to read the source object's ACL: {0}")]
    SrcGetObjectAclNotPermitted(S3Failure),
    /// GetObjectRetention / GetObjectLegalHold / GetObjectLockConfiguration on the source was
    /// denied: a locked object is never replicated unlocked.
    #[error("not permitted to read the source object's lock (retention, legal hold): {0}")]
    SrcObjectLockNotPermitted(S3Failure),
    /// Another read of the source (GetObject, ListObjectVersions) was denied.
    #[error("not permitted to read the source: {0}")]
    SrcReadNotPermitted(S3Failure),
    /// Another failure while reading the source.
    #[error("reading the source failed: {0}")]
    SrcReadFailed(S3Failure),
    /// The source changed between the event and the copy (unversioned bucket overwritten).
    #[error("the source object changed since the event: {0}")]
    SrcObjectChanged(S3Failure),
    /// The destination bucket does not exist.
    #[error("destination bucket not found: {0}")]
    DstBucketNotFound(S3Failure),
    /// The destination's region could not be discovered.
    #[error("could not find the destination bucket's region: {0}")]
    DstBucketRegionUnknown(S3Failure),
    /// Writing the replica was denied (on the destination, or reading the source during the copy).
    #[error("not permitted to write the replica: {0}")]
    DstPutObjectNotPermitted(S3Failure),
    /// Another failure while writing the replica.
    #[error("writing the replica failed: {0}")]
    DstPutObjectFailed(S3Failure),
    /// The destination bucket has ACLs disabled (Object Ownership: bucket owner enforced).
    #[error("the destination bucket has ACLs disabled: {0}")]
    DstAclNotSupported(S3Failure),
    /// The object is larger than the copy strategies available can handle.
    #[error("object of {size} bytes exceeds the single-request copy limit of {limit} bytes")]
    ObjectTooLarge {
        /// The object's size.
        size: u64,
        /// The largest size a single CopyObject accepts.
        limit: u64,
    },
    /// The replica written does not match the source.
    #[error("replica does not match the source: {0}")]
    ReplicaMismatch(String),
    /// Reading the destination (current version, version list) was denied.
    #[error("not permitted to read the destination: {0}")]
    DstReadNotPermitted(S3Failure),
    /// Another failure reading the destination.
    #[error("reading the destination failed: {0}")]
    DstReadFailed(S3Failure),
    /// The invocation's time ran out during a multipart copy. A resumable upload (proven ours
    /// by its fingerprint part) is kept and the retry copies only the missing parts; otherwise it
    /// was aborted and the retry starts again.
    #[error("the copy stopped before the function's deadline with {copied} of {total} parts; {}", if *.resumable { "the retry resumes it" } else { "the upload was aborted and the retry restarts the copy" })]
    CopyInterrupted {
        /// Parts copied so far.
        copied: usize,
        /// Parts in all.
        total: usize,
        /// Whether the upload was kept for the retry to resume.
        resumable: bool,
    },
    /// No S3 call is started within the time margin before the function's deadline; the retry
    /// carries on from what S3 holds.
    #[error("stopped before the function's deadline (MULTIPART_TIME_MARGIN_SECONDS); the retry carries on")]
    DeadlineReached,
    /// A listing said it was truncated but gave no marker to continue from.
    #[error("{0} said the listing is truncated but gave no marker to continue from")]
    ListingNotAdvancing(&'static str),
    /// The event names a bucket outside `SOURCE_BUCKETS`: this deployment does not replicate it.
    #[error("bucket {0:?} is not one of this function's source buckets (SOURCE_BUCKETS); nothing was replicated")]
    SourceBucketNotAllowed(String),
    /// Concurrent writers kept changing the key; the retry will converge it.
    #[error("not converged: {0}")]
    NotConverged(String),
}

impl ReplicationError {
    /// The stable, documented failure code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SrcVersionNotFound(_) => "SrcVersionNotFound",
            Self::SrcHeadObjectNotPermitted(_) => "SrcHeadObjectNotPermitted",
            Self::SrcGetObjectTaggingNotPermitted(_) => "SrcGetObjectTaggingNotPermitted",
            Self::SrcGetObjectAclNotPermitted(_) => "SrcGetObjectAclNotPermitted",
            Self::SrcObjectLockNotPermitted(_) => "SrcObjectLockNotPermitted",
            Self::SrcReadNotPermitted(_) => "SrcReadNotPermitted",
            Self::SrcReadFailed(_) => "SrcReadFailed",
            Self::SrcObjectChanged(_) => "SrcObjectChanged",
            Self::DstBucketNotFound(_) => "DstBucketNotFound",
            Self::DstBucketRegionUnknown(_) => "DstBucketRegionUnknown",
            Self::DstPutObjectNotPermitted(_) => "DstPutObjectNotPermitted",
            Self::DstPutObjectFailed(_) => "DstPutObjectFailed",
            Self::DstAclNotSupported(_) => "DstAclNotSupported",
            Self::ObjectTooLarge { .. } => "ObjectTooLarge",
            Self::ReplicaMismatch(_) => "ReplicaMismatch",
            Self::DstReadNotPermitted(_) => "DstReadNotPermitted",
            Self::DstReadFailed(_) => "DstReadFailed",
            Self::CopyInterrupted { .. } => "CopyInterrupted",
            Self::DeadlineReached => "DeadlineReached",
            Self::NotConverged(_) => "NotConverged",
            Self::ListingNotAdvancing(_) => "ListingNotAdvancing",
            Self::SourceBucketNotAllowed(_) => "SourceBucketNotAllowed",
        }
    }

    /// The one classification of a failed S3 call: by the side it was made for, its operation
    /// and its cause. Every S3 failure the engine sees passes through here, so that a cause means
    /// the same thing wherever it happens (a destination's NotFound is never "source gone").
    pub fn classify(side: Side, failure: S3Failure) -> Self {
        use S3FailureKind as K;
        let op = failure.operation;
        // The copy calls read the source: their NoSuchKey / NoSuchVersion and If-Match
        // failures are about the source version, whatever else they write.
        let copy_call = matches!(op, "CopyObject" | "UploadPartCopy");
        let source_missing = matches!(failure.code.as_deref(), Some("NoSuchKey" | "NoSuchVersion"));
        match (side, failure.kind) {
            (_, K::ListingNotAdvancing) => Self::ListingNotAdvancing(op),
            (Side::Source, K::NotFound) => Self::SrcVersionNotFound(failure),
            (Side::Source, K::PreconditionFailed) => Self::SrcObjectChanged(failure),
            (Side::Source, K::AccessDenied) => match op {
                "HeadObject" => Self::SrcHeadObjectNotPermitted(failure),
                "GetObjectTagging" => Self::SrcGetObjectTaggingNotPermitted(failure),
                "GetObjectAcl" => Self::SrcGetObjectAclNotPermitted(failure),
                "GetObjectRetention" | "GetObjectLegalHold" | "GetObjectLockConfiguration" => {
                    Self::SrcObjectLockNotPermitted(failure)
                }
                _ => Self::SrcReadNotPermitted(failure),
            },
            (Side::Source, _) => Self::SrcReadFailed(failure),
            (Side::Destination, K::NotFound) if copy_call && source_missing => {
                Self::SrcVersionNotFound(failure)
            }
            (Side::Destination, K::PreconditionFailed) if copy_call => {
                Self::SrcObjectChanged(failure)
            }
            // The destination checked the bytes against the checksum sent with them.
            (Side::Destination, _)
                if matches!(
                    failure.code.as_deref(),
                    Some("BadDigest" | "InvalidDigest" | "XAmzContentChecksumMismatch")
                ) =>
            {
                Self::ReplicaMismatch(format!(
                    "{failure}: the destination found the bytes are not the source's (checksum)"
                ))
            }
            (Side::Destination, K::NoSuchBucket) => Self::DstBucketNotFound(failure),
            (Side::Destination, _) if op == "GetBucketLocation" => {
                Self::DstBucketRegionUnknown(failure)
            }
            (Side::Destination, K::AclNotSupported) => Self::DstAclNotSupported(failure),
            (Side::Destination, K::AccessDenied) if is_read(op) => {
                Self::DstReadNotPermitted(failure)
            }
            (Side::Destination, K::AccessDenied) => Self::DstPutObjectNotPermitted(failure),
            (Side::Destination, _) if is_read(op) => Self::DstReadFailed(failure),
            (Side::Destination, _) => Self::DstPutObjectFailed(failure),
        }
    }

    /// Whether S3 refused the request on one of its conditions (412).
    pub fn is_precondition_failed(&self) -> bool {
        self.s3_failure()
            .is_some_and(|f| f.kind == S3FailureKind::PreconditionFailed)
    }

    /// The S3 answer behind this failure, when one is.
    pub fn s3_failure(&self) -> Option<&S3Failure> {
        match self {
            Self::SrcVersionNotFound(f)
            | Self::SrcObjectChanged(f)
            | Self::DstAclNotSupported(f)
            | Self::SrcHeadObjectNotPermitted(f)
            | Self::SrcGetObjectTaggingNotPermitted(f)
            | Self::SrcGetObjectAclNotPermitted(f)
            | Self::SrcObjectLockNotPermitted(f)
            | Self::SrcReadNotPermitted(f)
            | Self::SrcReadFailed(f)
            | Self::DstBucketNotFound(f)
            | Self::DstBucketRegionUnknown(f)
            | Self::DstPutObjectNotPermitted(f)
            | Self::DstPutObjectFailed(f)
            | Self::DstReadNotPermitted(f)
            | Self::DstReadFailed(f) => Some(f),
            _ => None,
        }
    }

    /// What the engine does about this failure.
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::SrcVersionNotFound(_) => Disposition::SourceGone,
            Self::SrcObjectChanged(_) => Disposition::SourceChanged,
            Self::DstAclNotSupported(_) => Disposition::AclUnsupported,
            Self::CopyInterrupted { .. } | Self::DeadlineReached | Self::NotConverged(_) => {
                Disposition::Retry
            }
            Self::ObjectTooLarge { .. }
            | Self::ReplicaMismatch(_)
            | Self::ListingNotAdvancing(_)
            | Self::SourceBucketNotAllowed(_) => Disposition::Fail,
            Self::DstPutObjectFailed(f) | Self::DstReadFailed(f)
                if f.kind == S3FailureKind::NotFound =>
            {
                // An upload aborted by a lifecycle rule or another invocation: start again.
                Disposition::Retry
            }
            Self::SrcHeadObjectNotPermitted(f)
            | Self::SrcGetObjectTaggingNotPermitted(f)
            | Self::SrcGetObjectAclNotPermitted(f)
            | Self::SrcObjectLockNotPermitted(f)
            | Self::SrcReadNotPermitted(f)
            | Self::SrcReadFailed(f)
            | Self::DstBucketNotFound(f)
            | Self::DstBucketRegionUnknown(f)
            | Self::DstPutObjectNotPermitted(f)
            | Self::DstPutObjectFailed(f)
            | Self::DstReadNotPermitted(f)
            | Self::DstReadFailed(f) => {
                if f.is_transient() {
                    Disposition::Retry
                } else {
                    Disposition::Fail
                }
            }
        }
    }
}

/// The side of the replication an S3 call is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Reads of the source bucket.
    Source,
    /// Reads and writes of a destination (including the copy calls, which read the source).
    Destination,
}

/// What a failure means for the work in hand: decided once, in [`ReplicationError::disposition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A retry can succeed (throttling, 5xx, network, an empty 200, the deadline): a multipart
    /// upload is kept for it.
    Retry,
    /// It will fail again until someone changes something: an upload of ours is aborted.
    Fail,
    /// The source version no longer exists: nothing is left to copy (a logged skip).
    SourceGone,
    /// An unversioned source was overwritten since the event: its own event copies it (a skip).
    SourceChanged,
    /// The destination bucket has ACLs disabled: write again without grants.
    AclUnsupported,
}

/// Destination operations that only read.
fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "HeadObject"
            | "ListObjectVersions"
            | "ListObjectsV2"
            | "ListMultipartUploads"
            | "ListParts"
            | "GetObjectTagging"
            | "GetObjectAcl"
    )
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

/// One record of the invocation that did not replicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    /// Position of the record in the event's `Records` array.
    pub index: usize,
    /// Bucket, key and version, as far as the record could be read.
    pub object: String,
    /// The destination bucket, when the failure is specific to one.
    pub destination: Option<String>,
    /// Stable failure code (`InvalidRecord` for records that could not be read).
    pub code: &'static str,
    /// Human-readable cause.
    pub message: String,
}

/// Why an invocation failed as a whole. Returning it makes Lambda retry the event.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum InvocationError {
    /// The payload is not an S3 event notification.
    #[error("payload is not an S3 event notification: {0}")]
    NotAnS3Event(String),
    /// A Batch Operations payload without what a response needs.
    #[error("invalid S3 Batch Operations payload: {0}")]
    InvalidBatchJob(String),
    /// Some records failed; the others were replicated.
    #[error("{} of {total} records failed: {}", failures.len(), describe(failures))]
    RecordsFailed {
        /// The number of records in the event.
        total: usize,
        /// Each failed record (a record may fail for several destinations).
        failures: Vec<RecordFailure>,
    },
    /// The work was not done a moment before the invocation's deadline (a call hung past the
    /// margin the engine keeps): the invocation fails, and Lambda retries it.
    #[error("the invocation's work was not done {0:?} before its deadline; it is retried")]
    DeadlineReached(std::time::Duration),
}

fn describe(failures: &[RecordFailure]) -> String {
    failures
        .iter()
        .map(|f| match &f.destination {
            Some(dst) => format!(
                "[record {} {} -> {dst}: {}: {}]",
                f.index, f.object, f.code, f.message
            ),
            None => format!(
                "[record {} {}: {}: {}]",
                f.index, f.object, f.code, f.message
            ),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl From<InvocationError> for Diagnostic {
    fn from(err: InvocationError) -> Self {
        let error_type = match &err {
            InvocationError::NotAnS3Event(_) => "NotAnS3Event",
            InvocationError::InvalidBatchJob(_) => "InvalidBatchJob",
            InvocationError::RecordsFailed { .. } => "RecordsFailed",
            InvocationError::DeadlineReached(_) => "DeadlineReached",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(operation: &'static str, code: Option<&str>, status: u16) -> S3Failure {
        S3Failure {
            operation,
            kind: S3FailureKind::of(code, Some(status)),
            code: code.map(str::to_owned),
            status: Some(status),
            message: String::new(),
        }
    }

    #[test]
    fn failure_classification_table() {
        use Disposition::*;
        use Side::*;
        #[rustfmt::skip]
        type Row = (Side, &'static str, Option<&'static str>, u16, &'static str, Disposition);
        let table: &[Row] = &[
            // 409s that ask for a retry: a Batch Operations TemporaryFailure, an upload kept.
            (
                Destination,
                "CompleteMultipartUpload",
                Some("ConditionalRequestConflict"),
                409,
                "DstPutObjectFailed",
                Retry,
            ),
            (
                Destination,
                "CopyObject",
                Some("OperationAborted"),
                409,
                "DstPutObjectFailed",
                Retry,
            ),
            (
                Destination,
                "PutObject",
                Some("BucketAlreadyOwnedByYou"),
                409,
                "DstPutObjectFailed",
                Fail,
            ),
            // A destination's NotFound is a retryable failure, never "source gone".
            (
                Destination,
                "CompleteMultipartUpload",
                Some("NoSuchUpload"),
                404,
                "DstPutObjectFailed",
                Retry,
            ),
            (
                Destination,
                "UploadPartCopy",
                Some("NoSuchUpload"),
                404,
                "DstPutObjectFailed",
                Retry,
            ),
            (Destination, "HeadObject", None, 404, "DstReadFailed", Retry),
            // The copy calls' own NoSuchKey / NoSuchVersion and If-Match are about the source.
            (
                Destination,
                "CopyObject",
                Some("NoSuchKey"),
                404,
                "SrcVersionNotFound",
                SourceGone,
            ),
            (
                Destination,
                "UploadPartCopy",
                Some("NoSuchVersion"),
                404,
                "SrcVersionNotFound",
                SourceGone,
            ),
            (
                Destination,
                "CopyObject",
                Some("PreconditionFailed"),
                412,
                "SrcObjectChanged",
                SourceChanged,
            ),
            (
                Destination,
                "CopyObject",
                Some("AccessDenied"),
                403,
                "DstPutObjectNotPermitted",
                Fail,
            ),
            (
                Destination,
                "ListParts",
                Some("AccessDenied"),
                403,
                "DstReadNotPermitted",
                Fail,
            ),
            (
                Destination,
                "CopyObject",
                Some("NoSuchBucket"),
                404,
                "DstBucketNotFound",
                Fail,
            ),
            (
                Destination,
                "PutObjectAcl",
                Some("AccessControlListNotSupported"),
                400,
                "DstAclNotSupported",
                AclUnsupported,
            ),
            (
                Destination,
                "UploadPartCopy",
                Some("SlowDown"),
                503,
                "DstPutObjectFailed",
                Retry,
            ),
            (
                Destination,
                "CopyObject",
                Some("InternalError"),
                500,
                "DstPutObjectFailed",
                Retry,
            ),
            // An empty 200 (no code) is retried, not taken as permanent.
            (
                Destination,
                "CopyObject",
                None,
                200,
                "DstPutObjectFailed",
                Retry,
            ),
            (
                Destination,
                "CopyObject",
                Some("InvalidRequest"),
                400,
                "DstPutObjectFailed",
                Fail,
            ),
            (
                Destination,
                "GetBucketLocation",
                Some("InternalError"),
                500,
                "DstBucketRegionUnknown",
                Retry,
            ),
            (
                Destination,
                "GetBucketLocation",
                Some("NoSuchBucket"),
                404,
                "DstBucketNotFound",
                Fail,
            ),
            (
                Source,
                "HeadObject",
                None,
                404,
                "SrcVersionNotFound",
                SourceGone,
            ),
            (
                Source,
                "HeadObject",
                None,
                403,
                "SrcHeadObjectNotPermitted",
                Fail,
            ),
            (
                Source,
                "HeadObject",
                None,
                412,
                "SrcObjectChanged",
                SourceChanged,
            ),
            (
                Source,
                "GetObjectTagging",
                Some("AccessDenied"),
                403,
                "SrcGetObjectTaggingNotPermitted",
                Fail,
            ),
            (
                Source,
                "GetObjectAcl",
                Some("AccessDenied"),
                403,
                "SrcGetObjectAclNotPermitted",
                Fail,
            ),
            (
                Source,
                "GetObjectRetention",
                Some("AccessDenied"),
                403,
                "SrcObjectLockNotPermitted",
                Fail,
            ),
            (
                Source,
                "GetObject",
                Some("AccessDenied"),
                403,
                "SrcReadNotPermitted",
                Fail,
            ),
            (
                Source,
                "GetObject",
                Some("SlowDown"),
                503,
                "SrcReadFailed",
                Retry,
            ),
        ];
        for (side, op, code, status, want_code, want) in table {
            let err = ReplicationError::classify(*side, failure(op, *code, *status));
            assert_eq!(
                (err.code(), err.disposition()),
                (*want_code, *want),
                "{side:?} {op} {code:?} {status}"
            );
        }
    }

    #[test]
    fn failure_message_keeps_the_operation_code_and_status() {
        let err = ReplicationError::classify(
            Side::Destination,
            failure("CopyObject", Some("AccessDenied"), 403),
        );
        assert!(err
            .to_string()
            .contains("CopyObject failed with AccessDenied (HTTP 403)"));
    }

    #[test]
    fn invocation_error_lists_every_failed_record_with_its_code() {
        let err = InvocationError::RecordsFailed {
            total: 3,
            failures: vec![
                RecordFailure {
                    index: 0,
                    object: "s3://a/k1?versionId=v1".into(),
                    destination: Some("b".into()),
                    code: "DstBucketNotFound",
                    message: "no bucket".into(),
                },
                RecordFailure {
                    index: 2,
                    object: "record 2".into(),
                    destination: None,
                    code: "InvalidRecord",
                    message: "missing s3.object.key".into(),
                },
            ],
        };
        let diag = Diagnostic::from(err);
        assert_eq!(diag.error_type, "RecordsFailed");
        assert!(diag.error_message.starts_with("2 of 3 records failed"));
        assert!(diag.error_message.contains("DstBucketNotFound"));
        assert!(diag
            .error_message
            .contains("record 2: InvalidRecord: missing s3.object.key"));
    }
}

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
    /// Anything else, including throttling and network failures after retries.
    Other,
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
    /// The invocation's time ran out during a multipart copy; the retry resumes the upload.
    #[error("the copy stopped before the function's deadline with {copied} of {total} parts; the retry resumes it")]
    CopyInterrupted {
        /// Parts copied so far.
        copied: usize,
        /// Parts in all.
        total: usize,
    },
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
            Self::SrcReadFailed(_) => "SrcReadFailed",
            Self::SrcObjectChanged(_) => "SrcObjectChanged",
            Self::DstBucketNotFound(_) => "DstBucketNotFound",
            Self::DstBucketRegionUnknown(_) => "DstBucketRegionUnknown",
            Self::DstPutObjectNotPermitted(_) => "DstPutObjectNotPermitted",
            Self::DstPutObjectFailed(_) => "DstPutObjectFailed",
            Self::ObjectTooLarge { .. } => "ObjectTooLarge",
            Self::ReplicaMismatch(_) => "ReplicaMismatch",
            Self::DstReadNotPermitted(_) => "DstReadNotPermitted",
            Self::DstReadFailed(_) => "DstReadFailed",
            Self::CopyInterrupted { .. } => "CopyInterrupted",
            Self::NotConverged(_) => "NotConverged",
        }
    }

    /// Classifies a failure to read the source in the step `read` (HEAD, tagging, ACL).
    pub fn from_source(failure: S3Failure, denied: fn(S3Failure) -> Self) -> Self {
        match failure.kind {
            S3FailureKind::NotFound => Self::SrcVersionNotFound(failure),
            S3FailureKind::AccessDenied => denied(failure),
            S3FailureKind::PreconditionFailed => Self::SrcObjectChanged(failure),
            _ => Self::SrcReadFailed(failure),
        }
    }

    /// Classifies a failure to read the destination.
    pub fn from_destination_read(failure: S3Failure) -> Self {
        match failure.kind {
            S3FailureKind::NoSuchBucket => Self::DstBucketNotFound(failure),
            S3FailureKind::AccessDenied => Self::DstReadNotPermitted(failure),
            _ => Self::DstReadFailed(failure),
        }
    }

    /// Classifies a failure of a write to the destination.
    pub fn from_destination(failure: S3Failure) -> Self {
        match failure.kind {
            S3FailureKind::NoSuchBucket => Self::DstBucketNotFound(failure),
            S3FailureKind::AccessDenied => Self::DstPutObjectNotPermitted(failure),
            S3FailureKind::PreconditionFailed => Self::SrcObjectChanged(failure),
            S3FailureKind::NotFound => Self::SrcVersionNotFound(failure),
            _ => Self::DstPutObjectFailed(failure),
        }
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
    /// Some records failed; the others were replicated.
    #[error("{} of {total} records failed: {}", failures.len(), describe(failures))]
    RecordsFailed {
        /// The number of records in the event.
        total: usize,
        /// Each failed record (a record may fail for several destinations).
        failures: Vec<RecordFailure>,
    },
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
            InvocationError::RecordsFailed { .. } => "RecordsFailed",
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

    fn denied(op: &'static str) -> S3Failure {
        S3Failure {
            operation: op,
            kind: S3FailureKind::AccessDenied,
            code: Some("AccessDenied".into()),
            status: Some(403),
            message: "Access Denied".into(),
        }
    }

    #[test]
    fn access_denied_on_destination_maps_to_dst_put_object_not_permitted() {
        let err = ReplicationError::from_destination(denied("CopyObject"));
        assert_eq!(err.code(), "DstPutObjectNotPermitted");
        assert!(err
            .to_string()
            .contains("CopyObject failed with AccessDenied (HTTP 403)"));
    }

    #[test]
    fn access_denied_on_source_head_maps_to_its_own_code() {
        let err = ReplicationError::from_source(
            denied("HeadObject"),
            ReplicationError::SrcHeadObjectNotPermitted,
        );
        assert_eq!(err.code(), "SrcHeadObjectNotPermitted");
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

//! Failure codes for one replication, modelled on S3's own replication failure reasons, and the
//! invocation-level error that makes Lambda retry and, in the end, use the on-failure destination.
//! The S3 answer behind a failure is in `s3`, the invocation's error in `invocation`; here, the one
//! classification of a failure and what the engine does about it.

mod invocation;
mod s3;

pub use invocation::{InvocationError, RecordFailure, DEADLINE_EXCEEDED};
pub use s3::{S3Failure, S3FailureKind};

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
    /// The source bucket does not exist (a tool's `--bucket`, a task's bucket).
    #[error("source bucket not found: {0}")]
    SrcBucketNotFound(S3Failure),
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
    /// The event, task or command names a bucket outside `SOURCE_BUCKETS`: this deployment does
    /// not act on it.
    #[error("bucket {0:?} is not one of this function's source buckets (SOURCE_BUCKETS); nothing was done")]
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
            Self::SrcBucketNotFound(_) => "SrcBucketNotFound",
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
            (Side::Source, K::NoSuchBucket) => Self::SrcBucketNotFound(failure),
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

    /// The same S3 failure classified as the source's: a call made the way a destination's is
    /// (a bucket's region, looked up and cached alike) for a bucket that is read.
    pub fn as_source(self) -> Self {
        match self.s3_failure() {
            Some(f) => Self::classify(Side::Source, f.clone()),
            None => self,
        }
    }

    /// Whether S3 refused the request on one of its conditions (412).
    pub fn is_precondition_failed(&self) -> bool {
        self.s3_failure()
            .is_some_and(|f| f.kind == S3FailureKind::PreconditionFailed)
    }

    /// Whether S3 answered that the key holds no object (404 NoSuchKey): to a write on
    /// `If-Match`, the destination's object was deleted since it was read.
    pub fn is_no_such_key(&self) -> bool {
        self.s3_failure()
            .is_some_and(|f| f.status == Some(404) && f.code.as_deref() == Some("NoSuchKey"))
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
            | Self::SrcBucketNotFound(f)
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
            | Self::SrcBucketNotFound(f)
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

#[cfg(test)]
mod tests;

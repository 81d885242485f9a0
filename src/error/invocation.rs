//! The invocation-level error: which records failed, and what Lambda is told so that it retries
//! the event and, in the end, uses the on-failure destination.

use lambda_runtime::Diagnostic;

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
    #[error(
        "{} of {total} records failed: {}",
        records(failures),
        describe(failures)
    )]
    RecordsFailed {
        /// The number of records in the event.
        total: usize,
        /// Each failed record (a record may fail for several destinations).
        failures: Vec<RecordFailure>,
    },
    /// The work was not done a moment before the invocation's deadline (a call hung past the
    /// margin the engine keeps): the invocation fails, naming each record not done (code
    /// [`DEADLINE_EXCEEDED`]) beside any that failed, and Lambda retries it.
    #[error("the invocation's work was not done {margin:?} before its deadline; it is retried: {} of {total} records failed: {}", records(failures), describe(failures))]
    DeadlineReached {
        /// How long before the deadline the invocation answered.
        margin: std::time::Duration,
        /// The number of records in the event.
        total: usize,
        /// Each record not done or failed.
        failures: Vec<RecordFailure>,
    },
}

/// The failure code of a record (at a destination) still in work when the invocation had to
/// answer: a call hung past the engine's own margin.
pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";

/// How many records `failures` name (a record may fail at several destinations).
fn records(failures: &[RecordFailure]) -> usize {
    let mut indices: Vec<usize> = failures.iter().map(|f| f.index).collect();
    indices.sort_unstable();
    indices.dedup();
    indices.len()
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
            InvocationError::DeadlineReached { .. } => "DeadlineReached",
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

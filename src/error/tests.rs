//! The classification table: every failed S3 call, by side, operation and cause, to its failure
//! code and disposition.

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
        // A tool's --bucket mistyped: the source's bucket, not a destination's.
        (
            Source,
            "GetBucketLocation",
            Some("NoSuchBucket"),
            404,
            "SrcBucketNotFound",
            Fail,
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

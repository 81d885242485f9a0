//! A multipart copy: CreateMultipartUpload (all metadata), UploadPartCopy in parallel (each part
//! pinned to the source version and its ETag), CompleteMultipartUpload. For a destination on
//! another endpoint the parts are streamed instead (ranged GetObject, UploadPart).
//!
//! When the layout is the source's own and part ETags are MD5s, the upload's ETag is computed from
//! its parts before Complete and must equal the source's, so a wrong replica is never written.
//! That same check makes resuming safe: an upload left by an interrupted invocation is found
//! again (ListMultipartUploads + ListParts) and only its missing parts are copied. A permanent
//! failure aborts the upload; a deadline or a transient failure leaves it for the retry (the
//! destination's lifecycle rule removes uploads nobody finishes).

use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use tracing::{info, warn};

use crate::error::S3Failure;
use crate::store::{CopyRequest, DestinationStore, SourceStore, Written};

/// How one multipart copy is made.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// `[start, end)` byte ranges of the parts.
    pub layout: &'a [(u64, u64)],
    /// Tags for the replica (an upload cannot copy them server-side).
    pub tags: &'a [(String, String)],
    /// Parts copied at once.
    pub concurrency: usize,
    /// The source's ETag, when the layout is the source's own and parts are MD5-tagged (no
    /// KMS): the upload is checked against it before Complete, and may be resumed.
    pub expected_etag: Option<&'a str>,
    /// No part is started at or after this instant.
    pub stop_at: Option<Instant>,
}

/// Why a multipart copy did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An S3 call failed.
    S3(S3Failure),
    /// The deadline came first; the upload is left for the retry to resume.
    Interrupted {
        /// Parts the upload has.
        copied: usize,
        /// Parts it needs.
        total: usize,
    },
    /// The parts do not make the source's ETag; the upload was aborted.
    Mismatch(String),
}

impl From<S3Failure> for Error {
    fn from(f: S3Failure) -> Self {
        Self::S3(f)
    }
}

/// Where the parts' bytes come from.
pub enum Transfer<'a, S> {
    /// UploadPartCopy: S3 copies the bytes itself.
    ServerSide,
    /// Ranged GetObject from the source, then UploadPart: for destinations on another endpoint.
    /// At most `concurrency` parts are held in memory at once.
    Streamed {
        /// The source store.
        source: &'a S,
        /// The source's region.
        region: &'a str,
    },
}

// Copy whatever the store type: only a reference is held.
impl<S> Clone for Transfer<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Transfer<'_, S> {}

/// Copies `request`'s source into its target in the parts of `plan`.
pub async fn copy<D: DestinationStore, S: SourceStore>(
    destination: &D,
    transfer: Transfer<'_, S>,
    request: &CopyRequest,
    plan: Plan<'_>,
) -> Result<Written, Error> {
    let target = &request.target;
    let resumed = match plan.expected_etag {
        Some(_) => resume_point(destination, request, plan.layout).await?,
        None => None,
    };
    let (upload_id, mut done) = match resumed {
        Some((id, done)) => {
            info!(bucket = %target.bucket, key = %target.key, upload_id = %id, parts = done.len(),
                  total = plan.layout.len(), "resuming an interrupted multipart copy");
            (id, done)
        }
        None => (
            destination.create_multipart(target, plan.tags).await?,
            Vec::new(),
        ),
    };
    let missing: Vec<(u32, (u64, u64))> = (1..)
        .zip(plan.layout.iter().copied())
        .filter(|(n, _)| !done.iter().any(|(d, _)| d == n))
        .collect();
    let upload = upload_id.as_str();
    let copied = stream::iter(missing)
        .map(|(number, range)| async move {
            if plan.stop_at.is_some_and(|stop| Instant::now() >= stop) {
                return Ok(None);
            }
            let etag = match transfer {
                Transfer::ServerSide => {
                    destination
                        .upload_part_copy(request, upload, number, range)
                        .await?
                }
                Transfer::Streamed { source, region } => {
                    let if_match = request.source_if_match.as_deref();
                    let bytes = source
                        .read(region, &request.source, if_match, Some(range))
                        .await?;
                    destination
                        .upload_part(&request.target, upload, number, bytes)
                        .await?
                }
            };
            Ok(Some((number, etag)))
        })
        .buffer_unordered(plan.concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    match copied {
        Ok(parts) => done.extend(parts.into_iter().flatten()),
        Err(f) => {
            if permanent(&f) {
                abort(destination, request, upload).await;
            }
            return Err(Error::S3(f));
        }
    }
    if done.len() < plan.layout.len() {
        return Err(Error::Interrupted {
            copied: done.len(),
            total: plan.layout.len(),
        });
    }
    done.sort_by_key(|(n, _)| *n);
    if let Some(expected) = plan.expected_etag {
        let made = multipart_etag(&done);
        if made.as_deref() != Some(expected) {
            abort(destination, request, upload).await;
            return Err(Error::Mismatch(format!(
                "the upload's parts make ETag {}, not the source's {expected}",
                made.unwrap_or_else(|| "(unreadable part ETags)".to_owned())
            )));
        }
    }
    match destination.complete_multipart(target, upload, &done).await {
        Ok(written) => Ok(written),
        Err(f) => {
            if permanent(&f) {
                abort(destination, request, upload).await;
            }
            Err(Error::S3(f))
        }
    }
}

/// An upload in progress for this key whose parts fit the layout (the one furthest along).
async fn resume_point<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    layout: &[(u64, u64)],
) -> Result<Option<(String, Vec<(u32, String)>)>, S3Failure> {
    let mut best: Option<(String, Vec<(u32, String)>)> = None;
    for id in destination.list_uploads(&request.target).await? {
        let fitting: Vec<(u32, String)> = destination
            .list_parts(&request.target, &id)
            .await?
            .into_iter()
            .filter(|(n, size, _)| {
                layout
                    .get(*n as usize - 1)
                    .is_some_and(|(start, end)| end - start == *size)
            })
            .map(|(n, _, etag)| (n, etag))
            .collect();
        if best.as_ref().is_none_or(|(_, b)| fitting.len() > b.len()) {
            best = Some((id, fitting));
        }
    }
    Ok(best)
}

/// The ETag S3 gives a multipart upload: MD5 of the parts' binary MD5s, then `-N`.
pub fn multipart_etag(parts: &[(u32, String)]) -> Option<String> {
    let mut md5 = Md5::new();
    for (_, etag) in parts {
        md5.update(hex::decode(etag.trim_matches('"')).ok()?);
    }
    Some(format!(
        "\"{}-{}\"",
        hex::encode(md5.finalize()),
        parts.len()
    ))
}

/// Throttling, 5xx and network failures may pass: keep the upload for the retry.
fn permanent(f: &S3Failure) -> bool {
    let transient_code = matches!(
        f.code.as_deref(),
        Some("SlowDown" | "RequestTimeout" | "InternalError" | "ServiceUnavailable")
    );
    !(transient_code || f.status.is_none_or(|s| s >= 500))
}

async fn abort<D: DestinationStore>(destination: &D, request: &CopyRequest, upload_id: &str) {
    let target = &request.target;
    if let Err(e) = destination.abort_multipart(target, upload_id).await {
        warn!(bucket = %target.bucket, key = %target.key, upload_id = %upload_id, error = %e,
              "could not abort the failed upload; the bucket's lifecycle rule removes it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::S3FailureKind;

    #[test]
    fn multipart_etag_matches_s3s_formula() {
        // Two parts whose MD5s are those of "a" and "b".
        let parts = vec![
            (1, "\"0cc175b9c0f1b6a831c399e269772661\"".to_owned()),
            (2, "\"92eb5ffee6ae2fec3ad71c777531578f\"".to_owned()),
        ];
        let mut md5 = Md5::new();
        md5.update(hex::decode("0cc175b9c0f1b6a831c399e269772661").unwrap());
        md5.update(hex::decode("92eb5ffee6ae2fec3ad71c777531578f").unwrap());
        let expected = format!("\"{}-2\"", hex::encode(md5.finalize()));
        assert_eq!(multipart_etag(&parts), Some(expected));
        assert_eq!(multipart_etag(&[(1, "\"not-hex\"".to_owned())]), None);
    }

    #[test]
    fn throttling_keeps_the_upload_and_denial_aborts_it() {
        let failure = |code: &str, status| S3Failure {
            operation: "UploadPartCopy",
            kind: S3FailureKind::Other,
            code: Some(code.to_owned()),
            status,
            message: String::new(),
        };
        assert!(!permanent(&failure("SlowDown", Some(503))));
        assert!(!permanent(&failure("Unknown", None)));
        assert!(permanent(&failure("AccessDenied", Some(403))));
        assert!(permanent(&failure("NoSuchBucket", Some(404))));
    }
}

//! A multipart copy: CreateMultipartUpload (all metadata), UploadPartCopy in parallel (each part
//! pinned to the source version, and to its ETag), CompleteMultipartUpload. Any failure aborts the
//! upload, so no incomplete upload is left behind (the destination's lifecycle rule is the safety
//! net for a function that is killed mid-copy).

use futures::stream::{self, StreamExt, TryStreamExt};
use tracing::warn;

use crate::error::S3Failure;
use crate::store::{CopyRequest, DestinationStore, Written};

/// Copies `request`'s source into its target in parts of `layout` (`[start, end)` ranges).
pub async fn copy<D: DestinationStore>(
    destination: &D,
    request: &CopyRequest,
    tags: &[(String, String)],
    layout: &[(u64, u64)],
    concurrency: usize,
) -> Result<Written, S3Failure> {
    let upload_id = destination.create_multipart(&request.target, tags).await?;
    let parts = stream::iter(layout.iter().enumerate())
        .map(|(i, range)| {
            let number = i as u32 + 1;
            let upload_id = upload_id.as_str();
            async move {
                destination
                    .upload_part_copy(request, upload_id, number, *range)
                    .await
                    .map(|etag| (number, etag))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<_>>()
        .await;
    let result = match parts {
        Ok(mut parts) => {
            parts.sort_by_key(|(n, _)| *n);
            destination
                .complete_multipart(&request.target, &upload_id, &parts)
                .await
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        if let Err(abort) = destination
            .abort_multipart(&request.target, &upload_id)
            .await
        {
            warn!(bucket = %request.target.bucket, key = %request.target.key, upload_id = %upload_id,
                  error = %abort, "could not abort the failed upload; the bucket's lifecycle rule removes it");
        }
    }
    result
}

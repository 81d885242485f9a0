//! Multipart uploads of replicas: create, parts from bytes or by copy, complete, list, abort.

use aws_sdk_s3::types::ChecksumType;

use super::body::{retryable, without_checksum_trailer};
use super::errors::{failure, missing, not_advancing};
use super::listings::listed_key;
use super::{checksum_algorithm, copy_source, tagging_header, AwsS3};
use crate::error::S3Failure;
use crate::store::{Body, CopyRequest, ReplicaSpec, UploadedPart, Written};

/// A part's checksum in the upload's algorithm, from an answer's checksums in the order CRC32,
/// CRC32C, CRC64NVME, SHA1, SHA256.
fn part_checksum(target: &ReplicaSpec, values: [Option<&str>; 5]) -> Option<String> {
    let index = match target.checksum.as_ref()?.algorithm.as_str() {
        "CRC32" => 0,
        "CRC32C" => 1,
        "CRC64NVME" => 2,
        "SHA1" => 3,
        "SHA256" => 4,
        _ => return None,
    };
    values[index].map(str::to_owned)
}

/// CreateMultipartUpload with everything but the bytes.
pub(super) async fn create(
    s3: &AwsS3,
    target: &ReplicaSpec,
    tags: &[(String, String)],
) -> Result<String, S3Failure> {
    let mut create = s3
        .client_at(&target.region, target.endpoint.as_deref())
        .create_multipart_upload()
        // As asked: S3 refuses FULL_OBJECT for SHA-1 / SHA-256, which the copy never asks.
        .set_checksum_type(target.checksum.as_ref().map(|c| {
            if c.full_object {
                ChecksumType::FullObject
            } else {
                ChecksumType::Composite
            }
        }));
    create = apply_replica_spec!(create, target);
    if !tags.is_empty() {
        create = create.tagging(tagging_header(tags));
    }
    let out =
        send_with_expires!(create, target).map_err(|e| failure("CreateMultipartUpload", e))?;
    out.upload_id()
        .map(str::to_owned)
        .ok_or_else(|| missing("CreateMultipartUpload", "UploadId"))
}

/// UploadPart from bytes (streamed destinations).
pub(super) async fn upload_part(
    s3: &AwsS3,
    target: &ReplicaSpec,
    upload_id: &str,
    number: u32,
    body: Body,
) -> Result<UploadedPart, S3Failure> {
    let length = body.length as i64;
    let body = retryable(body).await?;
    // See `body`: a streamed part to a server AWS does not run goes without the checksum
    // trailer (the caller proves its bytes by the part's ETag).
    let plain = body.plain_to(s3.url_of(target.endpoint.as_deref()));
    let upload = s3
        .client_at(&target.region, target.endpoint.as_deref())
        .upload_part()
        .set_checksum_algorithm(checksum_algorithm(target).filter(|_| !plain))
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(upload_id)
        .part_number(number as i32)
        .content_length(length)
        .body(body.stream)
        .set_expected_bucket_owner(target.expected_bucket_owner.clone());
    let out = match plain {
        true => {
            let upload = upload
                .customize()
                .config_override(without_checksum_trailer());
            upload.send().await
        }
        false => upload.send().await,
    };
    let out = out.map_err(|e| failure("UploadPart", e))?;
    Ok(UploadedPart {
        etag: out
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| missing("UploadPart", "ETag"))?,
        checksum: part_checksum(
            target,
            [
                out.checksum_crc32(),
                out.checksum_crc32_c(),
                out.checksum_crc64_nvme(),
                out.checksum_sha1(),
                out.checksum_sha256(),
            ],
        ),
        kms: matches!(
            out.server_side_encryption(),
            Some(
                aws_sdk_s3::types::ServerSideEncryption::AwsKms
                    | aws_sdk_s3::types::ServerSideEncryption::AwsKmsDsse
            )
        ),
        written: None,
    })
}

/// The SDK's stalled-stream protection does not fit UploadPartCopy: S3 answers its headers at
/// once and the body only when the copy is done, so a part that takes longer than the grace
/// period (20 s) to copy (a 5 GiB part always does) is cut off as a stalled download and retried,
/// again and again: it would never land. The SDK exempts CopyObject; this does the same here
/// (smithy-lang/smithy-rs#4439). The time margin, not the SDK, bounds how long a part may take.
pub(super) fn without_stall_protection() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .stalled_stream_protection(aws_sdk_s3::config::StalledStreamProtectionConfig::disabled())
}

/// UploadPartCopy of one byte range of the source version.
pub(super) async fn upload_part_copy(
    s3: &AwsS3,
    request: &CopyRequest,
    upload_id: &str,
    number: u32,
    (start, end): (u64, u64),
) -> Result<UploadedPart, S3Failure> {
    let target = &request.target;
    // An empty part (an object uploaded as one empty part) has no byte range to name: it is
    // uploaded empty, the same part ETag (the MD5 of no bytes).
    if end <= start {
        return upload_part(s3, target, upload_id, number, Body::from_bytes(Vec::new())).await;
    }
    let out = s3
        .client_at(&target.region, target.endpoint.as_deref())
        .upload_part_copy()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(upload_id)
        .part_number(number as i32)
        .copy_source(copy_source(&request.source))
        .copy_source_range(format!("bytes={start}-{}", end - 1))
        .set_copy_source_if_match(request.source_if_match.clone())
        .set_expected_bucket_owner(target.expected_bucket_owner.clone())
        .customize()
        .config_override(without_stall_protection())
        // The request has no body; Ceph RGW refuses one without its length (411).
        .mutate_request(|r| {
            r.headers_mut().insert("content-length", "0");
        })
        .send()
        .await
        .map_err(|e| failure("UploadPartCopy", e))?;
    let result = out
        .copy_part_result()
        .ok_or_else(|| missing("UploadPartCopy", "CopyPartResult"))?;
    Ok(UploadedPart {
        etag: result
            .e_tag()
            .map(quoted)
            .ok_or_else(|| missing("UploadPartCopy", "CopyPartResult ETag"))?,
        checksum: part_checksum(
            target,
            [
                result.checksum_crc32(),
                result.checksum_crc32_c(),
                result.checksum_crc64_nvme(),
                result.checksum_sha1(),
                result.checksum_sha256(),
            ],
        ),
        kms: false,
        written: None,
    })
}

/// CompleteMultipartUpload, repeating each part's checksum in the upload's algorithm.
pub(super) async fn complete(
    s3: &AwsS3,
    target: &ReplicaSpec,
    upload_id: &str,
    parts: &[(u32, UploadedPart)],
) -> Result<Written, S3Failure> {
    let algorithm = target.checksum.as_ref().map(|c| c.algorithm.as_str());
    let completed = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .set_parts(Some(
            parts
                .iter()
                .map(|(n, part)| {
                    let done = aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(*n as i32)
                        .e_tag(&part.etag);
                    // Each part's checksum is repeated, in the upload's algorithm.
                    let value = part.checksum.clone();
                    match algorithm {
                        Some("CRC32") => done.set_checksum_crc32(value),
                        Some("CRC32C") => done.set_checksum_crc32_c(value),
                        Some("CRC64NVME") => done.set_checksum_crc64_nvme(value),
                        Some("SHA1") => done.set_checksum_sha1(value),
                        Some("SHA256") => done.set_checksum_sha256(value),
                        _ => done,
                    }
                    .build()
                })
                .collect(),
        ))
        .build();
    let mut complete = s3
        .client_at(&target.region, target.endpoint.as_deref())
        .complete_multipart_upload()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(upload_id)
        .multipart_upload(completed)
        .set_expected_bucket_owner(target.expected_bucket_owner.clone());
    // The source's full-object checksum goes with Complete: the destination checks the bytes
    // it assembled against it and refuses the upload (BadDigest) if they are not the source's.
    if let Some(c) = target.checksum.as_ref().filter(|c| c.full_object) {
        let value = Some(c.value.clone());
        complete = match c.algorithm.as_str() {
            "CRC32" => complete.set_checksum_crc32(value),
            "CRC32C" => complete.set_checksum_crc32_c(value),
            "CRC64NVME" => complete.set_checksum_crc64_nvme(value),
            _ => complete,
        }
        .checksum_type(ChecksumType::FullObject);
    }
    let out = apply_condition!(complete, target)
        .send()
        .await
        .map_err(|e| failure("CompleteMultipartUpload", e))?;
    let etag = out
        .e_tag()
        .ok_or_else(|| missing("CompleteMultipartUpload", "ETag"))?;
    let version_id = out.version_id().map(str::to_owned);
    if etag.is_empty() {
        // Ceph RGW answers an empty ETag; the object's HEAD has it.
        return completed_etag(s3, target, version_id).await;
    }
    Ok(Written {
        etag: quoted(etag),
        version_id,
    })
}

/// The ETag of an upload just completed, read from its HEAD (the version Complete named, or
/// the key's current one).
async fn completed_etag(
    s3: &AwsS3,
    target: &ReplicaSpec,
    version_id: Option<String>,
) -> Result<Written, S3Failure> {
    let out = s3
        .client_at(&target.region, target.endpoint.as_deref())
        .head_object()
        .bucket(&target.bucket)
        .key(&target.key)
        .set_version_id(version_id.clone())
        .set_expected_bucket_owner(target.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| failure("HeadObject", e))?;
    Ok(Written {
        etag: out
            .e_tag()
            .map(quoted)
            .ok_or_else(|| missing("CompleteMultipartUpload", "ETag"))?,
        version_id: version_id.or_else(|| out.version_id().map(str::to_owned)),
    })
}

/// An ETag in S3's quoted form: Ceph RGW answers CopyObject's and UploadPartCopy's unquoted.
pub(super) fn quoted(etag: &str) -> String {
    match etag.starts_with('"') {
        true => etag.to_owned(),
        false => format!("\"{etag}\""),
    }
}

/// The uploads in progress for exactly the target's key, every page.
pub(super) async fn list_uploads(
    s3: &AwsS3,
    target: &ReplicaSpec,
) -> Result<Vec<String>, S3Failure> {
    let client = s3.client_at(&target.region, target.endpoint.as_deref());
    let mut ids = Vec::new();
    let (mut key_marker, mut id_marker) = (None, None);
    loop {
        let page = client
            .list_multipart_uploads()
            .bucket(&target.bucket)
            .prefix(&target.key)
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .set_key_marker(key_marker.take())
            .set_upload_id_marker(id_marker.take())
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("ListMultipartUploads", e))?;
        let key_of = |raw| listed_key("ListMultipartUploads", page.encoding_type(), raw);
        for upload in page.uploads() {
            if let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) {
                if key_of(key)? == target.key {
                    ids.push(id.to_owned());
                }
            }
        }
        if page.is_truncated() != Some(true) {
            return Ok(ids);
        }
        key_marker = page.next_key_marker().map(key_of).transpose()?;
        id_marker = page.next_upload_id_marker().map(str::to_owned);
        if key_marker.is_none() && id_marker.is_none() {
            return Err(not_advancing("ListMultipartUploads"));
        }
    }
}

/// The parts an upload has, every page.
pub(super) async fn list_parts(
    s3: &AwsS3,
    target: &ReplicaSpec,
    upload_id: &str,
) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
    let client = s3.client_at(&target.region, target.endpoint.as_deref());
    let mut parts = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_parts()
            .bucket(&target.bucket)
            .key(&target.key)
            .upload_id(upload_id)
            .set_part_number_marker(marker.take())
            .set_expected_bucket_owner(target.expected_bucket_owner.clone())
            .send()
            .await
            .map_err(|e| failure("ListParts", e))?;
        parts.extend(page.parts().iter().filter_map(|p| {
            Some((
                u32::try_from(p.part_number()?).ok()?,
                u64::try_from(p.size()?).ok()?,
                UploadedPart {
                    etag: p.e_tag()?.to_owned(),
                    checksum: part_checksum(
                        target,
                        [
                            p.checksum_crc32(),
                            p.checksum_crc32_c(),
                            p.checksum_crc64_nvme(),
                            p.checksum_sha1(),
                            p.checksum_sha256(),
                        ],
                    ),
                    kms: false,
                    written: p
                        .last_modified()
                        .and_then(|d| std::time::SystemTime::try_from(*d).ok()),
                },
            ))
        }));
        if page.is_truncated() != Some(true) {
            return Ok(parts);
        }
        marker = page.next_part_number_marker().map(str::to_owned);
        if marker.is_none() {
            return Err(not_advancing("ListParts"));
        }
    }
}

/// AbortMultipartUpload.
pub(super) async fn abort(
    s3: &AwsS3,
    target: &ReplicaSpec,
    upload_id: &str,
) -> Result<(), S3Failure> {
    s3.client_at(&target.region, target.endpoint.as_deref())
        .abort_multipart_upload()
        .bucket(&target.bucket)
        .key(&target.key)
        .upload_id(upload_id)
        .set_expected_bucket_owner(target.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|e| failure("AbortMultipartUpload", e))?;
    Ok(())
}

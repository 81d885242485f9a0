//! The in-memory S3 as the destination store: copies, puts, multipart uploads, deletes, tags and
//! ACLs.

use super::*;
use crate::store::TargetEncryption;

/// A part as S3 acknowledges it for an upload created with `spec`: under SSE-KMS its ETag is no
/// MD5 of its bytes; with a checksum algorithm, its checksum in that algorithm.
fn part_of(spec: &ReplicaSpec, bytes: &[u8]) -> UploadedPart {
    let kms = matches!(spec.encryption, TargetEncryption::Kms { .. });
    let etag = match kms {
        true => md5_etag(&[b"sse-kms ".as_slice(), bytes].concat()),
        false => md5_etag(bytes),
    };
    UploadedPart {
        etag,
        checksum: spec
            .checksum
            .as_ref()
            .and_then(|c| crate::copy::multipart::checksum_of(&c.algorithm, bytes)),
        kms,
        written: None,
    }
}

fn no_upload(op: &'static str) -> S3Failure {
    fail(op, S3FailureKind::NotFound, "NoSuchUpload", 404)
}

impl DestinationStore for FakeS3 {
    async fn bucket_region(&self, bucket: &str) -> Result<String, S3Failure> {
        let _call = self.call().await;
        Ok(self
            .state()
            .bucket("GetBucketLocation", bucket)?
            .region
            .clone())
    }

    async fn copy_object(&self, request: &CopyRequest) -> Result<Written, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let source = &request.source;
        state.injected("CopyObject")?;
        let s = state.pinned("CopyObject", source, request.source_if_match.as_deref())?;
        let target = &request.target;
        let mut copy = object(
            s.body.clone(),
            s.head.etag.clone(),
            s.parts.clone(),
            Some(target),
        );
        copy.tags = match &target.tags {
            TagsPlan::FromSource => s.tags.clone(),
            TagsPlan::Set(tags) => tags.clone(),
        };
        state.condition_holds(
            "CopyObject",
            &target.bucket,
            &target.key,
            target.condition.as_ref(),
        )?;
        state.store("ObjectCreated:Copy", &target.bucket, &target.key, copy)
    }

    async fn put_object(
        &self,
        target: &ReplicaSpec,
        body: Body,
        tags: &[(String, String)],
    ) -> Result<Written, S3Failure> {
        let _call = self.call().await;
        let bytes = bytes_of(body).await?;
        let etag = md5_etag(&bytes);
        let size = bytes.len() as u64;
        let mut stored = object(bytes, etag, vec![size], Some(target));
        stored.tags = tags.to_vec();
        let mut state = self.state();
        state.injected("PutObject")?;
        state.condition_holds(
            "PutObject",
            &target.bucket,
            &target.key,
            target.condition.as_ref(),
        )?;
        state.store("ObjectCreated:Put", &target.bucket, &target.key, stored)
    }

    async fn upload_part(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        number: u32,
        body: Body,
    ) -> Result<UploadedPart, S3Failure> {
        let _call = self.call().await;
        let bytes = bytes_of(body).await?;
        let mut state = self.state();
        state.injected("UploadPart")?;
        let written = state.now();
        let upload = state
            .bucket("UploadPart", &target.bucket)?
            .uploads
            .get_mut(upload_id)
            .ok_or_else(|| no_upload("UploadPart"))?;
        let part = part_of(&upload.spec, &bytes);
        let listed = UploadedPart {
            written: Some(written),
            ..part.clone()
        };
        upload.parts.insert(number, (bytes, listed));
        Ok(part)
    }

    async fn create_multipart(
        &self,
        target: &ReplicaSpec,
        tags: &[(String, String)],
    ) -> Result<String, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        // As S3: a full-object checksum of a multipart upload is a CRC's only.
        if target
            .checksum
            .as_ref()
            .is_some_and(|c| c.full_object && matches!(c.algorithm.as_str(), "SHA1" | "SHA256"))
        {
            return Err(fail(
                "CreateMultipartUpload",
                S3FailureKind::InvalidRequest,
                "InvalidRequest",
                400,
            ));
        }
        let id = format!("upload-{}", state.id());
        let initiated = state.now_millis();
        state
            .bucket("CreateMultipartUpload", &target.bucket)?
            .uploads
            .insert(
                id.clone(),
                Upload {
                    key: target.key.clone(),
                    initiated,
                    spec: target.clone(),
                    tags: tags.to_vec(),
                    parts: BTreeMap::new(),
                },
            );
        Ok(id)
    }

    async fn upload_part_copy(
        &self,
        request: &CopyRequest,
        upload_id: &str,
        number: u32,
        (start, end): (u64, u64),
    ) -> Result<UploadedPart, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let source = &request.source;
        state.injected("UploadPartCopy")?;
        let written = state.now();
        let s = state.pinned("UploadPartCopy", source, request.source_if_match.as_deref())?;
        let bytes = s.body[start as usize..end as usize].to_vec();
        let upload = state
            .bucket("UploadPartCopy", &request.target.bucket)?
            .uploads
            .get_mut(upload_id)
            .ok_or_else(|| no_upload("UploadPartCopy"))?;
        let part = part_of(&upload.spec, &bytes);
        let listed = UploadedPart {
            written: Some(written),
            ..part.clone()
        };
        upload.parts.insert(number, (bytes, listed));
        Ok(part)
    }

    async fn complete_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
        parts: &[(u32, UploadedPart)],
    ) -> Result<Written, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        state.injected("CompleteMultipartUpload")?;
        state.condition_holds(
            "CompleteMultipartUpload",
            &target.bucket,
            &target.key,
            target.condition.as_ref(),
        )?;
        let upload = state
            .bucket("CompleteMultipartUpload", &target.bucket)?
            .uploads
            .remove(upload_id)
            .ok_or_else(|| no_upload("CompleteMultipartUpload"))?;
        let mut body = Vec::new();
        let mut sizes = Vec::new();
        for (n, part) in parts {
            let Some((bytes, stored)) = upload.parts.get(n).filter(|(_, p)| p.etag == part.etag)
            else {
                return Err(fail(
                    "CompleteMultipartUpload",
                    S3FailureKind::InvalidRequest,
                    "InvalidPart",
                    400,
                ));
            };
            debug_assert_eq!(stored.etag, part.etag);
            body.extend_from_slice(bytes);
            sizes.push(bytes.len() as u64);
        }
        let etags: Vec<(u32, String)> = parts.iter().map(|(n, p)| (*n, p.etag.clone())).collect();
        let etag = multipart_etag(&etags).unwrap_or_default();
        let mut stored = object(body, etag, sizes, Some(&upload.spec));
        stored.tags = upload.tags;
        // As S3: stamped with the upload's initiation, stacked where it completes.
        state.store_stamped(
            "ObjectCreated:CompleteMultipartUpload",
            &target.bucket,
            &upload.key,
            stored,
            upload.initiated,
        )
    }

    async fn list_uploads(&self, target: &ReplicaSpec) -> Result<Vec<String>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let b = state.bucket("ListMultipartUploads", &target.bucket)?;
        Ok(b.uploads
            .iter()
            .filter(|(_, u)| u.key == target.key)
            .map(|(id, _)| id.clone())
            .collect())
    }

    async fn list_parts(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<Vec<(u32, u64, UploadedPart)>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let upload = state
            .bucket("ListParts", &target.bucket)?
            .uploads
            .get(upload_id)
            .ok_or_else(|| no_upload("ListParts"))?;
        Ok(upload
            .parts
            .iter()
            .map(|(n, (bytes, part))| (*n, bytes.len() as u64, part.clone()))
            .collect())
    }

    async fn abort_multipart(
        &self,
        target: &ReplicaSpec,
        upload_id: &str,
    ) -> Result<(), S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        state
            .bucket("AbortMultipartUpload", &target.bucket)?
            .uploads
            .remove(upload_id)
            .map(|_| ())
            .ok_or_else(|| no_upload("AbortMultipartUpload"))
    }

    async fn replica_current(&self, at: &ReplicaLocation) -> Result<Current, S3Failure> {
        self.slow_read(&at.bucket).await;
        let _call = self.call().await;
        self.state().current("HeadObject", &at.bucket, &at.key)
    }

    async fn put_delete_marker(
        &self,
        at: &ReplicaLocation,
        if_match: Option<&str>,
    ) -> Result<Option<String>, S3Failure> {
        let _call = self.call().await;
        self.delete_object(&at.bucket, &at.key, if_match)
    }

    async fn list_replicas(&self, at: &ReplicaLocation) -> Result<Vec<Listed>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        list(state.bucket("ListObjectsV2", &at.bucket)?, &at.key)
    }

    async fn replica_versions(
        &self,
        at: &ReplicaLocation,
    ) -> Result<Vec<ListedVersion>, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let b = state.bucket("ListObjectVersions", &at.bucket)?;
        Ok(b.keys
            .get(&at.key)
            .map(|v| {
                v.iter()
                    .rev()
                    .filter(|s| !s.marker)
                    .map(|s| listed_version(&at.key, s))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn replica_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<Current, S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        Ok(
            match state.version("HeadObject", &at.bucket, &at.key, Some(version_id)) {
                Ok(s) => Current::Object(Box::new(s.head())),
                Err(_) => Current::Absent,
            },
        )
    }

    async fn delete_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
    ) -> Result<(), S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        state.purge_version("DeleteObject", &at.bucket, &at.key, version_id)?;
        let id = Some(version_id.to_owned());
        state.notify(&at.bucket, &at.key, "ObjectRemoved:Delete", id, None);
        Ok(())
    }

    async fn set_tags(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        tags: &[(String, String)],
    ) -> Result<(), S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let versions = state
            .bucket("PutObjectTagging", &at.bucket)?
            .keys
            .get_mut(&at.key);
        match versions.and_then(|v| v.iter_mut().find(|s| s.id == version_id)) {
            Some(s) => {
                s.tags = tags.to_vec();
                let id = Some(version_id.to_owned());
                state.notify(&at.bucket, &at.key, "ObjectTagging:Put", id, None);
                Ok(())
            }
            None => Err(fail(
                "PutObjectTagging",
                S3FailureKind::NotFound,
                "NoSuchVersion",
                404,
            )),
        }
    }

    async fn set_acl(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        acl: &AclPlan,
    ) -> Result<(), S3Failure> {
        let _call = self.call().await;
        let mut state = self.state();
        let versions = state
            .bucket("PutObjectAcl", &at.bucket)?
            .keys
            .get_mut(&at.key);
        match versions.and_then(|v| v.iter_mut().find(|s| s.id == version_id && !s.marker)) {
            Some(s) => {
                s.acl = acl_of(acl);
                let id = Some(version_id.to_owned());
                state.notify(&at.bucket, &at.key, "ObjectAcl:Put", id, None);
                Ok(())
            }
            None => Err(fail(
                "PutObjectAcl",
                S3FailureKind::NotFound,
                "NoSuchVersion",
                404,
            )),
        }
    }
}

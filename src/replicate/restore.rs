//! A past version copied back as a bucket's current version, with everything a replica carries:
//! the engine's half of `restore` (the tool decides what to copy, this copies it).

use super::plan::verify;
use super::*;

/// What became of a copy back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopiedBack {
    /// Written, as this version.
    Written(Written),
    /// Not copied: why (archived, SSE-C).
    Skipped(SkipReason),
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Copies `from` (in `from_region`) to `to` as its new current version, server-side: body,
    /// content headers, user metadata without our own `replica-*` entries (the copy is an
    /// original write, which replication then carries on), tags, ACL, storage class,
    /// encryption, the Object Lock still in force and the additional checksum; in parts where
    /// needed, in the version's own layout (same ETag). It lands only while `to` is in the
    /// state `condition` names.
    pub async fn copy_back(
        &self,
        from: &VersionRef,
        from_region: &str,
        attributes: Option<(&VersionRef, &str)>,
        to: &ReplicaLocation,
        condition: Option<WriteCondition>,
        run: &Run,
    ) -> Result<CopiedBack, ReplicationError> {
        let bytes = self.read_head(from_region, from, None, run).await?;
        if let Some(reason) = copy_back_skip(&bytes) {
            return Ok(CopiedBack::Skipped(reason));
        }
        // Everything but the bytes from `attributes` where given (the restored bucket's own
        // record of a version whose bytes come from its replica): what a rule changed on the
        // way (storage class, KMS key, ACL) is not taken back.
        let (attributes, attributes_region) = attributes.unwrap_or((from, from_region));
        let mut head = match attributes == from {
            true => bytes.clone(),
            false => {
                self.read_head(attributes_region, attributes, None, run)
                    .await?
            }
        };
        self.complete_lock(attributes_region, attributes, &mut head, run)
            .await?;
        let tags = match self.tags_known_empty(&head, &attributes.bucket) {
            true => Vec::new(),
            false => self.read_tags(attributes_region, attributes, run).await?,
        };
        let grants = match self
            .source_acls_disabled(attributes_region, &attributes.bucket, run)
            .await
        {
            true => None,
            false => self.read_grants(attributes_region, attributes, run).await?,
        };
        let metadata = crate::store::without_replica_entries(&head.metadata);
        let encryption = match &head.encryption {
            Encryption::S3 => TargetEncryption::S3,
            Encryption::Kms {
                algorithm,
                key_id: Some(key_id),
                bucket_key,
            } => TargetEncryption::Kms {
                algorithm: algorithm.clone(),
                key_id: key_id.clone(),
                bucket_key: *bucket_key,
            },
            _ => TargetEncryption::BucketDefault,
        };
        let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
        let mut request = CopyRequest {
            source: from.clone(),
            source_region: from_region.to_owned(),
            source_if_match: None,
            target: ReplicaSpec {
                bucket: to.bucket.clone(),
                key: to.key.clone(),
                region: to.region.clone(),
                content: head.content.clone(),
                metadata,
                tags: TagsPlan::Set(tags.clone()),
                acl: match &grants {
                    Some(g) => AclPlan::Grants(g.clone()),
                    None => AclPlan::Default,
                },
                storage_class: head
                    .storage_class
                    .clone()
                    .unwrap_or_else(|| "STANDARD".to_owned()),
                encryption,
                object_lock: lock_in_force(&head.object_lock, now),
                checksum: bytes.checksum.clone(),
                expected_bucket_owner: to.expected_bucket_owner.clone(),
                endpoint: None,
                condition,
            },
        };
        let method = copy::choose(bytes.size, &bytes.etag, &self.config.copy, false)?;
        let layout = match method {
            CopyMethod::SingleRequest => None,
            CopyMethod::Multipart { source_parts } => {
                request.source_if_match = Some(bytes.etag.clone());
                Some(
                    self.layout_of(from_region, from, &bytes, source_parts, run)
                        .await?,
                )
            }
        };
        let expected_etag = super::write::expected_etag(method, &bytes, &request.target);
        let expected = expected_etag.as_deref();
        let written = match self
            .write(
                &request,
                bytes.size,
                layout.as_deref(),
                &tags,
                expected,
                run,
            )
            .await
        {
            // A bucket with ACLs disabled holds every object under its owner's control.
            Err(e) if e.disposition() == Disposition::AclUnsupported => {
                request.target.acl = AclPlan::Default;
                self.write(
                    &request,
                    bytes.size,
                    layout.as_deref(),
                    &tags,
                    expected,
                    run,
                )
                .await?
            }
            other => other?,
        };
        if !verify(&bytes, &request.target, &written, method)? && layout.is_none() {
            self.verify_size(&request, &written, bytes.size, run)
                .await?;
        }
        Ok(CopiedBack::Written(written))
    }
}

/// Why a version is not copied back, if it is not: archived (its bytes cannot be read until
/// restored from the archive), or SSE-C (not readable without the customer's key).
pub fn copy_back_skip(head: &SourceVersion) -> Option<SkipReason> {
    match (head.archived, &head.encryption) {
        (true, _) => Some(SkipReason::ArchivedVersion(
            head.storage_class.clone().unwrap_or_default(),
        )),
        (false, Encryption::Customer) => Some(SkipReason::CustomerEncrypted),
        _ => None,
    }
}

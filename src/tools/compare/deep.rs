//! The `--deep` comparison: HEAD of both sides (content headers, user metadata, the replica
//! marker, and what the engine promises a replica carries: encryption, checksum, Object Lock),
//! and on the function's own endpoint tags and ACL (at another, the tag count HEAD reports).

use super::Check;
use crate::config::Rule;
use crate::error::{ReplicationError, Side};
use crate::replicate::{grant_headers, promised_differences};
use crate::store::{
    without_replica_entries, Current, DestinationStore, ReplicaLocation, SourceStore,
    SourceVersion, VersionRef,
};

impl<S: SourceStore, D: DestinationStore> Check<'_, S, D> {
    /// HEAD of both sides (and, on the function's own endpoint, tags and ACL): the source's
    /// version and the fields that differ.
    pub(super) async fn deep(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
    ) -> Result<(Option<String>, Vec<String>), ReplicationError> {
        let source = self.replicator.source();
        let src = self.source_current(&at.key).await?;
        let dst = self
            .replicator
            .destination()
            .replica_current(at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let (Current::Object(src), Current::Object(dst)) = (src, dst) else {
            return Ok((None, vec!["changed while verifying".to_owned()]));
        };
        let keeps = self.replicator.etag_parity(rule, &src);
        let mut differs = head_differences(&src, &dst, at, &self.options.bucket, keeps);
        differs.extend(promised_differences(rule, &src, &dst));
        // At another endpoint only the tag count its HEAD reports is compared (a server that
        // reports none cannot be checked this way), against the source's count (read from its
        // tags where its HEAD gives none and an absent count does not mean none there): the
        // tags themselves, and the ACL, are read with the function's own credentials.
        if let (Some(_), Some(got)) = (&at.endpoint, dst.tag_count) {
            let want = match src.tag_count {
                Some(n) => n,
                None if source.omits_zero_tag_count() => 0,
                None => {
                    let tags = source
                        .version_tags(self.region, &self.current(&at.key))
                        .await;
                    let tags = tags.map_err(|f| ReplicationError::classify(Side::Source, f))?;
                    u32::try_from(tags.len()).unwrap_or(u32::MAX)
                }
            };
            if want != got {
                differs.push("tags".to_owned());
            }
        }
        if at.endpoint.is_none() {
            let replica = VersionRef {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
                version_id: None,
            };
            let read = |f| ReplicationError::classify(Side::Source, f);
            // A denied read of the replica is the destination's failure.
            let read_replica = |f| ReplicationError::classify(Side::Destination, f);
            let tags = source
                .version_tags(self.region, &self.current(&at.key))
                .await
                .map_err(read)?;
            if tags
                != source
                    .version_tags(&at.region, &replica)
                    .await
                    .map_err(read_replica)?
            {
                differs.push("tags".to_owned());
            }
            let got = source
                .version_acl(&at.region, &replica)
                .await
                .map_err(read_replica)?;
            if rule.destination.owner_override {
                // bucket-owner-full-control: the destination's owner holds the replica, and
                // none of the source's grants follow it.
                if !got.is_private() {
                    differs.push("acl(owner-override)".to_owned());
                }
            } else {
                let want = source
                    .version_acl(self.region, &self.current(&at.key))
                    .await
                    .map_err(read)?;
                // Every grant, not only READ: a lost FULL_CONTROL or WRITE_ACP grant is damage.
                let grants =
                    |acl: &crate::store::Acl| (!acl.is_private()).then(|| grant_headers(acl));
                if grants(&want) != grants(&got) {
                    differs.push("acl".to_owned());
                }
            }
        }
        Ok((src.version_id.clone(), differs))
    }
}

/// What HEAD says differs between the source object (of `source_bucket`) and the destination's
/// (in `dest_bucket`): content headers, user metadata, and the marker naming the version. Where
/// the source's object is itself the replica of the destination's (two-way), the pair is in
/// sync with no marker on the destination's side.
pub(super) fn head_differences(
    src: &SourceVersion,
    dst: &SourceVersion,
    at: &ReplicaLocation,
    source_bucket: &str,
    keeps_etag: bool,
) -> Vec<String> {
    let mut differs = Vec::new();
    if src.content != dst.content {
        differs.push("content-headers".to_owned());
    }
    // Only the entries this function adds may differ.
    if without_replica_entries(&src.metadata) != without_replica_entries(&dst.metadata) {
        differs.push("user-metadata".to_owned());
    }
    let dst_version = dst.version_id.as_deref().unwrap_or("null");
    let mirrored = src
        .replica_record(source_bucket, &at.key)
        .is_some_and(|r| r.source_bucket == Some(&at.bucket) && r.version == dst_version);
    let replica_of_it = dst.is_replica_of(&at.bucket, &at.key, source_bucket, src, keeps_etag);
    if !mirrored && !replica_of_it {
        differs.push("replica-marker".to_owned());
    }
    differs
}

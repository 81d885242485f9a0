//! Resealing a replica written before a record key was turned on (or under another key): its
//! record no longer counts, so it stands as a write of the destination's own. Where its bytes
//! are proven the source version's (the ETag where the copy keeps it, or a full-object
//! SHA-1/SHA-256 checksum; never a CRC, which anyone can forge), it is copied onto itself, on `If-Match` the ETag read, with a record sealed and
//! dated now (docs/security.md, "Turning it on, and rotating it"). Nothing else is resealed.

use super::guard::keeps_etag;
use super::write::expected_etag;
use super::*;

/// What resealing a key's replica at one destination found, or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reseal {
    /// Copied onto itself with a sealed record: the new version.
    Sealed(Written),
    /// Would be resealed (a dry run): how its bytes are proven.
    Proven(&'static str),
    /// Left as it is: why it cannot be proven the replica it says it is.
    Unproven(String),
    /// Nothing to reseal: no object, or a record the key already proves.
    NotNeeded,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Reseals the current object at `rule`'s destination for `key` of `bucket` where it carries
    /// an unproven record of this bucket's whose bytes are proven the version's (`dry_run`:
    /// says so, writes nothing).
    pub async fn reseal(
        &self,
        rule: &Rule,
        bucket: &str,
        key: &str,
        dry_run: bool,
    ) -> Result<Reseal, ReplicationError> {
        let run = Run::new(None).for_tool();
        let unproven = |why: &str| Ok(Reseal::Unproven(why.to_owned()));
        if crate::store::record_mac::installed().is_none() {
            return unproven("no record key is configured (REPLICA_RECORD_KEY_SECRET_ARN)");
        }
        if rule.destination.endpoint.is_some() {
            return unproven("a destination on another endpoint is not resealed");
        }
        let at = self.location(rule, key, &run).await?;
        let Current::Object(replica) = self.replica_current(&at, &run).await? else {
            return Ok(Reseal::NotNeeded);
        };
        if replica.replica_record(&at.bucket, key).is_some() {
            return Ok(Reseal::NotNeeded);
        }
        // The record as written, believed without the key: only its location and its times.
        let Some(record) = replica.replica_record_under(&at.bucket, key, None) else {
            return unproven("no replica record of this bucket and key, or stamped outside it");
        };
        if record.source_bucket != Some(bucket) {
            return unproven("its record names another source bucket, or none");
        }
        let region = self.bucket_region(bucket).await?;
        let version = VersionRef {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: Some(record.version.to_owned()),
        };
        let head = match self.read_head(&region, &version, None, &run).await {
            Ok(head) => head,
            Err(e) if e.disposition() == Disposition::SourceGone => {
                return unproven("the source no longer holds the version its record names")
            }
            Err(e) => return Err(e),
        };
        let keeps = keeps_etag(rule, &head, &self.config.copy) && !record.own_layout;
        let proof = if replica.size != head.size {
            None
        } else if keeps && replica.etag == head.etag {
            Some("etag")
        } else if replica.same_bytes_by_sha(&head) {
            // A CRC proves bytes against accidents, never against a writer: only a SHA does.
            Some("checksum")
        } else {
            None
        };
        let Some(proof) = proof else {
            return unproven(
                "neither its ETag nor a full-object SHA checksum proves its bytes the version's (a CRC proves nothing against a writer)",
            );
        };
        if dry_run {
            return Ok(Reseal::Proven(proof));
        }
        let written = self
            .copy_onto_itself(rule, &at, &replica, &version, &head, &run)
            .await?;
        Ok(match written {
            Some(written) => Reseal::Sealed(written),
            None => Reseal::Unproven("the replica changed since it was read".into()),
        })
    }

    /// The replica copied onto itself (its bytes, tags kept), its record planned from the source
    /// version `head` and sealed, on `If-Match` its ETag; `None` where it changed since.
    async fn copy_onto_itself(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
        replica: &SourceVersion,
        version: &VersionRef,
        head: &SourceVersion,
        run: &Run,
    ) -> Result<Option<Written>, ReplicationError> {
        let region = self.bucket_region(&version.bucket).await?;
        let acl_disabled = self.acl_disabled(&rule.destination);
        let grants = match acl_disabled {
            true => None,
            false => self.read_grants(&region, version, run).await?,
        };
        let event = ObjectEvent {
            kind: EventKind::Created,
            index: 0,
            event_name: "ObjectCreated:Copy".into(),
            region: Some(region.clone()),
            bucket: version.bucket.clone(),
            key: version.key.clone(),
            version_id: head.version_id.clone(),
            null_version: head.version_id.as_deref() == Some("null"),
            etag: Some(head.etag.trim_matches('"').to_owned()),
            sequencer: None,
            event_time: None,
            size: Some(head.size),
        };
        let mut target = plan_replica(
            rule,
            &event,
            head,
            None,
            grants.as_ref(),
            acl_disabled,
            at.region.clone(),
        );
        target.condition = Some(WriteCondition::IfMatch(replica.etag.clone()));
        let source = VersionRef {
            bucket: at.bucket.clone(),
            key: at.key.clone(),
            version_id: replica.version_id.clone(),
        };
        let method = copy::choose(head.size, &head.etag, &self.config.copy, false)?;
        // The source version's layout is the replica's: its bytes were proven the same.
        let layout = match method {
            CopyMethod::SingleRequest => None,
            CopyMethod::Multipart { source_parts } => Some(
                self.layout_of(&region, version, head, source_parts, run)
                    .await?,
            ),
        };
        let tags = match layout {
            None => Vec::new(),
            Some(_) => self.read_tags(&at.region, &source, run).await?,
        };
        let request = CopyRequest {
            source,
            source_region: at.region.clone(),
            source_if_match: Some(replica.etag.clone()),
            target,
        };
        let expected = expected_etag(method, head, &request.target);
        let written = self
            .write(
                &request,
                head.size,
                layout.as_deref(),
                &tags,
                expected.as_deref(),
                run,
            )
            .await;
        match written {
            Err(e) if e.is_precondition_failed() => Ok(None),
            other => other.map(Some),
        }
    }
}

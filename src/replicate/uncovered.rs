//! A replicated version delete that takes a replica from under another object version. A replica
//! of a version higher in the source's stack was copied over the gone one by that stack's order
//! alone (one source's versions are ordered by its stack), and the gone replica was what covered
//! the write below it: once it goes, a write there later in the one order (the destination's own,
//! or its delete marker that stands) lies under our earlier replica, which the copy would never
//! have been put over had it been judged against it. Our replica is withdrawn (a version delete
//! of exactly what we wrote), and the entry below is current again, as it would be had the
//! deleted version never been written.

use std::sync::OnceLock;

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Every replica at `at` of `source`'s version `deleted` (as `find_replicas`), and whether
    /// one lay below another object version (the listing's first is not it). No request more.
    pub(super) async fn replicas_of_deleted(
        &self,
        at: &ReplicaLocation,
        source: &str,
        deleted: &str,
        run: &Run,
    ) -> Result<(Vec<String>, bool), ReplicationError> {
        let first = OnceLock::new();
        let candidate = |v: &ListedVersion| {
            first.get_or_init(|| v.version_id.clone());
            true
        };
        let replica = |v: &SourceVersion| {
            v.replica_record(&at.bucket, &at.key)
                .is_some_and(|r| r.of(source, deleted))
        };
        let replicas = self
            .replicas_among(at, candidate, replica, false, run)
            .await?;
        let buried = replicas.iter().any(|r| first.get() != Some(r));
        Ok((replicas, buried))
    }

    /// After a replica that lay below another object version was deleted: where the current
    /// entry at `at` is our replica of a version `source` still has, and the entry now below it
    /// stands against that version (a later original write, or a delete marker that stands),
    /// our replica is withdrawn. One ListObjectVersions, a HEAD of each of the two entries and
    /// of the source version; only in this rare state. Returns the writes made (0 or 1).
    pub(super) async fn uncover(
        &self,
        region: &str,
        source: &str,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<u32, ReplicationError> {
        let stack = self.destination_stack(at, run).await?;
        let (Some(top), Some(below)) = (stack.first(), stack.get(1)) else {
            return Ok(0);
        };
        if top.delete_marker {
            return Ok(0);
        }
        let Current::Object(ours) = self.destination_version(at, &top.version_id, run).await?
        else {
            return Ok(0);
        };
        let Some(record) = ours.replica_record(&at.bucket, &at.key) else {
            return Ok(0);
        };
        if !record.from(source) {
            return Ok(0);
        }
        let version = VersionRef {
            bucket: source.to_owned(),
            key: at.key.clone(),
            version_id: Some(record.version.to_owned()),
        };
        let head = match self.read_head(region, &version, None, run).await {
            Ok(head) => head,
            // Its source version gone too: that delete's own event takes it.
            Err(e) if e.disposition() == Disposition::SourceGone => return Ok(0),
            Err(e) => return Err(e),
        };
        let stands = if below.delete_marker {
            let put = aws_smithy_types::DateTime::from_millis(below.last_modified);
            let marker = super::reads::MarkerRead {
                id: Some(&below.version_id),
                put: Some(&put),
            };
            self.delete_stands(region, source, &head, at, marker, run)
                .await?
                == Some(true)
        } else {
            let below = self.destination_version(at, &below.version_id, run).await?;
            matches!(&below, Current::Object(o) if order::later_original(source, &head, o, at))
        };
        if !stands {
            return Ok(0);
        }
        run.start()?;
        self.destination
            .delete_version(at, &top.version_id)
            .await
            .map_err(dst_err)?;
        info!(bucket = %source, key = %at.key, destination = %at.bucket,
              replica_version_id = %top.version_id,
              "withdrew a replica that a deleted version's replica alone had let over a later write");
        Ok(1)
    }
}

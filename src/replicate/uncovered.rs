//! A replicated version delete that takes a replica from under other object versions. Replicas
//! of versions higher in the source's stack were copied over the gone one by that stack's order
//! alone (one source's versions are ordered by its stack: a multipart upload completed late
//! counts from its initiation), and the gone replica was what covered the write below it: once
//! it goes, a write there later in the one order (the destination's own, another source's, or
//! a delete marker that stands) lies under our earlier replicas, which no copy would have put
//! over it had it been judged against it. Ours are withdrawn (a version delete of exactly what
//! we wrote), and the entry below is current again, as it would be had the deleted version
//! never been written. A concurrent delivery's copy that landed on the gone replica between
//! the delete's read and its write is among them: the key is listed after the delete.

use std::collections::HashSet;

use super::*;

/// The destination key as a version delete read it, before deleting.
pub(super) struct Before {
    /// Every entry's version id.
    listed: HashSet<String>,
    /// The entries above the deleted version's newest replica.
    above: HashSet<String>,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Every replica at `at` of `source`'s version `deleted` (as `find_replicas`: each object
    /// version read), and the key as listed (one ListObjectVersions).
    pub(super) async fn replicas_of_deleted(
        &self,
        at: &ReplicaLocation,
        source: &str,
        deleted: &str,
        run: &Run,
    ) -> Result<(Vec<String>, Before), ReplicationError> {
        let stack = self.destination_stack(at, run).await?;
        let mut replicas = Vec::new();
        for p in stack.iter().filter(|p| !p.delete_marker) {
            let v = self.destination_version(at, &p.version_id, run).await?;
            if matches!(&v, Current::Object(o) if o
                .replica_record(&at.bucket, &at.key)
                .is_some_and(|r| r.of(source, deleted)))
            {
                replicas.push(p.version_id.clone());
            }
        }
        let first = stack
            .iter()
            .position(|p| replicas.contains(&p.version_id))
            .unwrap_or(0);
        let before = Before {
            listed: stack.iter().map(|p| p.version_id.clone()).collect(),
            above: stack[..first]
                .iter()
                .map(|p| p.version_id.clone())
                .collect(),
        };
        Ok((replicas, before))
    }

    /// After the replicas of a deleted version were deleted at `at` (the key as read before,
    /// `before`): the entries above them then, or written since (a concurrent delivery's copy
    /// that landed on them meanwhile), where every one is our replica of a version `source`
    /// still has, are withdrawn where the entry below them stands against each (a later
    /// original write, or a delete marker that stands). One ListObjectVersions; HEADs of those
    /// entries, of their source versions and of the entry below only where there are such
    /// entries. Returns the writes made.
    pub(super) async fn uncover(
        &self,
        region: &str,
        source: &str,
        at: &ReplicaLocation,
        before: &Before,
        run: &Run,
    ) -> Result<u32, ReplicationError> {
        let stack = self.destination_stack(at, run).await?;
        // Newest first: what lay above the gone replicas or came since, then the entry below.
        let since = stack
            .iter()
            .take_while(|p| {
                before.above.contains(&p.version_id) || !before.listed.contains(&p.version_id)
            })
            .count();
        let (Some(below), true) = (stack.get(since), since > 0) else {
            return Ok(0);
        };
        let mut ours = Vec::new();
        for p in &stack[..since] {
            if p.delete_marker {
                return Ok(0);
            }
            let Current::Object(v) = self.destination_version(at, &p.version_id, run).await? else {
                return Ok(0);
            };
            let Some(record) = v.replica_record(&at.bucket, &at.key) else {
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
            match self.read_head(region, &version, None, run).await {
                Ok(head) => ours.push((p.version_id.clone(), head)),
                // Its source version gone too: that delete's own event takes it.
                Err(e) if e.disposition() == Disposition::SourceGone => return Ok(0),
                Err(e) => return Err(e),
            }
        }
        let Some(below) = self.read_below(at, below, run).await? else {
            return Ok(0);
        };
        for (_, head) in &ours {
            if !self
                .below_stands(region, source, head, &below, at, run)
                .await?
            {
                return Ok(0);
            }
        }
        for (id, _) in &ours {
            run.start()?;
            self.destination
                .delete_version(at, id)
                .await
                .map_err(dst_err)?;
            info!(bucket = %source, key = %at.key, destination = %at.bucket,
                  replica_version_id = %id,
                  "withdrew a replica that a deleted version's replica alone had let over a later write");
        }
        Ok(ours.len() as u32)
    }
}

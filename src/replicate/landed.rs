//! Proof, after a tool's conditional write, that it landed on the entry it was decided from.
//! S3's write conditions (`If-Match` on a copy or a delete) compare ETags only: a write of the
//! same bytes made at the destination between the read and ours (a user's, with other metadata
//! or tags) lets ours through, and ours would replace or hide that later write. So the entry just
//! below ours is read; where it is not the one read, ours is withdrawn (a version delete of
//! exactly what we wrote) and the key is decided anew, where the later write stands.

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether our new entry `ours` (a replica or a delete marker) lies directly on `read`, the
    /// version (object or delete marker) the write's condition was read from, or on nothing
    /// where `read` is `None` (the key held nothing). If another write came in between, ours is
    /// deleted again and the answer is `false`. One ListObjectVersions (plus the delete).
    pub(super) async fn landed_on_read(
        &self,
        at: &ReplicaLocation,
        ours: &str,
        read: Option<&str>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        run.start()?;
        let stack = self
            .source
            .history(&at.region, &at.bucket, &at.key)
            .await
            .map_err(dst_err)?;
        let mut entries = stack.iter().filter(|p| p.key == at.key);
        // Ours gone already (deleted by someone since): nothing of ours to withdraw.
        if !entries.any(|p| p.version_id == ours) {
            return Ok(true);
        }
        if entries.next().map(|below| below.version_id.as_str()) == read {
            return Ok(true);
        }
        run.start()?;
        self.destination
            .delete_version(at, ours)
            .await
            .map_err(dst_err)?;
        info!(destination = %at.bucket, key = %at.key, replica_version_id = %ours,
              "another write landed between the read and ours: ours withdrawn");
        Ok(false)
    }
}

//! What a chain's middle bucket sends on. A source whose current object is a replica written
//! into it from a third bucket (B of A → B → C, holding A's write) never sends that replica on:
//! its own writes below it do. The destination follows the source's own latest write (an object,
//! or a delete marker) where no replica above it is later in the one order of writes; where one
//! is, the replica replaced it there, and the destination keeps what it has.

use aws_smithy_types::DateTime;

use super::order;
use super::*;
use crate::order::write_of;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// The source's own latest write the destination at `at` follows in place of `src`, the
    /// source's current object, where that is a replica from a bucket other than `at`'s (not a
    /// two-way pair's, whose original is the destination's own); `None` where the destination
    /// follows `src` itself (no replica, or none of the source's own writes stands below it).
    /// One ListObjectVersions of the source key and a HEAD per object version read down to that
    /// write, only in that state.
    pub(super) async fn sent_on(
        &self,
        region: &str,
        event: &ObjectEvent,
        at: &ReplicaLocation,
        src: &Current,
        run: &Run,
    ) -> Result<Option<Current>, ReplicationError> {
        Ok(self
            .own_latest(region, event, at, src, run)
            .await?
            .and_then(|(own, stands)| stands.then_some(own)))
    }

    /// The source's own latest write below `src`, its current object, where that is a replica
    /// from a bucket other than `at`'s (as [`Self::sent_on`]), and whether it stands there: no
    /// replica above it is later in the one order of writes. `None` where `src` is no such
    /// replica, or the source holds no write of its own below it.
    pub(super) async fn own_latest(
        &self,
        region: &str,
        event: &ObjectEvent,
        at: &ReplicaLocation,
        src: &Current,
        run: &Run,
    ) -> Result<Option<(Current, bool)>, ReplicationError> {
        let Current::Object(current) = src else {
            return Ok(None);
        };
        let (bucket, key) = (event.bucket.as_str(), event.key.as_str());
        match current.replica_record(bucket, key) {
            Some(r) if !r.from(&at.bucket) => {}
            _ => return Ok(None),
        }
        run.start()?;
        let history = self
            .source
            .key_history(region, bucket, key, None)
            .await
            .map_err(src_err)?;
        // Newest first: the replicas above the source's own latest write, then that write.
        let mut above = Vec::new();
        for p in history.iter().filter(|p| p.key == key) {
            if p.delete_marker {
                let put = DateTime::from_millis(p.last_modified);
                let Some(deleted) = order::marker_write(Some(&put), bucket) else {
                    return Ok(None);
                };
                let stands = above.iter().all(|a| order::later(&deleted, a));
                let own = Current::DeleteMarker(Some(p.version_id.clone()), Some(put));
                return Ok(Some((own, stands)));
            }
            let v = match current.version_id.as_deref() == Some(p.version_id.as_str()) {
                true => current.as_ref().clone(),
                false => {
                    let version = VersionRef {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                        version_id: Some(p.version_id.clone()),
                    };
                    match self.read_head(region, &version, None, run).await {
                        Ok(v) => v,
                        // Deleted since the listing: its own event converges again.
                        Err(e) if e.disposition() == Disposition::SourceGone => return Ok(None),
                        Err(e) => return Err(e),
                    }
                }
            };
            let written = write_of(&v, bucket, key);
            if v.is_replica_in(bucket, key) {
                above.push(written);
                continue;
            }
            let stands = above.iter().all(|a| order::later(&written, a));
            return Ok(Some((Current::Object(Box::new(v)), stands)));
        }
        Ok(None)
    }
}

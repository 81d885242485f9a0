//! Fan-in: what the other sources a deployment hears say of a destination key. A destination
//! written from several sources must end as the latest of their states in the one order of
//! writes; a delete marker there does not tell whose delete it is (S3 records no origin), so
//! where the marker alone would let a source's version through, the other sources' current
//! deletes are asked.

use super::*;
use crate::order::Write;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether another source this deployment hears (`SOURCE_BUCKETS`, the destination itself
    /// and `source` aside) holds as its current state a delete marker that a rule replicates
    /// to `at` and that is later than `version` in the one order: the destination must then
    /// read deleted, whichever delete its own marker is, and `version` does not land there.
    /// Without it a source's delete that found the destination already deleted (by an
    /// earlier marker, or by a marker that may be another source's delete) wrote nothing, and
    /// an earlier version of another source, redelivered, uncovered the key for good. One
    /// HeadObject per other source, only where a marker would otherwise give way.
    pub(super) async fn deleted_later_elsewhere(
        &self,
        source: &str,
        at: &ReplicaLocation,
        version: &Write,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if at.endpoint.is_some() || !self.config.writes_from_several_sources(&at.bucket) {
            return Ok(false);
        }
        let destination = DestinationId {
            endpoint: None,
            bucket: at.bucket.clone(),
        };
        for other in &self.config.source_buckets {
            if other == source || *other == at.bucket {
                continue;
            }
            let replicated = rules::governing(&self.config, other, &destination, &at.key, &[])
                .is_some_and(|r| r.delete_marker_replication);
            if !replicated {
                continue;
            }
            let bucket = DestinationId {
                endpoint: None,
                bucket: other.clone(),
            };
            let region = self.region_of(bucket, run).await?;
            run.start()?;
            let current = self
                .source
                .current(&region, other, &at.key)
                .await
                .map_err(src_err)?;
            if let Current::DeleteMarker(_, put) = &current {
                if order::marker_write(put.as_ref(), other)
                    .is_some_and(|deleted| order::later(&deleted, version))
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

//! Fan-in: what the other sources a deployment hears say of a destination key. A destination
//! written from several sources must end as the latest of their states in the one order of
//! writes; a delete marker there does not tell whose delete it is (S3 records no origin), so
//! where the marker alone would let a source's version through, the other sources' current
//! deletes are asked.

use super::reads::MarkerRead;
use super::*;
use crate::error::S3FailureKind;
use crate::order::Write;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether another source this deployment hears (`SOURCE_BUCKETS`, the destination itself
    /// and `source` aside) holds as its current state a delete marker that a rule replicates
    /// to `at` and that stands against the source's version `head` (`version` in the one
    /// order) as a marker at the destination would: later, and not maybe `source`'s own
    /// delete replicated there (two-way). The destination must then read deleted, whichever
    /// delete its own marker is, and `head` does not land there. Without it, another source's
    /// earlier write or upload, redelivered, uncovered a key whose latest write is a delete.
    /// One HeadObject per other source, only where a marker would otherwise give way. A
    /// source bucket that does not exist holds no delete; one that cannot be read fails the
    /// record, naming it.
    pub(super) async fn deleted_later_elsewhere(
        &self,
        (region, source): (&str, &str),
        head: &SourceVersion,
        at: &ReplicaLocation,
        version: &Write,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if !self.config.writes_from_several_sources(&at.bucket) {
            return Ok(false);
        }
        let destination = DestinationId {
            endpoint: at.endpoint.clone(),
            bucket: at.bucket.clone(),
        };
        for other in &self.config.source_buckets {
            if other == source || (*other == at.bucket && at.endpoint.is_none()) {
                continue;
            }
            if !rules::replicates_markers(&self.config, other, &destination, &at.key) {
                continue;
            }
            let Some((there, marker)) = self.current_marker(other, &at.key, run).await? else {
                continue;
            };
            let put = marker.1.as_ref();
            let Some(deleted) = order::marker_write(put, other) else {
                continue;
            };
            let read = MarkerRead {
                id: marker.0.as_deref(),
                put,
            };
            // Judged as a marker at that bucket: where `source` replicates its own deletes
            // there (two-way), it may be one of them.
            if self
                .marker_stands(region, source, head, &there, read, (&deleted, version), run)
                .await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The source bucket `bucket`'s current delete marker of `key` (its id and when it was
    /// put), with where it lies; `None` where the key is not deleted there or the bucket does
    /// not exist.
    #[allow(clippy::type_complexity)]
    async fn current_marker(
        &self,
        bucket: &str,
        key: &str,
        run: &Run,
    ) -> Result<
        Option<(
            ReplicaLocation,
            (Option<String>, Option<aws_smithy_types::DateTime>),
        )>,
        ReplicationError,
    > {
        let named = |mut f: S3Failure| {
            f.message = format!(
                "reading bucket {bucket:?} (another source in SOURCE_BUCKETS, whose delete a \
                 fan-in destination must not lose): {}",
                f.message
            );
            f
        };
        let id = DestinationId {
            endpoint: None,
            bucket: bucket.to_owned(),
        };
        let region = match self.region_of(id, run).await {
            Ok(region) => region,
            Err(e)
                if e.s3_failure()
                    .is_some_and(|f| f.kind == S3FailureKind::NoSuchBucket) =>
            {
                return Ok(None)
            }
            Err(e) => {
                return Err(match e.s3_failure() {
                    Some(f) => ReplicationError::classify(Side::Source, named(f.clone())),
                    None => e,
                })
            }
        };
        run.start()?;
        let current = match self.source.current(&region, bucket, key).await {
            Ok(current) => current,
            Err(f) if f.kind == S3FailureKind::NoSuchBucket => return Ok(None),
            Err(f) => return Err(ReplicationError::classify(Side::Source, named(f))),
        };
        let Current::DeleteMarker(id, put) = current else {
            return Ok(None);
        };
        let there = ReplicaLocation {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            region,
            expected_bucket_owner: None,
            endpoint: None,
        };
        Ok(Some((there, (id, put))))
    }

    /// After a copy of the source's version landed over a delete marker where several sources
    /// write the destination: whether another source deleted the key since the copy was
    /// decided, later than the version ([`Self::deleted_later_elsewhere`] asked again). That
    /// delete's own event may have found the destination deleted already (by the marker read)
    /// and written nothing, so the copy must not stand: it is withdrawn (a version delete of
    /// exactly ours) and the key decided anew, where that delete keeps the marker.
    pub(super) async fn withdrawn_under_a_delete_elsewhere(
        &self,
        src: &SourceRead<'_>,
        at: &ReplicaLocation,
        ours: &str,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let source = src.event.bucket.as_str();
        let version = crate::order::write_of(src.head, source, &at.key);
        if !self
            .deleted_later_elsewhere((src.region, source), src.head, at, &version, run)
            .await?
        {
            return Ok(false);
        }
        self.withdraw_ours(at, ours, run).await?;
        info!(bucket = %source, key = %at.key, destination = %at.bucket, replica_version_id = %ours,
              "another source deleted the key while ours was copied over a delete marker: ours withdrawn");
        Ok(true)
    }
}

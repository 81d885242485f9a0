//! Proof, after a write, of what it landed on. A conditional write over an entry read (a tool's,
//! convergence's, an event's; see `write.rs`) must lie on the entry it was decided from; a copy
//! sent ahead of its read, or over a delete marker no listing can name, must not lie on a later
//! delete or over another delivery's replica of the same version.
//!
//! The proof, in detail.
//! S3's write conditions (`If-Match` on a copy or a delete) compare ETags only: a write of the
//! same bytes made at the destination between the read and ours (a user's, with other metadata
//! or tags) lets ours through, and ours would replace or hide that later write. So the entry just
//! below ours is read; where it is not the one read, ours is withdrawn (a version delete of
//! exactly what we wrote) and the key is decided anew, where the later write stands.

use super::guard::keeps_etag;
use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Deletes again `ours`, the version our write just made at `at` (a version delete of
    /// exactly it): what each proof below does where ours must not stand.
    pub(super) async fn withdraw_ours(
        &self,
        at: &ReplicaLocation,
        ours: &str,
        run: &Run,
    ) -> Result<(), ReplicationError> {
        run.start()?;
        self.destination
            .delete_version(at, ours)
            .await
            .map_err(dst_err)
    }

    /// One version of the destination key, read by its id (a HEAD).
    pub(super) async fn destination_version(
        &self,
        at: &ReplicaLocation,
        version_id: &str,
        run: &Run,
    ) -> Result<Current, ReplicationError> {
        run.start()?;
        self.destination
            .replica_version(at, version_id)
            .await
            .map_err(dst_err)
    }

    /// The destination key's own entries (versions and delete markers, newest first): one
    /// ListObjectVersions on its name, stopped once past it (the longer keys it prefixes are
    /// left out, however many), with the destination's expected owner.
    pub(super) async fn destination_stack(
        &self,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<Vec<crate::store::Past>, ReplicationError> {
        run.start()?;
        let owner = at.expected_bucket_owner.as_deref();
        self.source
            .key_history(&at.region, &at.bucket, &at.key, owner)
            .await
            .map_err(dst_err)
    }

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
        let stack = self.destination_stack(at, run).await?;
        let mut entries = stack.iter();
        // Ours gone already (deleted by someone since): nothing of ours to withdraw.
        if !entries.any(|p| p.version_id == ours) {
            return Ok(true);
        }
        if entries.next().map(|below| below.version_id.as_str()) == read {
            return Ok(true);
        }
        self.withdraw_ours(at, ours, run).await?;
        info!(destination = %at.bucket, key = %at.key, replica_version_id = %ours,
              "another write landed between the read and ours: ours withdrawn");
        Ok(false)
    }

    /// A copy sent ahead of the destination's read, on `If-None-Match: *`, also lands on a delete
    /// marker: S3 counts one as no object. Whether it landed on one later than this version in
    /// the one order of writes, which the read would have let stand: then our version is deleted
    /// again (it is ours, just written) and the delete stands. The read sent beside the copy
    /// tells what was there where it is already back (as it mostly is: a HEAD is quicker than a
    /// copy); where it is still under way, answered after the copy landed, or failed, or where
    /// it saw another object (gone before ours landed, or ours would not have), the key's
    /// history tells what lies below ours. The copy never waits for the read.
    pub(super) async fn landed_on_a_later_delete(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        at: &ReplicaLocation,
        written: &Written,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let Some(ours) = &written.version_id else {
            return Ok(false);
        };
        let id = rule.destination.id();
        let seen = match src.destinations {
            Some(reads) if !reads.pending(&id) => reads.read(&id).await,
            _ => None,
        };
        let (marker, put) = match seen {
            Some(Current::DeleteMarker(id, put)) => (id, put),
            Some(Current::Absent) => return Ok(false),
            // Another object, read before ours landed, was gone by then (`If-None-Match: *`
            // let ours through: a racer withdrew its copy, say): what lies below ours is not
            // what was read, so the history tells.
            _ => {
                let history = self.destination_stack(at, run).await?;
                let below = history.iter().skip_while(|p| p.version_id != *ours).nth(1);
                match below {
                    Some(p) if p.delete_marker => (
                        Some(p.version_id.clone()),
                        Some(aws_smithy_types::DateTime::from_millis(p.last_modified)),
                    ),
                    _ => return Ok(false),
                }
            }
        };
        let stands = self
            .delete_stands(
                src.region,
                &src.event.bucket,
                src.head,
                at,
                super::reads::marker(&marker, &put),
                run,
            )
            .await?;
        if stands != Some(true) {
            return Ok(false);
        }
        self.withdraw_ours(at, ours, run).await?;
        info!(bucket = %src.event.bucket, key = %src.event.key, destination = %at.bucket,
              replica_version_id = %ours,
              "the copy sent ahead landed on a later delete marker: ours deleted, the delete stands");
        Ok(true)
    }

    /// A copy over a delete marker (or over nothing), on `If-None-Match: *`, lands whatever
    /// happened to the key since it was read (S3 counts any delete marker as no object): a
    /// concurrent delivery of the same event may have written this version's replica meanwhile,
    /// and a convergence put a delete marker over it. The history held no replica of the version when it was read, so
    /// one there now besides ours is that racer's: ours is deleted again (one replica a
    /// version), and convergence decides what is current. The answer: whether it was.
    pub(super) async fn second_replica(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        at: &ReplicaLocation,
        written: &Written,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let Some(ours) = &written.version_id else {
            return Ok(false);
        };
        let version = src.version.version_id.as_deref().unwrap_or("null");
        let keeps = keeps_etag(rule, src.head, &self.config.copy);
        let others = self
            .replicas_of_write(
                at,
                &src.event.bucket,
                src.head,
                keeps,
                Some(ours),
                true,
                run,
            )
            .await?;
        if others.is_empty() {
            return Ok(false);
        }
        self.withdraw_ours(at, ours, run).await?;
        info!(bucket = %src.event.bucket, key = %src.event.key, version_id = version,
              destination = %at.bucket,
              "a concurrent copy wrote this version over the delete marker first: ours deleted");
        Ok(true)
    }
}

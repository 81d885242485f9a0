//! A replica of a version the source has deleted for good is going: where version deletes are
//! replicated, that delete's event takes it, and what lies below it is current again. A copy
//! judged against it alone would bury a write below it that is later than the copy (a user's
//! write at the destination, another source's), which the delete would have left current.

use super::order;
use super::*;
use crate::order::write_of;
use crate::store::Past;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether the destination's current object `theirs` (at `at`) is a replica of a version
    /// the source (`source`, read in `region`) no longer has, over an entry that stands against
    /// the source's version `head` once that replica goes: an original write later in the one
    /// order, or a delete marker that stands. Costs nothing but where the gone replica's
    /// original is in a later second than `head` (only then can a write that beats `head` lie
    /// below it: one in between in the same second would be of the source's own bucket): a
    /// HEAD of that version and, where it is gone, one listing of the destination key.
    pub(super) async fn later_below_gone_replica(
        &self,
        region: &str,
        source: &str,
        head: &SourceVersion,
        theirs: &SourceVersion,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        match self.gone_candidate(source, head, theirs, at) {
            // Its own future, boxed: the usual copy never awaits it, and inlined it would
            // grow every caller's future (the guard's, the judgement's) by its reads.
            Some(version) => {
                Box::pin(self.later_below(region, source, head, theirs, version, at, run)).await
            }
            None => Ok(false),
        }
    }

    /// The version of this source whose replica `theirs` is, where that replica could stand
    /// over a write later than `head`: its original in a later second, version deletes
    /// replicated (no request).
    fn gone_candidate<'t>(
        &self,
        source: &str,
        head: &SourceVersion,
        theirs: &'t SourceVersion,
        at: &ReplicaLocation,
    ) -> Option<&'t str> {
        if !self.config.replicate_version_deletes {
            return None;
        }
        let record = theirs.replica_record(&at.bucket, &at.key)?;
        let ours = head.version_id.as_deref().unwrap_or("null");
        if !record.from(source) || record.version == ours || record.version == "null" {
            return None;
        }
        let later =
            write_of(theirs, &at.bucket, &at.key).secs > write_of(head, source, &at.key).secs;
        later.then_some(record.version)
    }

    /// Whether the source's `version` is gone and the entry below its replica `theirs` stands
    /// against `head`.
    #[allow(clippy::too_many_arguments)]
    async fn later_below(
        &self,
        region: &str,
        source: &str,
        head: &SourceVersion,
        theirs: &SourceVersion,
        version: &str,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let version = VersionRef {
            bucket: source.to_owned(),
            key: at.key.clone(),
            version_id: Some(version.to_owned()),
        };
        match self.read_head(region, &version, None, run).await {
            Ok(_) => return Ok(false),
            Err(e) if e.disposition() == Disposition::SourceGone => {}
            Err(e) => return Err(e),
        }
        let Some(current) = theirs.version_id.as_deref() else {
            return Ok(false);
        };
        let stack = self.destination_stack(at, run).await?;
        let mut entries = stack.iter();
        if !entries.any(|p| p.version_id == current) {
            return Ok(false);
        }
        let Some(below) = entries.next() else {
            return Ok(false);
        };
        match self.read_below(at, below, run).await? {
            Some(below) => {
                self.below_stands(region, source, head, &below, at, run)
                    .await
            }
            None => Ok(false),
        }
    }

    /// The destination entry `p` as listed, read where it is an object (one HEAD): `None`
    /// where that read finds no object.
    pub(super) async fn read_below<'p>(
        &self,
        at: &ReplicaLocation,
        p: &'p Past,
        run: &Run,
    ) -> Result<Option<Below<'p>>, ReplicationError> {
        if p.delete_marker {
            return Ok(Some(Below::Marker(p)));
        }
        Ok(
            match self.destination_version(at, &p.version_id, run).await? {
                Current::Object(o) => Some(Below::Object(o)),
                _ => None,
            },
        )
    }

    /// Whether the destination entry `below` stands against the source's version `head`: an
    /// original write later in the one order, or a delete marker that stands.
    pub(super) async fn below_stands(
        &self,
        region: &str,
        source: &str,
        head: &SourceVersion,
        below: &Below<'_>,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        match below {
            Below::Object(o) => Ok(order::later_original(source, head, o, at)),
            Below::Marker(p) => {
                let put = aws_smithy_types::DateTime::from_millis(p.last_modified);
                let marker = super::reads::MarkerRead {
                    id: Some(&p.version_id),
                    put: Some(&put),
                };
                let stands = self
                    .delete_stands(region, source, head, at, marker, run)
                    .await?;
                Ok(stands == Some(true))
            }
        }
    }
}

/// An entry of the destination key below another, as judged against a source version.
pub(super) enum Below<'p> {
    /// A delete marker, as listed.
    Marker(&'p Past),
    /// An object version, as read.
    Object(Box<SourceVersion>),
}

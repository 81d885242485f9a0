//! A source's delete undone (its delete marker deleted there, which is not replicated): what
//! the engine may have judged a destination's delete marker to be while that delete stood.

use crate::fake::Entry;
use crate::order::{write_order, Write};

use super::oracle::Candidate;
use super::world::World;

impl World {
    /// Whether the engine may have taken `marker` at `destination` (whoever put it: a user's
    /// cannot be told from the function's) for `from`'s delete below `version` replicated,
    /// while that delete still stood in `from`'s stack, since undone there: then `version`
    /// superseded it, and a replica of `version` may lie over it. Once the delete is gone, S3
    /// records nothing that tells a user's marker from that delete's replica (the one on an
    /// object a version delete took since), and an undelete is not replicated: so, as for the
    /// function's own marker, the replica may stay, or the marker (judged after the undelete,
    /// by the one order; `kept_after_undelete`).
    pub(super) fn undone_delete_of(
        &self,
        destination: &str,
        key: &str,
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        marker.delete_marker
            && self.written_after_undelete(from, key, &version.version_id)
            && self.may_be_delete_in(
                self.s3.stack_ever(from, key),
                (destination, key),
                marker,
                from,
                version,
            )
    }

    /// Whether the destination's top `marker`, `from`'s delete replicated there, may stay over
    /// `from`'s version `version` written after that delete, the delete since deleted at the
    /// source (an undelete, not replicated): convergence put the version over it while the
    /// delete was still in the source's stack, but once it is gone S3 records nothing that
    /// tells the version came after it, and by the one order the marker, put later than the
    /// version's time (a multipart upload's is its initiation's), stands.
    pub fn kept_after_undelete(
        &self,
        destination: &str,
        key: &str,
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        let undeleted = self.written_after_undelete(from, key, &version.version_id);
        let replicated = self.undone_delete_of(destination, key, marker, from, version)
            || self.candidates(destination, key).iter().any(|c| match c {
                Candidate::Replicated { from: f, entry } => {
                    f == from && entry.version_id == marker.version_id
                }
                Candidate::Own(e) => {
                    e.version_id == marker.version_id
                        && self.function_marker_of(destination, key, e, from)
                }
                _ => false,
            });
        // No delete still in the source's stack below the version can be the one the marker
        // replicated: a replicated marker stays only while its delete is the source's top, so
        // it was put no later than the second the entry above that delete landed (a multipart
        // entry's `Last-Modified` is its initiation: unbounded).
        let stack = self.s3.stack(from, key);
        let below = stack
            .iter()
            .position(|e| e.version_id == version.version_id)
            .unwrap_or(0);
        let gone = (0..below).all(|i| {
            let above = &stack[i + 1];
            !stack[i].delete_marker
                || (!above.etag.contains('-') && above.last_modified < marker.last_modified)
        });
        undeleted && replicated && gone && marker_later(destination, marker, from, version)
    }

    /// Fan-in: whether the destination's top `marker`, another source's delete replicated
    /// there and undone since at that source (not replicated), may stay over `from`'s version
    /// `version`. The oracle drops that marker (the undone source's later versions supersede
    /// it), but against `from`'s version S3 records nothing that tells it from a user's delete
    /// at the destination in that second: its source bucket is recorded nowhere (a marker
    /// carries no metadata) and the delete it replicated is gone. The engine judges it as the
    /// write S3 records, the destination's at its own `Last-Modified` (docs/semantics.md), and
    /// later than the version by the one order it stands, unless it may be `from`'s own delete.
    pub fn kept_after_other_undelete(
        &self,
        destination: &str,
        key: &str,
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        let undone_elsewhere = self.feeding(destination).iter().any(|other| {
            other != from
                && self.function_marker_of(destination, key, marker, other)
                && self
                    .undeleted
                    .get(&(other.clone(), key.to_owned()))
                    .is_some_and(|a| !a.is_empty())
        });
        undone_elsewhere
            && !self.may_be_delete_of(destination, key, marker, from, version)
            && marker_later(destination, marker, from, version)
    }
}

/// Whether `marker`, put at `destination`, is later in the one order than `from`'s version
/// `version`: S3 records the marker as the destination's write at its own `Last-Modified`.
fn marker_later(destination: &str, marker: &Entry, from: &str, version: &Entry) -> bool {
    let put = Write {
        secs: marker.last_modified,
        etag: String::new(),
        bucket: destination.to_owned(),
    };
    let written = Write {
        secs: version.last_modified,
        etag: version.etag.clone(),
        bucket: from.to_owned(),
    };
    write_order(&put, &written).is_gt()
}

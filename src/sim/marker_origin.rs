//! Whose delete a marker is: what S3 records of a delete marker's origin (a user's, or a
//! source's delete the function replicated) and what the oracle may ask of it, where S3's
//! records leave it open (the same second, an undelete at the source, fan-in).

use crate::fake::Entry;
use crate::store::{REPLICA_MARKER, REPLICA_SOURCE_BUCKET};

use super::oracle::governing;
use super::world::World;
use crate::order::write_order;

impl World {
    /// Whether the function's replica `above` (of `from`'s version) was put over the function's
    /// `marker` in `bucket`, `from`'s delete replicated (`from` a source feeding it: in fan-in
    /// S3 records nothing that tells whose delete a marker the function put is),
    /// for a version above that delete in `from`'s stack as it was built: within one bucket
    /// its stack decides (a multipart upload completed late counts from its initiation, which
    /// may be earlier than the delete), also where the version was deleted for good since.
    /// The delete is the newest of `from`'s put no later than the marker's second.
    pub(super) fn replaced_own_delete(
        &self,
        bucket: &str,
        key: &str,
        marker: &Entry,
        above: &Entry,
    ) -> bool {
        let Some(from) = above.metadata.get(REPLICA_SOURCE_BUCKET) else {
            return false;
        };
        if !marker.delete_marker
            || self.is_user_made(bucket, key, &marker.version_id)
            || !self.feeding(bucket).contains(from)
        {
            return false;
        }
        let ever = self.s3.stack_ever(from, key);
        let Some(of) = above.metadata.get(REPLICA_MARKER) else {
            return false;
        };
        let Some(version) = ever.iter().position(|e| e.version_id == *of) else {
            return false;
        };
        let delete = ever
            .iter()
            .rposition(|e| e.delete_marker && e.last_modified <= marker.last_modified);
        delete.is_some_and(|d| d < version)
    }

    /// Whether `marker`, a delete marker in `bucket`'s stack of `key`, may be `from`'s own delete
    /// below its version `version` replicated, as the engine judges it (`delete_stands`): a
    /// rule replicates `from`'s delete markers to `bucket`; the marker was put no later than
    /// the second the entry just above that delete landed (a replicated delete is withdrawn
    /// where the source wrote before it was proven), or at any time where that entry is a
    /// multipart upload (its time is its initiation's); and `bucket`'s stack does not rule it
    /// out: a replicated marker never lies above a replica of a version `from` wrote after
    /// that delete. Where the function put the version's replica above the marker, `from`'s
    /// stack as it was then decides: an undelete since removes the only record that the
    /// version came after a delete, and S3 records nothing that tells the marker's origin.
    pub(super) fn may_be_delete_of(
        &self,
        bucket: &str,
        key: &str,
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        // Where the function put the version's replica over the marker, it judged the marker
        // then: on `from`'s stack as it was built, a delete deleted for good since (an
        // undelete) included.
        let stack = match self.put_over_undeleted(bucket, key, marker, from, version) {
            true => self.s3.stack_ever(from, key),
            false => self.s3.stack(from, key),
        };
        self.may_be_delete_in(stack, (bucket, key), marker, from, version)
    }

    /// [`Self::may_be_delete_of`] on `stack`, `from`'s stack of `key` (oldest first) as it is
    /// judged: as S3 shows it, or as it was built.
    pub(super) fn may_be_delete_in(
        &self,
        stack: Vec<Entry>,
        (bucket, key): (&str, &str),
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        let replicated = self.topology.functions.iter().any(|f| {
            f.sources.iter().any(|s| s == from)
                && governing(&f.config.rules, bucket, key, None)
                    .is_some_and(|r| r.delete_marker_replication)
        });
        if !replicated {
            return false;
        }
        // A marker later than a single-part version stands: it bounds the delete by its second.
        if !version.etag.contains('-') && marker.last_modified > version.last_modified {
            return false;
        }
        // Oldest first: from the version down to the first delete marker below it; the entry
        // just above that delete bounds when its replica could land.
        let Some(at) = stack
            .iter()
            .position(|e| e.version_id == version.version_id && !e.delete_marker)
        else {
            return false;
        };
        let Some(d) = stack[..at].iter().rposition(|e| e.delete_marker) else {
            return false;
        };
        let above = &stack[d + 1];
        if !above.etag.contains('-') && marker.last_modified > above.last_modified {
            return false;
        }
        let here = self.s3.stack(bucket, key);
        let Some(m) = here.iter().position(|e| e.version_id == marker.version_id) else {
            return true;
        };
        // Whoever's delete it is, a marker lying directly on an original write later than the
        // version stands against it (the engine's `not_replicated_here`): another writer's
        // delete stands, and `from`'s own hid that write, which the version does not beat.
        if let Some(below) = m.checked_sub(1).map(|b| &here[b]) {
            let original = !below.delete_marker
                && (self.is_user_made(bucket, key, &below.version_id)
                    || below
                        .metadata
                        .get(REPLICA_SOURCE_BUCKET)
                        .map(String::as_str)
                        != Some(from));
            let later = write_order(
                &self.entry_write(bucket, key, below),
                &self.entry_write(from, key, version),
            )
            .is_gt();
            if original && later {
                return false;
            }
        }
        let after = &stack[d + 1..=at];
        !here[..m].iter().any(|e| {
            after
                .iter()
                .any(|a| self.is_replica_of(bucket, key, e, from, a))
        })
    }

    /// Whether the function put a replica of `from`'s `version` above `marker` in `bucket`'s
    /// stack of `key` (a `null` version's by the write its record names), and `from` since
    /// deleted for good a delete marker that lay below that version (an undelete).
    pub(super) fn put_over_undeleted(
        &self,
        bucket: &str,
        key: &str,
        marker: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        if !self.written_after_undelete(from, key, &version.version_id) {
            return false;
        }
        let here = self.s3.stack(bucket, key);
        let Some(m) = here.iter().position(|e| e.version_id == marker.version_id) else {
            return false;
        };
        here[m + 1..]
            .iter()
            .any(|e| self.is_replica_of(bucket, key, e, from, version))
    }

    /// Whether `marker` at `destination`, put there by the function where several sources
    /// replicate (fan-in), may be `from`'s delete replicated: a rule replicates `from`'s delete
    /// markers there. (Where one source alone replicates there, it is `Candidate::Replicated`.)
    pub(super) fn function_marker_of(
        &self,
        destination: &str,
        key: &str,
        marker: &Entry,
        from: &str,
    ) -> bool {
        marker.delete_marker
            && !self.is_user_made(destination, key, &marker.version_id)
            && self.topology.functions.iter().any(|f| {
                f.sources.iter().any(|s| s == from)
                    && governing(&f.config.rules, destination, key, None)
                        .is_some_and(|r| r.delete_marker_replication)
            })
    }
}

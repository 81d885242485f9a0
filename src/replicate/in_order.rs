//! What an in-order event reads at once, before its record starts: the source's current object,
//! the version's ACL, and each destination's current object (whose answers feed [`Occupancy`]).

use std::sync::atomic::{AtomicU32, Ordering};

use futures::future::{BoxFuture, Shared};
use futures::FutureExt;

use super::*;

/// What an in-order event's first, parallel reads of the source found.
pub(super) struct Prefetched {
    /// The source's current object, when it is the event's version (else it is read by id).
    pub(super) head: Option<SourceVersion>,
    /// The version's ACL as grants, when a candidate rule needs it.
    pub(super) grants: Option<Result<Option<GrantHeaders>, ReplicationError>>,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Reads at once the source's current object and the version's ACL (where a rule for the
    /// key may carry it).
    pub(super) async fn prefetch(
        &self,
        event: &ObjectEvent,
        region: &str,
        version: &VersionRef,
        version_id: &str,
        candidates: &[&Rule],
        run: &Run,
    ) -> Prefetched {
        let needs_acl = candidates.iter().any(|r| self.carries_acl(r))
            && !self.source_acls_disabled(region, &event.bucket, run).await;
        let current = self.source_current(region, event, run);
        let grants = async {
            match needs_acl {
                true => Some(self.read_grants(region, version, run).await),
                false => None,
            }
        };
        let (current, grants) = futures::join!(current, grants);
        let head = match current {
            Ok(Current::Object(head)) if head.version_id.as_deref() == Some(version_id) => {
                Some(*head)
            }
            _ => None,
        };
        Prefetched { head, grants }
    }

    /// The reads of the current object of each destination the `candidates` (the rules for the
    /// event's key) name, not yet started. Each feeds [`Occupancy`].
    pub(super) fn destination_reads<'a>(
        &'a self,
        candidates: &[&'a Rule],
        event: &'a ObjectEvent,
        run: &'a Run,
    ) -> Reads<'a> {
        candidates
            .iter()
            .map(|&rule| {
                let read = async move {
                    let at = self.location(rule, &event.key, run).await.ok()?;
                    let current = self.replica_current(&at, run).await.ok()?;
                    // A replica of this very version is no overwrite: this event's own copy,
                    // sent ahead and landed before the read was answered (or a duplicate's).
                    let overwrite = matches!(current, Current::Object(_))
                        && !current
                            .replica_record(&at.bucket, &at.key)
                            .is_some_and(|r| {
                                Some(r.version) == event.version_id.as_deref()
                                    && r.from(&event.bucket)
                            });
                    self.occupancy.observe(overwrite);
                    Some(current)
                };
                (rule.destination.id(), read.boxed().shared())
            })
            .collect()
    }
}

/// What an in-order event knows before its record starts: the rules for its key, and their
/// destinations' reads, under way.
#[derive(Clone, Copy)]
pub(super) struct InOrder<'r, 'a> {
    pub(super) candidates: &'r [&'a Rule],
    pub(super) reads: &'r Reads<'a>,
}

/// Each candidate destination's current object, being read beside an in-order event's record
/// (`None` inside: no read, or it failed). Ordered by destination, so the reads are polled in
/// the same order in every process (a hash map's order is per process: a replayed seed of the
/// simulation would not replay).
pub(super) type Reads<'a> =
    std::collections::BTreeMap<DestinationId, Shared<BoxFuture<'a, Option<Current>>>>;

/// The destinations' reads as a copy sees them.
pub(super) trait DestinationReads: Sync {
    /// What the read of `id`'s current object found, once it comes back (`None`: read anew).
    fn read<'s>(&'s self, id: &DestinationId) -> BoxFuture<'s, Option<Current>>;
    /// Whether the read of `id`'s current object is still under way.
    fn pending(&self, id: &DestinationId) -> bool;
}

impl DestinationReads for Reads<'_> {
    fn read<'s>(&'s self, id: &DestinationId) -> BoxFuture<'s, Option<Current>> {
        match self.get(id) {
            Some(read) => read.clone().boxed(),
            None => futures::future::ready(None).boxed(),
        }
    }

    fn pending(&self, id: &DestinationId) -> bool {
        self.get(id).is_some_and(|read| read.peek().is_none())
    }
}

/// The recent share of in-order events whose destination key already held another object (an
/// overwrite), in thousandths: each read weighs an eighth, the earlier ones the rest. A copy
/// assumes an empty key only while the share is under a quarter, so that refused copies stay
/// few where most events overwrite.
#[derive(Default)]
pub(super) struct Occupancy(AtomicU32);

impl Occupancy {
    pub(super) fn observe(&self, held_object: bool) {
        let weight = if held_object { 125 } else { 0 };
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |share| {
                Some(share - share / 8 + weight)
            });
    }

    pub(super) fn low(&self) -> bool {
        self.0.load(Ordering::Relaxed) < 250
    }
}

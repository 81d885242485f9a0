//! What the work for one event came to at each destination: replicated, synced, skipped (and
//! why) or failed; and what that means to a tool bringing a bucket in line.

use std::fmt;

use crate::error::{Disposition, ReplicationError};
use crate::store::{Encryption, SourceVersion, Written, REPLICA_MARKER};

/// Why a version was deliberately not replicated (logged; not a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The version was deleted before it could be read.
    VersionGone,
    /// An unversioned object was overwritten since the event; the newer object's event copies it.
    SourceChanged,
    /// The object is itself a replica (carries the replica marker).
    IsReplica,
    /// Archived in GLACIER or DEEP_ARCHIVE (as native replication, not replicated).
    Archived(String),
    /// A version to copy back (restore) is archived: its bytes cannot be read until restored.
    ArchivedVersion(String),
    /// SSE-C: cannot be read without the customer's key.
    CustomerEncrypted,
    /// No enabled rule selects the object.
    NoMatchingRule,
    /// SSE-KMS object, and the rule does not select SSE-KMS objects (as native replication).
    KmsNotSelected,
    /// The destination's current version already is a replica of this version.
    AlreadyReplicated,
    /// The destination's current object was written there (or replicated from elsewhere) by an
    /// original write later than this one: in a two-way setup the later write wins on both
    /// sides, and that side's own event carries it back.
    NewerInDestination,
    /// No rule with `DeleteMarkerReplication: Enabled` (and no tag filter) selects the key.
    DeleteMarkerNotSelected,
    /// Version deletes are replicated only with `REPLICATE_VERSION_DELETES=true`.
    VersionDeletesOff,
    /// There is no replica of the version to update (yet).
    NoReplica,
    /// Owner override or ACL-disabled destination: the replica's ACL does not follow the source.
    AclNotReplicated,
    /// A delete marker followed by later events for its key in the same invocation: the last
    /// of them leaves the destination as the source is.
    LaterEventSettles,
    /// A replica of this version is already in the destination's history (a redelivered or
    /// late event): copying it again would only add a duplicate.
    InHistory,
    /// An event says a version was deleted, but the source still has it: its replicas stay.
    SourceVersionExists,
    /// Someone else wrote the destination key while convergence copied: it decides again from
    /// what both sides hold now.
    DestinationChanged,
    /// The replica of a later version of the source (above this one in its stack) is current
    /// at the destination: a late event's version is not put on top of it, since only a second
    /// copy of that later version could restore it (one replica a version).
    Superseded,
    /// A late event's version, where the destination holds another writer's original and the
    /// source has since moved on to a later state: convergence brings that state instead.
    SourceMovedOn,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VersionGone => write!(f, "the source version no longer exists"),
            Self::SourceChanged => write!(
                f,
                "the unversioned source was overwritten since the event; its own event replicates it"
            ),
            Self::IsReplica => write!(f, "the object is a replica ({REPLICA_MARKER} is set)"),
            Self::Archived(class) => write!(
                f,
                "the object is archived ({class}); archived objects are not replicated (as in native S3 Replication)"
            ),
            Self::ArchivedVersion(class) => write!(
                f,
                "the version is archived ({class}): its bytes cannot be copied until it is restored from the archive (S3 RestoreObject); run again after that"
            ),
            Self::CustomerEncrypted => write!(f, "SSE-C objects cannot be read without the customer key"),
            Self::NoMatchingRule => write!(f, "no enabled rule matches the object"),
            Self::KmsNotSelected => write!(
                f,
                "SSE-KMS object and the rule does not enable SourceSelectionCriteria.SseKmsEncryptedObjects"
            ),
            Self::AlreadyReplicated => write!(f, "the destination's current version already is its replica"),
            Self::NewerInDestination => write!(
                f,
                "the destination's current object comes from a later original write (two-way: the later write wins)"
            ),
            Self::DeleteMarkerNotSelected => write!(
                f,
                "no rule with DeleteMarkerReplication Enabled (and no tag filter) selects the key"
            ),
            Self::VersionDeletesOff => write!(
                f,
                "version deletes are not replicated (set REPLICATE_VERSION_DELETES=true to opt in)"
            ),
            Self::NoReplica => write!(f, "no replica of this version exists in the destination"),
            Self::LaterEventSettles => write!(
                f,
                "a later event for the key in this invocation leaves the destination as the source is"
            ),
            Self::InHistory => write!(
                f,
                "a replica of this version is already in the destination's history"
            ),
            Self::SourceVersionExists => write!(
                f,
                "the event says the version was deleted, but the source still has it: its replicas are kept"
            ),
            Self::Superseded => write!(
                f,
                "a later version's replica is current at the destination (a late event); copying this one would need a second copy of that version"
            ),
            Self::SourceMovedOn => write!(
                f,
                "the source has moved on from this version (a late event) and the destination holds another writer's object: convergence brings the source's current state"
            ),
            Self::DestinationChanged => write!(
                f,
                "the destination key changed while it was being brought in line; decided again"
            ),
            Self::AclNotReplicated => write!(
                f,
                "replica ACLs do not follow the source here (owner override or ACLs disabled)"
            ),
        }
    }
}

/// The outcome for one destination (or for the record as a whole, when `destination` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationOutcome {
    /// The destination (bucket, and endpoint when not the function's own), if the outcome is
    /// specific to one.
    pub destination: Option<String>,
    /// Replicated, skipped, or failed.
    pub result: Result<Done, ReplicationError>,
}

/// A successful outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A replica was written.
    Replicated(Written),
    /// The destination was brought in line (delete marker, deleted version, ACL or tags) with
    /// this many writes; 0 when it already was.
    Synced {
        /// Writes made.
        writes: u32,
    },
    /// Convergence brought the destination in line by copying the source's current version
    /// (not the event's): `writes` made in all, `copies` the replicas among them.
    Converged {
        /// Writes made (the copies included).
        writes: u32,
        /// Each replica written.
        copies: Vec<Copied>,
    },
    /// Deliberately not replicated.
    Skipped(SkipReason),
}

/// A replica convergence wrote: what metrics count for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The replica.
    pub written: Written,
    /// Its size in bytes.
    pub bytes: u64,
    /// The source version's `Last-Modified` (when its write happened).
    pub source_modified: Option<aws_smithy_types::DateTime>,
}

/// What an outcome means to someone bringing a bucket in line (backfill, Batch Operations).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<'a> {
    /// Something was written: a replica, or a convergence write (the source changed meanwhile).
    Replicated,
    /// The destination already held it (current, or in its history).
    InSync,
    /// Deliberately not replicated, for this reason.
    Skipped(&'a SkipReason),
}

impl Done {
    /// What the outcome means to someone bringing a bucket in line.
    pub fn verdict(&self) -> Verdict<'_> {
        match self {
            Done::Replicated(_) | Done::Converged { .. } => Verdict::Replicated,
            Done::Synced { writes } if *writes > 0 => Verdict::Replicated,
            Done::Synced { .. }
            | Done::Skipped(SkipReason::AlreadyReplicated | SkipReason::InHistory) => {
                Verdict::InSync
            }
            Done::Skipped(reason) => Verdict::Skipped(reason),
        }
    }
}

/// The outcome of a record as a whole (not specific to a destination).
pub(super) fn whole(result: Result<Done, ReplicationError>) -> Vec<DestinationOutcome> {
    vec![DestinationOutcome {
        destination: None,
        result,
    }]
}

/// Convergence outcomes worth reporting beside a record's own: failures and extra writes.
pub(super) fn made_a_difference(outcome: &DestinationOutcome) -> bool {
    !matches!(outcome.result, Ok(Done::Synced { writes: 0 }))
}

/// A deleted version or an overwritten unversioned object is skipped, not failed: there is nothing
/// left to copy, and the newer state has its own event.
pub(super) fn skip_or_fail(err: ReplicationError) -> Result<Done, ReplicationError> {
    match err.disposition() {
        Disposition::SourceGone => Ok(Done::Skipped(SkipReason::VersionGone)),
        Disposition::SourceChanged => Ok(Done::Skipped(SkipReason::SourceChanged)),
        _ => Err(err),
    }
}

pub(super) fn skip_reason(head: &SourceVersion, bucket: &str, key: &str) -> Option<SkipReason> {
    if head.is_replica_in(bucket, key) {
        return Some(SkipReason::IsReplica);
    }
    if head.archived {
        let class = head
            .storage_class
            .clone()
            .unwrap_or_else(|| "archive tier".to_owned());
        return Some(SkipReason::Archived(class));
    }
    if head.encryption == Encryption::Customer {
        return Some(SkipReason::CustomerEncrypted);
    }
    None
}

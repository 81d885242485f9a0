//! The user-metadata entries every replica carries: what makes an object a replica, where it came
//! from and when its original was written.

use std::collections::BTreeMap;

/// User-metadata entry added to every replica: the source version id (`null` when unversioned).
/// Replicas carrying it are never replicated again, so two-way setups do not loop.
pub const REPLICA_MARKER: &str = "replica-source-version-id";

/// User-metadata entry added to every replica: the source bucket.
pub const REPLICA_SOURCE_BUCKET: &str = "replica-source-bucket";

/// User-metadata entry added to every replica: the bucket it was written to. A copy of a replica
/// found in any other bucket (a disaster-recovery copy back into the source, say) is a new
/// object there and is replicated.
pub const REPLICA_WRITTEN_TO: &str = "replica-written-to";

/// User-metadata entry added to every replica: when the original write happened (milliseconds
/// since the epoch). Two-way setups keep the later original write on both sides.
pub const REPLICA_ORIGIN_TIME: &str = "replica-original-time";

/// Every user-metadata entry this function adds to a replica.
pub const REPLICA_ENTRIES: [&str; 4] = [
    REPLICA_MARKER,
    REPLICA_SOURCE_BUCKET,
    REPLICA_WRITTEN_TO,
    REPLICA_ORIGIN_TIME,
];

/// User metadata without the entries this function adds ([`REPLICA_ENTRIES`]).
pub fn without_replica_entries(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| !REPLICA_ENTRIES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

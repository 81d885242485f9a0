//! The small role traits the replication logic needs, speaking domain types. `aws_s3` implements
//! them on the AWS SDK; behind the `test-util` feature, `fake` implements them in memory (fast
//! tests with no server) and `faults::Faulty` wraps a destination store of either kind to inject
//! failures. `tests/store_conformance.rs` holds both implementations to one behaviour.
//!
//! The traits ([`SourceStore`], [`DestinationStore`]) are in `source` and `destination`; the
//! domain types they speak in `object` (what S3 holds), `replica` (what a write asks for) and
//! `replica_metadata` (the entries that mark a replica).

mod destination;
mod object;
pub mod record_mac;
mod replica;
mod replica_metadata;
mod source;

pub use destination::DestinationStore;
pub use object::{
    Acl, Body, Checksum, ContentHeaders, Current, Encryption, Grant, Grantee, Listed,
    ListedVersion, ObjectLock, Past, SourceVersion, UploadedPart, VersionRef,
};
pub use record_mac::REPLICA_RECORD_MAC;
pub use replica::{
    AclPlan, CopyRequest, GrantHeaders, ReplicaLocation, ReplicaSpec, TagsPlan, TargetEncryption,
    WriteCondition, Written,
};
pub use replica_metadata::{
    key_digest, may_be_replica, without_replica_entries, ReplicaRecord, OWN_LAYOUT,
    REPLICA_ENTRIES, REPLICA_KEY, REPLICA_LAYOUT, REPLICA_MARKER, REPLICA_ORIGIN_TIME,
    REPLICA_SOURCE_BUCKET, REPLICA_SOURCE_ETAG, REPLICA_WRITTEN_AT, REPLICA_WRITTEN_TO,
    REPLICA_WRITTEN_UNTIL,
};
pub use source::SourceStore;

/// The failure code of a source's `part_sizes` where its server answers no part by its number
/// (Ceph RGW ignores HeadObject's partNumber): the source's part layout cannot be read.
pub const NO_PART_BY_NUMBER: &str = "NoPartByNumber";

//! The world a history runs in: the in-memory S3, the functions over it, the events waiting
//! for delivery, what users wrote (as opposed to the engine), and the history's log.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use crate::fake::{Entry, FakeS3, Notice, Versioning};
use crate::replicate::Replicator;
use crate::store::{REPLICA_MARKER, REPLICA_SOURCE_BUCKET, REPLICA_SOURCE_ETAG};

use super::topology::Topology;
use super::Rng;

/// An event waiting to be delivered (again).
#[derive(Debug, Clone)]
pub struct Pending {
    /// Its number in the history (`e12`).
    pub id: usize,
    /// What S3 said.
    pub notice: Notice,
    /// Failed deliveries in a row.
    pub failures: u32,
}

/// A multipart upload a user began and has not completed.
#[derive(Debug, Clone)]
pub struct OpenUpload {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The upload's id.
    pub id: String,
    /// The write's number (its bytes and metadata say it).
    pub n: usize,
}

/// Everything a history acts on.
pub struct World {
    /// The in-memory S3.
    pub s3: FakeS3,
    /// The topology.
    pub topology: Topology,
    /// One replicator per function, in the topology's order.
    pub replicators: Vec<Replicator<FakeS3, FakeS3>>,
    /// Events not yet delivered, or to be delivered again.
    pub pending: Vec<Pending>,
    /// Every event S3 sent, for the final redelivery round.
    pub sent: Vec<Pending>,
    /// Entries users made (bucket, key, version id): originals, not replicas.
    pub user_made: BTreeSet<(String, String, String)>,
    /// Users' copies of a replica back onto the key its record names, within that record's
    /// write (bucket, key, version id): the replica it records, as the engine takes it, though
    /// the function did not write it.
    pub replayed: BTreeSet<(String, String, String)>,
    /// Versions (bucket, key, version id) that became current (or the newest object) again
    /// because what stood above them was deleted, and how often.
    pub current_again: BTreeMap<(String, String, String), usize>,
    /// Keys (bucket, key) whose object versions a user deleted for good, one at least.
    pub version_deleted: BTreeSet<(String, String)>,
    /// Per key (bucket, key) whose delete markers a user deleted (an undelete): the versions
    /// that stood above such a marker then, written after that delete.
    pub undeleted: BTreeMap<(String, String), BTreeSet<String>>,
    /// Uploads begun and not completed.
    pub uploads: Vec<OpenUpload>,
    /// Replicas the function said it wrote (direct invocations' summaries).
    pub counted: RefCell<u64>,
    /// Lines logged by invocations running at once, moved to the log after them.
    pub notes: RefCell<Vec<String>>,
    /// The history, one line per step.
    pub log: Vec<String>,
    /// The generator.
    pub rng: Rng,
    /// Writes so far (each write's bytes and metadata carry its number).
    pub writes: usize,
    /// Problems found during the run (records that keep failing, tool errors).
    pub problems: Vec<String>,
    /// Whether users also write directly at the destinations.
    pub destination_writes: bool,
    /// Whether two invocations sometimes run at once on the same events.
    pub twins: bool,
    /// Invariants found broken during the run (a dry run's counts against its run's).
    pub violations: Vec<super::Violation>,
}

/// The simulated epoch: 2026-11-22T10:00:00Z.
pub const EPOCH_MS: i64 = 1_795_860_000_000;

impl World {
    /// A world for `topology`, its clock at the epoch.
    pub fn new(topology: Topology, mut rng: Rng) -> Self {
        let s3 = FakeS3::new();
        s3.set_clock(EPOCH_MS + rng.below(1000) as i64);
        s3.record_notices();
        s3.interleave(rng.next_u64());
        for b in &topology.buckets {
            match topology.unversioned.contains(b) {
                true => s3.create_unversioned_bucket(b, "us-east-1"),
                false => s3.create_bucket(b, "us-east-1"),
            }
        }
        let replicators = topology
            .functions
            .iter()
            .map(|f| {
                // The records' times from the store's clock, on which requests take no time.
                Replicator::new(f.config.clone(), s3.clone(), s3.clone(), "us-east-1")
                    .with_clock(std::sync::Arc::new(s3.clone()), std::time::Duration::ZERO)
            })
            .collect();
        Self {
            s3,
            topology,
            replicators,
            pending: Vec::new(),
            sent: Vec::new(),
            user_made: BTreeSet::new(),
            replayed: BTreeSet::new(),
            current_again: BTreeMap::new(),
            version_deleted: BTreeSet::new(),
            undeleted: BTreeMap::new(),
            uploads: Vec::new(),
            counted: RefCell::new(0),
            notes: RefCell::new(Vec::new()),
            log: Vec::new(),
            rng,
            writes: 0,
            problems: Vec::new(),
            destination_writes: true,
            twins: true,
            violations: Vec::new(),
        }
    }

    /// The function that receives `bucket`'s events, if any.
    pub fn function_of(&self, bucket: &str) -> Option<usize> {
        self.topology
            .functions
            .iter()
            .position(|f| f.sources.iter().any(|s| s == bucket))
    }

    /// Turns what S3 sent since the last call into pending events (only buckets a function
    /// hears from), logging each.
    pub fn collect_notices(&mut self) {
        for notice in self.s3.take_notices() {
            if self.function_of(&notice.bucket).is_none() {
                continue;
            }
            let id = self.sent.len();
            self.log.push(format!(
                "      event e{id}: {} {}/{} v={} etag={} t={}",
                notice.event_name,
                notice.bucket,
                notice.key,
                notice.version_id.as_deref().unwrap_or("-"),
                notice.etag.as_deref().map_or("-", short),
                notice.time_ms - EPOCH_MS,
            ));
            let pending = Pending {
                id,
                notice,
                failures: 0,
            };
            self.sent.push(pending.clone());
            self.pending.push(pending);
        }
    }

    /// Marks an entry as a user's own write.
    pub fn made(&mut self, bucket: &str, key: &str, version_id: Option<&str>) {
        let id = version_id.unwrap_or(crate::fake::NULL_VERSION);
        self.user_made
            .insert((bucket.to_owned(), key.to_owned(), id.to_owned()));
    }

    /// Whether an entry is a user's own write.
    pub fn is_user_made(&self, bucket: &str, key: &str, version_id: &str) -> bool {
        self.user_made
            .contains(&(bucket.to_owned(), key.to_owned(), version_id.to_owned()))
    }

    /// Whether `from`'s version `version_id` of `key` was written after a delete of `key` that
    /// a user of `from` has since deleted (an undelete).
    pub fn written_after_undelete(&self, from: &str, key: &str, version_id: &str) -> bool {
        self.undeleted
            .get(&(from.to_owned(), key.to_owned()))
            .is_some_and(|a| a.contains(version_id))
    }

    /// Whether `e`, an entry of `bucket`'s stack of `key`, is a replica the function put there
    /// of `from`'s object version `version` (a `null` version's: of the write its record
    /// names, by the source ETag it records).
    pub fn is_replica_of(
        &self,
        bucket: &str,
        key: &str,
        e: &Entry,
        from: &str,
        version: &Entry,
    ) -> bool {
        let unquoted = |t: &str| t.trim_matches('"').to_owned();
        !e.delete_marker
            && !version.delete_marker
            && !self.is_user_made(bucket, key, &e.version_id)
            && e.metadata.get(REPLICA_SOURCE_BUCKET).map(String::as_str) == Some(from)
            && e.metadata.get(REPLICA_MARKER) == Some(&version.version_id)
            && (version.version_id != "null"
                || e.metadata
                    .get(REPLICA_SOURCE_ETAG)
                    .is_none_or(|t| unquoted(t) == unquoted(&version.etag)))
    }

    /// Whether `bucket` versions its writes now.
    pub fn versioned(&self, bucket: &str) -> bool {
        self.s3.versioning(bucket) == Some(Versioning::Enabled)
    }

    /// The clock, relative to the epoch, for the log.
    pub fn now(&self) -> i64 {
        self.s3.clock() - EPOCH_MS
    }
}

/// The first characters of an ETag, for the log.
pub fn short(etag: &str) -> &str {
    let e = etag.trim_matches('"');
    e.get(..6).unwrap_or(e)
}

//! The user-metadata entries every replica carries (what makes an object a replica, where it came
//! from and when its original was written), and the one place they are read: [`ReplicaRecord`].

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::record_mac::{self, RecordKey, REPLICA_RECORD_MAC};
use super::SourceVersion;

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

/// User-metadata entry added to every replica: the MD5 (hex) of the key it was written to. A
/// copy of a replica made to another key (`aws s3 cp s3://b/k s3://b/k2` copies user metadata)
/// is a new object there and is replicated. A digest, not the key: user metadata is ASCII and
/// at most 2 KB, a key up to 1,024 bytes of UTF-8.
pub const REPLICA_KEY: &str = "replica-written-key-md5";

/// User-metadata entry added to every replica: the source version's ETag (unquoted). A `null`
/// version id names a new write each time an unversioned source overwrites its key, and a
/// replica in parts of our own (or under SSE-KMS, or streamed) has an ETag of its own: this
/// tells which write it copies, in the same second too.
pub const REPLICA_SOURCE_ETAG: &str = "replica-source-etag";

/// User-metadata entry of a replica whose part layout is our own although its rule keeps the
/// source's ETag: a part of the source's layout could not be copied within one invocation, so
/// the copy switched to smaller parts (docs/semantics.md#how-many-invocations-a-large-object-takes).
/// Its ETag is then not the source's; its bytes are proven by the checksum where one can be.
/// The value is [`OWN_LAYOUT`].
pub const REPLICA_LAYOUT: &str = "replica-layout";

/// The value of [`REPLICA_LAYOUT`] on a replica in parts of our own.
pub const OWN_LAYOUT: &str = "own";

/// User-metadata entry added to every replica: when the function sent the request that S3
/// stamps it with (milliseconds since the epoch, the function's clock, taken just before the
/// request: a CopyObject or PutObject, or the CreateMultipartUpload whose time an upload keeps).
/// With [`REPLICA_WRITTEN_UNTIL`] it bounds the replica's own `Last-Modified`: a copy of the
/// replica made onto its key later (`aws s3 cp s3://dst/k s3://dst/k` keeps user metadata), or
/// an old replica's record replayed over newer data, is stamped outside and is no replica.
pub const REPLICA_WRITTEN_AT: &str = "replica-written-at";

/// User-metadata entry added to every replica: the latest time (milliseconds since the epoch)
/// S3 may stamp it, the deadline of the request that writes it (the function gives up on a
/// request still unanswered then).
pub const REPLICA_WRITTEN_UNTIL: &str = "replica-written-until";

/// Every user-metadata entry this function adds to a replica (the MAC only where a record key
/// is configured, the layout only where it is our own against the rule's ETag parity, the
/// write's time on replicas written since it was recorded).
pub const REPLICA_ENTRIES: [&str; 10] = [
    REPLICA_MARKER,
    REPLICA_WRITTEN_AT,
    REPLICA_WRITTEN_UNTIL,
    REPLICA_LAYOUT,
    REPLICA_SOURCE_ETAG,
    REPLICA_SOURCE_BUCKET,
    REPLICA_WRITTEN_TO,
    REPLICA_KEY,
    REPLICA_ORIGIN_TIME,
    REPLICA_RECORD_MAC,
];

/// The value of [`REPLICA_KEY`] for `key`.
pub fn key_digest(key: &str) -> String {
    hex::encode(Md5::digest(key.as_bytes()))
}

/// Whether an object of `size` bytes with ETag `etag` can be a replica this function wrote of
/// `head`, whatever layout the copy took: the source's size, and where the rule keeps ETags
/// (`keeps_etag`), the source's ETag, or for a multipart source any multipart ETag (a copy whose
/// source parts could not be copied within an invocation switches to parts of our own, and its
/// record says so: [`REPLICA_LAYOUT`]). Only the replica record says whose replica it is and
/// in which layout: this rules out what cannot be.
pub fn may_be_replica(size: u64, etag: &str, head: &SourceVersion, keeps_etag: bool) -> bool {
    let switched = || {
        crate::copy::multipart_parts(&head.etag).is_some()
            && crate::copy::multipart_parts(etag).is_some()
    };
    layout_fits(size, etag, head, keeps_etag) || (size == head.size && switched())
}

/// The source's size, and where the copy kept the ETag, the source's ETag.
fn layout_fits(size: u64, etag: &str, head: &SourceVersion, keeps_etag: bool) -> bool {
    size == head.size && (!keeps_etag || etag == head.etag)
}

/// What a replica's entries say, read where the object sits: only an object this function wrote
/// at that very bucket and key has one. Where a record key is configured, only a record whose
/// MAC that key proves ([`record_mac`]) is one: anything else is an object written by someone
/// else. Without a key, replicas written before an entry was recorded (no bucket, no key digest)
/// are taken at their word for what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaRecord<'a> {
    /// The source version id (`null` when unversioned).
    pub version: &'a str,
    /// The source bucket (`None`: written before it was recorded).
    pub source_bucket: Option<&'a str>,
    /// When the original was written, in milliseconds since the epoch, as recorded.
    pub original_millis: Option<i64>,
    /// The source version's ETag, unquoted (`None`: written before it was recorded).
    pub source_etag: Option<&'a str>,
    /// The copy switched to a part layout of our own ([`REPLICA_LAYOUT`]): the ETag is not the
    /// source's even where the rule keeps it.
    pub own_layout: bool,
}

impl ReplicaRecord<'_> {
    /// Whether the record names `source` as its source bucket (a record without one does).
    pub fn from(&self, source: &str) -> bool {
        self.source_bucket.is_none_or(|b| b == source)
    }

    /// Whether this is the replica of version `version` of `source`.
    pub fn of(&self, source: &str, version: &str) -> bool {
        self.from(source) && self.version == version
    }
}

impl SourceVersion {
    /// The record of a replica this function wrote at `bucket`/`key`; `None` for anything else,
    /// a copy of a replica made to another bucket or key included (a new object there).
    pub fn replica_record(&self, bucket: &str, key: &str) -> Option<ReplicaRecord<'_>> {
        self.replica_record_under(bucket, key, record_mac::installed())
    }

    /// As [`Self::replica_record`], proven with `mac_key` (none: believed as it is).
    pub(crate) fn replica_record_under(
        &self,
        bucket: &str,
        key: &str,
        mac_key: Option<&RecordKey>,
    ) -> Option<ReplicaRecord<'_>> {
        let version = self.metadata.get(REPLICA_MARKER)?;
        let here = |entry: &str, value: &str| self.metadata.get(entry).is_none_or(|v| v == value);
        if !here(REPLICA_WRITTEN_TO, bucket) || !here(REPLICA_KEY, &key_digest(key)) {
            return None;
        }
        // The MAC covers every entry (a missing one fails it), so with a key the record is
        // complete and names this very bucket and key.
        if mac_key.is_some_and(|k| !record_mac::proven(&self.metadata, self.size, k)) {
            return None;
        }
        // With or without a key: an object stamped outside its record's write is a copy of the
        // record made later (or a replay of an old one), written by someone else.
        if !self.stamped_within_its_write() {
            return None;
        }
        Some(ReplicaRecord {
            version,
            source_bucket: self.metadata.get(REPLICA_SOURCE_BUCKET).map(String::as_str),
            original_millis: self
                .metadata
                .get(REPLICA_ORIGIN_TIME)
                .and_then(|m| m.parse().ok()),
            source_etag: self.metadata.get(REPLICA_SOURCE_ETAG).map(String::as_str),
            own_layout: self.metadata.get(REPLICA_LAYOUT).map(String::as_str) == Some(OWN_LAYOUT),
        })
    }

    /// Whether the object's `Last-Modified` (whole seconds: the second the bounds fall in is
    /// allowed) lies within the write its record dates ([`REPLICA_WRITTEN_AT`],
    /// [`REPLICA_WRITTEN_UNTIL`]). A record written before the time was recorded (neither
    /// entry) passes, as an object whose `Last-Modified` was not read; one entry alone, or one
    /// that is no number, fails.
    pub fn stamped_within_its_write(&self) -> bool {
        let entry = |name: &str| self.metadata.get(name).map(|v| v.parse::<i64>().ok());
        match (entry(REPLICA_WRITTEN_AT), entry(REPLICA_WRITTEN_UNTIL)) {
            (None, None) => true,
            (Some(Some(at)), Some(Some(until))) => self.last_modified.is_none_or(|stamp| {
                (at.div_euclid(1000)..=until.div_euclid(1000)).contains(&stamp.secs())
            }),
            _ => false,
        }
    }

    /// Whether this object at `bucket`/`key` is the replica of the source's version `head` of
    /// `source`: the version id it records, and for a `null` version (every overwrite of an
    /// unversioned key reuses that id) the same write too: the original's recorded second, the
    /// source's size and, where the copy keeps it, its ETag, the source ETag it records, and the
    /// source's user metadata and content headers (a rewrite of the same bytes with other
    /// metadata or another Content-Type is another write). A replica whose record says its
    /// layout is our own where the rule keeps ETags has its bytes proven by the checksum
    /// instead, wherever both sides have a full-object one of the same algorithm.
    pub fn is_replica_of(
        &self,
        bucket: &str,
        key: &str,
        source: &str,
        head: &SourceVersion,
        keeps_etag: bool,
    ) -> bool {
        let version = head.version_id.as_deref().unwrap_or("null");
        let Some(record) = self.replica_record(bucket, key) else {
            return false;
        };
        if !record.of(source, version) {
            return false;
        }
        // Where the ETag proves nothing (our own layout, SSE-KMS), other bytes by the checksum,
        // or a checksum no copy of ours carries, are no replica: the judgement `verify` reports.
        let keeps_etag = keeps_etag && !record.own_layout;
        if !keeps_etag && self.same_bytes_by_checksum(head) == Some(false) {
            return false;
        }
        version != "null"
            || (layout_fits(self.size, &self.etag, head, keeps_etag)
                && record.original_millis.map(|m| m.div_euclid(1000))
                    == Some(crate::order::write_of(head, source, key).secs)
                && record
                    .source_etag
                    .is_none_or(|e| e == head.etag.trim_matches('"'))
                && without_replica_entries(&self.metadata)
                    == without_replica_entries(&head.metadata)
                && self.content == head.content)
    }

    /// What the checksums say of this replica's bytes against its source `other`'s: `Some(true)`
    /// for equal full-object checksums of one algorithm; `Some(false)` for unequal ones, or where
    /// `other` has a full-object CRC (which every copy of ours keeps, in one request or in parts
    /// of any layout) and this object has another checksum (composite, another algorithm): no
    /// copy of ours, whatever its record says; `None` for nothing either way (no checksum here,
    /// as on an endpoint that keeps none; composite checksums of two layouts; a full-object SHA,
    /// composite once copied in parts).
    pub fn same_bytes_by_checksum(&self, other: &SourceVersion) -> Option<bool> {
        let crc = |a: &str| matches!(a, "CRC32" | "CRC32C" | "CRC64NVME");
        match (&self.checksum, &other.checksum) {
            (Some(a), Some(b)) if a.full_object && b.full_object && a.algorithm == b.algorithm => {
                Some(a.value == b.value)
            }
            (Some(_), Some(b)) if b.full_object && crc(&b.algorithm) => Some(false),
            _ => None,
        }
    }

    /// Whether a full-object SHA-1 or SHA-256 checksum, equal on both sides, proves this
    /// object's bytes `other`'s against a writer. A CRC (CRC32, CRC32C, CRC64NVME) proves bytes
    /// against accidents only: anyone can forge other bytes of the same size and CRC, so an
    /// equal CRC never proves a replica (docs/security.md, "What proves bytes").
    pub fn same_bytes_by_sha(&self, other: &SourceVersion) -> bool {
        let sha = |a: &str| matches!(a, "SHA1" | "SHA256");
        match (&self.checksum, &other.checksum) {
            (Some(a), Some(b)) => {
                a.full_object
                    && b.full_object
                    && sha(&a.algorithm)
                    && a.algorithm == b.algorithm
                    && a.value == b.value
            }
            _ => false,
        }
    }

    /// Whether this object is a replica this function wrote at `bucket`/`key`.
    pub fn is_replica_in(&self, bucket: &str, key: &str) -> bool {
        self.replica_record(bucket, key).is_some()
    }

    /// Whether this is a replica written at `bucket`/`key` from `from` (two-way, seen from the
    /// side that received it): the record must name `from`.
    pub fn is_replica_from(&self, bucket: &str, key: &str, from: &str) -> bool {
        self.replica_record(bucket, key)
            .is_some_and(|r| r.source_bucket == Some(from))
    }

    /// Whether this object at `bucket`/`key` did not come from `source_bucket` through this
    /// function: written there itself, replicated there from another bucket (two-way, fan-in),
    /// or a copy of a replica.
    pub fn not_replicated_from(&self, bucket: &str, key: &str, source_bucket: &str) -> bool {
        !self
            .replica_record(bucket, key)
            .is_some_and(|r| r.from(source_bucket))
    }
}

/// User metadata without the entries this function adds ([`REPLICA_ENTRIES`]).
pub fn without_replica_entries(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .filter(|(k, _)| !REPLICA_ENTRIES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(metadata: &[(&str, &str)]) -> SourceVersion {
        SourceVersion {
            size: 1,
            etag: "\"e\"".into(),
            version_id: Some("v".into()),
            content: Default::default(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            storage_class: None,
            archived: false,
            encryption: super::super::Encryption::None,
            object_lock: Default::default(),
            tag_count: None,
            parts_count: None,
            checksum: None,
            last_modified: None,
        }
    }

    #[test]
    fn a_replica_may_have_any_layout_the_engine_writes_and_nothing_else() {
        let single = object(&[]);
        let parts = SourceVersion {
            etag: "\"m-3\"".into(),
            ..object(&[])
        };
        // The source's own layout: its ETag.
        assert!(may_be_replica(1, "\"e\"", &single, true));
        assert!(may_be_replica(1, "\"m-3\"", &parts, true));
        // Parts of our own for a single-part source above the threshold: the rule keeps no ETag
        // then. Below it, one request keeps it: another layout there is no replica's.
        assert!(may_be_replica(1, "\"o-2\"", &single, false));
        assert!(!may_be_replica(1, "\"o-2\"", &single, true));
        // Streamed or KMS: any ETag.
        assert!(may_be_replica(1, "\"x\"", &single, false));
        // Never another size or another single-part ETag.
        assert!(!may_be_replica(2, "\"e\"", &single, true));
        assert!(!may_be_replica(1, "\"x\"", &single, true));
        assert!(!may_be_replica(1, "\"x\"", &parts, true));
        // Another layout of a multipart source may be a copy switched to parts of our own: only
        // its record (and checksum) can tell.
        assert!(may_be_replica(1, "\"o-2\"", &parts, true));
    }

    #[test]
    fn a_replica_switched_to_our_own_layout_is_one_by_its_record_and_its_checksum() {
        use super::super::Checksum;
        let crc = |value: &str| {
            Some(Checksum {
                algorithm: "CRC32".into(),
                full_object: true,
                value: value.into(),
            })
        };
        let source = SourceVersion {
            etag: "\"m-3\"".into(),
            version_id: None,
            checksum: crc("a"),
            ..object(&[])
        };
        let digest = key_digest("k");
        let entries = |layout: Option<&'static str>| {
            let mut e = vec![
                (REPLICA_MARKER, "null"),
                (REPLICA_WRITTEN_TO, "dst"),
                (REPLICA_KEY, digest.as_str()),
                (REPLICA_SOURCE_BUCKET, "src"),
                (REPLICA_SOURCE_ETAG, "m-3"),
            ];
            e.extend(layout.map(|l| (REPLICA_LAYOUT, l)));
            e
        };
        let replica = |layout: Option<&'static str>, checksum: &str| SourceVersion {
            etag: "\"o-9\"".into(),
            checksum: crc(checksum),
            last_modified: None,
            ..object(&entries(layout))
        };
        let origin = crate::order::write_of(&source, "src", "k").secs * 1000;
        let dated = |mut v: SourceVersion| {
            v.metadata
                .insert(REPLICA_ORIGIN_TIME.into(), origin.to_string());
            v
        };
        let switched = dated(replica(Some(OWN_LAYOUT), "a"));
        assert!(switched.is_replica_of("dst", "k", "src", &source, true));
        // Without the record's word, another layout where the rule keeps ETags is no replica.
        let unmarked = dated(replica(None, "a"));
        assert!(!unmarked.is_replica_of("dst", "k", "src", &source, true));
        // Other bytes under the word: the checksum tells.
        let other = dated(replica(Some(OWN_LAYOUT), "b"));
        assert!(!other.is_replica_of("dst", "k", "src", &source, true));
        // A checksum no copy of ours carries (the source's full-object CRC32 is kept by any
        // layout): other bytes too, not "nothing proven".
        let composite = SourceVersion {
            checksum: Some(Checksum {
                algorithm: "SHA256".into(),
                full_object: false,
                value: "h-2".into(),
            }),
            ..dated(replica(Some(OWN_LAYOUT), "a"))
        };
        assert!(!composite.is_replica_of("dst", "k", "src", &source, true));
    }

    #[test]
    fn only_replicas_written_at_a_bucket_and_key_are_replicas_there() {
        let digest = key_digest("k");
        let replica = object(&[
            (REPLICA_MARKER, "v1"),
            (REPLICA_WRITTEN_TO, "dst"),
            (REPLICA_KEY, &digest),
            (REPLICA_SOURCE_BUCKET, "src"),
        ]);
        assert!(replica.is_replica_in("dst", "k"));
        assert!(replica.is_replica_from("dst", "k", "src"));
        assert!(
            !replica.is_replica_in("src", "k"),
            "copied back: a new object"
        );
        assert!(!replica.is_replica_in("dst", "k2"), "copied to a new key");
        assert!(replica.not_replicated_from("dst", "k2", "src"));
        assert!(!replica.not_replicated_from("dst", "k", "src"));
        assert!(replica.not_replicated_from("dst", "k", "third"));
        assert!(object(&[]).not_replicated_from("dst", "k", "src"));
        let record = replica.replica_record("dst", "k").unwrap();
        assert!(record.of("src", "v1") && !record.of("other", "v1") && !record.of("src", "v2"));
    }

    #[test]
    fn with_a_record_key_only_a_sealed_record_is_one() {
        let key = RecordKey::new(vec![3; 32]).unwrap();
        let digest = key_digest("k");
        let entries = [
            (REPLICA_MARKER, "v1"),
            (REPLICA_WRITTEN_TO, "dst"),
            (REPLICA_KEY, digest.as_str()),
            (REPLICA_SOURCE_BUCKET, "src"),
            (REPLICA_ORIGIN_TIME, "1000"),
            (REPLICA_SOURCE_ETAG, "etag"),
        ];
        let forged = object(&entries);
        assert!(forged.replica_record_under("dst", "k", None).is_some());
        assert!(forged
            .replica_record_under("dst", "k", Some(&key))
            .is_none());
        let mut sealed = forged.clone();
        record_mac::seal(&mut sealed.metadata, sealed.size, Some(&key));
        let record = sealed.replica_record_under("dst", "k", Some(&key)).unwrap();
        assert!(record.of("src", "v1"));
        assert!(sealed
            .replica_record_under("dst", "k2", Some(&key))
            .is_none());
        // A record dated otherwise, or another object's bytes under a sealed record.
        let mut redated = sealed.clone();
        redated
            .metadata
            .insert(REPLICA_ORIGIN_TIME.into(), "9999999999999".into());
        assert!(redated
            .replica_record_under("dst", "k", Some(&key))
            .is_none());
        let resized = SourceVersion { size: 2, ..sealed };
        assert!(resized
            .replica_record_under("dst", "k", Some(&key))
            .is_none());
        // Records written before an entry existed have no MAC: not records under a key.
        let legacy = object(&[(REPLICA_MARKER, "v1")]);
        assert!(legacy
            .replica_record_under("dst", "k", Some(&key))
            .is_none());
    }

    #[test]
    fn a_record_counts_only_on_an_object_stamped_within_its_write() {
        let digest = key_digest("k");
        let at = |stamp: i64, times: &[(&'static str, &'static str)]| {
            let mut entries = vec![
                (REPLICA_MARKER, "v1"),
                (REPLICA_WRITTEN_TO, "dst"),
                (REPLICA_KEY, digest.as_str()),
            ];
            entries.extend_from_slice(times);
            SourceVersion {
                last_modified: Some(aws_smithy_types::DateTime::from_secs(stamp)),
                ..object(&entries)
            }
        };
        let window = [
            (REPLICA_WRITTEN_AT, "10500"),
            (REPLICA_WRITTEN_UNTIL, "40200"),
        ];
        // The seconds the bounds fall in are allowed: S3 stamps whole seconds.
        for inside in [10, 25, 40] {
            assert!(at(inside, &window).is_replica_in("dst", "k"), "{inside}");
        }
        // Copied onto its key later (or replayed), or stamped before it was sent: someone else's.
        for outside in [9, 41, 100] {
            assert!(!at(outside, &window).is_replica_in("dst", "k"), "{outside}");
            assert!(at(outside, &window).not_replicated_from("dst", "k", "src"));
        }
        // Written before the times were recorded: judged as before.
        assert!(at(100, &[]).is_replica_in("dst", "k"));
        // One time alone, or one that is no number, is no record.
        assert!(!at(20, &window[..1]).is_replica_in("dst", "k"));
        assert!(!at(
            20,
            &[(REPLICA_WRITTEN_AT, "x"), (REPLICA_WRITTEN_UNTIL, "40200")]
        )
        .is_replica_in("dst", "k"));
    }

    #[test]
    fn records_older_than_an_entry_are_taken_at_their_word() {
        let legacy = object(&[(REPLICA_MARKER, "v1")]);
        assert!(legacy.is_replica_in("dst", "any"));
        assert!(legacy.replica_record("dst", "any").unwrap().from("src"));
        assert!(!legacy.is_replica_from("dst", "any", "src"));
    }
}

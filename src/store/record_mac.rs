//! The replica record's MAC: proof that this function wrote a replica's `replica-*` entries, which
//! anyone who may write an object can otherwise set (docs/security.md, "Replica records").
//!
//! HMAC-SHA256 (RustCrypto's `hmac` and `sha2`, compared in constant time by `verify_slice`) over
//! the record's fields and the object's size, keyed by a secret only the function can read (a
//! Secrets Manager secret named by `REPLICA_RECORD_KEY_SECRET_ARN`, read once at init). The key is
//! process-wide, installed once ([`install`]) before the first record is read or written, so every
//! reader of a record ([`SourceVersion::replica_record`](super::SourceVersion::replica_record)) and
//! the one writer (the replica's plan) find it without it being passed through every call. With
//! none installed (the default, and the in-memory fake and simulation) records are not sealed and
//! are believed as they are.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hmac::{KeyInit, Mac};

use super::replica_metadata::{
    REPLICA_KEY, REPLICA_LAYOUT, REPLICA_MARKER, REPLICA_ORIGIN_TIME, REPLICA_SOURCE_BUCKET,
    REPLICA_SOURCE_ETAG, REPLICA_WRITTEN_AT, REPLICA_WRITTEN_TO, REPLICA_WRITTEN_UNTIL,
};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// User-metadata entry a sealed replica carries: the HMAC-SHA256 (hex) of its record.
pub const REPLICA_RECORD_MAC: &str = "replica-record-mac";

/// The fewest bytes a record key may have: HMAC-SHA256's own output length.
pub const MIN_KEY_BYTES: usize = 32;

/// What the MAC is computed over, before the fields: a format version, so that a later format
/// can never be confused with this one. v2: a record without the write's time (written before
/// it was recorded), which keeps the MAC it always had.
const DOMAIN: &[u8] = b"s3-replicator replica-record v2";

/// The format of a record that dates its write ([`REPLICA_WRITTEN_AT`],
/// [`REPLICA_WRITTEN_UNTIL`]): both times after the fixed fields.
const DOMAIN_TIMED: &[u8] = b"s3-replicator replica-record v3";

/// The secret that seals and proves replica records. Its bytes never appear in `Debug`.
#[derive(Clone)]
pub struct RecordKey(Vec<u8>);

impl RecordKey {
    /// A key of these bytes; at least [`MIN_KEY_BYTES`] of them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the key has {} bytes; at least {MIN_KEY_BYTES} are needed",
                bytes.len()
            ));
        }
        Ok(Self(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC takes a key of any length")
    }
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordKey({} bytes)", self.0.len())
    }
}

static KEY: OnceLock<RecordKey> = OnceLock::new();

/// Installs the process's record key: once, at init, before any record is read or written. A
/// second call fails unless it installs the same key (so init may run twice in one process).
pub fn install(key: RecordKey) -> Result<(), String> {
    let installed = KEY.get_or_init(|| key.clone());
    match installed.0 == key.0 {
        true => Ok(()),
        false => Err("another replica record key is already installed".to_owned()),
    }
}

/// The process's record key, if one was installed.
pub fn installed() -> Option<&'static RecordKey> {
    KEY.get()
}

/// The message a record's MAC covers: every entry of the record and the object's size, each
/// length-prefixed (so no two records give the same bytes).
fn message(metadata: &BTreeMap<String, String>, size: u64) -> Option<Vec<u8>> {
    // Both times or neither: one alone is no record.
    let times = match (
        metadata.get(REPLICA_WRITTEN_AT),
        metadata.get(REPLICA_WRITTEN_UNTIL),
    ) {
        (Some(at), Some(until)) => Some([at.as_str(), until.as_str()]),
        (None, None) => None,
        _ => return None,
    };
    let mut out = match times {
        Some(_) => DOMAIN_TIMED.to_vec(),
        None => DOMAIN.to_vec(),
    };
    let size = size.to_string();
    let fields = [
        metadata.get(REPLICA_MARKER)?.as_str(),
        metadata.get(REPLICA_SOURCE_BUCKET)?.as_str(),
        metadata.get(REPLICA_WRITTEN_TO)?.as_str(),
        metadata.get(REPLICA_KEY)?.as_str(),
        metadata.get(REPLICA_ORIGIN_TIME)?.as_str(),
        metadata.get(REPLICA_SOURCE_ETAG)?.as_str(),
        size.as_str(),
    ];
    // The layout entry only where present, after the rest: a record without it keeps the MAC
    // it always had, and one with it cannot be sealed or proven without it.
    let layout = metadata.get(REPLICA_LAYOUT).map(String::as_str);
    let times = times.into_iter().flatten();
    for field in fields.into_iter().chain(times).chain(layout) {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field.as_bytes());
    }
    Some(out)
}

/// Seals the record in `metadata` (a replica of `size` bytes) with `key`: adds
/// [`REPLICA_RECORD_MAC`]. Without a key, removes any such entry (one copied from the source
/// would mean nothing). A record missing an entry is left unsealed.
pub fn seal(metadata: &mut BTreeMap<String, String>, size: u64, key: Option<&RecordKey>) {
    metadata.remove(REPLICA_RECORD_MAC);
    let (Some(key), Some(message)) = (key, message(metadata, size)) else {
        return;
    };
    let mut mac = key.mac();
    mac.update(&message);
    let tag = hex::encode(mac.finalize().into_bytes());
    metadata.insert(REPLICA_RECORD_MAC.to_owned(), tag);
}

/// Dates the record in `metadata` (a replica of `size` bytes) with the write about to be sent:
/// `at`, now by the function's clock, and `until`, the latest time S3 may stamp it (both in
/// milliseconds since the epoch); then seals it anew with the process's key, if one is
/// installed.
pub fn date(metadata: &mut BTreeMap<String, String>, size: u64, at: i64, until: i64) {
    metadata.insert(REPLICA_WRITTEN_AT.to_owned(), at.to_string());
    metadata.insert(REPLICA_WRITTEN_UNTIL.to_owned(), until.to_string());
    seal(metadata, size, installed());
}

/// Whether the record in `metadata` (an object of `size` bytes) carries every entry and a MAC
/// that `key` proves. Compared in constant time.
pub fn proven(metadata: &BTreeMap<String, String>, size: u64, key: &RecordKey) -> bool {
    let Some(message) = message(metadata, size) else {
        return false;
    };
    let Some(tag) = metadata
        .get(REPLICA_RECORD_MAC)
        .and_then(|t| hex::decode(t).ok())
    else {
        return false;
    };
    let mut mac = key.mac();
    mac.update(&message);
    mac.verify_slice(&tag).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> RecordKey {
        RecordKey::new(vec![byte; 32]).unwrap()
    }

    fn record() -> BTreeMap<String, String> {
        [
            (REPLICA_MARKER, "v1"),
            (REPLICA_SOURCE_BUCKET, "src"),
            (REPLICA_WRITTEN_TO, "dst"),
            (REPLICA_KEY, "d41d8cd98f00b204e9800998ecf8427e"),
            (REPLICA_ORIGIN_TIME, "1000"),
            (REPLICA_SOURCE_ETAG, "d41d8cd98f00b204e9800998ecf8427e"),
            ("owner", "me"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn a_sealed_record_is_proven_by_its_key_only() {
        let mut m = record();
        seal(&mut m, 5, Some(&key(1)));
        assert_eq!(m[REPLICA_RECORD_MAC].len(), 64);
        assert!(proven(&m, 5, &key(1)));
        assert!(!proven(&m, 5, &key(2)), "another key");
        assert!(!proven(&m, 6, &key(1)), "another size");
        assert!(!proven(&record(), 5, &key(1)), "no MAC");
        // A record that says its layout is our own is sealed with that word: not without it,
        // and a record sealed without it does not gain it.
        let mut own = record();
        own.insert(REPLICA_LAYOUT.into(), "own".into());
        seal(&mut own, 5, Some(&key(1)));
        assert!(proven(&own, 5, &key(1)));
        let mut dropped = own.clone();
        dropped.remove(REPLICA_LAYOUT);
        assert!(!proven(&dropped, 5, &key(1)));
        let mut added = m.clone();
        added.insert(REPLICA_LAYOUT.into(), "own".into());
        assert!(!proven(&added, 5, &key(1)));
    }

    #[test]
    fn every_field_is_covered_and_other_metadata_is_not() {
        let mut sealed = record();
        seal(&mut sealed, 5, Some(&key(1)));
        for entry in [
            REPLICA_MARKER,
            REPLICA_SOURCE_BUCKET,
            REPLICA_WRITTEN_TO,
            REPLICA_KEY,
            REPLICA_ORIGIN_TIME,
            REPLICA_SOURCE_ETAG,
        ] {
            let mut changed = sealed.clone();
            changed.insert(entry.to_owned(), "9999999999999".to_owned());
            assert!(!proven(&changed, 5, &key(1)), "{entry} changed");
            changed.remove(entry);
            assert!(!proven(&changed, 5, &key(1)), "{entry} missing");
        }
        let mut other = sealed.clone();
        other.insert("owner".to_owned(), "you".to_owned());
        assert!(proven(&other, 5, &key(1)), "the user's own metadata");
    }

    #[test]
    fn a_dated_record_covers_its_times_and_an_undated_one_keeps_its_mac() {
        let mut undated = record();
        seal(&mut undated, 5, Some(&key(1)));
        let mut dated = record();
        dated.insert(REPLICA_WRITTEN_AT.into(), "1000".into());
        dated.insert(REPLICA_WRITTEN_UNTIL.into(), "2000".into());
        seal(&mut dated, 5, Some(&key(1)));
        assert!(proven(&dated, 5, &key(1)));
        assert!(
            proven(&undated, 5, &key(1)),
            "a record from before keeps its MAC"
        );
        for entry in [REPLICA_WRITTEN_AT, REPLICA_WRITTEN_UNTIL] {
            let mut changed = dated.clone();
            changed.insert(entry.to_owned(), "999999".to_owned());
            assert!(!proven(&changed, 5, &key(1)), "{entry} changed");
            changed.remove(entry);
            assert!(!proven(&changed, 5, &key(1)), "{entry} removed");
        }
        let mut stripped = dated.clone();
        stripped.remove(REPLICA_WRITTEN_AT);
        stripped.remove(REPLICA_WRITTEN_UNTIL);
        assert!(!proven(&stripped, 5, &key(1)), "both times removed");
        let mut added = undated.clone();
        added.insert(REPLICA_WRITTEN_AT.into(), "1000".into());
        added.insert(REPLICA_WRITTEN_UNTIL.into(), "2000".into());
        assert!(
            !proven(&added, 5, &key(1)),
            "times added to an undated record"
        );
    }

    #[test]
    fn without_a_key_nothing_is_sealed_and_a_copied_mac_is_dropped() {
        let mut m = record();
        m.insert(REPLICA_RECORD_MAC.to_owned(), "00".repeat(32));
        seal(&mut m, 5, None);
        assert!(!m.contains_key(REPLICA_RECORD_MAC));
    }

    #[test]
    fn a_short_key_is_refused_and_never_printed() {
        assert!(RecordKey::new(vec![0; 31]).is_err());
        assert_eq!(format!("{:?}", key(7)), "RecordKey(32 bytes)");
    }
}

//! What a replica whose ETag differs from its source's proves: the same bytes (equal full-object
//! SHA checksums; a CRC proves nothing against a writer), damage, or nothing either way (unproven: the ETag cannot match).

use crate::store::{Encryption, ReplicaLocation, SourceVersion};

/// What a replica whose ETag differs from its source's proves.
#[derive(Debug, PartialEq)]
pub(super) enum Proof {
    /// Equal full-object SHA checksums: the bytes are the source's.
    Bytes,
    /// Marker and size agree, the ETag cannot match, and nothing proves the bytes (why).
    Unproven(String),
    /// Damage: the field that differs.
    Differs(String),
}

/// Decides [`Proof`] for a source object of bucket `source` and the destination's at `at`
/// (whose listed ETag differed). `parity`: the rule copies with the source's ETag. Only a
/// record of this function's at `at` (proven, where a record key is configured) naming the
/// source's version makes a replica whose bytes are worth proving.
pub(super) fn proof(
    parity: bool,
    src: &SourceVersion,
    dst: &SourceVersion,
    at: &ReplicaLocation,
    source: &str,
) -> Proof {
    let version = src.version_id.as_deref().unwrap_or("null");
    let record = dst.replica_record(&at.bucket, &at.key);
    let names_it = record.is_some_and(|r| r.of(source, version));
    // A copy that switched to parts of our own (a source part too slow for an invocation) keeps
    // no ETag parity: its bytes are proven by the checksum, or unproven.
    let parity = parity && !record.is_some_and(|r| r.own_layout);
    if !names_it || src.size != dst.size {
        return Proof::Differs("etag".to_owned());
    }
    // The checksum judgement convergence makes (`is_replica_of`): a checksum no copy of ours
    // carries is damage, never unproven, as `repair` rewrites it.
    if dst.same_bytes_by_checksum(src) == Some(false) {
        return Proof::Differs("checksum".to_owned());
    }
    let kms = |v: &SourceVersion| matches!(v.encryption, Encryption::Kms { .. });
    // Where the rule copies with the source's ETag (no KMS, the source's own layout or one
    // request), another ETag is other bytes, whatever its layout and whatever a CRC says:
    // anyone can forge other bytes with the source's CRC.
    if parity && !kms(dst) {
        return Proof::Differs("etag".to_owned());
    }
    // Only a SHA proves bytes against a writer.
    if dst.same_bytes_by_sha(src) {
        return Proof::Bytes;
    }
    // An equal CRC proves the bytes against accidents only; the engine takes such a replica
    // for the version's exactly as one with no checksum (`is_replica_of` refuses on an unequal
    // CRC, never accepts on an equal one), so `verify` reports both `unproven`.
    let why = match dst.same_bytes_by_checksum(src) {
        Some(true) => {
            "the ETag cannot match (SSE-KMS or another part layout) and only a full-object CRC \
             agrees, which proves the bytes against accidents, not against a writer; marker and \
             size agree"
        }
        _ => {
            "the ETag cannot match (SSE-KMS or another part layout) and no full-object checksum \
             proves the bytes; marker and size agree"
        }
    };
    Proof::Unproven(why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Checksum, ContentHeaders, ObjectLock, REPLICA_MARKER};

    fn proof(parity: bool, src: &SourceVersion, dst: &SourceVersion) -> Proof {
        let at = ReplicaLocation {
            bucket: "dst".into(),
            key: "k".into(),
            region: "us-east-1".into(),
            expected_bucket_owner: None,
            endpoint: None,
        };
        super::proof(parity, src, dst, &at, "src")
    }

    fn object(
        etag: &str,
        marker: Option<&str>,
        checksum: Option<(&str, bool, &str)>,
    ) -> SourceVersion {
        SourceVersion {
            size: 10,
            etag: etag.into(),
            version_id: Some("v1".into()),
            content: ContentHeaders::default(),
            metadata: marker
                .map(|m| (REPLICA_MARKER.to_owned(), m.to_owned()))
                .into_iter()
                .collect(),
            storage_class: None,
            archived: false,
            encryption: Encryption::None,
            object_lock: ObjectLock::default(),
            tag_count: None,
            parts_count: None,
            checksum: checksum.map(|(algorithm, full_object, value)| Checksum {
                algorithm: algorithm.into(),
                full_object,
                value: value.into(),
            }),
            last_modified: None,
        }
    }

    #[test]
    fn only_an_equal_sha_proves_bytes_where_the_etag_cannot_match() {
        let src = object("\"a\"", None, Some(("SHA256", true, "x")));
        let dst = object("\"b-2\"", Some("v1"), Some(("SHA256", true, "x")));
        assert_eq!(proof(false, &src, &dst), Proof::Bytes);
        let other = object("\"b-2\"", Some("v1"), Some(("SHA256", true, "y")));
        assert_eq!(
            proof(false, &src, &other),
            Proof::Differs("checksum".into())
        );
        // A CRC anyone can forge: against accidents only, so unproven, never same.
        let crc = object("\"a\"", None, Some(("CRC64NVME", true, "x")));
        let forged = object("\"b-2\"", Some("v1"), Some(("CRC64NVME", true, "x")));
        assert!(matches!(proof(false, &crc, &forged), Proof::Unproven(_)));
    }

    #[test]
    fn where_the_etag_is_kept_another_etag_differs_whatever_the_checksum() {
        for algorithm in ["CRC32", "CRC64NVME", "SHA256"] {
            let src = object("\"a\"", None, Some((algorithm, true, "x")));
            let dst = object("\"b-2\"", Some("v1"), Some((algorithm, true, "x")));
            assert_eq!(proof(true, &src, &dst), Proof::Differs("etag".into()));
        }
    }

    #[test]
    fn an_etag_that_cannot_match_is_unproven_never_same() {
        let src = object("\"a\"", None, None);
        let mut kms = object("\"k\"", Some("v1"), None);
        kms.encryption = Encryption::Kms {
            algorithm: "aws:kms".into(),
            key_id: Some("key".into()),
            bucket_key: false,
        };
        assert!(matches!(proof(true, &src, &kms), Proof::Unproven(_)));
        // Another layout of the same bytes, where the copy takes one (parts of our own).
        let parts = object("\"m-3\"", Some("v1"), None);
        assert!(matches!(proof(false, &src, &parts), Proof::Unproven(_)));
        // Where it takes none (one request), another layout is other bytes.
        assert_eq!(proof(true, &src, &parts), Proof::Differs("etag".into()));
        // A rule that cannot keep the ETag (a replica KMS key, another endpoint).
        let plain = object("\"p\"", Some("v1"), None);
        assert!(matches!(proof(false, &src, &plain), Proof::Unproven(_)));
    }

    #[test]
    fn an_etag_that_should_match_and_does_not_is_damage() {
        let src = object("\"a\"", None, None);
        assert_eq!(
            proof(true, &src, &object("\"b\"", Some("v1"), None)),
            Proof::Differs("etag".into())
        );
        // Not our replica of this version: no proof is sought.
        assert_eq!(
            proof(false, &src, &object("\"b\"", Some("v0"), None)),
            Proof::Differs("etag".into())
        );
        // Composite checksums prove nothing across layouts: unproven, not same.
        let c = object("\"c-2\"", Some("v1"), Some(("CRC32", false, "z-2")));
        let s = object("\"a-3\"", None, Some(("CRC32", false, "z-3")));
        assert!(matches!(proof(false, &s, &c), Proof::Unproven(_)));
        // A full-object CRC is kept by every copy of ours: a replica without it (composite,
        // another algorithm) is other bytes, as convergence judges it.
        let full = object("\"a\"", None, Some(("CRC32", true, "z")));
        assert_eq!(proof(false, &full, &c), Proof::Differs("checksum".into()));
        let sha = object("\"c-2\"", Some("v1"), Some(("SHA256", false, "h-2")));
        assert_eq!(proof(false, &full, &sha), Proof::Differs("checksum".into()));
        // A full-object SHA becomes composite in parts of our own: nothing proven either way.
        let full_sha = object("\"a\"", None, Some(("SHA256", true, "h")));
        assert!(matches!(proof(false, &full_sha, &sha), Proof::Unproven(_)));
    }
}

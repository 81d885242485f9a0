//! What the engine promises a replica carries beyond its bytes and record: the encryption the
//! rule asks for, the source's additional checksum and its Object Lock settings. The engine
//! judges a current replica damaged by it (a rewrite), and `verify --deep` reports it.

use super::plan::{lock_in_force, target_encryption};
use crate::config::Rule;
use crate::store::{Checksum, Encryption, SourceVersion, TargetEncryption};

/// What else the engine promises a replica carries: the encryption the rule asks for, the
/// source's additional checksum (algorithm and type) and its Object Lock settings (mode,
/// retain-until date, legal hold).
pub fn promised_differences(rule: &Rule, src: &SourceVersion, dst: &SourceVersion) -> Vec<String> {
    let mut differs = Vec::new();
    let same_key = |got: &str, want: &str| {
        got == want || got.ends_with(&format!("/{want}")) || want.ends_with(&format!("/{got}"))
    };
    let encrypted_as_asked = match target_encryption(rule, src) {
        TargetEncryption::BucketDefault => true,
        TargetEncryption::S3 => dst.encryption == Encryption::S3,
        TargetEncryption::Kms {
            algorithm, key_id, ..
        } => matches!(&dst.encryption, Encryption::Kms { algorithm: a, key_id: Some(k), .. }
            if *a == algorithm && same_key(k, &key_id)),
    };
    if !encrypted_as_asked {
        differs.push("encryption".to_owned());
    }
    if let Some(want) = &src.checksum {
        // A replica copied in parts of our own carries what an upload allows for the source's
        // checksum (a SHA only as a composite one): that is what was promised there.
        let ours = dst.etag.contains('-') && !src.etag.contains('-');
        let like = |got: &Checksum, want: &Checksum| {
            got.algorithm == want.algorithm && got.full_object == want.full_object
        };
        // Another endpoint may keep no additional checksum at all (Ceph RGW accepts the header
        // and drops it): none there is what that server keeps; another checksum still differs.
        let none_kept_elsewhere = rule.destination.endpoint.is_some() && dst.checksum.is_none();
        if !none_kept_elsewhere
            && dst.checksum.as_ref().is_none_or(|got| {
                !(like(got, want) || ours && like(got, &crate::copy::upload_checksum(want)))
            })
        {
            differs.push("checksum".to_owned());
        }
    }
    // A retention whose date has passed binds neither side any more.
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    if lock_in_force(&src.object_lock, now) != lock_in_force(&dst.object_lock, now) {
        differs.push("object-lock".to_owned());
    }
    differs
}

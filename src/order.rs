//! The one order of writes: which of two writes of a key, in any buckets, is the later.
//!
//! Every side must compute the same answer for the same two writes from what S3 itself records,
//! so the order uses only that: the write's `Last-Modified` in whole seconds as S3 recorded it in
//! the bucket where it was first written (a multipart object counts from its upload's initiation,
//! which is what S3 records), then the name of that bucket, then its ETag. The bucket comes before
//! the ETag because a replica's ETag is not its original's under SSE-KMS or when re-chunked,
//! while the bucket a write was first made in is the same seen from every side. A replica
//! carries its original's time (`replica-original-time`), never taken as later than the
//! replica's own `Last-Modified`. Within one bucket, S3's own stack order decides which version
//! is current; this order decides between buckets.

use std::cmp::Ordering;

use crate::store::SourceVersion;

/// One write of a key, as the order sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// `Last-Modified` in whole seconds since the epoch, in the bucket first written.
    pub secs: i64,
    /// The ETag, with its quotes (empty for a delete marker).
    pub etag: String,
    /// The bucket where the write was first made.
    pub bucket: String,
}

/// Which of two writes is the later: `Greater` when `a` is. Total: two different writes of a
/// key are never equal (same second, same bucket and same ETag is one write or one content).
pub fn write_order(a: &Write, b: &Write) -> Ordering {
    (a.secs, &a.bucket, &a.etag).cmp(&(b.secs, &b.bucket, &b.etag))
}

/// The write an object found at `bucket`/`key` stands for: a replica written there by this
/// function stands for its original (the original's time, capped by the replica's own);
/// anything else, a copy of a replica included, is an original write of `bucket`.
pub fn write_of(head: &SourceVersion, bucket: &str, key: &str) -> Write {
    let own = head.last_modified.map_or(0, |t| t.secs());
    let original = head.replica_record(bucket, key).and_then(|r| {
        let secs = r
            .original_millis
            .map_or(own, |m| m.div_euclid(1000).min(own));
        r.source_bucket.map(|from| (secs, from))
    });
    match original {
        Some((secs, from)) => Write {
            secs,
            etag: head.etag.clone(),
            bucket: from.to_owned(),
        },
        None => Write {
            secs: own,
            etag: head.etag.clone(),
            bucket: bucket.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(secs: i64, etag: &str, bucket: &str) -> Write {
        Write {
            secs,
            etag: etag.into(),
            bucket: bucket.into(),
        }
    }

    #[test]
    fn seconds_then_bucket_then_etag() {
        assert_eq!(
            write_order(&w(2, "\"a\"", "a"), &w(1, "\"z\"", "z")),
            Ordering::Greater
        );
        assert_eq!(
            write_order(&w(1, "\"a\"", "z"), &w(1, "\"b\"", "a")),
            Ordering::Greater
        );
        assert_eq!(
            write_order(&w(1, "\"b\"", "a"), &w(1, "\"a\"", "a")),
            Ordering::Greater
        );
        // Antisymmetric, as both sides must agree.
        assert_eq!(
            write_order(&w(1, "\"a\"", "a"), &w(1, "\"a\"", "b")),
            Ordering::Less
        );
    }
}

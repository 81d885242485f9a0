//! The write a replica's record dates: the time the request S3 stamps the replica with is sent
//! (`replica-written-at`) and the latest S3 may stamp it (`replica-written-until`), which that
//! request's own time limit bounds. A single CopyObject or PutObject is stamped while it runs: it
//! may take a fixed allowance plus its bytes at a slow pace, and one still unanswered then is
//! given up (and retried); a multipart upload is stamped at its initiation, so only the
//! CreateMultipartUpload is limited, never its parts. An object stamped outside these bounds
//! is no replica, whatever its metadata says (docs/security.md, "Replica records").

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{ReplicationError, S3Failure, S3FailureKind, Side};
use crate::store::{
    record_mac, ReplicaSpec, REPLICA_MARKER, REPLICA_RECORD_MAC, REPLICA_WRITTEN_AT,
    REPLICA_WRITTEN_UNTIL,
};

/// The slowest pace a single request's bytes are allowed: a CopyObject of 5 GiB within about 11
/// minutes beyond the allowance.
const SLOWEST_BYTES_PER_SEC: u64 = 8 * 1024 * 1024;

/// A request's time for what is not its bytes (reaching S3, the SDK's own retries), unless the
/// caller gives another ([`Stamp::allowance`]).
pub const DEFAULT_ALLOWANCE: Duration = Duration::from_secs(30);

/// How replica records are dated: the clock, and the allowance of every stamping request.
#[derive(Clone, Copy)]
pub struct Stamp<'a> {
    /// Where "now" comes from (the simulated store's clock in the simulation).
    pub clock: &'a dyn Clock,
    /// A request's time beyond its bytes' (none in the simulation, whose requests take no time
    /// on its clock).
    pub allowance: Duration,
    /// Whether `clock` is the machine's, so that a request can be given up at its limit (a
    /// simulated clock cannot time a request: there requests take no time on it).
    pub timed: bool,
}

impl std::fmt::Debug for Stamp<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stamp(allowance {:?})", self.allowance)
    }
}

impl Stamp<'_> {
    /// `target` with its record (a replica of `size` bytes) dated for a request about to be sent
    /// that carries `bytes` (0 for CreateMultipartUpload), and the time that request may take.
    /// A target without a record (a copy back into a source) is left as it is.
    pub fn date(&self, target: &ReplicaSpec, size: u64, bytes: u64) -> (ReplicaSpec, Duration) {
        let limit = self.allowance + Duration::from_millis(bytes * 1000 / SLOWEST_BYTES_PER_SEC);
        let mut dated = target.clone();
        if dated.metadata.contains_key(REPLICA_MARKER) {
            let at = self.clock.now_millis();
            let until = at + limit.as_millis() as i64;
            record_mac::date(&mut dated.metadata, size, at, until);
        }
        (dated, limit)
    }
}

/// User metadata without what dating a record changes (its times and its MAC): what an upload
/// of ours resumed in a later invocation, dated then, shares with this invocation's plan.
pub fn undated(metadata: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let dated = [
        REPLICA_WRITTEN_AT,
        REPLICA_WRITTEN_UNTIL,
        REPLICA_RECORD_MAC,
    ];
    metadata
        .iter()
        .filter(|(k, _)| !dated.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Runs the request that stamps a replica within `limit` (where `stamp` can time it): one still
/// unanswered then fails as a transient failure of `operation` (the record it carries could no
/// longer prove it).
pub async fn within<T>(
    stamp: &Stamp<'_>,
    limit: Duration,
    operation: &'static str,
    request: impl Future<Output = Result<T, S3Failure>>,
) -> Result<T, ReplicationError> {
    let failed = |f| ReplicationError::classify(Side::Destination, f);
    if !stamp.timed {
        return request.await.map_err(failed);
    }
    match tokio::time::timeout(limit, request).await {
        Ok(answer) => answer.map_err(failed),
        Err(_) => Err(failed(S3Failure {
            operation,
            kind: S3FailureKind::Other,
            code: Some("RequestTimeout".to_owned()),
            status: None,
            message: format!(
                "no answer within the {} s the replica's record allows its write",
                limit.as_secs()
            ),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct At(i64);
    impl Clock for At {
        fn now_millis(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn a_record_is_dated_with_its_request_s_limit_and_nothing_else_is() {
        let clock = At(10_000);
        let stamp = Stamp {
            clock: &clock,
            allowance: Duration::from_secs(30),
            timed: false,
        };
        let mut target = ReplicaSpec {
            bucket: "dst".into(),
            key: "k".into(),
            region: String::new(),
            content: Default::default(),
            metadata: [(REPLICA_MARKER.to_owned(), "v1".to_owned())].into(),
            tags: crate::store::TagsPlan::FromSource,
            acl: crate::store::AclPlan::Default,
            storage_class: "STANDARD".into(),
            encryption: crate::store::TargetEncryption::BucketDefault,
            object_lock: Default::default(),
            checksum: None,
            expected_bucket_owner: None,
            endpoint: None,
            condition: None,
        };
        let (dated, limit) = stamp.date(&target, 5, 16 * 1024 * 1024);
        assert_eq!(limit, Duration::from_secs(32));
        assert_eq!(dated.metadata[REPLICA_WRITTEN_AT], "10000");
        assert_eq!(dated.metadata[REPLICA_WRITTEN_UNTIL], "42000");
        target.metadata.remove(REPLICA_MARKER);
        let (plain, _) = stamp.date(&target, 5, 0);
        assert_eq!(plain.metadata, target.metadata);
    }
}

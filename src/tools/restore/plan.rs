//! Planning a restore: each key's history read, its state at T found (for a replica's history,
//! at each version's original write time), and whether the key already is that version in
//! everything a copy back would write.

use std::collections::BTreeMap;

use super::report::Requests;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{
    without_replica_entries, DestinationStore, Past, SourceStore, SourceVersion, VersionRef,
    REPLICA_MARKER,
};

/// A key's state: an object version (its id in the history's bucket, its ETag and size), or
/// nothing (absent, or a delete marker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub(super) version_id: String,
    pub(super) etag: String,
    pub(super) size: u64,
}

/// Where the history comes from.
pub(super) struct History<'a> {
    pub(super) bucket: &'a str,
    pub(super) region: String,
    /// A replica bucket: entries are taken at their original write time.
    pub(super) replica: bool,
}

/// Each key's history, newest first.
pub(super) fn by_key(entries: Vec<Past>) -> BTreeMap<String, Vec<Past>> {
    let mut keys: BTreeMap<String, Vec<Past>> = BTreeMap::new();
    for e in entries {
        keys.entry(e.key.clone()).or_default().push(e);
    }
    keys
}

/// The key's state now: its current entry.
pub(super) fn current(now: &[Past]) -> Option<State> {
    let latest = now.iter().find(|p| p.latest)?;
    (!latest.delete_marker).then(|| State {
        version_id: latest.version_id.clone(),
        etag: latest.etag.clone(),
        size: latest.size,
    })
}

/// The key's state at T in the history: its newest entry written at or before T (for a
/// replica, at its original write time), if that is an object version.
pub(super) async fn as_of<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    bucket: &str,
    key: &str,
    past: &[Past],
    t: i64,
    requests: &mut Requests,
) -> Result<Option<State>, ReplicationError> {
    let state = |p: &Past| {
        (!p.delete_marker).then(|| State {
            version_id: p.version_id.clone(),
            etag: p.etag.clone(),
            size: p.size,
        })
    };
    if !history.replica {
        // Newest first: the first written at or before T (ties keep S3's listing order).
        let then = past.iter().find(|p| p.last_modified <= t);
        return Ok(then.and_then(state));
    }
    // A replica is written after its original, so its own time bounds the original's: read
    // newest first, and stop once no older entry can have been written later than the best.
    let mut best: Option<(i64, &Past)> = None;
    let mut entries: Vec<&Past> = past.iter().collect();
    entries.sort_by_key(|p| std::cmp::Reverse(p.last_modified));
    for p in entries {
        if best.is_some_and(|(at, _)| p.last_modified < at) {
            break;
        }
        let written = match p.delete_marker {
            true => Some(p.last_modified),
            false => {
                requests.get += 1;
                original_time(replicator, history, bucket, key, p).await?
            }
        };
        let Some(written) = written else { continue };
        if written <= t && best.is_none_or(|(at, _)| written > at) {
            best = Some((written, p));
        }
    }
    Ok(best.and_then(|(_, p)| state(p)))
}

/// When the replica version `p` was originally written: its `replica-original-time` (never
/// later than its own time), or its own time for an object written there; `None` for a replica
/// of another bucket's object, and for an object that claims to be a replica without a record
/// of this function's at this bucket and key (forged, where a record key is configured and its
/// MAC fails; or copied from elsewhere): never a source for the restore.
async fn original_time<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    bucket: &str,
    key: &str,
    p: &Past,
) -> Result<Option<i64>, ReplicationError> {
    let head = head_of(replicator, history, key, &p.version_id).await?;
    let Some(head) = head else { return Ok(None) };
    if !head.metadata.contains_key(REPLICA_MARKER) {
        return Ok(Some(p.last_modified));
    }
    let Some(record) = head.replica_record(history.bucket, key) else {
        return Ok(None);
    };
    if !record.from(bucket) {
        return Ok(None);
    }
    Ok(Some(
        record
            .original_millis
            .map_or(p.last_modified, |t| t.min(p.last_modified)),
    ))
}

async fn head_of<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    key: &str,
    version_id: &str,
) -> Result<Option<SourceVersion>, ReplicationError> {
    let version = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(version_id.to_owned()),
    };
    match replicator
        .source()
        .head_version(&history.region, &version, None)
        .await
    {
        Ok(head) => Ok(Some(head)),
        Err(f) => {
            let e = ReplicationError::classify(Side::Source, f);
            match e.disposition() {
                Disposition::SourceGone => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// Whether the key's current object already is the version of T in everything a restore
/// would write: bytes (ETag and size, checked by the caller), content headers, user metadata
/// (our own entries aside) and tags.
pub(super) async fn same_object<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    region: &str,
    bucket: &str,
    key: &str,
    then: &State,
    requests: &mut Requests,
) -> Result<bool, ReplicationError> {
    requests.get += 6;
    let now = VersionRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: None,
    };
    let then_ref = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(then.version_id.clone()),
    };
    same_as(replicator, (region, &now), (&history.region, &then_ref)).await
}

/// Whether two versions (each with its region) hold the same content headers, user metadata
/// (our own entries aside), storage class, tags and ACL grants: what a copy back would write.
pub(super) async fn same_as<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    (region_a, a): (&str, &VersionRef),
    (region_b, b): (&str, &VersionRef),
) -> Result<bool, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let source = replicator.source();
    let (head_a, head_b) = futures::join!(
        source.head_version(region_a, a, None),
        source.head_version(region_b, b, None)
    );
    let (head_a, head_b) = (head_a.map_err(src)?, head_b.map_err(src)?);
    let class = |h: &crate::store::SourceVersion| {
        h.storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned())
    };
    if head_a.content != head_b.content
        || without_replica_entries(&head_a.metadata) != without_replica_entries(&head_b.metadata)
        || class(&head_a) != class(&head_b)
    {
        return Ok(false);
    }
    let (tags_a, tags_b, acl_a, acl_b) = futures::join!(
        source.version_tags(region_a, a),
        source.version_tags(region_b, b),
        source.version_acl(region_a, a),
        source.version_acl(region_b, b)
    );
    let grants = |acl: crate::store::Acl| {
        let mut grants = acl.grants;
        grants.sort();
        grants
    };
    Ok(tags_a.map_err(src)? == tags_b.map_err(src)?
        && grants(acl_a.map_err(src)?) == grants(acl_b.map_err(src)?))
}

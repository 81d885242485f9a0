//! Planning a restore: each key's state at T found in its history, in the order S3 stacked it
//! (never re-sorted by time), and whether the key already is that version in everything a copy
//! back would write.
//!
//! "As of T": the version that was current at T, which is the topmost entry of the key's stack
//! that had landed by T. A single-part version and a delete marker land at their `Last-Modified`
//! (whole seconds: one stamped in T's second counts). A multipart version is stamped with its
//! upload's initiation but lands at its completion, which S3 does not record: it landed no
//! earlier than its stamp and the entry below it, and no later than the entry above it. Where
//! those bounds straddle T, history cannot prove which version was current: the key is
//! `uncertain` unless the operator said how to count such versions (`--uncertain`).

use std::collections::BTreeMap;

use super::report::Requests;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::Replicator;
use crate::store::{
    without_replica_entries, DestinationStore, Past, SourceStore, SourceVersion, VersionRef,
    REPLICA_MARKER,
};

/// How to count a multipart version whose completion may fall either side of T.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncertain {
    /// Leave the key alone and report it with both candidates.
    Report,
    /// Count such a version as completed before T.
    Before,
    /// Count such a version as completed after T.
    After,
}

/// A version to bring back: its id in the bucket it is read from, its ETag and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub(super) version_id: String,
    pub(super) etag: String,
    pub(super) size: u64,
}

impl State {
    fn of(p: &Past) -> Option<State> {
        (!p.delete_marker).then(|| State {
            version_id: p.version_id.clone(),
            etag: p.etag.clone(),
            size: p.size,
        })
    }
}

/// A key's state at T in one history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AtT {
    /// Absent, or a delete marker.
    Absent,
    /// This version.
    Version(State),
    /// A multipart version that may have completed before or after T: it, or what was below it.
    Uncertain {
        later: State,
        earlier: Option<State>,
    },
}

/// Where the history comes from.
pub(super) struct History<'a> {
    pub(super) bucket: &'a str,
    pub(super) region: String,
}

/// Each key's history, newest first, in the order it came (S3's).
pub(super) fn by_key(entries: Vec<Past>) -> BTreeMap<String, Vec<Past>> {
    let mut keys: BTreeMap<String, Vec<Past>> = BTreeMap::new();
    for e in entries {
        keys.entry(e.key.clone()).or_default().push(e);
    }
    keys
}

/// The key's state now: its current entry.
pub(super) fn current(now: &[Past]) -> Option<State> {
    now.iter().find(|p| p.latest).and_then(State::of)
}

fn multipart(p: &Past) -> bool {
    !p.delete_marker && p.etag.contains('-')
}

/// The key's state at T (milliseconds) in its stack, newest first as S3 stacked it.
pub(super) fn state_at(stack: &[Past], t: i64, uncertain: Uncertain) -> AtT {
    let n = stack.len();
    // When each entry landed, at the earliest and the latest: landings follow the stack.
    let (mut lower, mut upper) = (vec![0; n], vec![i64::MAX; n]);
    let mut floor = i64::MIN;
    for i in (0..n).rev() {
        let p = &stack[i];
        lower[i] = match multipart(p) {
            true => p.last_modified.max(floor),
            false => p.last_modified,
        };
        floor = lower[i];
    }
    let mut ceiling = i64::MAX;
    for i in 0..n {
        let p = &stack[i];
        upper[i] = match multipart(p) {
            true => ceiling,
            false => p.last_modified,
        };
        ceiling = upper[i];
    }
    pick(stack, &lower, &upper, 0, t, uncertain)
}

fn pick(
    stack: &[Past],
    lower: &[i64],
    upper: &[i64],
    from: usize,
    t: i64,
    uncertain: Uncertain,
) -> AtT {
    let at = |p: &Past| State::of(p).map_or(AtT::Absent, AtT::Version);
    for i in from..stack.len() {
        if lower[i] > t {
            continue;
        }
        if upper[i] <= t {
            return at(&stack[i]);
        }
        match uncertain {
            Uncertain::Before => return at(&stack[i]),
            Uncertain::After => continue,
            Uncertain::Report => {}
        }
        let Some(later) = State::of(&stack[i]) else {
            return AtT::Absent;
        };
        let earlier = match pick(stack, lower, upper, i + 1, t, uncertain) {
            AtT::Absent => None,
            AtT::Version(s) => Some(s),
            AtT::Uncertain { later, .. } => Some(later),
        };
        return AtT::Uncertain { later, earlier };
    }
    AtT::Absent
}

/// A replica bucket's entry for a key, as the plan sees it.
#[derive(Debug, Clone)]
pub(super) struct ReplicaEntry {
    pub(super) past: Past,
    /// The version of the restored bucket it is a replica of (`None`: an object written there,
    /// or a delete marker).
    pub(super) of: Option<String>,
    /// The ETag (quoted) its record names for that version, where recorded: a `null` version
    /// id names every write made while versioning was off, the ETag tells them apart.
    pub(super) of_etag: Option<String>,
    /// An object written in the replica bucket itself (no record of this function's): never a
    /// write of the restored bucket unless a rule replicates the replica bucket into it.
    pub(super) foreign: bool,
    /// When the write it stands for was made, in whole seconds as milliseconds (`None`: never
    /// a source for the restore).
    pub(super) at: Option<i64>,
}

/// Reads what each of a key's replica entries stands for: a replica this function wrote of
/// `bucket`'s version (its record proven), at its original's time taken to the whole second
/// S3 stamps (for a multipart original, its upload's initiation, as S3 stamps it: it completed
/// no later than the replica's own `Last-Modified`); an object written in the replica bucket
/// itself, at its own time; a delete marker, at its own time.
pub(super) async fn replica_entries<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    bucket: &str,
    key: &str,
    past: &[Past],
    requests: &mut Requests,
) -> Result<Vec<ReplicaEntry>, ReplicationError> {
    let mut entries = Vec::with_capacity(past.len());
    for p in past {
        let mut entry = ReplicaEntry {
            past: p.clone(),
            of: None,
            of_etag: None,
            foreign: false,
            at: Some(p.last_modified.div_euclid(1000) * 1000),
        };
        if p.delete_marker {
            entries.push(entry);
            continue;
        }
        requests.get += 1;
        match head_of(replicator, history, key, &p.version_id).await? {
            None => entry.at = None,
            Some(h) if !h.metadata.contains_key(REPLICA_MARKER) => entry.foreign = true,
            Some(h) => match h.replica_record(history.bucket, key) {
                Some(r) if r.from(bucket) => {
                    let secs = r
                        .original_millis
                        .map_or(p.last_modified, |t| t.min(p.last_modified))
                        .div_euclid(1000);
                    entry.of = Some(r.version.to_owned());
                    entry.of_etag = r
                        .source_etag
                        .map(|e| format!("\"{}\"", e.trim_matches('"')));
                    entry.at = Some(secs * 1000);
                }
                _ => entry.at = None,
            },
        }
        entries.push(entry);
    }
    Ok(entries)
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

/// Whether two versions (each with its region) hold the same content headers, user metadata
/// (our own entries aside), storage class, tags and ACL grants: what a copy back would write.
/// The reads it made are added to `reads` (two HEADs, and four more where those agree).
pub(super) async fn same_as<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    (region_a, a): (&str, &VersionRef),
    (region_b, b): (&str, &VersionRef),
    reads: &mut u64,
) -> Result<bool, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let source = replicator.source();
    let (head_a, head_b) = futures::join!(
        source.head_version(region_a, a, None),
        source.head_version(region_b, b, None)
    );
    *reads += 2;
    let (head_a, head_b) = (head_a.map_err(src)?, head_b.map_err(src)?);
    let class = |h: &crate::store::SourceVersion| {
        h.storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned())
    };
    if head_a.content != head_b.content
        || without_replica_entries(&head_a.metadata) != without_replica_entries(&head_b.metadata)
        || class(&head_a) != class(&head_b)
        || head_a.encryption != head_b.encryption
    {
        return Ok(false);
    }
    let (tags_a, tags_b, acl_a, acl_b) = futures::join!(
        source.version_tags(region_a, a),
        source.version_tags(region_b, b),
        source.version_acl(region_a, a),
        source.version_acl(region_b, b)
    );
    *reads += 4;
    let grants = |acl: crate::store::Acl| {
        let mut grants = acl.grants;
        grants.sort();
        grants
    };
    Ok(tags_a.map_err(src)? == tags_b.map_err(src)?
        && grants(acl_a.map_err(src)?) == grants(acl_b.map_err(src)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: &str, secs: i64, etag: &str, marker: bool) -> Past {
        Past {
            key: "k".into(),
            version_id: id.into(),
            last_modified: secs * 1000,
            delete_marker: marker,
            latest: false,
            size: 1,
            etag: etag.into(),
        }
    }

    fn id(at: AtT) -> String {
        match at {
            AtT::Absent => "-".into(),
            AtT::Version(s) => s.version_id,
            AtT::Uncertain { later, earlier } => format!(
                "{}|{}",
                later.version_id,
                earlier.map_or("-".into(), |s| s.version_id)
            ),
        }
    }

    #[test]
    fn the_stack_decides_within_a_second() {
        // v1 and the delete marker over it in one second, then v2 later.
        let stack = [
            e("v2", 20, "\"b\"", false),
            e("dm", 10, "", true),
            e("v1", 10, "\"a\"", false),
        ];
        assert_eq!(id(state_at(&stack, 10_500, Uncertain::Report)), "-");
        assert_eq!(id(state_at(&stack, 9_999, Uncertain::Report)), "-");
        assert_eq!(id(state_at(&stack, 20_000, Uncertain::Report)), "v2");
    }

    #[test]
    fn a_multipart_version_counts_from_its_completion() {
        // Initiated at 10, completed some time before v3 landed at 30.
        let stack = [
            e("v3", 30, "\"c\"", false),
            e("mp", 10, "\"m-2\"", false),
            e("v1", 5, "\"a\"", false),
        ];
        assert_eq!(id(state_at(&stack, 7_000, Uncertain::Report)), "v1");
        assert_eq!(id(state_at(&stack, 20_000, Uncertain::Report)), "mp|v1");
        assert_eq!(id(state_at(&stack, 20_000, Uncertain::Before)), "mp");
        assert_eq!(id(state_at(&stack, 20_000, Uncertain::After)), "v1");
        assert_eq!(id(state_at(&stack, 30_000, Uncertain::Report)), "v3");
        // Completed after v2 landed at 25: not yet at 20 however it is counted.
        let stack = [
            e("mp", 10, "\"m-2\"", false),
            e("v2", 25, "\"b\"", false),
            e("v1", 5, "\"a\"", false),
        ];
        assert_eq!(id(state_at(&stack, 20_000, Uncertain::Report)), "v1");
        assert_eq!(id(state_at(&stack, 26_000, Uncertain::Report)), "mp|v2");
    }
}

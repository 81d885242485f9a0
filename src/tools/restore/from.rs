//! With `--from`: which history decides a key's state at T, the bucket's own or its replica's.
//!
//! The bucket's own history decides wherever it holds the key's writes up to T. The replica's
//! history shows where it does not: a replica (its record proven) of a version of the bucket's
//! that the bucket no longer keeps is a write the bucket lost. Only a lost write later than the
//! bucket's own latest entry by T hands the decision to the replica's history (a deleted key's
//! expired version never brings the key back over the delete marker the bucket still holds);
//! one in the same second cannot be ordered and leaves the key alone. An object written in the
//! replica bucket itself is never a write of the bucket (it never hides or stands in for one)
//! unless a rule replicates the replica bucket into the bucket (two-way).

use super::plan::{state_at, AtT, ReplicaEntry, State, Uncertain};
use crate::store::Past;

/// What the two histories say about a key at T.
#[derive(Debug)]
pub(super) enum Decision<'a> {
    /// Absent (or a delete marker).
    Absent,
    /// The bucket's own version (its bytes from its replica, where the replica holds one).
    Own(State),
    /// A version the bucket lost: everything from this replica entry.
    Replica(&'a ReplicaEntry),
    /// History cannot prove which: a multipart version, or what was below it.
    Uncertain {
        later: String,
        earlier: Option<String>,
    },
    /// Left alone: why.
    Skip(String),
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// Whether the bucket still keeps the version this replica entry stands for.
pub(super) fn kept(now: &[Past], e: &ReplicaEntry) -> bool {
    e.of.as_deref().is_some_and(|v| {
        now.iter()
            .any(|p| p.version_id == v && !p.delete_marker && is_replica_of(e, p))
    })
}

/// Whether `e` is a replica of exactly the write `p` (a `null` version id names every write
/// made while versioning was off: the recorded ETag and the size tell them apart).
pub(super) fn is_replica_of(e: &ReplicaEntry, p: &Past) -> bool {
    e.of.as_deref() == Some(p.version_id.as_str())
        && e.past.size == p.size
        && e.of_etag.as_deref().is_none_or(|t| t == p.etag)
}

/// Whether the entry stands for a write of the restored bucket (`pair`: a rule replicates the
/// replica bucket into it, so objects written there are writes of the key too).
fn counts(e: &ReplicaEntry, pair: bool) -> bool {
    e.at.is_some() && (e.past.delete_marker || e.of.is_some() || (e.foreign && pair))
}

/// The key's state at T from the two histories.
pub(super) fn decide<'a>(
    now: &[Past],
    entries: &'a [ReplicaEntry],
    t: i64,
    uncertain: Uncertain,
    pair: bool,
) -> Decision<'a> {
    let own_at = state_at(now, t, uncertain);
    if let AtT::Uncertain { later, earlier } = own_at {
        return Decision::Uncertain {
            later: later.version_id,
            earlier: earlier.map(|s| s.version_id),
        };
    }
    // The bucket's latest write by T, and the latest write it lost by T.
    let own_latest = now
        .iter()
        .map(|p| secs(p.last_modified))
        .filter(|s| *s <= secs(t))
        .max();
    let lost = entries
        .iter()
        .filter(|e| !e.past.delete_marker && counts(e, pair) && !kept(now, e))
        .filter_map(|e| e.at.map(|at| (secs(at), e)))
        .filter(|(at, _)| *at <= secs(t))
        // An object written in the other bucket of a pair is replicated here after it was
        // written, often in its second: only one later than all the bucket keeps was lost.
        .filter(|(at, e)| e.of.is_some() || own_latest.is_none_or(|o| *at > o))
        .max_by_key(|(at, _)| *at);
    match (lost, own_latest) {
        (Some((at, e)), Some(own)) if at == own => {
            return Decision::Skip(format!(
                "the bucket lost version {} (its replica {} holds it), written in the same second as the bucket's own latest entry by T: which was current at T cannot be proven; left alone",
                e.of.as_deref().unwrap_or("-"),
                e.past.version_id
            ));
        }
        (Some((at, _)), own) if own.is_none_or(|own| at > own) => {
            return from_replica(now, entries, t, uncertain, pair);
        }
        _ => {}
    }
    match own_at {
        AtT::Version(s) => Decision::Own(s),
        _ => {
            let present_now = now.iter().any(|p| p.latest && !p.delete_marker);
            let written_there = entries
                .iter()
                .any(|e| e.foreign && !pair && e.at.is_some_and(|at| secs(at) <= secs(t)));
            match own_latest.is_none() && present_now && written_there {
                true => Decision::Skip(
                    "the bucket keeps no entry of the key by T, and the replica bucket holds an object written in it (not a replica of this bucket's) by T: whether the bucket held it at T cannot be proven (no rule replicates the replica bucket into this one); left alone".into(),
                ),
                false => Decision::Absent,
            }
        }
    }
}

/// The replica's history decides: the latest write by T, S3's stack order between writes of
/// one second; a multipart original whose replica landed after T may have completed either
/// side of it.
fn from_replica<'a>(
    now: &[Past],
    entries: &'a [ReplicaEntry],
    t: i64,
    uncertain: Uncertain,
    pair: bool,
) -> Decision<'a> {
    let mut best: Option<(i64, &ReplicaEntry)> = None;
    let mut maybe: Option<&ReplicaEntry> = None;
    for e in entries.iter().filter(|e| counts(e, pair)) {
        let Some(at) = e.at.map(secs).filter(|at| *at <= secs(t)) else {
            continue;
        };
        let open = !e.past.delete_marker
            && e.past.etag.contains('-')
            && secs(e.past.last_modified) > secs(t);
        if open {
            match uncertain {
                Uncertain::After => continue,
                Uncertain::Report => {
                    maybe = maybe.or(Some(e));
                    continue;
                }
                Uncertain::Before => {}
            }
        }
        if best.is_none_or(|(b, _)| at > b) {
            best = Some((at, e));
        }
    }
    let version = |e: &ReplicaEntry| e.of.clone().unwrap_or_else(|| e.past.version_id.clone());
    let best = best.map(|(_, e)| e).filter(|e| !e.past.delete_marker);
    if let Some(m) = maybe {
        return Decision::Uncertain {
            later: version(m),
            earlier: best.map(version),
        };
    }
    let Some(e) = best else {
        return Decision::Absent;
    };
    match now.iter().find(|p| !p.delete_marker && is_replica_of(e, p)) {
        Some(p) => Decision::Own(State {
            version_id: p.version_id.clone(),
            etag: p.etag.clone(),
            size: p.size,
        }),
        None => Decision::Replica(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, secs: i64, etag: &str, marker: bool, latest: bool) -> Past {
        Past {
            key: "k".into(),
            version_id: id.into(),
            last_modified: secs * 1000,
            delete_marker: marker,
            latest,
            size: 1,
            etag: etag.into(),
        }
    }

    fn r(id: &str, of: Option<&str>, at: i64, own: i64, etag: &str) -> ReplicaEntry {
        ReplicaEntry {
            past: p(id, own, etag, false, false),
            of: of.map(str::to_owned),
            of_etag: of.map(|_| etag.to_owned()),
            foreign: of.is_none(),
            at: Some(at * 1000),
        }
    }

    fn name(d: Decision) -> String {
        match d {
            Decision::Absent => "-".into(),
            Decision::Own(s) => format!("own {}", s.version_id),
            Decision::Replica(e) => format!("replica {}", e.past.version_id),
            Decision::Uncertain { later, .. } => format!("uncertain {later}"),
            Decision::Skip(_) => "skip".into(),
        }
    }

    #[test]
    fn a_lost_version_later_than_what_the_bucket_keeps_decides() {
        // v2 (current at T=25) deleted for good; v1 kept; X after T.
        let now = [
            p("x", 30, "\"x\"", false, true),
            p("v1", 10, "\"a\"", false, false),
        ];
        let entries = [
            r("r2", Some("v2"), 20, 21, "\"b\""),
            r("r1", Some("v1"), 10, 11, "\"a\""),
        ];
        let d = decide(&now, &entries, 25_000, Uncertain::Report, false);
        assert_eq!(name(d), "replica r2");
        // A deleted key whose expired version the replica holds: the marker decides.
        let now = [p("dm", 20, "", true, true)];
        let entries = [r("r1", Some("v1"), 10, 11, "\"a\"")];
        assert_eq!(
            name(decide(&now, &entries, 25_000, Uncertain::Report, false)),
            "-"
        );
        // In the same second: not provable.
        let now = [p("dm", 10, "", true, true)];
        assert_eq!(
            name(decide(&now, &entries, 25_000, Uncertain::Report, false)),
            "skip"
        );
    }

    #[test]
    fn an_object_written_in_the_replica_bucket_is_not_the_buckets_write() {
        let now = [p("x", 30, "\"x\"", false, true)];
        let entries = [
            r("w", None, 15, 15, "\"w\""),
            r("r1", Some("v1"), 10, 11, "\"a\""),
        ];
        let one_way = decide(&now, &entries, 25_000, Uncertain::Report, false);
        assert_eq!(name(one_way), "replica r1");
        assert_eq!(
            name(decide(&now, &entries, 25_000, Uncertain::Report, true)),
            "replica w"
        );
        // Nothing of the bucket's by T, only an object written there: not provable either way.
        let entries = [r("w", None, 15, 15, "\"w\"")];
        assert_eq!(
            name(decide(&now, &entries, 25_000, Uncertain::Report, false)),
            "skip"
        );
        assert_eq!(
            name(decide(&[], &entries, 25_000, Uncertain::Report, false)),
            "-"
        );
    }

    #[test]
    fn a_multipart_original_replicated_after_t_is_uncertain() {
        let entries = [
            r("m", Some("mv"), 20, 40, "\"m-2\""),
            r("r1", Some("v1"), 10, 11, "\"a\""),
        ];
        let d = |u| name(decide(&[], &entries, 25_000, u, false));
        assert_eq!(d(Uncertain::Report), "uncertain mv");
        assert_eq!(d(Uncertain::After), "replica r1");
        assert_eq!(d(Uncertain::Before), "replica m");
    }
}

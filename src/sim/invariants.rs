//! The invariants checked once every event was delivered and a final redelivery round ran.
//! Each violation names its invariant (the numbers of issue 34) and a class, so that failing
//! seeds group by cause.

use std::collections::{BTreeMap, BTreeSet};

use crate::fake::Entry;
use crate::store::{REPLICA_MARKER, REPLICA_SOURCE_BUCKET};

use super::generate::KEYS;
use super::oracle::{governing, w_of, Candidate};
use super::world::{short, World};
use crate::order::write_order;

/// One invariant that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's number in issue 34 (1–6), 0 for a delivery that never succeeded.
    pub invariant: u8,
    /// A short class for grouping failing seeds, e.g. `two-way-diverged`.
    pub class: &'static str,
    /// What was seen.
    pub detail: String,
}

fn describe(e: Option<&Entry>) -> String {
    match e {
        None => "nothing".to_owned(),
        Some(e) if e.delete_marker => format!("delete marker {}", e.version_id),
        Some(e) => {
            let of = match e.metadata.get(REPLICA_MARKER) {
                Some(v) => format!(
                    " replica of {}@{v}",
                    e.metadata
                        .get(REPLICA_SOURCE_BUCKET)
                        .map_or("?", String::as_str)
                ),
                None => String::new(),
            };
            format!(
                "{} ({}{of}, etag {})",
                e.version_id,
                w_of(e),
                short(&e.etag)
            )
        }
    }
}

impl World {
    /// Every key a check looks at.
    fn all_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
        for b in &self.topology.buckets {
            keys.extend(self.s3.keys(b));
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// Invariants 1–4 (the states), in key order.
    pub fn check_states(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        for destination in self.destinations() {
            for key in self.all_keys() {
                out.extend(self.check_current(&destination, &key));
            }
            out.extend(self.check_replicas(&destination));
        }
        if self.topology.kind == super::topology::Kind::TwoWay {
            let (left, right) = (&self.topology.buckets[0], &self.topology.buckets[1]);
            for key in self.all_keys() {
                let (a, b) = (
                    self.s3.stack(left, &key).pop(),
                    self.s3.stack(right, &key).pop(),
                );
                // Where delete markers are not replicated, a delete on one side stays there
                // (as in S3): the sides differ by design.
                let deleted = |e: &Option<Entry>| e.as_ref().is_some_and(|e| e.delete_marker);
                if !self.topology.delete_markers && (deleted(&a) || deleted(&b)) {
                    continue;
                }
                let a = a.filter(|e| !e.delete_marker);
                let b = b.filter(|e| !e.delete_marker);
                // Where version deletes are not replicated, a version deleted for good on one
                // side stays at the other, and what becomes current again on the deleting side
                // is not sent back (as in S3, which never replicates a version delete).
                let purged = |bucket: &String| {
                    self.version_deleted
                        .contains(&(bucket.clone(), key.clone()))
                };
                if !self.topology.version_deletes && (purged(left) || purged(right)) {
                    continue;
                }
                let same = match (&a, &b) {
                    (None, None) => true,
                    (Some(a), Some(b)) => {
                        a.etag == b.etag && a.metadata.get("w") == b.metadata.get("w")
                    }
                    _ => false,
                };
                if !same {
                    out.push(Violation {
                        invariant: 2,
                        class: "two-way-diverged",
                        detail: format!(
                            "{key}: {left} holds {}, {right} holds {}",
                            describe(a.as_ref()),
                            describe(b.as_ref())
                        ),
                    });
                }
            }
        }
        out
    }

    /// Invariant 1 (and 4): the destination's current entry is the oracle's.
    fn check_current(&self, destination: &str, key: &str) -> Option<Violation> {
        let expected = self.expected(destination, key)?;
        let stack = self.s3.stack(destination, key);
        let top = stack.last();
        let wrong = |class: &'static str| {
            Some(Violation {
                invariant: 1,
                class,
                detail: format!(
                    "{destination}/{key}: expected {}, found {}",
                    expected.describe(),
                    describe(top)
                ),
            })
        };
        match &expected {
            Candidate::Own(e) if e.delete_marker => match top {
                Some(t) if !t.delete_marker => wrong("own-delete-hidden"),
                _ => None,
            },
            Candidate::Own(e) => match top {
                Some(t) if t.version_id == e.version_id => None,
                _ => wrong("later-destination-write-hidden"),
            },
            Candidate::Kept(e) => match top {
                Some(t) if t.version_id == e.version_id => None,
                _ => wrong("kept-replica-replaced"),
            },
            Candidate::Marker { .. } | Candidate::Replicated { .. } => match top {
                Some(t)
                    if !t.delete_marker && self.is_user_made(destination, key, &t.version_id) =>
                {
                    wrong("delete-not-replicated-over-older-destination-write")
                }
                Some(t) if !t.delete_marker => wrong("delete-not-replicated"),
                _ => None,
            },
            Candidate::Replica {
                from,
                entry,
                storage_class,
            } => {
                let Some(t) = top.filter(|t| !t.delete_marker) else {
                    if top.is_some_and(|t| {
                        self.kept_after_undelete(destination, key, t, from, entry)
                            || self.kept_after_other_undelete(destination, key, t, from, entry)
                    }) {
                        return None;
                    }
                    return wrong("replica-missing");
                };
                let is_it = t.metadata.get(REPLICA_MARKER) == Some(&entry.version_id)
                    && t.metadata.get(REPLICA_SOURCE_BUCKET) == Some(from)
                    && !self.is_user_made(destination, key, &t.version_id);
                if !is_it {
                    return match self.is_user_made(destination, key, &t.version_id) {
                        true => wrong("later-source-write-lost-to-destination-write"),
                        false => wrong("wrong-replica-current"),
                    };
                }
                let class = |c: &Option<String>| c.clone().unwrap_or_else(|| "STANDARD".into());
                let wanted_class = storage_class.clone().or(entry.storage_class.clone());
                if t.etag != entry.etag || t.metadata.get("w") != entry.metadata.get("w") {
                    wrong("replica-content-differs")
                } else if class(&t.storage_class) != class(&wanted_class) {
                    wrong("replica-storage-class-differs")
                } else if t.tags != entry.tags {
                    wrong("replica-tags-differ")
                } else if t.public != entry.public {
                    wrong("replica-acl-differs")
                } else {
                    None
                }
            }
        }
    }

    /// Invariant 3: at most one replica per source version here, each of a source's original
    /// version that an enabled rule selects for this destination.
    fn check_replicas(&self, destination: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        for key in self.all_keys() {
            // One replica a write: keyed by the source version and the write (a `null` version
            // id names a new write each time an unversioned source overwrites it).
            let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
            // As the stack was built: a version deleted for good since (a version delete, the
            // user's or one replicated) may be the entry that made a re-assertion necessary.
            let exists: BTreeSet<String> = self
                .s3
                .stack(destination, &key)
                .into_iter()
                .map(|e| e.version_id)
                .collect();
            let stack = self.s3.stack_ever(destination, &key);
            for (i, e) in stack.iter().enumerate() {
                // Only what is still there is counted; a deleted one only excuses.
                if !exists.contains(&e.version_id) {
                    continue;
                }
                let replayed = (destination.to_owned(), key.clone(), e.version_id.clone());
                if e.delete_marker
                    || self.is_user_made(destination, &key, &e.version_id)
                    || self.replayed.contains(&replayed)
                {
                    continue;
                }
                // Re-asserted by necessity: a replica of the same write lies lower in the stack,
                // and an entry between them, which covered it when this one was written, is
                // earlier in the one order of writes (a multipart upload initiated before the
                // write and completed after it, a late version's copy): only a second copy makes
                // the later write current again. The stack as it was built counts, every entry
                // deleted since included (a version delete, or a racer's copy withdrawn after
                // this one was decided over it). Nothing else excuses a second replica.
                let mine = self.entry_write(destination, &key, e);
                let same = |b: &Entry| {
                    !b.delete_marker
                        && exists.contains(&b.version_id)
                        && !self.is_user_made(destination, &key, &b.version_id)
                        && b.metadata.get(REPLICA_MARKER) == e.metadata.get(REPLICA_MARKER)
                        && b.metadata.get(REPLICA_SOURCE_BUCKET)
                            == e.metadata.get(REPLICA_SOURCE_BUCKET)
                        && b.metadata.get("w") == e.metadata.get("w")
                };
                let reasserted = stack[..i].iter().rposition(same).is_some_and(|first| {
                    stack[first + 1..i].iter().any(|b| {
                        write_order(&self.entry_write(destination, &key, b), &mine).is_lt()
                    })
                });
                if reasserted {
                    continue;
                }
                let (Some(of), Some(from)) = (
                    e.metadata.get(REPLICA_MARKER),
                    e.metadata.get(REPLICA_SOURCE_BUCKET),
                ) else {
                    continue;
                };
                let w = e.metadata.get("w").cloned().unwrap_or_default();
                *seen.entry((from.clone(), of.clone(), w)).or_default() += 1;
                let selected = self.topology.functions.iter().any(|f| {
                    f.sources.contains(from)
                        && governing(&f.config.rules, destination, &key, Some(&e.tags)).is_some()
                });
                if !self.is_user_made(from, &key, of) {
                    out.push(Violation {
                        invariant: 3,
                        class: "replica-of-a-replica",
                        detail: format!(
                            "{destination}/{key}: {} copies no original of {from}",
                            describe(Some(e))
                        ),
                    });
                } else if !selected {
                    out.push(Violation {
                        invariant: 3,
                        class: "replica-no-rule-selects",
                        detail: format!("{destination}/{key}: {}", describe(Some(e))),
                    });
                }
            }
            // Exception: a version that became the source's current again (what stood above it
            // deleted, and not replicated) is re-asserted once each time.
            let allowed = |from: &String, of: &String| {
                let again = (from.clone(), key.clone(), of.clone());
                1 + self.current_again.get(&again).copied().unwrap_or(0)
            };
            for ((from, of, _), n) in seen
                .into_iter()
                .filter(|((from, of, _), n)| *n > allowed(from, of))
            {
                out.push(Violation {
                    invariant: 3,
                    class: "replicated-twice",
                    detail: format!("{destination}/{key}: {n} replicas of {from}@{of}"),
                });
            }
        }
        out
    }
}

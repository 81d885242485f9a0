//! The reference model: what each destination's current object per key must be once every
//! event was delivered, decided by the one order of writes (`crate::order`) over the latest
//! original write of the key in each bucket that reaches the destination.

use crate::config::Rule;
use crate::fake::Entry;
use crate::order::{write_order, Write};
use crate::store::{REPLICA_MARKER, REPLICA_ORIGIN_TIME, REPLICA_SOURCE_BUCKET};

use super::world::World;

/// A write that may end current at a destination.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// The destination's own standing write: its latest original object, or its latest
    /// delete marker whoever put it (a user, or this function replicating a source's marker),
    /// a write at its own `Last-Modified`.
    Own(Entry),
    /// The replica of a source's object version, under a rule's storage class.
    Replica {
        /// The source bucket.
        from: String,
        /// The source's version.
        entry: Entry,
        /// The storage class the governing rule gives it (`None`: the source's).
        storage_class: Option<String>,
    },
    /// A replica at the destination of a source version since deleted for good, which stays
    /// where version deletes are not replicated: the write it stands for (its record's).
    Kept(Entry),
    /// A delete marker at the destination that the function put, where one source alone
    /// replicates there: that source's delete, replicated, at the marker's own time.
    Replicated {
        /// The source bucket.
        from: String,
        /// The destination's marker.
        entry: Entry,
    },
    /// A source's delete marker, which the governing rule replicates.
    Marker {
        /// The source bucket.
        from: String,
        /// The marker.
        entry: Entry,
    },
}

impl Candidate {
    /// Its place in the one order of writes.
    pub fn write(&self, destination: &str) -> Write {
        let (entry, bucket) = match self {
            Candidate::Kept(e) => {
                let from = e.metadata.get(REPLICA_SOURCE_BUCKET).cloned();
                return Write {
                    secs: e
                        .metadata
                        .get(REPLICA_ORIGIN_TIME)
                        .and_then(|m| m.parse::<i64>().ok())
                        .map_or(e.last_modified, |m| m.div_euclid(1000).min(e.last_modified)),
                    etag: e.etag.clone(),
                    bucket: from.unwrap_or_else(|| destination.to_owned()),
                };
            }
            // A marker is a write of the bucket where it stands, whoever put it: the engine
            // cannot tell a replicated one from a user's (docs/semantics.md, the order).
            Candidate::Own(e) | Candidate::Replicated { entry: e, .. } => (e, destination),
            Candidate::Replica { from, entry, .. } | Candidate::Marker { from, entry } => {
                (entry, from.as_str())
            }
        };
        Write {
            secs: entry.last_modified,
            etag: entry.etag.clone(),
            bucket: bucket.to_owned(),
        }
    }

    /// For the history's closing lines.
    pub fn describe(&self) -> String {
        match self {
            Candidate::Own(e) if e.delete_marker => format!("own delete marker {}", e.version_id),
            Candidate::Own(e) => format!("own write {} ({})", e.version_id, w_of(e)),
            Candidate::Kept(e) => format!("kept replica {} ({})", e.version_id, w_of(e)),
            Candidate::Replica { from, entry, .. } => {
                format!("replica of {from}@{} ({})", entry.version_id, w_of(entry))
            }
            Candidate::Marker { from, entry } => {
                format!("delete marker of {from}@{}", entry.version_id)
            }
            Candidate::Replicated { from, entry } => {
                format!("{from}'s delete replicated as {}", entry.version_id)
            }
        }
    }
}

/// The write number an entry carries (`w` metadata), for logs.
pub fn w_of(e: &Entry) -> String {
    match (e.delete_marker, e.metadata.get("w")) {
        (true, _) => "marker".to_owned(),
        (false, Some(w)) => format!("w{w}"),
        (false, None) => "no w".to_owned(),
    }
}

/// The rule that governs an object (or, with `tags: None`, a delete marker) of `key` for
/// `destination`: the enabled rule of the highest priority whose filter selects it. A rule
/// filtering on tags never selects a delete marker.
pub fn governing<'c>(
    rules: &'c [Rule],
    destination: &str,
    key: &str,
    tags: Option<&[(String, String)]>,
) -> Option<&'c Rule> {
    rules
        .iter()
        .filter(|r| r.enabled && r.destination.bucket == destination)
        .filter(|r| key.starts_with(&r.filter.prefix))
        .filter(|r| match tags {
            Some(tags) => r.filter.tags.iter().all(|t| tags.contains(t)),
            None => r.filter.tags.is_empty(),
        })
        .max_by_key(|r| r.priority)
}

impl World {
    /// The write an entry of `bucket`/`key` stands for in the one order of writes: a replica
    /// the function wrote stands for its original (the recorded time, capped by the replica's
    /// own `Last-Modified`); anything else (a user's write, a user's copy of a replica, a
    /// delete marker whoever put it) is a write of `bucket` at its own `Last-Modified`.
    pub fn entry_write(&self, bucket: &str, key: &str, e: &Entry) -> Write {
        let replica_of = (!e.delete_marker && !self.is_user_made(bucket, key, &e.version_id))
            .then(|| e.metadata.get(REPLICA_SOURCE_BUCKET))
            .flatten();
        match replica_of {
            Some(from) => Write {
                secs: e
                    .metadata
                    .get(REPLICA_ORIGIN_TIME)
                    .and_then(|m| m.parse::<i64>().ok())
                    .map_or(e.last_modified, |m| m.div_euclid(1000).min(e.last_modified)),
                etag: e.etag.clone(),
                bucket: from.clone(),
            },
            None => Write {
                secs: e.last_modified,
                etag: e.etag.clone(),
                bucket: bucket.to_owned(),
            },
        }
    }

    /// The topmost entry of a key's stack in `bucket` that `counts`, unless a write the
    /// function put above it (a replica, or a delete marker it replicated) is later in the one
    /// order: then it was legitimately replaced and no longer competes.
    /// The stack as it was built counts: a replica the function put there, deleted for good
    /// since by a user's version delete at the destination, replaced the entry all the same,
    /// and nothing brings it back (no event reads below a current replica), while something the
    /// function put still lies above the entry: on top again, it is what every event reads.
    ///
    /// Nor does an entry stand whose later entry of the same kind (a write of this bucket, or a
    /// delete marker) the function wrote over, and a user then deleted for good (a version
    /// delete at the destination): the function judged its write against that one, and nothing
    /// reads that the entry below is on top again (no event reads below a current replica).
    fn standing(&self, bucket: &str, key: &str, counts: impl Fn(&Entry) -> bool) -> Option<Entry> {
        let stack = self.s3.stack(bucket, key);
        let at = stack.iter().rposition(&counts)?;
        let mine = self.entry_write(bucket, key, &stack[at]);
        let ever = self.s3.stack_ever(bucket, key);
        let from = ever
            .iter()
            .position(|e| e.version_id == stack[at].version_id)
            .map_or(ever.len(), |i| i + 1);
        let gone = |e: &Entry| !stack.iter().any(|s| s.version_id == e.version_id);
        // A replica deleted for good since covers still unless its source version went too and
        // its deletion was that delete replicated (version deletes replicated: it takes what it
        // stood for with it), while it was on top of what the function put: the engine judges
        // a current replica as that delete leaves the key. Where version deletes are not
        // replicated, a user took it (the source's delete leaves it, as S3 does); and where the
        // function had put another entry over it, that one was judged against it, and only a
        // delete of a replica of a version the source still holds could undo it, which the
        // engine never makes (docs/simulation.md). A `null` id names the write that holds it
        // now: a later `null` write is another source version.
        let put_over = |i: usize| {
            ever[i + 1..]
                .iter()
                .any(|above| !gone(above) && !self.is_user_made(bucket, key, &above.version_id))
        };
        // (A delete marker the function put covers nothing once deleted, as before.)
        let taken_with_source = |i: usize, e: &Entry| match (
            e.metadata.get(REPLICA_MARKER),
            e.metadata.get(REPLICA_SOURCE_BUCKET),
        ) {
            (Some(of), Some(from)) => {
                let kept = self.s3.stack(from, key).iter().any(|s| {
                    s.version_id == *of
                        && (of != "null" || s.metadata.get("w") == e.metadata.get("w"))
                });
                self.topology.version_deletes && !kept && !put_over(i)
            }
            _ => true,
        };
        // Within one bucket S3's stack decides which write is the later, the one order between
        // buckets: a delete marker the function put (a write of the bucket where it stands) lies
        // above this entry, so it is the later, though in the same second its empty ETag sorts
        // first (docs/semantics.md, "The order of writes").
        let later = |e: &Entry| {
            let theirs = self.entry_write(bucket, key, e);
            theirs.bucket == mine.bucket || write_order(&theirs, &mine).is_gt()
        };
        // A gone one covers only while something the function put still lies above this
        // entry: once it is the key's current entry again, every event reads it, and S3 records
        // nothing of the replica gone. Or, still there, a replica replaced its source's delete
        // replicated below it, which its source's stack put below it (a copy the function
        // withdrew again replaced nothing).
        let under = at + 1 < stack.len();
        let covered = ever.iter().enumerate().skip(from).any(|(i, e)| {
            !self.is_user_made(bucket, key, &e.version_id)
                && ((!gone(e) || (!taken_with_source(i, e) && under)) && later(e)
                    || !gone(e) && self.replaced_own_delete(bucket, key, &stack[at], e))
        });
        // A later entry of the same kind, deleted for good since (a version delete made
        // directly in this bucket) after the function wrote over it: the function judged its
        // write against that one, and S3 sends no event that the entry below is on top again
        // (docs/simulation.md).
        let superseded = ever[from..].iter().enumerate().any(|(i, e)| {
            gone(e)
                && counts(e)
                && ever[from + i + 1..]
                    .iter()
                    .any(|above| !gone(above) && !self.is_user_made(bucket, key, &above.version_id))
        });
        (!covered && !superseded).then(|| stack[at].clone())
    }

    /// The latest entry of a key in a bucket that a user wrote there (not a replica).
    pub fn latest_original(&self, bucket: &str, key: &str) -> Option<Entry> {
        self.s3
            .stack(bucket, key)
            .into_iter()
            .rev()
            .find(|e| self.is_user_made(bucket, key, &e.version_id))
    }

    /// Every bucket some enabled rule replicates into.
    pub fn destinations(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .topology
            .functions
            .iter()
            .flat_map(|f| f.config.rules.iter().filter(|r| r.enabled))
            .map(|r| r.destination.bucket.clone())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The sources some function replicates into `destination` by an enabled rule.
    pub(super) fn feeding(&self, destination: &str) -> Vec<String> {
        self.topology
            .functions
            .iter()
            .flat_map(|f| f.sources.iter().filter(|s| *s != destination))
            .filter(|s| {
                self.topology.functions.iter().any(|f| {
                    f.sources.contains(s)
                        && f.config
                            .rules
                            .iter()
                            .any(|r| r.enabled && r.destination.bucket == destination)
                })
            })
            .cloned()
            .collect()
    }

    /// What may end current at `destination` for `key`: the destination's own standing write
    /// (its latest original object, or its latest delete marker whoever put it, whichever is
    /// higher in its stack), and from each source its standing original: the replica of its
    /// object version that the governing rule selects, or its delete marker where the rule
    /// replicates them (its newest object version where it does not).
    pub fn candidates(&self, destination: &str, key: &str) -> Vec<Candidate> {
        // A delete marker the function put where one source alone replicates here is that
        // source's delete replicated: it stands for that write (a user's undelete at the
        // source, deleting its marker, is not replicated, as in S3).
        let feeding = self.feeding(destination);
        let mut out: Vec<Candidate> = self
            .standing(destination, key, |e| {
                e.delete_marker || self.is_user_made(destination, key, &e.version_id)
            })
            .map(|e| match feeding.as_slice() {
                [from]
                    if e.delete_marker && !self.is_user_made(destination, key, &e.version_id) =>
                {
                    Candidate::Replicated {
                        from: (*from).clone(),
                        entry: e,
                    }
                }
                _ => Candidate::Own(e),
            })
            .into_iter()
            .collect();
        for f in &self.topology.functions {
            for source in f.sources.iter().filter(|s| *s != destination) {
                let original = |e: &Entry| self.is_user_made(source, key, &e.version_id);
                let Some(latest) = self.standing(source, key, original) else {
                    // Every original version deleted for good, and version deletes not
                    // replicated: the last replica of the source stays (as in S3) and competes
                    // as the write it stands for.
                    out.extend(self.kept(destination, source, key));
                    continue;
                };
                let rules = &f.config.rules;
                if !latest.delete_marker {
                    if let Some(rule) = governing(rules, destination, key, Some(&latest.tags)) {
                        out.push(Candidate::Replica {
                            from: source.clone(),
                            entry: latest,
                            storage_class: rule.destination.storage_class.clone(),
                        });
                    }
                    continue;
                }
                let Some(rule) = governing(rules, destination, key, None) else {
                    continue;
                };
                if rule.delete_marker_replication {
                    out.push(Candidate::Marker {
                        from: source.clone(),
                        entry: latest,
                    });
                    continue;
                }
                // Delete markers not replicated: the destination follows the source's newest
                // original object version; where every one was deleted for good, nothing it
                // follows is left, and the last replica of the source stays there, as above
                // (the engine, like S3, leaves it: the source's markers are not sent).
                let objects = self.s3.stack(source, key);
                if !objects.iter().any(|e| !e.delete_marker && original(e)) {
                    out.extend(self.kept(destination, source, key));
                    continue;
                }
                let newest = self.standing(source, key, |e| !e.delete_marker && original(e));
                if let Some(entry) = newest {
                    if let Some(rule) = governing(rules, destination, key, Some(&entry.tags)) {
                        out.push(Candidate::Replica {
                            from: source.clone(),
                            entry,
                            storage_class: rule.destination.storage_class.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// The last replica at `destination` of `source`'s `key`, where `source` deleted versions of
    /// it for good and version deletes are not replicated (S3 keeps that replica): it competes
    /// as the write it stands for while it is standing (as `standing` says of a bucket's own
    /// writes) and no write of the destination's own lies above it. Its source version is gone
    /// and the engine copies only from sources, so nothing can put it back on top: once a later
    /// write replaced it (another source's replica), it no longer competes, whatever lands over
    /// that write next (that source's multipart upload, initiated before the kept replica's
    /// original, completed over its own later write); nor does it once a user's upload,
    /// likewise earlier in the order, lies above it (S3 keeps no source to copy again).
    fn kept(&self, destination: &str, source: &str, key: &str) -> Option<Candidate> {
        if self.topology.version_deletes
            || !self
                .version_deleted
                .contains(&(source.to_owned(), key.to_owned()))
        {
            return None;
        }
        let stack = self.s3.stack(destination, key);
        let kept = stack.iter().rev().find(|e| {
            !e.delete_marker
                && !self.is_user_made(destination, key, &e.version_id)
                && e.metadata.get(REPLICA_SOURCE_BUCKET).map(String::as_str) == Some(source)
        })?;
        let mine = self.entry_write(destination, key, kept);
        let covered = stack
            .iter()
            .skip_while(|e| e.version_id != kept.version_id)
            .skip(1)
            .any(|e| {
                self.is_user_made(destination, key, &e.version_id)
                    || write_order(&self.entry_write(destination, key, e), &mine).is_gt()
            });
        (!covered).then(|| Candidate::Kept(kept.clone()))
    }

    /// The candidate the one order of writes makes the latest.
    pub fn expected(&self, destination: &str, key: &str) -> Option<Candidate> {
        let mut candidates = self.candidates(destination, key);
        // A delete marker at the destination does not stand against a source's version written
        // after a delete of that source's own (below it in its stack) where it may be that
        // delete replicated (see `may_be_delete_of`).
        // So does a source's latest original version replaced in its own bucket by a write the
        // function put there and never sends on (a chain's middle bucket holding a replica of
        // the first): the destination may hold it, or that delete, whichever came last.
        let replaced: Vec<(String, Entry)> = self
            .feeding(destination)
            .into_iter()
            .filter(|from| {
                !candidates.iter().any(|c| {
                    matches!(c, Candidate::Replica { from: f, .. } | Candidate::Marker { from: f, .. } if f == from)
                })
            })
            .filter_map(|from| {
                let latest = self.latest_original(&from, key)?;
                (!latest.delete_marker).then_some((from, latest))
            })
            .collect();
        let superseded = |marker: &Entry| {
            let versions = candidates.iter().filter_map(|c| match c {
                Candidate::Replica { from, entry, .. } => Some((from, entry)),
                _ => None,
            });
            versions
                .chain(replaced.iter().map(|(f, e)| (f, e)))
                .any(|(from, entry)| self.may_be_delete_of(destination, key, marker, from, entry))
        };
        // Two-way: a source's delete marker may be the destination's own delete (below the
        // destination's own version) replicated there; it then does not stand against that
        // version either, as the engine on the other side judges it.
        let mirrored = |from: &str, marker: &Entry| {
            candidates.iter().any(|c| match c {
                Candidate::Own(e) if !e.delete_marker => {
                    self.may_be_delete_of(from, key, marker, destination, e)
                }
                _ => false,
            })
        };
        let undone = |marker: &Entry| {
            candidates.iter().any(|c| match c {
                Candidate::Replica { from, entry, .. } => {
                    self.function_marker_of(destination, key, marker, from)
                        && self.written_after_undelete(from, key, &entry.version_id)
                        || self.undone_delete_of(destination, key, marker, from, entry)
                }
                _ => false,
            })
        };
        let dropped: Vec<bool> = candidates
            .iter()
            .map(|c| match c {
                // Fan-in: a marker the function put, which may be a source's delete undone
                // since at that source (not replicated), as `Replicated` below.
                Candidate::Own(e) => e.delete_marker && (superseded(e) || undone(e)),
                Candidate::Marker { from, entry } => mirrored(from, entry),
                // The source's delete it replicated since deleted there (an undelete, which
                // is not replicated): a version written after that delete still supersedes it.
                Candidate::Replicated { from, entry } => {
                    superseded(entry)
                        || candidates.iter().any(|c| {
                            matches!(c, Candidate::Replica { from: f, entry: v, .. }
                                if f == from && self.written_after_undelete(from, key, &v.version_id))
                        })
                }
                _ => false,
            })
            .collect();
        let mut dropped = dropped.into_iter();
        candidates.retain(|_| !dropped.next().unwrap_or(false));
        candidates.sort_by(|a, b| write_order(&a.write(destination), &b.write(destination)));
        candidates.pop()
    }
}

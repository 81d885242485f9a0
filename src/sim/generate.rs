//! The users' side of a history: writes at the sources and directly at the destinations, each
//! chosen by the generator from what the buckets hold now, with the clock moving in steps it
//! picks (same-second writes common).

use std::collections::BTreeMap;

use crate::fake::{UserWrite, Versioning};
use crate::store::{
    VersionRef, WriteCondition, REPLICA_MARKER, REPLICA_SOURCE_BUCKET, REPLICA_WRITTEN_AT,
};

use super::world::{short, World};

/// The keys a history writes: a prefix the rule mixes filter on, and one that needs encoding.
pub const KEYS: [&str; 5] = ["k0", "k1", "p/k2", "p/k3", "a b+c"];

/// Bodies repeat, so that two writes often share an ETag (single-part, no encryption).
const BODIES: [&[u8]; 3] = [b"same bytes", b"other bytes", b"third bytes"];

impl World {
    /// Moves the clock as the generator picks: not at all, within the second, or seconds on.
    pub fn step_clock(&mut self) {
        let ms = match self.rng.below(10) {
            0..=2 => 0,
            3..=6 => self.rng.below(400) as i64,
            7..=8 => 1000 + self.rng.below(600) as i64,
            _ => 3000 + self.rng.below(5000) as i64,
        };
        self.s3.advance_clock(ms);
    }

    fn bucket_for_write(&mut self) -> String {
        let sources: Vec<String> = self
            .topology
            .functions
            .iter()
            .flat_map(|f| f.sources.clone())
            .collect();
        // Mostly at a source; now and then directly at any bucket (a destination included).
        match self.rng.chance(5) && self.destination_writes {
            true => self.rng.pick(&self.topology.buckets).clone(),
            false => self.rng.pick(&sources).clone(),
        }
    }

    /// The current version of a key, if it is an object: (version id, ETag).
    fn current(&self, bucket: &str, key: &str) -> Option<(String, String)> {
        let stack = self.s3.stack(bucket, key);
        let top = stack.last().filter(|e| !e.delete_marker)?;
        Some((top.version_id.clone(), top.etag.clone()))
    }

    /// One user operation, logged.
    pub fn user_step(&mut self) {
        let bucket = self.bucket_for_write();
        let key = self.rng.pick(&KEYS).to_string();
        let t = self.now();
        let line = match self.rng.below(100) {
            0..=39 => self.put(&bucket, &key),
            40..=49 => self.begin_multipart(&bucket, &key),
            50..=59 => self.complete_multipart(),
            60..=66 => self.copy_to_new_key(&bucket, &key),
            67..=76 => self.delete(&bucket, &key),
            77..=81 => self.delete_version(&bucket, &key),
            82..=87 => self.tag(&bucket, &key),
            88..=92 => self.acl(&bucket, &key),
            _ => self.enable_versioning(),
        };
        if let Some(line) = line {
            self.log.push(format!("t={t:>6} {line}"));
        }
        self.collect_notices();
    }

    fn write_spec(&mut self) -> (usize, UserWrite) {
        self.writes += 1;
        let n = self.writes;
        let mut tags = vec![("class".to_owned(), self.rng.pick(&["a", "b"]).to_string())];
        if self.rng.chance(3) {
            tags.clear();
        }
        let metadata = BTreeMap::from([("w".to_owned(), n.to_string())]);
        (
            n,
            UserWrite {
                metadata,
                tags,
                condition: None,
            },
        )
    }

    fn put(&mut self, bucket: &str, key: &str) -> Option<String> {
        let (n, mut write) = self.write_spec();
        let body: Vec<u8> = match self.rng.chance(3) {
            true => format!("unique bytes of write {n}").into_bytes(),
            false => self.rng.pick(&BODIES).to_vec(),
        };
        let mut how = "put";
        if self.rng.chance(6) {
            write.condition = Some(match self.current(bucket, key) {
                Some((_, etag)) if self.rng.chance(2) => {
                    how = "put If-Match";
                    WriteCondition::IfMatch(etag)
                }
                _ => {
                    how = "put If-None-Match:*";
                    WriteCondition::IfNoneMatch
                }
            });
        }
        Some(match self.s3.write(bucket, key, &body, &write) {
            Ok(w) => {
                self.made(bucket, key, w.version_id.as_deref());
                format!(
                    "{how} {bucket}/{key} w{n} -> v={} etag={}",
                    w.version_id.as_deref().unwrap_or("-"),
                    short(&w.etag)
                )
            }
            Err(e) => format!(
                "{how} {bucket}/{key} w{n} refused: {}",
                e.code.unwrap_or_default()
            ),
        })
    }

    fn begin_multipart(&mut self, bucket: &str, key: &str) -> Option<String> {
        let (n, write) = self.write_spec();
        let id = self.s3.begin_upload(bucket, key, &write);
        self.uploads.push(super::world::OpenUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            id,
            n,
        });
        Some(format!("begin multipart {bucket}/{key} w{n}"))
    }

    fn complete_multipart(&mut self) -> Option<String> {
        if self.uploads.is_empty() {
            return None;
        }
        let i = self.rng.below(self.uploads.len());
        let upload = self.uploads.remove(i);
        let parts = vec![
            format!("part one of write {}", upload.n).into_bytes(),
            b"tail".to_vec(),
        ];
        let (b, k, n) = (&upload.bucket, &upload.key, upload.n);
        Some(match self.s3.complete_upload(b, &upload.id, &parts, None) {
            Ok(w) => {
                self.made(b, k, w.version_id.as_deref());
                format!(
                    "complete multipart {b}/{k} w{n} -> v={} etag={}",
                    w.version_id.as_deref().unwrap_or("-"),
                    short(&w.etag)
                )
            }
            Err(e) => format!("complete multipart {b}/{k} w{n} failed: {e}"),
        })
    }

    fn copy_to_new_key(&mut self, bucket: &str, key: &str) -> Option<String> {
        let (version, _) = self.current(bucket, key)?;
        let to = self.rng.pick(&KEYS).to_string();
        if to == key {
            return None;
        }
        let from = VersionRef {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: Some(version.clone()),
        };
        let w = self.s3.copy(&from, bucket, &to, None).ok()?;
        // A copy of a replica back onto the key its record names, stamped within that record's
        // write (by way of another key: `aws s3 cp` keeps user metadata), is that replica for
        // the engine, which cannot tell the two apart (docs/security.md, "When it was
        // written"): the same bytes and metadata, the same write. The oracle takes it so: no
        // label of its own, no user's write, and no second replica the function made.
        // Its label is the replica's, which a copy by way of another key relabelled.
        let mut record = None;
        self.s3.edit_head(bucket, &to, |h| {
            record = h.replica_record(bucket, &to).is_some().then(|| {
                [REPLICA_MARKER, REPLICA_SOURCE_BUCKET, REPLICA_WRITTEN_AT]
                    .map(|m| h.metadata.get(m).cloned())
            });
        });
        let label = record.and_then(|record| {
            let ever = self.s3.stack_ever(bucket, &to);
            let replica = ever.into_iter().find(|e| {
                !self.is_user_made(bucket, &to, &e.version_id)
                    && [REPLICA_MARKER, REPLICA_SOURCE_BUCKET, REPLICA_WRITTEN_AT]
                        .map(|m| e.metadata.get(m).cloned())
                        == record
            })?;
            replica.metadata.get("w").cloned()
        });
        let v = w.version_id.as_deref().unwrap_or("-");
        if let Some(label) = label {
            self.s3.edit_head(bucket, &to, |h| {
                h.metadata.insert("w".to_owned(), label);
            });
            let id = w.version_id.as_deref().unwrap_or(crate::fake::NULL_VERSION);
            self.replayed
                .insert((bucket.to_owned(), to.clone(), id.to_owned()));
            return Some(format!(
                "copy {bucket}/{key}@{version} -> {bucket}/{to} (the replica it records) v={v}"
            ));
        }
        // A copy is a write of its own: the oracle's label names it apart from the object it
        // copies (two copies of one object are two writes, in an unversioned bucket both `null`).
        // As a copy replacing only that entry of the metadata would (the `replica-*` kept).
        self.writes += 1;
        let n = self.writes;
        self.s3.edit_head(bucket, &to, |h| {
            h.metadata.insert("w".to_owned(), n.to_string());
        });
        self.made(bucket, &to, w.version_id.as_deref());
        Some(format!(
            "copy {bucket}/{key}@{version} -> {bucket}/{to} w{n} v={v}"
        ))
    }

    fn delete(&mut self, bucket: &str, key: &str) -> Option<String> {
        let if_match = match self.rng.chance(4) {
            true => Some("*"),
            false => None,
        };
        let how = if_match.map_or("delete", |_| "delete If-Match:*");
        Some(match self.s3.delete_object(bucket, key, if_match) {
            Ok(Some(marker)) => {
                self.made(bucket, key, Some(&marker));
                format!("{how} {bucket}/{key} -> marker {marker}")
            }
            Ok(None) => format!("{how} {bucket}/{key} (unversioned: removed)"),
            Err(e) => format!(
                "{how} {bucket}/{key} refused: {}",
                e.code.unwrap_or_default()
            ),
        })
    }

    fn delete_version(&mut self, bucket: &str, key: &str) -> Option<String> {
        let stack = self.s3.stack(bucket, key);
        if stack.is_empty() {
            return None;
        }
        let entry = self.rng.pick(&stack).clone();
        let newest_object = |stack: &[crate::fake::Entry]| {
            stack
                .iter()
                .rposition(|e| !e.delete_marker)
                .map(|i| stack[i].version_id.clone())
        };
        let exposes = stack.last().map(|e| &e.version_id) == Some(&entry.version_id)
            || newest_object(&stack).as_ref() == Some(&entry.version_id);
        self.s3.purge(bucket, key, &entry.version_id);
        let at = (bucket.to_owned(), key.to_owned());
        match entry.delete_marker {
            false => drop(self.version_deleted.insert(at)),
            true => {
                // Oldest first: the versions above the marker were written after that delete.
                let above = stack
                    .iter()
                    .skip_while(|e| e.version_id != entry.version_id)
                    .skip(1)
                    .filter(|e| !e.delete_marker)
                    .map(|e| e.version_id.clone());
                self.undeleted.entry(at).or_default().extend(above);
            }
        }
        // A version the source's current (or newest object) becomes again: convergence
        // re-asserts it, and a second replica of it is legitimate.
        if exposes {
            if let Some(again) = newest_object(&self.s3.stack(bucket, key)) {
                *self
                    .current_again
                    .entry((bucket.to_owned(), key.to_owned(), again))
                    .or_default() += 1;
            }
        }
        let what = if entry.delete_marker {
            "marker"
        } else {
            "version"
        };
        Some(format!("delete {what} {bucket}/{key}@{}", entry.version_id))
    }

    fn tag(&mut self, bucket: &str, key: &str) -> Option<String> {
        let (version, _) = self.current(bucket, key)?;
        // Metadata changes go to originals: one made directly on a replica is not carried back
        // to its original, and the policy says nothing of it (docs/simulation.md).
        if !self.is_user_made(bucket, key, &version) {
            return None;
        }
        // The class tag stays as written: a rule's selection of a version does not change.
        let mut tags = self
            .s3
            .stack(bucket, key)
            .last()
            .map(|e| e.tags.clone())
            .unwrap_or_default();
        tags.retain(|(k, _)| k == "class");
        let note = format!("n{}", self.rng.below(3));
        tags.push(("note".to_owned(), note.clone()));
        self.s3.tag(bucket, key, &version, &tags).ok()?;
        Some(format!("tag {bucket}/{key}@{version} note={note}"))
    }

    fn acl(&mut self, bucket: &str, key: &str) -> Option<String> {
        let (version, _) = self.current(bucket, key)?;
        // Metadata changes go to originals: one made directly on a replica is not carried back
        // to its original, and the policy says nothing of it (docs/simulation.md).
        if !self.is_user_made(bucket, key, &version) {
            return None;
        }
        let public = self.rng.chance(2);
        self.s3.set_public(bucket, key, &version, public).ok()?;
        let acl = if public { "public-read" } else { "private" };
        Some(format!("acl {bucket}/{key}@{version} {acl}"))
    }

    fn enable_versioning(&mut self) -> Option<String> {
        let bucket = self
            .topology
            .unversioned
            .iter()
            .find(|b| !self.versioned(b))?
            .clone();
        self.s3.set_versioning(&bucket, Versioning::Enabled);
        Some(format!("enable versioning on {bucket}"))
    }
}

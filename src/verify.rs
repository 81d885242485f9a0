//! Proof that replicas are complete: the source's current objects against each destination the
//! rules select, from listings alone (a replica keeps its source's ETag, so size and ETag equal
//! means the same bytes), and with `deep` also HEAD, tags and ACL of both sides.

use std::collections::BTreeMap;
use std::fmt;

use futures::future::{ready, try_join_all};
use futures::stream::{self, StreamExt};

use crate::config::{DestinationId, Rule};
use crate::error::{ReplicationError, Side};
use crate::replicate::{grant_headers, lock_in_force, target_encryption, Replicator};
use crate::store::{
    without_replica_entries, Current, DestinationStore, Encryption, Listed, ReplicaLocation,
    SourceStore, SourceVersion, TargetEncryption, VersionRef, REPLICA_MARKER,
};

/// Keys checked at once (each needs HEAD, and with --deep tags and ACL, on both sides).
pub const CONCURRENCY: usize = 16;

/// What a key is at one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The replica is what the source is.
    Same,
    /// The rules select the key and the destination has none.
    Missing,
    /// The replica is not what the source is (the detail names the fields).
    Differs,
    /// The replica names the source's version and has its size, but its ETag cannot equal the
    /// source's (SSE-KMS, a layout of its own, a streamed copy) and no full-object checksum
    /// proves the bytes. Not damage, and nothing is repaired for it.
    Unproven,
    /// The engine deliberately leaves the object unreplicated (archived, SSE-C, SSE-KMS the rule
    /// does not select, a replica itself): the detail names the reason. Not damage.
    Skipped,
    /// The source's key is deleted (its current version is a delete marker), and the replica is
    /// not what the rule says the destination should then hold: deleted too where the rule
    /// replicates delete markers, else the source's newest object version. Damage.
    Stale,
    /// The destination holds a later write than the source's: an original written there (or
    /// replicated there from elsewhere, two-way) after it, or a delete marker put above its
    /// replica. Not damage: no tool replaces it.
    NewerAtDestination,
    /// Only in the destination (expected where deletes are not replicated).
    Extra,
    /// The key could not be checked (the detail names the failure code).
    Error,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<8}` lines the report up.
        f.pad(match self {
            Self::Same => "same",
            Self::Missing => "missing",
            Self::Differs => "differs",
            Self::Unproven => "unproven",
            Self::Skipped => "skipped",
            Self::Stale => "stale",
            Self::NewerAtDestination => "newer-at-destination",
            Self::Extra => "extra",
            Self::Error => "error",
        })
    }
}

/// One key at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The key.
    pub key: String,
    /// The source's current version, where it was read (deep checks).
    pub version_id: Option<String>,
    /// The destination.
    pub destination: String,
    /// What it is.
    pub status: Status,
    /// The fields that differ, or the failure.
    pub detail: String,
    /// The source object's size as listed (0 where the source has none).
    pub size: u64,
}

/// The counts of a run, printed as its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// `same`.
    pub same: usize,
    /// `missing`.
    pub missing: usize,
    /// `differs`.
    pub differs: usize,
    /// `stale`.
    pub stale: usize,
    /// `unproven`.
    pub unproven: usize,
    /// `skipped`.
    pub skipped: usize,
    /// `newer-at-destination`.
    pub newer_at_destination: usize,
    /// `extra`.
    pub extra: usize,
    /// `error`.
    pub errors: usize,
}

impl Tally {
    /// Counts the findings.
    pub fn of(findings: &[Finding]) -> Self {
        let mut tally = Self::default();
        for f in findings {
            match f.status {
                Status::Same => tally.same += 1,
                Status::Missing => tally.missing += 1,
                Status::Differs => tally.differs += 1,
                Status::Stale => tally.stale += 1,
                Status::Skipped => tally.skipped += 1,
                Status::Unproven => tally.unproven += 1,
                Status::NewerAtDestination => tally.newer_at_destination += 1,
                Status::Extra => tally.extra += 1,
                Status::Error => tally.errors += 1,
            }
        }
        tally
    }

    /// Nothing missing, differing or failed (extra objects are allowed).
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.differs == 0 && self.stale == 0 && self.errors == 0
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verify: {} same, {} missing, {} differs, {} stale, {} unproven, {} skipped, {} newer-at-destination, {} extra, {} errors",
            self.same,
            self.missing,
            self.differs,
            self.stale,
            self.unproven,
            self.skipped,
            self.newer_at_destination,
            self.extra,
            self.errors
        )
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The source bucket.
    pub bucket: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// Also HEAD both sides and compare headers, user metadata, the replica marker, tags, ACL.
    pub deep: bool,
    /// Read what tells a key absent at a destination apart: missing, a deliberate skip, or
    /// deleted at the destination after it arrived. Without it such a key is `missing` at no
    /// cost, for a caller (backfill) whose engine decides that itself.
    pub explain_missing: bool,
}

/// Verifies every destination the configuration's enabled rules name for the source bucket.
pub async fn verify<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
) -> Result<Vec<Finding>, ReplicationError> {
    let mut destinations: BTreeMap<DestinationId, Vec<&Rule>> = BTreeMap::new();
    for rule in replicator.config().rules.iter().filter(|r| r.enabled) {
        let own = rule.destination.endpoint.is_none() && rule.destination.bucket == options.bucket;
        if !own {
            destinations
                .entry(rule.destination.id())
                .or_default()
                .push(rule);
        }
    }
    // Both sides are listed at once: the source (after its region), and every destination.
    let source = async {
        let region = replicator.bucket_region(&options.bucket).await?;
        let listed = replicator
            .source()
            .list_objects(&region, &options.bucket, &options.prefix)
            .await
            .map_err(|f| ReplicationError::classify(Side::Source, f))?;
        Ok::<_, ReplicationError>((region, listed))
    };
    let replicas = try_join_all(destinations.iter().map(|(id, rules)| async move {
        let at = replicator.locate(rules[0], &options.prefix).await?;
        let replicas = replicator
            .destination()
            .list_replicas(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        Ok::<_, ReplicationError>((id, rules, at, replicas))
    }));
    let ((region, source), replicas) = futures::try_join!(source, replicas)?;
    let check = Check {
        replicator,
        options,
        region: &region,
    };
    let mut findings = Vec::new();
    for (id, rules, at, replicas) in replicas {
        findings.extend(check.destination(id, rules, &at, &source, &replicas).await);
    }
    Ok(findings)
}

/// One key's check at one destination: its status and detail, or why it could not be made.
pub type KeyCheck = (Option<String>, Result<(Status, String), ReplicationError>);

/// Checks one source object's current version against each destination the rules select for
/// it, by HEAD on both sides: presence, size, ETag, storage class, content headers, user
/// metadata and the replica marker (tags and ACL are left to `verify --deep`). `current` is what
/// the source holds now (read by the caller).
pub async fn verify_object<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    region: &str,
    bucket: &str,
    src: &SourceVersion,
    key: &str,
) -> Vec<KeyCheck> {
    let source = replicator.source();
    let tags =
        if !replicator.config().uses_tag_filters() || replicator.tags_known_empty(src, bucket) {
            Vec::new()
        } else {
            let version = VersionRef {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                version_id: src.version_id.clone(),
            };
            match source.version_tags(region, &version).await {
                Ok(tags) => tags,
                Err(f) => return vec![(None, Err(ReplicationError::classify(Side::Source, f)))],
            }
        };
    let selected = crate::rules::select(replicator.config(), bucket, key, &tags);
    let listed = |v: &SourceVersion| Listed {
        key: key.to_owned(),
        size: v.size,
        etag: v.etag.clone(),
        storage_class: v
            .storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned()),
    };
    let mut checks = Vec::new();
    for rule in selected {
        let result = async {
            let at = replicator.locate(rule, key).await?;
            let dst = replicator
                .destination()
                .replica_current(&at)
                .await
                .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
            if matches!(dst, Current::DeleteMarker(_) | Current::Absent) {
                if let Some(reason) = replicator.deliberate_skip(rule, src, bucket) {
                    return Ok((Status::Skipped, reason.to_string()));
                }
            }
            let differs = match &dst {
                Current::Object(dst) => {
                    let mut differs = listed_differences(&listed(src), &listed(dst), rule);
                    // Two-way, from the side that received it: the original keeps its class.
                    if src.is_replica_from(bucket, &rule.destination.bucket) {
                        differs.retain(|d| !d.starts_with("storage-class"));
                    }
                    let mut unproven = None;
                    if differs == ["etag"] {
                        match proof(replicator.etag_parity(rule, src), src, dst) {
                            Proof::Bytes => differs.clear(),
                            Proof::Unproven(why) => {
                                differs.clear();
                                unproven = Some(why);
                            }
                            Proof::Differs(what) => differs = vec![what],
                        }
                    }
                    if differs.is_empty() {
                        differs = head_differences(src, dst, bucket, &rule.destination.bucket);
                        differs.extend(promised_differences(rule, src, dst));
                    }
                    if differs.is_empty() {
                        return Ok(match unproven {
                            Some(why) => (Status::Unproven, why),
                            None => (Status::Same, String::new()),
                        });
                    }
                    differs.join(" ")
                }
                _ => String::new(),
            };
            let later = replicator
                .later_at_destination(rule, bucket, src, &at)
                .await?;
            Ok(match (later, &dst) {
                (true, Current::Object(_)) => (Status::NewerAtDestination, differs),
                (true, _) => (
                    Status::NewerAtDestination,
                    "deleted at the destination".to_owned(),
                ),
                (false, Current::Object(_)) => (Status::Differs, differs),
                (false, _) => (Status::Missing, String::new()),
            })
        }
        .await;
        checks.push((Some(rule.destination.id().to_string()), result));
    }
    checks
}

struct Check<'a, S, D> {
    replicator: &'a Replicator<S, D>,
    options: &'a Options,
    region: &'a str,
}

impl<S: SourceStore, D: DestinationStore> Check<'_, S, D> {
    /// Merge-joins the two listings (both in key order) for one destination, then judges the
    /// pairs, [`CONCURRENCY`] at once, keeping key order.
    async fn destination(
        &self,
        id: &DestinationId,
        rules: &[&Rule],
        at: &ReplicaLocation,
        source: &[Listed],
        replicas: &[Listed],
    ) -> Vec<Finding> {
        let mut pairs = Vec::new();
        let (mut s, mut d) = (source.iter().peekable(), replicas.iter().peekable());
        loop {
            pairs.push(match (s.peek(), d.peek()) {
                (None, None) => break,
                (Some(a), Some(b)) if a.key == b.key => (s.next(), d.next()),
                (Some(a), Some(b)) if a.key < b.key => (s.next(), None),
                (Some(_), None) => (s.next(), None),
                _ => (None, d.next()),
            });
        }
        stream::iter(pairs)
            .map(|(src, dst)| self.judge(id, rules, at, src, dst))
            .buffered(CONCURRENCY)
            .filter_map(ready)
            .collect()
            .await
    }

    /// One key at one destination: `None` when no rule for it selects the key.
    async fn judge(
        &self,
        id: &DestinationId,
        rules: &[&Rule],
        at: &ReplicaLocation,
        src: Option<&Listed>,
        dst: Option<&Listed>,
    ) -> Option<Finding> {
        let key = src.or(dst).map(|o| o.key.clone()).unwrap_or_default();
        let finding = |status, detail: String, version_id: Option<String>| {
            Some(Finding {
                key: key.clone(),
                version_id,
                destination: id.to_string(),
                status,
                detail,
                size: src.map_or(0, |o| o.size),
            })
        };
        let in_scope = rules.iter().any(|r| key.starts_with(&r.filter.prefix));
        let rule = match src {
            Some(_) => match self.selecting_rule(rules, &key).await {
                Ok(rule) => rule,
                Err(e) => return finding(Status::Error, e.code().to_owned(), None),
            },
            None => None,
        };
        match (src, dst, rule) {
            (Some(src), Some(dst), Some(rule)) => {
                let mut differs = listed_differences(src, dst, rule);
                // Two-way: where the source's object is the replica of the destination's, the
                // destination holds the original, in the storage class its writer chose.
                if differs.iter().all(|d| d.starts_with("storage-class")) && !differs.is_empty() {
                    match self.mirrored(at, &key).await {
                        Ok(true) => differs.clear(),
                        Ok(false) => {}
                        Err(e) => return finding(Status::Error, e.code().to_owned(), None),
                    }
                }
                // An ETag that cannot match is proven another way, or said to be unproven.
                let mut unproven = None;
                if differs == ["etag"] {
                    match self.prove(rule, at, &key).await {
                        Ok(Proof::Bytes) => differs.clear(),
                        Ok(Proof::Unproven(why)) => {
                            differs.clear();
                            unproven = Some(why);
                        }
                        Ok(Proof::Differs(what)) => differs = vec![what],
                        Err(e) => return finding(Status::Error, e.code().to_owned(), None),
                    }
                }
                let mut version = None;
                if differs.is_empty() && self.options.deep {
                    let at = at_key(at, &key);
                    match self.deep(rule, &at).await {
                        Ok((v, fields)) => {
                            version = v;
                            differs = fields;
                        }
                        Err(e) => return finding(Status::Error, e.code().to_owned(), None),
                    }
                }
                if differs.is_empty() {
                    return match unproven {
                        Some(why) => finding(Status::Unproven, why, version),
                        None => finding(Status::Same, String::new(), version),
                    };
                }
                match self.later_at_destination(rule, at, &key).await {
                    Ok(true) => finding(Status::NewerAtDestination, differs.join(" "), version),
                    Ok(false) => finding(Status::Differs, differs.join(" "), version),
                    Err(e) => finding(Status::Error, e.code().to_owned(), None),
                }
            }
            (Some(_), None, Some(_)) if !self.options.explain_missing => {
                finding(Status::Missing, String::new(), None)
            }
            (Some(_), None, Some(rule)) => match self.absent(rule, at, &key).await {
                Ok((status, detail)) => finding(status, detail, None),
                Err(e) => finding(Status::Error, e.code().to_owned(), None),
            },
            (None, Some(_), _) if in_scope => match self.deleted_in_source(rules, at, &key).await {
                Ok((status, detail)) => finding(status, detail, None),
                Err(e) => finding(Status::Error, e.code().to_owned(), None),
            },
            // Not selected by any rule for this destination: nothing to say.
            _ => None,
        }
    }

    /// The highest-priority rule for this destination that selects the source's current object
    /// (its tags are read only when a rule filters on them).
    async fn selecting_rule<'r>(
        &self,
        rules: &[&'r Rule],
        key: &str,
    ) -> Result<Option<&'r Rule>, ReplicationError> {
        let candidates: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| key.starts_with(&r.filter.prefix))
            .collect();
        let tags = if candidates.iter().any(|r| !r.filter.tags.is_empty()) {
            self.replicator
                .source()
                .version_tags(self.region, &self.current(key))
                .await
                .map_err(|f| ReplicationError::classify(Side::Source, f))?
        } else {
            Vec::new()
        };
        Ok(candidates
            .into_iter()
            .filter(|r| r.filter.matches(key, &tags))
            .max_by_key(|r| r.priority))
    }

    /// Both sides read, for a replica whose listed ETag differs from its source's.
    async fn prove(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
        key: &str,
    ) -> Result<Proof, ReplicationError> {
        let src = self.source_current(key).await?;
        let at = at_key(at, key);
        let dst = self
            .replicator
            .destination()
            .replica_current(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let (Current::Object(src), Current::Object(dst)) = (src, dst) else {
            return Ok(Proof::Differs("changed while verifying".to_owned()));
        };
        Ok(proof(self.replicator.etag_parity(rule, &src), &src, &dst))
    }

    /// Whether the source's current object is a replica written into the source bucket from
    /// this destination (a two-way pair, seen from the side that received it).
    async fn mirrored(&self, at: &ReplicaLocation, key: &str) -> Result<bool, ReplicationError> {
        let src = self.source_current(key).await?;
        Ok(matches!(src, Current::Object(src)
            if src.is_replica_from(&self.options.bucket, &at.bucket)))
    }

    /// A key the destination does not list: deliberately not replicated, deleted there after its
    /// replica arrived, or missing.
    async fn absent(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
        key: &str,
    ) -> Result<(Status, String), ReplicationError> {
        let src = self.source_current(key).await?;
        let Current::Object(src) = src else {
            return Ok((
                Status::Skipped,
                "deleted in the source since the listing".to_owned(),
            ));
        };
        if let Some(reason) = self
            .replicator
            .deliberate_skip(rule, &src, &self.options.bucket)
        {
            return Ok((Status::Skipped, reason.to_string()));
        }
        let at = at_key(at, key);
        Ok(
            match self
                .replicator
                .later_at_destination(rule, &self.options.bucket, &src, &at)
                .await?
            {
                true => (
                    Status::NewerAtDestination,
                    "deleted at the destination".to_owned(),
                ),
                false => (Status::Missing, String::new()),
            },
        )
    }

    /// Whether what differs (or is missing) at the destination is a later write there: read
    /// only for keys that differ, so a clean bucket costs nothing more.
    async fn later_at_destination(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
        key: &str,
    ) -> Result<bool, ReplicationError> {
        let src = self.source_current(key).await?;
        let Current::Object(src) = src else {
            return Ok(false);
        };
        let at = at_key(at, key);
        self.replicator
            .later_at_destination(rule, &self.options.bucket, &src, &at)
            .await
    }

    /// A key only the destination lists: if the source deleted it and the replica is ours, what
    /// the rule says the destination should hold decides between `stale` and `same`; anything
    /// else (never in the source, someone else's object) is `extra`.
    async fn deleted_in_source(
        &self,
        rules: &[&Rule],
        at: &ReplicaLocation,
        key: &str,
    ) -> Result<(Status, String), ReplicationError> {
        let extra = Ok((Status::Extra, String::new()));
        let source = self.replicator.source();
        let src_err = |f| ReplicationError::classify(Side::Source, f);
        if !matches!(self.source_current(key).await?, Current::DeleteMarker(_)) {
            return extra;
        }
        // A delete marker has no tags: only rules without tag filters can govern it.
        let Some(rule) = rules
            .iter()
            .filter(|r| r.filter.tags.is_empty() && key.starts_with(&r.filter.prefix))
            .max_by_key(|r| r.priority)
        else {
            return extra;
        };
        let at = at_key(at, key);
        let dst = self
            .replicator
            .destination()
            .replica_current(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let Current::Object(dst) = dst else {
            return extra;
        };
        if dst.not_replicated_from(&self.options.bucket) {
            return extra;
        }
        if rule.delete_marker_replication {
            return Ok((Status::Stale, "deleted in the source".to_owned()));
        }
        let newest = source
            .newest_object_version(self.region, &self.options.bucket, key)
            .await
            .map_err(src_err)?;
        let marker = dst.metadata.get(REPLICA_MARKER).map(String::as_str);
        Ok(match newest {
            Some(newest) if marker == Some(newest.as_str()) => (Status::Same, String::new()),
            Some(newest) => (
                Status::Stale,
                format!("deleted in the source; its newest object version is {newest}"),
            ),
            None => (Status::Stale, "deleted in the source".to_owned()),
        })
    }

    /// What the source holds now under `key`.
    async fn source_current(&self, key: &str) -> Result<Current, ReplicationError> {
        self.replicator
            .source()
            .current(self.region, &self.options.bucket, key)
            .await
            .map_err(|f| ReplicationError::classify(Side::Source, f))
    }

    fn current(&self, key: &str) -> VersionRef {
        VersionRef {
            bucket: self.options.bucket.clone(),
            key: key.to_owned(),
            version_id: None,
        }
    }

    /// HEAD of both sides (and, on the function's own endpoint, tags and ACL): the source's
    /// version and the fields that differ.
    async fn deep(
        &self,
        rule: &Rule,
        at: &ReplicaLocation,
    ) -> Result<(Option<String>, Vec<String>), ReplicationError> {
        let source = self.replicator.source();
        let src = self.source_current(&at.key).await?;
        let dst = self
            .replicator
            .destination()
            .replica_current(at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let (Current::Object(src), Current::Object(dst)) = (src, dst) else {
            return Ok((None, vec!["changed while verifying".to_owned()]));
        };
        let mut differs = head_differences(&src, &dst, &self.options.bucket, &at.bucket);
        differs.extend(promised_differences(rule, &src, &dst));
        // Tags and ACL are read with the function's own credentials and endpoint.
        if at.endpoint.is_none() {
            let replica = VersionRef {
                bucket: at.bucket.clone(),
                key: at.key.clone(),
                version_id: None,
            };
            let read = |f| ReplicationError::classify(Side::Source, f);
            // A denied read of the replica is the destination's failure.
            let read_replica = |f| ReplicationError::classify(Side::Destination, f);
            let tags = source
                .version_tags(self.region, &self.current(&at.key))
                .await
                .map_err(read)?;
            if tags
                != source
                    .version_tags(&at.region, &replica)
                    .await
                    .map_err(read_replica)?
            {
                differs.push("tags".to_owned());
            }
            let got = source
                .version_acl(&at.region, &replica)
                .await
                .map_err(read_replica)?;
            if rule.destination.owner_override {
                // bucket-owner-full-control: the destination's owner holds the replica, and
                // none of the source's grants follow it.
                if !got.is_private() {
                    differs.push("acl(owner-override)".to_owned());
                }
            } else {
                let want = source
                    .version_acl(self.region, &self.current(&at.key))
                    .await
                    .map_err(read)?;
                // Every grant, not only READ: a lost FULL_CONTROL or WRITE_ACP grant is damage.
                let grants =
                    |acl: &crate::store::Acl| (!acl.is_private()).then(|| grant_headers(acl));
                if grants(&want) != grants(&got) {
                    differs.push("acl".to_owned());
                }
            }
        }
        Ok((src.version_id.clone(), differs))
    }
}

/// The destination location of `key` (the listing's location names the prefix).
fn at_key(at: &ReplicaLocation, key: &str) -> ReplicaLocation {
    ReplicaLocation {
        key: key.to_owned(),
        ..at.clone()
    }
}

/// What a replica whose ETag differs from its source's proves.
#[derive(Debug, PartialEq)]
enum Proof {
    /// Equal full-object checksums: the bytes are the source's.
    Bytes,
    /// Marker and size agree, the ETag cannot match, and nothing proves the bytes (why).
    Unproven(String),
    /// Damage: the field that differs.
    Differs(String),
}

/// Decides [`Proof`] for a source object and the destination's (whose listed ETag differed).
/// `parity`: the rule copies with the source's ETag.
fn proof(parity: bool, src: &SourceVersion, dst: &SourceVersion) -> Proof {
    let version = src.version_id.as_deref().unwrap_or("null");
    if dst.metadata.get(REPLICA_MARKER).map(String::as_str) != Some(version) || src.size != dst.size
    {
        return Proof::Differs("etag".to_owned());
    }
    if let (Some(a), Some(b)) = (&src.checksum, &dst.checksum) {
        if a.full_object && b.full_object && a.algorithm == b.algorithm {
            return match a.value == b.value {
                true => Proof::Bytes,
                false => Proof::Differs("checksum".to_owned()),
            };
        }
    }
    let kms = |v: &SourceVersion| matches!(v.encryption, Encryption::Kms { .. });
    // The same kind of layout (one part or several) without KMS gives the same ETag.
    let same_kind = src.etag.contains('-') == dst.etag.contains('-');
    if parity && same_kind && !kms(dst) {
        return Proof::Differs("etag".to_owned());
    }
    Proof::Unproven(
        "the ETag cannot match (SSE-KMS or another part layout) and no full-object checksum \
         proves the bytes; marker and size agree"
            .to_owned(),
    )
}

/// What else the engine promises a replica carries: the encryption the rule asks for, the
/// source's additional checksum (algorithm and type) and its Object Lock settings (mode,
/// retain-until date, legal hold).
fn promised_differences(rule: &Rule, src: &SourceVersion, dst: &SourceVersion) -> Vec<String> {
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
        if dst.checksum.as_ref().is_none_or(|got| {
            got.algorithm != want.algorithm || got.full_object != want.full_object
        }) {
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

/// What the listings say differs: size, ETag, and the storage class the rule asks for.
fn listed_differences(src: &Listed, dst: &Listed, rule: &Rule) -> Vec<String> {
    let mut differs = Vec::new();
    if src.size != dst.size {
        differs.push(format!("size({}!={})", src.size, dst.size));
    }
    if src.etag != dst.etag {
        differs.push("etag".to_owned());
    }
    let class = rule
        .destination
        .storage_class
        .as_deref()
        .unwrap_or(&src.storage_class);
    if class != dst.storage_class && !transitioned(class, &dst.storage_class) {
        differs.push(format!("storage-class({class}!={})", dst.storage_class));
    }
    differs
}

/// Whether a replica written in class `from` can be in class `to` by an S3 Lifecycle transition
/// at its destination: transitions only go down this order (the waterfall), and keep the
/// ETag. A replica moved there is not damage, and copying it back would fight the rule.
fn transitioned(from: &str, to: &str) -> bool {
    const WATERFALL: [&str; 7] = [
        "STANDARD",
        "STANDARD_IA",
        "INTELLIGENT_TIERING",
        "ONEZONE_IA",
        "GLACIER_IR",
        "GLACIER",
        "DEEP_ARCHIVE",
    ];
    let rank = |class: &str| WATERFALL.iter().position(|c| *c == class);
    matches!((rank(from), rank(to)), (Some(a), Some(b)) if b > a)
}

/// What HEAD says differs between the source object (of `source_bucket`) and the destination's
/// (in `dest_bucket`): content headers, user metadata, and the marker naming the version. Where
/// the source's object is itself the replica of the destination's (two-way), the pair is in
/// sync with no marker on the destination's side.
fn head_differences(
    src: &SourceVersion,
    dst: &SourceVersion,
    source_bucket: &str,
    dest_bucket: &str,
) -> Vec<String> {
    let mut differs = Vec::new();
    if src.content != dst.content {
        differs.push("content-headers".to_owned());
    }
    // Only the entries this function adds may differ.
    if without_replica_entries(&src.metadata) != without_replica_entries(&dst.metadata) {
        differs.push("user-metadata".to_owned());
    }
    let mirrored = src.is_replica_from(source_bucket, dest_bucket)
        && src.metadata.get(REPLICA_MARKER).map(String::as_str)
            == Some(dst.version_id.as_deref().unwrap_or("null"));
    let version = src.version_id.as_deref().unwrap_or("null");
    if !mirrored && dst.metadata.get(REPLICA_MARKER).map(String::as_str) != Some(version) {
        differs.push("replica-marker".to_owned());
    }
    differs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Checksum, ContentHeaders, ObjectLock};

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
    fn equal_full_object_checksums_prove_bytes_whatever_the_etag() {
        let src = object("\"a\"", None, Some(("CRC64NVME", true, "x")));
        let dst = object("\"b-2\"", Some("v1"), Some(("CRC64NVME", true, "x")));
        assert_eq!(proof(true, &src, &dst), Proof::Bytes);
        let other = object("\"b-2\"", Some("v1"), Some(("CRC64NVME", true, "y")));
        assert_eq!(proof(true, &src, &other), Proof::Differs("checksum".into()));
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
        // Another layout of the same bytes.
        let parts = object("\"m-3\"", Some("v1"), None);
        assert!(matches!(proof(true, &src, &parts), Proof::Unproven(_)));
        // A rule that cannot keep the ETag (a replica KMS key, another endpoint).
        let plain = object("\"p\"", Some("v1"), None);
        assert!(matches!(proof(false, &src, &plain), Proof::Unproven(_)));
    }

    #[test]
    fn a_replica_moved_down_by_lifecycle_is_not_a_storage_class_difference() {
        assert!(transitioned("STANDARD_IA", "GLACIER"));
        assert!(transitioned("STANDARD", "DEEP_ARCHIVE"));
        // Up the waterfall no lifecycle rule goes: written wrong, or rewritten by someone.
        assert!(!transitioned("GLACIER", "STANDARD_IA"));
        assert!(!transitioned("STANDARD_IA", "STANDARD"));
        assert!(!transitioned("OUTPOSTS", "GLACIER"));
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
        let s = object("\"a\"", None, Some(("CRC32", true, "z")));
        assert!(matches!(proof(true, &s, &c), Proof::Unproven(_)));
    }
}

//! The listing comparison: both sides' listings merge-joined, each pair judged from size, ETag
//! and storage class; only a key that differs, or is absent on one side, is read further (to
//! tell damage from a deliberate skip, a later write at the destination, a deletion).

use super::proof::{proof, Proof};
use super::status::DELETED_IN_SOURCE;
use super::{Check, Finding, Pair, Status};
use crate::config::{DestinationId, Rule};
use crate::error::{ReplicationError, Side};
use crate::replicate::{Decision, Settled};
use crate::store::{Current, DestinationStore, Listed, ReplicaLocation, SourceStore, VersionRef};

/// The two listings (both in key order) merge-joined: each key with its object on either side.
pub(super) fn pairs<'l>(source: &'l [Listed], replicas: &'l [Listed]) -> Vec<Pair<'l>> {
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
    pairs
}

impl<S: SourceStore, D: DestinationStore> Check<'_, S, D> {
    /// One key at one destination: `None` when no rule for it selects the key.
    pub(super) async fn judge(
        &self,
        id: &DestinationId,
        rules: &[&Rule],
        at: &ReplicaLocation,
        key: &str,
        (src, dst): (Option<&Listed>, Option<&Listed>),
    ) -> Option<Finding> {
        let key = key.to_owned();
        let finding = |status, detail: String, version_id: Option<String>| {
            Some(Finding {
                key: key.clone(),
                version_id,
                destination: id.to_string(),
                status,
                detail,
                size: src.map_or(0, |o| o.size),
                etag: src.map_or_else(String::new, |o| o.etag.clone()),
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
                // Archived since it was replicated: the engine leaves it (`skipped`, as every
                // tool says), unless a restored copy is readable; its HEAD tells.
                if matches!(src.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE") {
                    match self.left_by_the_engine(rule, &key).await {
                        Ok(Some(why)) => return finding(Status::Skipped, why, None),
                        Ok(None) => {}
                        Err(e) => return finding(Status::Error, e.code().to_owned(), None),
                    }
                }
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
                match self.differing(rule, &key).await {
                    Ok(Some((status, why))) if status == Status::Skipped => {
                        finding(status, why, version)
                    }
                    Ok(Some((status, _))) => finding(status, differs.join(" "), version),
                    Ok(None) => finding(Status::Differs, differs.join(" "), version),
                    Err(e) => finding(Status::Error, e.code().to_owned(), None),
                }
            }
            (Some(_), None, Some(_)) if !self.options.explain_missing => {
                finding(Status::Missing, String::new(), None)
            }
            (Some(_), None, Some(rule)) => match self.absent(rule, &key).await {
                Ok((status, detail)) => finding(status, detail, None),
                Err(e) => finding(Status::Error, e.code().to_owned(), None),
            },
            (None, Some(_), _) if in_scope => match self.deleted_in_source(rules, &key).await {
                Ok((status, detail)) => finding(status, detail, None),
                Err(e) => finding(Status::Error, e.code().to_owned(), None),
            },
            (None, None, _) if in_scope => match self.deleted_unlisted(rules, &key).await {
                Ok(Some((status, detail))) => finding(status, detail, None),
                Ok(None) => None,
                Err(e) => finding(Status::Error, e.code().to_owned(), None),
            },
            // Not selected by any rule for this destination: nothing to say.
            _ => None,
        }
    }

    /// The highest-priority rule for this destination that selects the source's current object
    /// (its tags are read only when a rule filters on them).
    pub(super) async fn selecting_rule<'r>(
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
            self.read(1);
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
        self.read(1);
        let dst = self
            .replicator
            .destination()
            .replica_current(&at)
            .await
            .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
        let listed = self
            .replicator
            .destination()
            .absence_is_listed(at.endpoint.as_deref());
        self.listed_if(dst == Current::Absent, listed);
        let (Current::Object(src), Current::Object(dst)) = (src, dst) else {
            return Ok(Proof::Differs("changed while verifying".to_owned()));
        };
        Ok(proof(
            self.replicator.etag_parity(rule, &src),
            &src,
            &dst,
            &at,
            &self.options.bucket,
        ))
    }

    /// Whether the source's current object is a replica written into the source bucket from
    /// this destination (a two-way pair, seen from the side that received it).
    async fn mirrored(&self, at: &ReplicaLocation, key: &str) -> Result<bool, ReplicationError> {
        let src = self.source_current(key).await?;
        Ok(matches!(src, Current::Object(src)
            if src.is_replica_from(&self.options.bucket, key, &at.bucket)))
    }

    /// A key the destination does not list: deliberately not replicated, deleted there after its
    /// replica arrived, or missing, as convergence judges it.
    pub(super) async fn absent(
        &self,
        rule: &Rule,
        key: &str,
    ) -> Result<(Status, String), ReplicationError> {
        let current = self.source_current(key).await?;
        let Current::Object(src) = &current else {
            return Ok((
                Status::Skipped,
                "deleted in the source since the listing".to_owned(),
            ));
        };
        // A chain's middle whose replica the destination lacks stays skipped: what could lie
        // below it is the middle's own delete (nothing to hide there) or its own object, which
        // a copy never buries under a replica of an earlier write. So a check of such a bucket
        // reads no key's versions where the destination holds nothing.
        if let Some(reason) = self
            .replicator
            .deliberate_skip(rule, src, &self.options.bucket, key)
        {
            return Ok((Status::Skipped, reason.to_string()));
        }
        Ok(match self.judged(rule, key, &current).await? {
            Decision::Settled(Settled::Later) => (
                Status::NewerAtDestination,
                "deleted at the destination".to_owned(),
            ),
            Decision::Settled(Settled::Skipped(reason)) => (Status::Skipped, reason.to_string()),
            Decision::Settled(Settled::InSync) => (Status::Same, String::new()),
            Decision::Copy { .. } | Decision::Hide(_) => (Status::Missing, String::new()),
        })
    }

    /// Why a destination object that differs is no damage, as the engine judges it: the
    /// source's current object is one the engine never sends on (a replica written into this
    /// bucket: a chain's middle, a two-way side), or the destination's is a later write there.
    /// Read only for keys that differ, so a clean bucket costs nothing more.
    async fn differing(
        &self,
        rule: &Rule,
        key: &str,
    ) -> Result<Option<(Status, String)>, ReplicationError> {
        let current = self.source_current(key).await?;
        let Current::Object(src) = &current else {
            return Ok(None);
        };
        let bucket = &self.options.bucket;
        let below = self.replicator.judged_below(rule, src, bucket, key);
        if let Some(reason) = self.replicator.deliberate_skip(rule, src, bucket, key) {
            if !below {
                return Ok(Some((Status::Skipped, reason.to_string())));
            }
        }
        Ok(match self.judged(rule, key, &current).await? {
            Decision::Settled(Settled::Later) => Some((Status::NewerAtDestination, String::new())),
            Decision::Settled(Settled::Skipped(reason)) => {
                Some((Status::Skipped, reason.to_string()))
            }
            // A chain's middle: the destination holds the source's own write below its replica.
            Decision::Settled(Settled::InSync) if below => Some((Status::Same, String::new())),
            _ => None,
        })
    }

    /// Why the engine deliberately leaves the source's current object of `key`, if it does.
    async fn left_by_the_engine(
        &self,
        rule: &Rule,
        key: &str,
    ) -> Result<Option<String>, ReplicationError> {
        let Current::Object(src) = self.source_current(key).await? else {
            return Ok(None);
        };
        Ok(self
            .replicator
            .deliberate_skip(rule, &src, &self.options.bucket, key)
            .map(|reason| reason.to_string()))
    }

    /// What convergence would do for `key` at `rule`'s destination now: the engine's judgement.
    async fn judged(
        &self,
        rule: &Rule,
        key: &str,
        src: &Current,
    ) -> Result<Decision<'_>, ReplicationError> {
        let run = crate::run::Run::new(None);
        let judged = self
            .replicator
            .judge_in(rule, self.region, &self.options.bucket, key, src, &run)
            .await;
        self.read(u64::from(run.requests()));
        judged
    }

    /// A key only the destination lists: if the source deleted it, what convergence would do
    /// there decides (the engine's judgement: a replica of ours, or another write older than
    /// the source's delete, is hidden or replaced: `stale`; a later write stands); anything
    /// else (never in the source, no rule for it) is `extra`.
    async fn deleted_in_source(
        &self,
        rules: &[&Rule],
        key: &str,
    ) -> Result<(Status, String), ReplicationError> {
        let extra = Ok((Status::Extra, String::new()));
        let current = self.source_current(key).await?;
        if !matches!(current, Current::DeleteMarker(..)) {
            return extra;
        }
        // Any rule for the key names the destination: which governs it is the engine's
        // judgement (a delete marker has no tags, so only rules without tag filters replicate
        // it; where none does, the source's newest object version is judged by its own tags,
        // as a Batch task and convergence judge it).
        let Some(rule) = rules
            .iter()
            .filter(|r| key.starts_with(&r.filter.prefix))
            .max_by_key(|r| r.priority)
        else {
            return extra;
        };
        // What convergence would leave there: where it writes (hides the object, or copies
        // the source's newest object version over it), it is stale; where it writes nothing,
        // it is what S3's replication leaves (a version deleted in the source without
        // version-delete replication keeps its replica) or a later write.
        Ok(match self.judged(rule, key, &current).await? {
            Decision::Hide(_) => (Status::Stale, "deleted in the source".to_owned()),
            Decision::Copy { head, .. } => (
                Status::Stale,
                format!(
                    "deleted in the source; its newest object version is {}",
                    head.version_id.as_deref().unwrap_or("null")
                ),
            ),
            Decision::Settled(Settled::Later) => (Status::NewerAtDestination, String::new()),
            Decision::Settled(Settled::Skipped(reason)) => (Status::Skipped, reason.to_string()),
            Decision::Settled(Settled::InSync) => (Status::Same, String::new()),
        })
    }

    /// A key deleted in the source that the destination does not list: where the rule keeps
    /// object versions after a delete and the source's newest one never reached the
    /// destination, convergence copies it there (`missing`, as a Batch verify task says and as
    /// repair and backfill then do); where it would write nothing, nothing is said.
    async fn deleted_unlisted(
        &self,
        rules: &[&Rule],
        key: &str,
    ) -> Result<Option<(Status, String)>, ReplicationError> {
        let current = self.source_current(key).await?;
        if !matches!(current, Current::DeleteMarker(..)) {
            return Ok(None);
        }
        // Any rule for the key: the engine's judgement decides which governs (as above).
        let Some(rule) = rules
            .iter()
            .filter(|r| key.starts_with(&r.filter.prefix))
            .max_by_key(|r| r.priority)
        else {
            return Ok(None);
        };
        Ok(match self.judged(rule, key, &current).await? {
            Decision::Copy { head, .. } => Some((
                Status::Missing,
                format!(
                    "{DELETED_IN_SOURCE}; its newest object version {} is not here",
                    head.version_id.as_deref().unwrap_or("null")
                ),
            )),
            // Where several sources write the destination, the engine puts the delete there.
            Decision::Hide(None) => Some((
                Status::Missing,
                format!("{DELETED_IN_SOURCE}; its delete marker is not here"),
            )),
            Decision::Hide(Some(_)) | Decision::Settled(Settled::InSync) => None,
            Decision::Settled(Settled::Later) => Some((
                Status::NewerAtDestination,
                "deleted at the destination".to_owned(),
            )),
            Decision::Settled(Settled::Skipped(reason)) => {
                Some((Status::Skipped, reason.to_string()))
            }
        })
    }

    /// What the source holds now under `key`.
    pub(super) async fn source_current(&self, key: &str) -> Result<Current, ReplicationError> {
        self.read(1);
        let current = self
            .replicator
            .source()
            .current(self.region, &self.options.bucket, key)
            .await
            .map_err(|f| ReplicationError::classify(Side::Source, f))?;
        let listed = self.replicator.source().absence_is_listed();
        self.listed_if(current == Current::Absent, listed);
        Ok(current)
    }

    pub(super) fn current(&self, key: &str) -> VersionRef {
        VersionRef {
            bucket: self.options.bucket.clone(),
            key: key.to_owned(),
            version_id: None,
        }
    }
}

/// The destination location of `key` (the listing's location names the prefix).
pub(super) fn at_key(at: &ReplicaLocation, key: &str) -> ReplicaLocation {
    ReplicaLocation {
        key: key.to_owned(),
        ..at.clone()
    }
}

/// What the listings say differs: size, ETag, and the storage class the rule asks for.
pub(super) fn listed_differences(src: &Listed, dst: &Listed, rule: &Rule) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_moved_down_by_lifecycle_is_not_a_storage_class_difference() {
        assert!(transitioned("STANDARD_IA", "GLACIER"));
        assert!(transitioned("STANDARD", "DEEP_ARCHIVE"));
        // Up the waterfall no lifecycle rule goes: written wrong, or rewritten by someone.
        assert!(!transitioned("GLACIER", "STANDARD_IA"));
        assert!(!transitioned("STANDARD_IA", "STANDARD"));
        assert!(!transitioned("OUTPOSTS", "GLACIER"));
    }
}

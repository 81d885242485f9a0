//! One object checked by HEAD on both sides, for a Batch Operations verify task: presence,
//! size, ETag, storage class, content headers, user metadata and the replica marker.

use super::deep::head_differences;
use super::listing::listed_differences;
use super::proof::{proof, Proof};
use super::Status;
use crate::error::{ReplicationError, Side};
use crate::replicate::promised_differences;
use crate::replicate::{Decision, Replicator, Settled};
use crate::store::{Current, DestinationStore, Listed, SourceStore, SourceVersion, VersionRef};

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
            // An object the engine never sends on (a replica written into this bucket, ...) is
            // skipped wherever the destination differs from it, as the engine judges it (and
            // `verify` reports it): no run would write there.
            let skip = replicator.deliberate_skip(rule, src, bucket, key);
            // A chain's middle whose replica the destination does not hold (another object is
            // there): the source's own write below its replica is judged, as convergence and
            // `verify` judge it.
            let held = matches!(&dst, Current::Object(_));
            if skip.is_some() && held && replicator.judged_below(rule, src, bucket, key) {
                let current = Current::Object(Box::new(src.clone()));
                return Ok(
                    match replicator
                        .judge(rule, region, bucket, key, &current)
                        .await?
                    {
                        Decision::Settled(Settled::InSync) => (Status::Same, String::new()),
                        Decision::Settled(Settled::Later) => {
                            (Status::NewerAtDestination, String::new())
                        }
                        Decision::Settled(Settled::Skipped(reason)) => {
                            (Status::Skipped, reason.to_string())
                        }
                        _ => (Status::Differs, "the source's own write below".to_owned()),
                    },
                );
            }
            if let Some(reason) = &skip {
                if !matches!(&dst, Current::Object(_)) {
                    return Ok((Status::Skipped, reason.to_string()));
                }
            }
            let differs = match &dst {
                Current::Object(dst) => {
                    let mut differs = listed_differences(&listed(src), &listed(dst), rule);
                    // Two-way, from the side that received it: the original keeps its class.
                    if src.is_replica_from(bucket, key, &rule.destination.bucket) {
                        differs.retain(|d| !d.starts_with("storage-class"));
                    }
                    let mut unproven = None;
                    if differs == ["etag"] {
                        match proof(replicator.etag_parity(rule, src), src, dst, &at, bucket) {
                            Proof::Bytes => differs.clear(),
                            Proof::Unproven(why) => {
                                differs.clear();
                                unproven = Some(why);
                            }
                            Proof::Differs(what) => differs = vec![what],
                        }
                    }
                    if differs.is_empty() {
                        let keeps = replicator.etag_parity(rule, src);
                        differs = head_differences(src, dst, &at, bucket, keeps);
                        differs.extend(promised_differences(rule, src, dst));
                    }
                    if differs.is_empty() {
                        return Ok(match unproven {
                            Some(why) => (Status::Unproven, why),
                            None => (Status::Same, String::new()),
                        });
                    }
                    if let Some(reason) = skip {
                        return Ok((Status::Skipped, reason.to_string()));
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

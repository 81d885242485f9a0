//! Applying a restore to one key: its version of T copied back as the current one, or the key
//! hidden under a delete marker (`--delete-newer`), each only while the key is the version
//! read: S3's conditions compare ETags, so after each write the entry just below it is checked,
//! and where another write slipped in between, our own new version is withdrawn.

use super::from::{decide, is_replica_of, Decision};
use super::plan::{current, replica_entries, same_as, state_at, AtT, History, ReplicaEntry, State};
use super::report::{Action, Requests, Row};
use super::Options;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::{copy_back_skip, CopiedBack, Replicator};
use crate::run::Run;
use crate::store::{
    DestinationStore, Past, ReplicaLocation, SourceStore, VersionRef, WriteCondition,
};
use crate::tools::cost::copy_requests;

/// What the plan brings back for one key.
enum Plan {
    /// Nothing: absent (or deleted) at T.
    Absent,
    /// This copy.
    Copy(Box<Copy>),
    /// History cannot prove which: a multipart version, or what was below it.
    Uncertain {
        later: String,
        earlier: Option<String>,
    },
    /// Not restored: why.
    Skip(String),
}

/// A copy back: bytes from one version, everything else from another (the same one, or the
/// restored bucket's own version where the bytes come from its replica).
pub(super) struct Copy {
    pub(super) bytes: VersionRef,
    pub(super) bytes_region: String,
    pub(super) state: State,
    /// The version whose metadata, tags, ACL, storage class and encryption are written.
    pub(super) attributes: VersionRef,
    pub(super) attributes_region: String,
    /// The restored bucket's version this is, where it keeps it.
    pub(super) own: Option<String>,
    /// The version the report names.
    pub(super) version: String,
    /// What the report adds about where the attributes came from.
    pub(super) note: &'static str,
    /// The ETag a current object that already is this version has.
    pub(super) etag: String,
}

/// The plan for one key, from its own history (`now`) and, with `--from`, its replica's.
#[allow(clippy::too_many_arguments)]
async fn plan<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    replica: Option<&History<'_>>,
    key: &str,
    now: &[Past],
    past: &[Past],
    requests: &mut Requests,
) -> Result<Plan, ReplicationError> {
    let own_ref = |version: &str| VersionRef {
        bucket: options.bucket.clone(),
        key: key.to_owned(),
        version_id: Some(version.to_owned()),
    };
    let own_copy = |s: State| {
        Plan::Copy(Box::new(Copy {
            bytes: own_ref(&s.version_id),
            bytes_region: region.to_owned(),
            attributes: own_ref(&s.version_id),
            attributes_region: region.to_owned(),
            own: Some(s.version_id.clone()),
            version: s.version_id.clone(),
            etag: s.etag.clone(),
            state: s,
            note: "",
        }))
    };
    let own_at = state_at(now, options.as_of, options.uncertain);
    let Some(replica) = replica else {
        return Ok(match own_at {
            AtT::Absent => Plan::Absent,
            AtT::Version(s) => own_copy(s),
            AtT::Uncertain { later, earlier } => Plan::Uncertain {
                later: later.version_id,
                earlier: earlier.map(|s| s.version_id),
            },
        });
    };
    let entries =
        replica_entries(replicator, replica, &options.bucket, key, past, requests).await?;
    let etag_of = |v: &str| {
        now.iter()
            .find(|p| p.version_id == v)
            .map(|p| p.etag.clone())
    };
    let from_replica = |e: &ReplicaEntry, attributes: Option<String>, note| {
        let state = State {
            version_id: e.past.version_id.clone(),
            etag: e.past.etag.clone(),
            size: e.past.size,
        };
        let bytes = VersionRef {
            bucket: replica.bucket.to_owned(),
            key: key.to_owned(),
            version_id: Some(e.past.version_id.clone()),
        };
        Plan::Copy(Box::new(Copy {
            attributes: attributes.as_deref().map_or(bytes.clone(), own_ref),
            attributes_region: match attributes {
                Some(_) => region.to_owned(),
                None => replica.region.clone(),
            },
            bytes,
            bytes_region: replica.region.clone(),
            own: attributes.clone(),
            etag: attributes
                .as_deref()
                .and_then(etag_of)
                .unwrap_or_else(|| e.past.etag.clone()),
            version: attributes.unwrap_or_else(|| e.past.version_id.clone()),
            state,
            note,
        }))
    };
    let elsewhere = "; the bucket keeps no record of this version: storage class, encryption, tags and ACL as the replica holds them";
    // A rule replicating the replica bucket into this one makes its own objects writes here.
    let pair = replicator
        .config()
        .rules
        .iter()
        .any(|r| r.enabled && r.destination.bucket == options.bucket)
        && replicator.config().allows_source(replica.bucket);
    Ok(
        match decide(now, &entries, options.as_of, options.uncertain, pair) {
            Decision::Absent => Plan::Absent,
            Decision::Uncertain { later, earlier } => Plan::Uncertain { later, earlier },
            Decision::Skip(why) => Plan::Skip(why),
            Decision::Replica(e) => from_replica(e, None, elsewhere),
            Decision::Own(s) => {
                let own = now
                    .iter()
                    .find(|p| p.version_id == s.version_id && !p.delete_marker);
                // Only a replica whose own ETag is the version's takes its place: the record
                // (its source ETag and size) proves where the object came from, not its bytes
                // (a multipart upload begun within the replica's window and completed later
                // carries it over other bytes: docs/security.md, "What proves bytes").
                let replicas: Vec<&ReplicaEntry> = own
                    .map(|p| entries.iter().filter(|e| is_replica_of(e, p)).collect())
                    .unwrap_or_default();
                let proven = own.and_then(|p| replicas.iter().find(|e| e.past.etag == p.etag));
                match proven {
                    Some(e) => from_replica(e, Some(s.version_id), ""),
                    None if !replicas.is_empty() => Plan::Skip(format!(
                        "unproven: the replica bucket holds an object recorded as the replica of version {} but its ETag is not the version's, so nothing proves its bytes (restore without --from brings the version back from the bucket's own history); left alone",
                        s.version_id
                    )),
                    None if current(now).is_some_and(|c| c.version_id == s.version_id) => {
                        own_copy(s)
                    }
                    None => Plan::Skip(format!(
                        "the replica holds no copy of version {} (restore without --from brings it back from the bucket's own history)",
                        s.version_id
                    )),
                }
            }
        },
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn one_key<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    replica: Option<&History<'_>>,
    key: &str,
    now: &[Past],
    past: &[Past],
    requests: &mut Requests,
    under: usize,
) -> Row {
    // The listing that proves where a write landed lists the key's name as a prefix: every
    // entry under it (`under`, as the run listed them) and the new one, 1,000 a page.
    let proving = (under / 1000 + 1) as u64;
    let row = |action, version: Option<&str>, reason: String, bytes| Row {
        key: key.to_owned(),
        action,
        version: version.map(str::to_owned),
        reason,
        bytes,
    };
    let fail = |e: ReplicationError| row(Action::Failed, None, format!("{}: {e}", e.code()), 0);
    let plan = match plan(
        replicator, options, region, replica, key, now, past, requests,
    )
    .await
    {
        Ok(plan) => plan,
        Err(e) => return fail(e),
    };
    let current = current(now);
    // The top of the key's stack as read: what every write here must land on.
    let top = now.first().map(|p| p.version_id.clone());
    let at = ReplicaLocation {
        bucket: options.bucket.clone(),
        key: key.to_owned(),
        region: region.to_owned(),
        expected_bucket_owner: None,
        endpoint: None,
    };
    let copy = match plan {
        Plan::Uncertain { later, earlier } => {
            let earlier = earlier.map_or("nothing (absent)".to_owned(), |e| format!("version {e}"));
            return row(
                Action::Uncertain,
                Some(&later),
                format!("history cannot prove which was current at T: multipart version {later} (its completion time is not recorded) or, below it, {earlier}; left alone (--uncertain before|after chooses)"),
                0,
            );
        }
        Plan::Skip(why) => return row(Action::Skipped, None, why, 0),
        Plan::Absent => {
            return match (current, options.delete_newer) {
                (None, _) => row(Action::AlreadyAsOf, None, "absent at T and now".into(), 0),
                (Some(_), false) => row(
                    Action::Newer,
                    None,
                    "did not exist at T; left alone (--delete-newer hides it)".into(),
                    0,
                ),
                (Some(c), true) => {
                    // DeleteObject, and the listing that proves where the marker landed.
                    requests.put += 1 + proving;
                    if options.dry_run {
                        return row(Action::Deleted, None, "did not exist at T".into(), 0);
                    }
                    match hide(replicator, &at, &c).await {
                        Ok(true) => row(
                            Action::Deleted,
                            None,
                            "did not exist at T: hidden under a delete marker".into(),
                            0,
                        ),
                        Ok(false) => changed(key),
                        Err(e) => fail(e),
                    }
                }
            };
        }
        Plan::Copy(copy) => *copy,
    };
    let version = Some(copy.version.as_str());
    if let Some(c) = &current {
        let same_version = copy.own.as_deref() == Some(c.version_id.as_str());
        let now_ref = VersionRef {
            bucket: options.bucket.clone(),
            key: key.to_owned(),
            version_id: Some(c.version_id.clone()),
        };
        let same = same_version
            || (c.size == copy.state.size && c.etag == copy.etag && {
                match same_as(
                    replicator,
                    (region, &now_ref),
                    (&copy.attributes_region, &copy.attributes),
                    &mut requests.get,
                )
                .await
                {
                    Ok(same) => same,
                    Err(e) => return fail(e),
                }
            });
        if same {
            return row(Action::AlreadyAsOf, version, "as of T".into(), 0);
        }
    }
    let reason = match &current {
        None => format!("deleted since T{}", copy.note),
        Some(_) => format!("changed since T{}", copy.note),
    };
    // Copy: HEAD, tags, ACL of the version (and of the attributes' where apart); the copy's
    // own requests, in the version's layout.
    let layout = copy_requests(copy.state.size, &copy.state.etag, &replicator.config().copy);
    let apart = u64::from(copy.attributes != copy.bytes);
    requests.get += 3 + 3 * apart + layout.get;
    // And the listing that proves where the copy landed.
    requests.put += layout.put + proving;
    if options.dry_run {
        // What the real run would skip, the dry run skips: one HEAD of the version.
        return match will_skip(replicator, &copy).await {
            Ok(Some(why)) => row(Action::Skipped, version, why, 0),
            Ok(None) => row(Action::Restored, version, reason, copy.state.size),
            Err(e) => fail(e),
        };
    }
    let run = Run::new(None).for_tool();
    let as_read = current.as_ref().map(|c| c.etag.as_str());
    match copy_back_onto(replicator, &copy, &at, as_read, top.as_deref(), &run).await {
        Ok(Back::Written) => row(Action::Restored, version, reason, copy.state.size),
        Ok(Back::Skipped(why)) => row(Action::Skipped, version, why, 0),
        Ok(Back::Changed) => changed(key),
        Err(e) if e.disposition() == Disposition::SourceGone => row(
            Action::Skipped,
            version,
            "the version of T was deleted during the run".into(),
            0,
        ),
        Err(e) => fail(e),
    }
}

async fn will_skip<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    copy: &Copy,
) -> Result<Option<String>, ReplicationError> {
    let head = replicator
        .source()
        .head_version(&copy.bytes_region, &copy.bytes, None)
        .await
        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
    Ok(copy_back_skip(&head).map(|r| r.to_string()))
}

/// What copying a version back onto its key came to.
pub(super) enum Back {
    /// Written, as the key's current version.
    Written,
    /// Deliberately not copied: why (archived, SSE-C).
    Skipped(String),
    /// The key was written since it was read: left as it is (our write withdrawn).
    Changed,
}

/// Copies the version back as the key's current version at `at`, only while the key is as
/// read: S3's condition on the current object's ETag (or on nothing being there), then proof
/// that the entry just below the new version is the one read (`top`); where another write
/// slipped in between, the new version is withdrawn (deleted by its version id).
pub(super) async fn copy_back_onto<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    copy: &Copy,
    at: &ReplicaLocation,
    as_read: Option<&str>,
    top: Option<&str>,
    run: &Run,
) -> Result<Back, ReplicationError> {
    let condition = match as_read {
        Some(etag) => WriteCondition::IfMatch(etag.to_owned()),
        None => WriteCondition::IfNoneMatch,
    };
    let attributes = (copy.attributes != copy.bytes)
        .then_some((&copy.attributes, copy.attributes_region.as_str()));
    let written = match replicator
        .copy_back(
            &copy.bytes,
            &copy.bytes_region,
            attributes,
            at,
            Some(condition),
            run,
        )
        .await
    {
        Ok(CopiedBack::Written(w)) => w,
        Ok(CopiedBack::Skipped(why)) => return Ok(Back::Skipped(why.to_string())),
        Err(e) if e.is_precondition_failed() => return Ok(Back::Changed),
        // A delete that slipped in before a conditional write makes S3 answer 404 NoSuchKey,
        // as it does for a source version gone: the version still there tells them apart.
        Err(e) if not_found(&e) && still_there(replicator, copy).await? => {
            return Ok(Back::Changed)
        }
        Err(e) => return Err(e),
    };
    match written.version_id {
        Some(ours) => match landed_on(replicator, at, &ours, top).await? {
            true => Ok(Back::Written),
            false => Ok(Back::Changed),
        },
        None => Ok(Back::Written),
    }
}

fn not_found(e: &ReplicationError) -> bool {
    e.s3_failure()
        .is_some_and(|f| f.kind == crate::error::S3FailureKind::NotFound)
}

/// Whether the version the bytes come from still exists.
async fn still_there<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    copy: &Copy,
) -> Result<bool, ReplicationError> {
    match replicator
        .source()
        .head_version(&copy.bytes_region, &copy.bytes, None)
        .await
    {
        Ok(_) => Ok(true),
        Err(f) => {
            let e = ReplicationError::classify(Side::Source, f);
            match e.disposition() {
                Disposition::SourceGone => Ok(false),
                _ => Err(e),
            }
        }
    }
}

/// Whether our new entry `ours` landed right on `top` (the key's top entry as read); if not,
/// another write came in between, and ours is withdrawn.
pub(super) async fn landed_on<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    at: &ReplicaLocation,
    ours: &str,
    top: Option<&str>,
) -> Result<bool, ReplicationError> {
    let stack = replicator
        .source()
        .key_history(
            &at.region,
            &at.bucket,
            &at.key,
            at.expected_bucket_owner.as_deref(),
        )
        .await
        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
    let below = stack
        .iter()
        .filter(|p| p.key == at.key)
        .skip_while(|p| p.version_id != ours)
        .nth(1)
        .map(|p| p.version_id.as_str());
    if below == top {
        return Ok(true);
    }
    replicator
        .destination()
        .delete_version(at, ours)
        .await
        .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    Ok(false)
}

/// Hides the key under a delete marker, only while its current object is the one read: S3's
/// conditional delete on its ETag, then proof that the marker landed on that very version.
async fn hide<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    at: &ReplicaLocation,
    c: &State,
) -> Result<bool, ReplicationError> {
    let read = Some(c.etag.as_str())
        .filter(|e| !e.is_empty())
        .unwrap_or("*");
    let marker = match replicator
        .destination()
        .put_delete_marker(at, Some(read))
        .await
    {
        Ok(marker) => marker,
        Err(f) => {
            let e = ReplicationError::classify(Side::Destination, f);
            // 412, or 404 NoSuchKey: a delete slipped in first.
            return match e.is_precondition_failed() || not_found(&e) {
                true => Ok(false),
                false => Err(e),
            };
        }
    };
    match marker {
        Some(ours) => landed_on(replicator, at, &ours, Some(&c.version_id)).await,
        None => Ok(true),
    }
}

/// A key written since the run read it: never replaced.
fn changed(key: &str) -> Row {
    Row {
        key: key.to_owned(),
        action: Action::Newer,
        version: None,
        reason: "written since the run read it; left as it is".into(),
        bytes: 0,
    }
}

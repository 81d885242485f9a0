//! Applying a restore to one key: its version of T copied back as the current one, or the key
//! hidden under a delete marker (`--delete-newer`), each only while the key is as read: a write
//! made since the run began is never replaced.

use super::plan::{as_of, current, same_object, History, State};
use super::report::{Action, Requests, Row};
use super::Options;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::{CopiedBack, Replicator};
use crate::run::Run;
use crate::store::{
    Current, DestinationStore, Past, ReplicaLocation, SourceStore, VersionRef, WriteCondition,
};
use crate::tools::cost::copy_requests;

#[allow(clippy::too_many_arguments)]
pub(super) async fn one_key<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    history: &History<'_>,
    key: &str,
    now: &[Past],
    past: &[Past],
    requests: &mut Requests,
) -> Row {
    let row = |action, version: Option<&str>, reason: String, bytes| Row {
        key: key.to_owned(),
        action,
        version: version.map(str::to_owned),
        reason,
        bytes,
    };
    let fail = |e: ReplicationError| row(Action::Failed, None, format!("{}: {e}", e.code()), 0);
    let then = match as_of(
        replicator,
        history,
        &options.bucket,
        key,
        past,
        options.as_of,
        requests,
    )
    .await
    {
        Ok(then) => then,
        Err(e) => return fail(e),
    };
    let current = current(now);
    let at = ReplicaLocation {
        bucket: options.bucket.clone(),
        key: key.to_owned(),
        region: region.to_owned(),
        expected_bucket_owner: None,
        endpoint: None,
    };
    let Some(then) = then else {
        return match (current, options.delete_newer) {
            (None, _) => row(Action::AlreadyAsOf, None, "absent at T and now".into(), 0),
            (Some(_), false) => row(
                Action::Newer,
                None,
                "did not exist at T; left alone (--delete-newer hides it)".into(),
                0,
            ),
            (Some(c), true) => {
                requests.put += 1;
                if options.dry_run {
                    return row(Action::Deleted, None, "did not exist at T".into(), 0);
                }
                // Only the object read: a write since the run began is never hidden.
                match still(replicator, &at, &c).await {
                    Ok(true) => {}
                    Ok(false) => return changed(key),
                    Err(e) => return fail(e),
                }
                let read = Some(c.etag.as_str()).filter(|e| !e.is_empty());
                match replicator.destination().put_delete_marker(&at, read).await {
                    Ok(_) => row(
                        Action::Deleted,
                        None,
                        "did not exist at T: hidden under a delete marker".into(),
                        0,
                    ),
                    Err(f) => fail(ReplicationError::classify(Side::Destination, f)),
                }
            }
        };
    };
    let version = Some(then.version_id.as_str());
    if let Some(c) = &current {
        let same_version = !history.replica && c.version_id == then.version_id;
        let same = same_version
            || (c.etag == then.etag
                && c.size == then.size
                && match same_object(
                    replicator,
                    history,
                    region,
                    &options.bucket,
                    key,
                    &then,
                    requests,
                )
                .await
                {
                    Ok(same) => same,
                    Err(e) => return fail(e),
                });
        if same {
            return row(Action::AlreadyAsOf, version, "as of T".into(), 0);
        }
    }
    // Copy: HEAD, tags, ACL of the version; one CopyObject (or an upload in parts).
    let copy = copy_requests(then.size, &then.etag, &replicator.config().copy);
    requests.get += 3 + copy.get;
    requests.put += copy.put;
    let reason = match &current {
        None => "deleted since T",
        Some(_) => "changed since T",
    };
    if options.dry_run {
        return row(Action::Restored, version, reason.into(), then.size);
    }
    let from = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(then.version_id.clone()),
    };
    let run = Run::new(None).for_tool();
    let as_read = current.as_ref().map(|c| c.etag.as_str());
    match copy_back_onto(replicator, (&from, &history.region), &at, as_read, &run).await {
        Ok(Back::Written) => row(Action::Restored, version, reason.into(), then.size),
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

/// What copying a version back onto its key came to.
pub(super) enum Back {
    /// Written, as the key's current version.
    Written,
    /// Deliberately not copied: why (archived, SSE-C).
    Skipped(String),
    /// The key was written since it was read: left as it is.
    Changed,
}

/// Copies `from` back as the key's current version at `at`, only while the key is as read
/// (its current object's ETag, or nothing there): a write made since is never replaced.
pub(super) async fn copy_back_onto<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    (from, from_region): (&VersionRef, &str),
    at: &ReplicaLocation,
    as_read: Option<&str>,
    run: &Run,
) -> Result<Back, ReplicationError> {
    let condition = match as_read {
        Some(etag) => WriteCondition::IfMatch(etag.to_owned()),
        None => WriteCondition::IfNoneMatch,
    };
    match replicator
        .copy_back(from, from_region, at, Some(condition), run)
        .await
    {
        Ok(CopiedBack::Written(_)) => Ok(Back::Written),
        Ok(CopiedBack::Skipped(why)) => Ok(Back::Skipped(why.to_string())),
        Err(e) if e.is_precondition_failed() => Ok(Back::Changed),
        Err(e) => Err(e),
    }
}

/// A key written since the run began: never replaced.
fn changed(key: &str) -> Row {
    Row {
        key: key.to_owned(),
        action: Action::Skipped,
        version: None,
        reason: "written since the run began; left as it is".into(),
        bytes: 0,
    }
}

/// Whether the key still is the object `c` read at the start.
async fn still<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    at: &ReplicaLocation,
    c: &State,
) -> Result<bool, ReplicationError> {
    let now = replicator
        .destination()
        .replica_current(at)
        .await
        .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    Ok(matches!(now, Current::Object(o) if o.version_id.as_deref() == Some(c.version_id.as_str())))
}

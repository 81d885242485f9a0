//! A restore job's task (S3 Batch Operations, Mode "restore"): the version it names copied back
//! as its key's current version in the bucket the manifest names, and nowhere else, unless the
//! key already holds it. With the job's `From` argument (a replica bucket), the bytes come from
//! the replica: the version named there, or the replica of the named bucket's version.

use super::apply::{copy_back_onto, Back, Copy};
use super::plan::{same_as, State};
use super::RestoreError;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::Replicator;
use crate::run::Run;
use crate::store::{
    Current, DestinationStore, ReplicaLocation, SourceStore, SourceVersion, VersionRef,
};

/// What a Batch Operations restore task did with the version it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Copied back as its key's current version.
    Restored,
    /// The key already holds it.
    AlreadyAsOf,
    /// The key was written while the task ran: left as it is.
    Newer,
    /// Deliberately not copied: why.
    Skipped(String),
    /// It cannot be done: why (the task fails for good).
    Refused(String),
}

/// One task of a restore job: version `version_id` of `key` copied back as the key's current
/// version in `bucket` (the manifest's bucket, the only one written), its bytes read from
/// `bucket` itself or, with `from`, from that replica bucket; unless the key already holds it.
/// Conditional on the key as read, and proven after the write.
pub async fn restore_task<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    key: &str,
    version_id: &str,
    (from, read_at): (Option<&str>, i64),
    run: &Run,
) -> Result<TaskOutcome, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    if !replicator.config().allows_source(bucket) {
        return Err(ReplicationError::SourceBucketNotAllowed(bucket.to_owned()));
    }
    // A source of the function's, in its region (as a replicate task reads it): no
    // GetBucketLocation on the source is needed.
    let region = replicator.default_region().to_owned();
    if !replicator
        .source()
        .versioning_enabled(&region, bucket)
        .await
        .map_err(src)?
    {
        return Ok(TaskOutcome::Refused(
            RestoreError::NotVersioned(bucket.to_owned()).to_string(),
        ));
    }
    let reference = |bucket: &str, version: &str| VersionRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(version.to_owned()),
    };
    let own = reference(bucket, version_id);
    let named = head(replicator, &region, &own).await?;
    let found = match from {
        None => named.map(|h| (own.clone(), h)),
        Some(from) => {
            let from_region = replicator.bucket_region(from).await?;
            let wanted = Wanted {
                bucket,
                version_id,
                own: named.as_ref(),
            };
            replica_of(replicator, &from_region, from, key, &wanted).await?
        }
    };
    let Some((bytes, bytes_head)) = found else {
        return Ok(TaskOutcome::Refused(format!(
            "version {version_id} no longer exists{}",
            from.map_or(String::new(), |f| format!(" (nor a replica of it in {f})"))
        )));
    };
    let bytes_region = match bytes.bucket == bucket {
        true => region.clone(),
        false => replicator.bucket_region(&bytes.bucket).await?,
    };
    // Everything but the bytes from the bucket's own version, where it still has it.
    let own_version = match bytes.bucket == bucket {
        true => bytes.version_id.clone(),
        false => bytes_head
            .replica_record(&bytes.bucket, key)
            .filter(|r| r.from(bucket))
            .map(|r| r.version.to_owned()),
    };
    let own_head = match &own_version {
        Some(v) => head(replicator, &region, &reference(bucket, v)).await?,
        None => None,
    };
    let (attributes, attributes_region, etag, own) = match (&own_version, &own_head) {
        (Some(v), Some(h)) => (
            reference(bucket, v),
            region.clone(),
            h.etag.clone(),
            Some(v.clone()),
        ),
        _ => (
            bytes.clone(),
            bytes_region.clone(),
            bytes_head.etag.clone(),
            None,
        ),
    };
    let current = replicator
        .source()
        .current(&region, bucket, key)
        .await
        .map_err(src)?;
    // The plan read the bucket at `read_at`: a key written since (in its second, or later) is
    // newer than the plan, and never replaced (as the command line never replaces a write made
    // after it read the key).
    let top_written = match &current {
        Current::Object(c) => c.last_modified.map(|t| t.secs()),
        Current::DeleteMarker(_, at) => Some(at.map_or(i64::MAX, |t| t.secs())),
        Current::Absent => None,
    };
    let after_plan = top_written.is_some_and(|secs| secs >= read_at.div_euclid(1000));
    let as_read = match &current {
        Current::Object(c) => {
            let now = reference(bucket, c.version_id.as_deref().unwrap_or("null"));
            if own.is_some() && c.version_id == own
                || (c.etag == etag
                    && c.size == bytes_head.size
                    && same_as(
                        replicator,
                        (&region, &now),
                        (&attributes_region, &attributes),
                        &mut 0,
                    )
                    .await?)
            {
                return Ok(TaskOutcome::AlreadyAsOf);
            }
            Some(c.etag.as_str())
        }
        _ => None,
    };
    if after_plan {
        return Ok(TaskOutcome::Newer);
    }
    let top = current.version_id().map(str::to_owned);
    let at = ReplicaLocation {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        region,
        expected_bucket_owner: None,
        endpoint: None,
    };
    let copy = Copy {
        state: State {
            version_id: bytes.version_id.clone().unwrap_or_default(),
            etag: bytes_head.etag.clone(),
            size: bytes_head.size,
        },
        bytes,
        bytes_region,
        attributes,
        attributes_region,
        version: version_id.to_owned(),
        own,
        note: "",
        etag,
    };
    Ok(
        match copy_back_onto(replicator, &copy, &at, as_read, top.as_deref(), run).await? {
            Back::Written => TaskOutcome::Restored,
            Back::Skipped(why) => TaskOutcome::Skipped(why),
            Back::Changed => TaskOutcome::Newer,
        },
    )
}

/// HeadObject of a version; `None` when it is gone.
async fn head<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    region: &str,
    version: &VersionRef,
) -> Result<Option<SourceVersion>, ReplicationError> {
    match replicator
        .source()
        .head_version(region, version, None)
        .await
    {
        Ok(h) => Ok(Some(h)),
        Err(f) => {
            let e = ReplicationError::classify(Side::Source, f);
            match e.disposition() {
                Disposition::SourceGone => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// The version a task restores: `version_id` of `bucket`, with the bucket's own record of it
/// where it still has it.
struct Wanted<'a> {
    bucket: &'a str,
    version_id: &'a str,
    own: Option<&'a SourceVersion>,
}

/// In the replica bucket `from`, the replica (its record proven) of the wanted version: where
/// the bucket still has that version, the replica whose record names it, its ETag and size (a
/// `null` version id names every write made while versioning was off); else the replica's
/// version the manifest names (`--manifest-out` names the replica's version where the bucket
/// lost its own), only if its record names the bucket. Never an object written in `from`
/// itself, which may share the id (`null`).
async fn replica_of<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    from_region: &str,
    from: &str,
    key: &str,
    wanted: &Wanted<'_>,
) -> Result<Option<(VersionRef, SourceVersion)>, ReplicationError> {
    let named = VersionRef {
        bucket: from.to_owned(),
        key: key.to_owned(),
        version_id: Some(wanted.version_id.to_owned()),
    };
    let unquoted = |e: &str| e.trim_matches('"').to_owned();
    let Some(own) = wanted.own else {
        let head = head(replicator, from_region, &named).await?;
        return Ok(head
            .filter(|h| {
                h.replica_record(from, key)
                    .is_some_and(|r| r.from(wanted.bucket))
            })
            .map(|h| (named, h)));
    };
    let history = replicator
        .source()
        .key_history(from_region, from, key, None)
        .await
        .map_err(|f| ReplicationError::classify(Side::Source, f))?;
    for p in history.iter().filter(|p| p.key == key && !p.delete_marker) {
        if p.size != own.size {
            continue;
        }
        let candidate = VersionRef {
            version_id: Some(p.version_id.clone()),
            ..named.clone()
        };
        let Some(h) = head(replicator, from_region, &candidate).await? else {
            continue;
        };
        let same = h.replica_record(from, key).is_some_and(|r| {
            r.of(wanted.bucket, wanted.version_id)
                && r.source_etag
                    .is_none_or(|e| unquoted(e) == unquoted(&own.etag))
        });
        if same {
            return Ok(Some((candidate, h)));
        }
    }
    Ok(None)
}

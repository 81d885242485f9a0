//! A restore job's task (S3 Batch Operations, Mode "restore"): the version it names copied back
//! as its key's current version, unless the key already holds it.

use super::apply::{copy_back_onto, Back};
use super::plan::same_as;
use super::RestoreError;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::Replicator;
use crate::run::Run;
use crate::store::{Current, DestinationStore, ReplicaLocation, SourceStore, VersionRef};

/// What a Batch Operations restore task did with the version it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Copied back as its key's current version.
    Restored,
    /// The key already holds it.
    AlreadyAsOf,
    /// Deliberately not copied: why.
    Skipped(String),
    /// It cannot be done: why (the task fails for good).
    Refused(String),
}

/// One task of a restore job: the version `version_id` of `key` in `bucket` (the bucket itself,
/// or a replica of it) copied back as the key's current version in the bucket it belongs to
/// (a replica's names it), unless that key already holds it; conditional on the key as read.
pub async fn restore_task<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    key: &str,
    version_id: &str,
    run: &Run,
) -> Result<TaskOutcome, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let from = VersionRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(version_id.to_owned()),
    };
    let from_region = replicator.bucket_region(bucket).await?;
    let head = match replicator
        .source()
        .head_version(&from_region, &from, None)
        .await
        .map_err(src)
    {
        Ok(head) => head,
        Err(e) if e.disposition() == Disposition::SourceGone => {
            return Ok(TaskOutcome::Refused(format!(
                "version {version_id} no longer exists"
            )))
        }
        Err(e) => return Err(e),
    };
    // A replica's own bucket is the one its record names, where the record is one this
    // function wrote at this bucket and key (proven, where a record key is configured);
    // anything else is an object of `bucket` itself.
    let target = head
        .replica_record(bucket, key)
        .and_then(|r| r.source_bucket)
        .unwrap_or(bucket)
        .to_owned();
    // The bucket written into is an allowed source, wherever its name was read.
    if !replicator.config().allows_source(&target) {
        return Err(ReplicationError::SourceBucketNotAllowed(target));
    }
    let region = replicator.bucket_region(&target).await?;
    if !replicator
        .source()
        .versioning_enabled(&region, &target)
        .await
        .map_err(src)?
    {
        return Ok(TaskOutcome::Refused(
            RestoreError::NotVersioned(target).to_string(),
        ));
    }
    let current = replicator
        .source()
        .current(&region, &target, key)
        .await
        .map_err(src)?;
    let now = VersionRef {
        bucket: target.clone(),
        key: key.to_owned(),
        version_id: None,
    };
    let as_read = match &current {
        Current::Object(c) => {
            let same_version = target == bucket && c.version_id.as_deref() == Some(version_id);
            if same_version
                || (c.etag == head.etag
                    && c.size == head.size
                    && same_as(replicator, (&region, &now), (&from_region, &from)).await?)
            {
                return Ok(TaskOutcome::AlreadyAsOf);
            }
            Some(c.etag.as_str())
        }
        _ => None,
    };
    let at = ReplicaLocation {
        bucket: target,
        key: key.to_owned(),
        region,
        expected_bucket_owner: None,
        endpoint: None,
    };
    Ok(
        match copy_back_onto(replicator, (&from, &from_region), &at, as_read, run).await? {
            Back::Written => TaskOutcome::Restored,
            Back::Skipped(why) => TaskOutcome::Skipped(why),
            Back::Changed => {
                TaskOutcome::Skipped("the key was written while the task ran; left as it is".into())
            }
        },
    )
}

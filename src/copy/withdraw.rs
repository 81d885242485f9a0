//! A replica the engine proves wrong right after writing it (its ETag, size, checksum or what it
//! carries is not what the copy planned) is withdrawn before the record fails: left in place it
//! would carry a genuine replica record, and every retry, backfill and event after would find
//! the version "already replicated" (issue #40). Only the version this write made is removed:
//! by its version id, or where the destination names none (an unversioned bucket), by a delete
//! conditional on the ETag it wrote (`If-Match`), after a read that finds that ETag still
//! current (another endpoint may not honour the condition).

use tracing::warn;

use crate::error::{ReplicationError, Side};
use crate::run::Run;
use crate::store::{Current, DestinationStore, ReplicaLocation, ReplicaSpec, Written};

/// Withdraws the replica `written` at `target` when `err` proves it wrong (a
/// [`ReplicationError::ReplicaMismatch`]); returns `err`. A withdrawal that fails is logged and
/// named in the error: the record fails either way, and the copy's retry reads what is there.
pub async fn wrong_replica<D: DestinationStore>(
    destination: &D,
    target: &ReplicaSpec,
    written: &Written,
    run: &Run,
    err: ReplicationError,
) -> ReplicationError {
    let ReplicationError::ReplicaMismatch(why) = &err else {
        return err;
    };
    match withdraw(destination, &ReplicaLocation::of(target), written, run).await {
        Ok(()) => {
            warn!(bucket = %target.bucket, key = %target.key,
                  version_id = written.version_id.as_deref().unwrap_or("-"), reason = %why,
                  "a wrong replica was written: withdrawn");
            ReplicationError::ReplicaMismatch(format!("{why} (the wrong replica was withdrawn)"))
        }
        Err(e) => {
            warn!(bucket = %target.bucket, key = %target.key, error = %e,
                  "a wrong replica was written and could not be withdrawn");
            ReplicationError::ReplicaMismatch(format!(
                "{why} (the wrong replica could not be withdrawn: {e})"
            ))
        }
    }
}

/// Deletes exactly the version `written` made at `at`.
async fn withdraw<D: DestinationStore>(
    destination: &D,
    at: &ReplicaLocation,
    written: &Written,
    run: &Run,
) -> Result<(), ReplicationError> {
    let dst = |f| ReplicationError::classify(Side::Destination, f);
    if let Some(version) = &written.version_id {
        run.count();
        return destination.delete_version(at, version).await.map_err(dst);
    }
    run.count();
    let current = destination.replica_current(at).await.map_err(dst)?;
    match current {
        // Ours is still there: a version id now (the write's answer named none) or none at all.
        Current::Object(o) if o.etag == written.etag => match o.version_id.as_deref() {
            Some(v) if v != "null" => {
                run.count();
                destination.delete_version(at, v).await.map_err(dst)
            }
            _ => {
                run.count();
                let deleted = destination.put_delete_marker(at, Some(&written.etag)).await;
                deleted.map(|_| ()).map_err(dst)
            }
        },
        // Someone else's write is current now: it stands.
        _ => Ok(()),
    }
}

//! The engine's reads, classified into failure codes: the source version (head, lock, tags,
//! ACL), the source's and a destination's current object, and the replicas in a destination's
//! history.

use aws_smithy_types::DateTime;

use super::order;
use super::*;
use crate::order::write_of;
use crate::store::{may_be_replica, Past};

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Every destination version that is a replica of source version `marker`, newest first.
    /// Late events write duplicate replicas of a version by design, so a version delete or an
    /// ACL change must reach all of them, not only the newest.
    pub(super) async fn find_replicas(
        &self,
        at: &ReplicaLocation,
        source: &str,
        marker: &str,
        run: &Run,
    ) -> Result<Vec<String>, ReplicationError> {
        let replica = |v: &SourceVersion| {
            v.replica_record(&at.bucket, &at.key)
                .is_some_and(|r| r.of(source, marker))
        };
        self.replicas_among(at, |_| true, replica, false, run).await
    }

    /// Whether the delete `marker` at `at` stands against the source's version `head` (of
    /// `source`, read in `region`): later in the one order of writes, and not a delete of the
    /// source's own replicated (see [`Self::own_delete_until`]). `None` where the server did not
    /// say when it was put (then the caller asks the destination's history). Fan-in: where it
    /// would give way, another source's later delete keeps it ([`Self::deleted_later_elsewhere`]).
    pub(super) async fn delete_stands(
        &self,
        region: &str,
        source: &str,
        head: &SourceVersion,
        at: &ReplicaLocation,
        marker: MarkerRead<'_>,
        run: &Run,
    ) -> Result<Option<bool>, ReplicationError> {
        let Some(deleted) = order::marker_write(marker.put, &at.bucket) else {
            return Ok(None);
        };
        let version = write_of(head, source, &at.key);
        let stands = self
            .marker_stands(region, source, head, at, marker, (&deleted, &version), run)
            .await?;
        if stands {
            return Ok(Some(true));
        }
        Ok(Some(
            self.deleted_later_elsewhere((region, source), head, at, &version, run)
                .await?,
        ))
    }

    /// [`Self::delete_stands`] by the marker alone, put at `deleted`, against the source's
    /// `version`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn marker_stands(
        &self,
        region: &str,
        source: &str,
        head: &SourceVersion,
        at: &ReplicaLocation,
        marker: MarkerRead<'_>,
        (deleted, version): (&crate::order::Write, &crate::order::Write),
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if !order::later(deleted, version) {
            return Ok(false);
        }
        // A single-part version directly above the source's delete bounds that delete's
        // replica by its own second: the list is read only where the marker could be it.
        let multipart = head.etag.contains('-');
        if deleted.secs > version.secs && !multipart {
            return Ok(true);
        }
        // Where no rule for this destination replicates delete markers, none there is the
        // source's delete replicated: every marker is another's write.
        let destination = DestinationId {
            endpoint: at.endpoint.clone(),
            bucket: at.bucket.clone(),
        };
        if !rules::replicates_markers(&self.config, source, &destination, &at.key) {
            return Ok(true);
        }
        let (own, after) = self
            .own_delete_until(region, source, &at.key, head, run)
            .await?;
        let may_be_own = match own {
            OwnDelete::None => false,
            OwnDelete::Until(secs) => deleted.secs <= secs,
            OwnDelete::Unbounded => true,
        };
        if !may_be_own {
            return Ok(true);
        }
        // The time leaves it open; the destination's stack may not.
        self.not_replicated_here(at, marker.id, (source, head), &after, run)
            .await
    }

    /// Whether the destination's delete marker `marker` at `at` (the current one where its id
    /// is not known) stands against the source's version `head` though it may be the source's
    /// delete replicated, by the stack S3 records there. A replicated marker that survives lies
    /// below every replica of a version the source wrote after that delete (it is withdrawn
    /// where the source wrote before it was proven, see `converge::withdrawn`), so one above
    /// such a replica (`after`: the source's versions above its delete) is another writer's.
    /// The entries below the marker are read, not below the top: a copy that just landed on it
    /// lies above. And whoever's delete it is, it stands where it lies directly on an original
    /// write later than the version (another writer's: the destination's own, or replicated
    /// from elsewhere): another writer's delete stands, and the source's own hid that write,
    /// which the version does not beat either (two-way: a multipart upload begun before the
    /// other side's write and completed over its own delete). (What lies directly below a
    /// marker proves nothing of its origin: a version delete may have taken the object a
    /// replicated marker was put on.) Another endpoint's conditions are not trusted.
    async fn not_replicated_here(
        &self,
        at: &ReplicaLocation,
        marker: Option<&str>,
        (source, head): (&str, &SourceVersion),
        after: &[Past],
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if at.endpoint.is_some() {
            return Ok(false);
        }
        let stack = self.destination_stack(at, run).await?;
        let mut entries = stack.iter();
        let found = match marker {
            Some(id) => entries.any(|p| p.version_id == id && p.delete_marker),
            None => entries.next().is_some_and(|top| top.delete_marker),
        };
        if !found {
            return Ok(false);
        }
        // The object directly below, read once: judged by the order, then (where its size
        // fits) as a replica of a version above the source's delete, as those further down.
        let mut below = None;
        if let Some(p) = entries.clone().next().filter(|p| !p.delete_marker) {
            let v = self.destination_version(at, &p.version_id, run).await?;
            if matches!(&v, Current::Object(o) if order::later_original(source, head, o, at)) {
                return Ok(true);
            }
            below = Some((p.version_id.as_str(), v));
        }
        for p in entries.filter(|p| !p.delete_marker && after.iter().any(|a| a.size == p.size)) {
            let v = match below.take() {
                Some((id, v)) if id == p.version_id => v,
                _ => self.destination_version(at, &p.version_id, run).await?,
            };
            let of_after = matches!(&v, Current::Object(o) if o
                .replica_record(&at.bucket, &at.key)
                .is_some_and(|r| after.iter().any(|a| r.of(source, &a.version_id)
                    && (a.version_id != "null" || r.source_etag.is_none_or(|e| e == a.etag.trim_matches('"'))))));
            if of_after {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Whether a destination marker may be the source's own delete below its version `head`,
    /// replicated: a replicated delete marker is stamped when it landed at the destination,
    /// after the source's own (seconds later, under load), so against a version the source
    /// wrote after that delete it is no later write of the destination's, and the version
    /// supersedes it. But it survives only where the source was still deleted after it was put
    /// (convergence withdraws it otherwise): so no later than the second the entry just above
    /// the delete in the source's stack landed, which a single-part write's `Last-Modified`
    /// says. A multipart one counts from its initiation, before it landed: unbounded. With it,
    /// the source's versions above that delete, up to the next delete (newest first).
    async fn own_delete_until(
        &self,
        region: &str,
        bucket: &str,
        key: &str,
        head: &SourceVersion,
        run: &Run,
    ) -> Result<(OwnDelete, Vec<Past>), ReplicationError> {
        let version = head.version_id.as_deref().unwrap_or("null");
        run.start()?;
        let history = self
            .source
            .key_history(region, bucket, key, None)
            .await
            .map_err(src_err)?;
        // Newest first. The versions written after that delete are the run of objects it
        // lies under, the ones above the version included (a late event's version has them).
        let history: Vec<&Past> = history.iter().filter(|p| p.key == key).collect();
        let Some(at) = history
            .iter()
            .position(|p| p.version_id == version && !p.delete_marker)
        else {
            return Ok((OwnDelete::None, Vec::new()));
        };
        let Some(delete) = history[at..].iter().position(|p| p.delete_marker) else {
            return Ok((OwnDelete::None, Vec::new()));
        };
        let delete = at + delete;
        let newest = history[..at]
            .iter()
            .rposition(|p| p.delete_marker)
            .map_or(0, |m| m + 1);
        let after: Vec<Past> = history[newest..delete]
            .iter()
            .map(|p| (*p).clone())
            .collect();
        // The entry just above the delete bounds when its replica could land.
        let first = &history[delete - 1];
        let until = match first.etag.contains('-') {
            true => OwnDelete::Unbounded,
            false => OwnDelete::Until(first.last_modified.div_euclid(1000)),
        };
        Ok((until, after))
    }

    /// Whether a version in the destination's history is a replica of the source version
    /// `head`: only versions of a size and ETag its replica can have are read
    /// ([`may_be_replica`]: in any layout the copy took).
    pub(super) async fn replica_in_history(
        &self,
        at: &ReplicaLocation,
        source: &str,
        head: &SourceVersion,
        keeps_etag: bool,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let found = self
            .replicas_of_write(at, source, head, keeps_etag, None, true, run)
            .await?;
        Ok(!found.is_empty())
    }

    /// The destination versions of the key (but `except`) that are replicas of the source's
    /// write `head`: the write itself, not only its version id, since a `null` version names a
    /// new write each time an unversioned source overwrites its key. Only versions of a size and
    /// ETag its replica can have are read ([`may_be_replica`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn replicas_of_write(
        &self,
        at: &ReplicaLocation,
        source: &str,
        head: &SourceVersion,
        keeps_etag: bool,
        except: Option<&str>,
        first_only: bool,
        run: &Run,
    ) -> Result<Vec<String>, ReplicationError> {
        let candidate = |v: &ListedVersion| {
            Some(v.version_id.as_str()) != except
                && may_be_replica(v.size, &v.etag, head, keeps_etag)
        };
        let same_write =
            |v: &SourceVersion| v.is_replica_of(&at.bucket, &at.key, source, head, keeps_etag);
        self.replicas_among(at, candidate, same_write, first_only, run)
            .await
    }

    /// The destination versions of the key that are `replica`s (of a source version, or of one
    /// write), newest first, reading only the `candidate` versions of the listing (and stopping
    /// at the first with `first_only`).
    pub(super) async fn replicas_among(
        &self,
        at: &ReplicaLocation,
        candidate: impl Fn(&ListedVersion) -> bool,
        replica: impl Fn(&SourceVersion) -> bool,
        first_only: bool,
        run: &Run,
    ) -> Result<Vec<String>, ReplicationError> {
        run.start()?;
        let versions = self
            .destination
            .replica_versions(at)
            .await
            .map_err(dst_err)?;
        let mut replicas = Vec::new();
        for listed in versions.into_iter().filter(|v| candidate(v)) {
            let v = self
                .destination_version(at, &listed.version_id, run)
                .await?;
            if matches!(&v, Current::Object(o) if replica(o)) {
                replicas.push(listed.version_id);
                if first_only {
                    break;
                }
            }
        }
        Ok(replicas)
    }

    pub(super) async fn read_tags(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Vec<(String, String)>, ReplicationError> {
        run.start()?;
        let tags = self
            .source
            .version_tags(region, version)
            .await
            .map_err(src_err)?;
        self.tags_readable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(version.bucket.clone());
        Ok(tags)
    }

    /// The source version's ACL as grant headers; `None` for a private ACL.
    pub(super) async fn read_grants(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<Option<GrantHeaders>, ReplicationError> {
        run.start()?;
        let acl = self
            .source
            .version_acl(region, version)
            .await
            .map_err(src_err)?;
        Ok((!acl.is_private()).then(|| grant_headers(&acl)))
    }

    /// HeadObject on the source version the event names.
    pub(super) async fn read_head(
        &self,
        region: &str,
        version: &VersionRef,
        if_match: Option<&str>,
        run: &Run,
    ) -> Result<SourceVersion, ReplicationError> {
        run.start()?;
        self.source
            .head_version(region, version, if_match)
            .await
            .map_err(src_err)
    }

    /// Completes what HeadObject said of the version's Object Lock. HeadObject shows the lock
    /// only to a caller allowed `s3:GetObjectRetention` / `s3:GetObjectLegalHold`, and says
    /// nothing when it hides it; so in a bucket with Object Lock enabled, whatever HEAD left out
    /// is read explicitly, and a denial fails the record: a locked object is never replicated
    /// unlocked.
    pub(super) async fn complete_lock(
        &self,
        region: &str,
        version: &VersionRef,
        head: &mut SourceVersion,
        run: &Run,
    ) -> Result<(), ReplicationError> {
        let lock = &mut head.object_lock;
        if lock.mode.is_some() && lock.legal_hold.is_some() {
            return Ok(());
        }
        if !self.lock_enabled(region, &version.bucket, run).await? {
            return Ok(());
        }
        if lock.mode.is_none() {
            run.start()?;
            if let Some((mode, until)) = self
                .source
                .version_retention(region, version)
                .await
                .map_err(src_err)?
            {
                lock.mode = Some(mode);
                lock.retain_until = Some(until);
            }
        }
        if lock.legal_hold.is_none() {
            run.start()?;
            let on = self
                .source
                .version_legal_hold(region, version)
                .await
                .map_err(src_err)?;
            // Off is what a replica has without the header.
            lock.legal_hold = on.then_some(true);
        }
        Ok(())
    }

    /// The source key's newest version that is an object (not a delete marker), read.
    pub(super) async fn newest_object(
        &self,
        region: &str,
        event: &ObjectEvent,
        run: &Run,
    ) -> Result<Option<SourceVersion>, ReplicationError> {
        run.start()?;
        let newest = self
            .source
            .newest_object_version(region, &event.bucket, &event.key)
            .await
            .map_err(src_err)?;
        let Some(id) = newest else {
            return Ok(None);
        };
        let version = VersionRef {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version_id: Some(id),
        };
        match self.read_head(region, &version, None, run).await {
            Ok(head) => Ok(Some(head)),
            // Deleted in the meantime: its own event converges again.
            Err(e) if e.disposition() == Disposition::SourceGone => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// What the key currently is in a destination.
    pub(super) async fn replica_current(
        &self,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<Current, ReplicationError> {
        run.start()?;
        self.destination.replica_current(at).await.map_err(dst_err)
    }

    /// What the source key currently is.
    pub(super) async fn source_current(
        &self,
        region: &str,
        event: &ObjectEvent,
        run: &Run,
    ) -> Result<Current, ReplicationError> {
        run.start()?;
        self.source
            .current(region, &event.bucket, &event.key)
            .await
            .map_err(src_err)
    }
}

/// A destination's delete marker as read: its version id and when it was put (either may be
/// unknown: an unversioned bucket's marker, a server that does not say).
#[derive(Clone, Copy)]
pub(super) struct MarkerRead<'a> {
    pub(super) id: Option<&'a str>,
    pub(super) put: Option<&'a DateTime>,
}

/// A delete marker read as `Current::DeleteMarker(id, put)`.
pub(super) fn marker<'a>(id: &'a Option<String>, put: &'a Option<DateTime>) -> MarkerRead<'a> {
    MarkerRead {
        id: id.as_deref(),
        put: put.as_ref(),
    }
}

/// Until when a destination marker may be the source's own delete, replicated.
enum OwnDelete {
    /// The source has no delete below the version.
    None,
    /// Put no later than this second.
    Until(i64),
    /// At any time (a multipart upload landed above the delete).
    Unbounded,
}

//! What a destination holds decides whether a copy may land there: a later original write and a
//! delete marker above a replica of the version stand; a replica already current, or in the
//! history, is not written again.

use super::order;
use super::*;
use crate::order::{write_of, Write};

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// What the destination holds may forbid the copy: a later original write (written there,
    /// or replicated there from elsewhere) and a delete marker above a replica of this version
    /// (deleted there after it arrived) are never replaced, whatever the caller; in event mode
    /// the replica may also already be current, or in the history. `None`: copy.
    pub(super) async fn guard(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        at: &ReplicaLocation,
        check: Check,
        fresh: bool,
        run: &Run,
    ) -> Result<Guard, ReplicationError> {
        let version = src.version.version_id.as_deref().unwrap_or("null");
        // Read with the source's, unless a write since then made that stale.
        let known = match (fresh, src.destinations) {
            (false, Some(reads)) => reads.read(&rule.destination.id()).await,
            _ => None,
        };
        let current = match known {
            Some(current) => current,
            None => self.replica_current(at, run).await?,
        };
        let source = src.event.bucket.as_str();
        let record = current.replica_record(&at.bucket, &at.key);
        let theirs = match &current {
            Current::Object(o) => Some(o.as_ref()),
            _ => None,
        };
        // A replica of this version already current stands. An event stops there; a repair's
        // rewrite too where that replica shows none of the damage a check finds (another run's,
        // a concurrent tool's or the function's, written since the check: one replica a
        // version); and after a refused write (`fresh`) the key is judged as an event would.
        let keeps = keeps_etag(rule, src.head, &self.config.copy);
        if theirs.is_some_and(|o| {
            o.is_replica_of(&at.bucket, &at.key, source, src.head, keeps)
                && match check {
                    Check::Event => true,
                    Check::Rewrite => undamaged(rule, src.head, o, keeps),
                    Check::History | Check::Converge => fresh,
                }
        }) {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::AlreadyReplicated)));
        }
        // The copy lands only while the key is as read here: two writers racing on it cannot
        // both write (S3 conditional writes; another endpoint may not honour them).
        let condition = rule
            .destination
            .endpoint
            .is_none()
            .then(|| condition_on(&current));
        let maybe_late = match &current {
            Current::Object(theirs) => {
                // Another bucket's later original write (written there, two-way, fan-in) stays
                // current, on every side alike: the one order of writes decides.
                if order::later_original(source, src.head, theirs, at) {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)));
                }
                // A late event's version (or a backfill's history) over another writer's
                // original (written there, or replicated there from elsewhere: two-way, fan-in):
                // the source has moved on from this version. Where the source's current state is
                // earlier than that write (or a replica of it: two-way, the source follows the
                // destination), that write stays: this version would only land to be replaced
                // by the current one, which would then hide the later write, or leave the sides
                // apart. Otherwise an event leaves it to convergence, which follows every record
                // and brings the source's current state over it (landing this version first
                // would only have it replaced, a second copy of the current's where its replica
                // lies below); a history copy goes on, its convergence deferred to the end.
                if matches!(check, Check::Event | Check::History)
                    && !src.is_current
                    && theirs.not_replicated_from(&at.bucket, &at.key, source)
                {
                    let written = write_of(theirs, &at.bucket, &at.key);
                    // Boxed: the guard's future is part of every copy's, and a test's stack
                    // is small.
                    match Box::pin(self.source_moved_on(rule, src, &written, at, run)).await? {
                        MovedOn::ToEarlier => {
                            return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)))
                        }
                        MovedOn::ToLater if check == Check::Event => {
                            return Ok(Guard::Stop(Done::Skipped(SkipReason::SourceMovedOn)))
                        }
                        MovedOn::ToKept => {
                            return Ok(Guard::Stop(Done::Skipped(SkipReason::SourceMovedOn)))
                        }
                        MovedOn::ToLater | MovedOn::No => {}
                    }
                }
                // The replica of a version above this one in the source's stack is current: this
                // version would land on top of it, and only a second copy of that version could
                // put it back. S3 keeps one replica a version (an API client cannot insert one
                // below the current), so a late version is left out.
                let above = match record {
                    // A `null` version has its place too: its write's, which the source's
                    // listing shows (the one read just now).
                    Some(r) if r.from(source) && r.version != version && !src.is_current => {
                        self.stands_above(src.region, src.version, r.version, run)
                            .await?
                    }
                    _ => false,
                };
                if above && matches!(check, Check::Event | Check::History) {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::Superseded)));
                }
                // A later original write below a replica that the source's version delete
                // takes away stays too (asked after the above: a late version superseded costs
                // nothing more).
                if self
                    .later_below_gone_replica(src.region, source, src.head, theirs, at, run)
                    .await?
                {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)));
                }
                // A replica of another version of this source is current: if its original is
                // no earlier than this one, this event may be late and its replica below.
                check == Check::Event
                    && record.is_some_and(|r| r.from(source))
                    && write_of(theirs, &at.bucket, &at.key).secs
                        >= order::source_write(src.event, src.head).secs
            }
            Current::DeleteMarker(marker, put) => {
                // A delete marker is a write too: later in the one order of writes than this
                // version, it stands, unless it is a delete of the source's own replicated.
                let read = super::reads::marker(marker, put);
                let stands = self
                    .delete_stands(src.region, source, src.head, at, read, run)
                    .await?;
                let marker = marker.clone();
                if stands == Some(true) {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)));
                }
                // A late event's version (or a history copy) over a marker earlier than it, where
                // the source has moved on to a state that marker follows (a replica of the
                // destination's write: two-way, the source follows the destination; or a write
                // earlier than the marker): the marker stays, as another writer's object would
                // (above). Landed, this version would stand there for a write its own bucket no
                // longer holds, and nothing would carry it back: the sides would stay apart.
                if let (Some(false), Some(deleted)) =
                    (stands, order::marker_write(put.as_ref(), &at.bucket))
                {
                    if matches!(check, Check::Event | Check::History) && !src.is_current {
                        match Box::pin(self.source_moved_on(rule, src, &deleted, at, run)).await? {
                            MovedOn::ToEarlier => {
                                return Ok(Guard::Stop(Done::Skipped(
                                    SkipReason::NewerInDestination,
                                )))
                            }
                            // A chain's middle moved on to a later write of its own (a later
                            // delete the marker may be the replica of) that it no longer
                            // sends: landed, this version would stay. (At a later state
                            // convergence brings, it lands and is covered again.)
                            MovedOn::ToKept => {
                                return Ok(Guard::Stop(Done::Skipped(SkipReason::SourceMovedOn)))
                            }
                            MovedOn::ToLater | MovedOn::No => {}
                        }
                    }
                }
                let below = self
                    .replica_in_history(at, source, src.head, keeps, run)
                    .await?;
                return Ok(match (check, below) {
                    // Deleted at the destination after this version's replica arrived. A repair
                    // of the current version lets it stand only where the one order cannot
                    // place the marker (no time read): where the order judges the version the
                    // later write (the same second, the source's name sorting after), the
                    // replica goes back, as convergence, backfill and verify judge it.
                    (Check::Rewrite, true) if stands.is_some() => {
                        Guard::WriteOverMarker(condition, marker)
                    }
                    (Check::Rewrite | Check::History, true) => {
                        Guard::Stop(Done::Skipped(SkipReason::NewerInDestination))
                    }
                    // A late or redelivered event: its replica is in the history, and
                    // convergence decides whether the delete marker stands.
                    (_, true) => Guard::Stop(Done::Skipped(SkipReason::InHistory)),
                    // History is not put on top of a delete marker the source does not have.
                    (Check::History, false) if !run.source_deleted() => {
                        Guard::Stop(Done::Skipped(SkipReason::NewerInDestination))
                    }
                    (_, false) => Guard::WriteOverMarker(condition, marker),
                });
            }
            Current::Absent => false,
        };
        // A late or redelivered event: its replica may already be in the history. (In order,
        // the current replica is of an earlier write, and this costs nothing.)
        if maybe_late
            && self
                .replica_in_history(at, source, src.head, keeps, run)
                .await?
        {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::InHistory)));
        }
        let over = current.version_id().unwrap_or("null").to_owned();
        Ok(Guard::Write(condition, theirs.map(|_| over)))
    }

    /// Whether the source's current state is another than the event's version: a version
    /// earlier in the one order of writes than the destination's current write `theirs` (an
    /// original object, or a delete marker), or
    /// a replica the function wrote there from the destination's bucket ([`MovedOn::ToEarlier`]),
    /// or anything else, a delete marker `rule` replicates included ([`MovedOn::ToLater`]:
    /// convergence decides), where `rule` would replicate it: a current version no rule copies
    /// here (a tag filter it may not meet, SSE-KMS the rule leaves out, an archived or
    /// customer-encrypted object) leaves the late version to land, as it would have in order
    /// ([`MovedOn::No`]). Under a delete marker no rule replicates here, the source's state is
    /// its newest object version, which the destination follows.
    async fn source_moved_on(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        theirs: &Write,
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<MovedOn, ReplicationError> {
        let current = self.source_current(src.region, src.event, run).await?;
        let source = src.event.bucket.as_str();
        // A chain's middle whose current object is a replica from a third bucket sends on its
        // own latest write below it: that is the state it moved on to (one listing of the
        // source key, in this state only).
        let current = match &current {
            Current::Object(c)
                if c.is_replica_in(source, &src.event.key)
                    && !c.is_replica_from(source, &src.event.key, &at.bucket) =>
            {
                match Box::pin(self.own_latest(src.region, src.event, at, &current, run)).await? {
                    Some((Current::Object(own), _)) if own.version_id == src.head.version_id => {
                        return Ok(MovedOn::No)
                    }
                    Some((_, false)) => return Ok(MovedOn::ToKept),
                    Some((own, true)) => own,
                    None => current,
                }
            }
            _ => current,
        };
        // Where no rule replicates the source's delete marker here, the destination follows
        // the source's newest object version below it (as convergence judges it): that is the
        // state it moved on to (one listing and a HEAD, in this state only).
        let destination = rule.destination.id();
        let current = match &current {
            Current::DeleteMarker(..)
                if !rules::replicates_markers(
                    &self.config,
                    source,
                    &destination,
                    &src.event.key,
                ) =>
            {
                match self.newest_object(src.region, src.event, run).await? {
                    Some(newest) => Current::Object(Box::new(newest)),
                    None => Current::Absent,
                }
            }
            _ => current,
        };
        let unselected = |c: &SourceVersion| {
            super::outcome::skip_reason(c, source, &src.event.key).is_some()
                || (matches!(c.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms)
        };
        // Tags matter only where a rule for this destination filters this key on them.
        let tagged = self.config.filters_on_tags(&destination, &src.event.key);
        Ok(match &current {
            Current::Object(c) if c.version_id == src.head.version_id => MovedOn::No,
            Current::Object(c)
                if order::later(theirs, &write_of(c, source, &src.event.key))
                    || c.is_replica_from(source, &src.event.key, &at.bucket) =>
            {
                MovedOn::ToEarlier
            }
            Current::Object(c) if unselected(c) => MovedOn::No,
            // Under tag filters, whether a rule copies the current version here is read from
            // its tags (one GetObjectTagging, in this rare state only).
            Current::Object(c) if tagged && !self.selects(rule, src, c, run).await? => MovedOn::No,
            // A delete marker a rule replicates here (markers carry no tags).
            Current::Object(_) | Current::DeleteMarker(..) => MovedOn::ToLater,
            Current::Absent => MovedOn::No,
        })
    }

    /// Whether a rule writing to `rule`'s destination selects the source's version `c` of the
    /// event's key (its tags read, unless known to be none).
    async fn selects(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        c: &SourceVersion,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let source = src.event.bucket.as_str();
        let tags = match self.tags_known_empty(c, source) {
            true => Vec::new(),
            false => {
                let version = VersionRef {
                    bucket: source.to_owned(),
                    key: src.event.key.clone(),
                    version_id: c.version_id.clone(),
                };
                self.read_tags(src.region, &version, run).await?
            }
        };
        let id = rule.destination.id();
        Ok(rules::select(&self.config, source, &src.event.key, &tags)
            .iter()
            .any(|r| r.destination.id() == id))
    }

    /// Whether the source's version `other` stands above `version` in the key's stack (S3's
    /// order of the bucket's own versions: by completion, whatever `Last-Modified` says).
    async fn stands_above(
        &self,
        region: &str,
        version: &VersionRef,
        other: &str,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let ours = version.version_id.as_deref().unwrap_or("null");
        run.start()?;
        let listed = self
            .source
            .list_versions(region, &version.bucket, &version.key)
            .await
            .map_err(src_err)?;
        // Oldest first: `other` is above when it is listed after ours.
        let place = |id: &str| {
            listed
                .iter()
                .position(|v| v.key == version.key && v.version_id == id)
        };
        Ok(matches!((place(ours), place(other)), (Some(a), Some(b)) if b > a))
    }

    /// Whether any version in the destination's history is a replica of the source version.
    pub(super) async fn in_history(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let at = self.location(rule, &src.event.key, run).await?;
        self.replica_in_history(
            &at,
            &src.event.bucket,
            src.head,
            keeps_etag(rule, src.head, &self.config.copy),
            run,
        )
        .await
    }

    /// Whether a 412 answered a write carrying the destination `condition` was the
    /// destination's: both the destination's condition and the source's pin (`x-amz-copy-source-
    /// if-match`) answer 412, and S3 does not say which. It was the source's only if the source
    /// version no longer has the ETag the copy was pinned to; otherwise someone wrote the
    /// destination key since it was read (whatever it holds now: a write then a delete there
    /// leaves a delete marker that meets `If-None-Match: *` again).
    pub(super) async fn destination_refused(
        &self,
        request: &CopyRequest,
        condition: Option<&WriteCondition>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        if condition.is_none() {
            return Ok(false);
        }
        let Some(pinned) = &request.source_if_match else {
            return Ok(true);
        };
        match self
            .read_head(&request.source_region, &request.source, None, run)
            .await
        {
            Ok(head) => Ok(head.etag == *pinned),
            Err(e) if e.disposition() == Disposition::SourceGone => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Whether the version a copy reads is still in the source (a 404 to the copy was then the
    /// destination's).
    pub(super) async fn source_still_there(
        &self,
        request: &CopyRequest,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        match self
            .read_head(&request.source_region, &request.source, None, run)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.disposition() == Disposition::SourceGone => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The write condition that holds a copy to the destination's current state as read: its
/// object's ETag, or no object at all (nothing, or a delete marker, for which S3's
/// `If-None-Match: *` holds too).
pub(super) fn condition_on(current: &Current) -> WriteCondition {
    match current {
        Current::Object(o) => WriteCondition::IfMatch(o.etag.clone()),
        _ => WriteCondition::IfNoneMatch,
    }
}

/// Whether a replica of `head` written by `rule` has the source's ETag: what the copy method
/// keeps. Not when either side is SSE-KMS (the ETag is then no MD5), nor when a single-part
/// source is copied in parts of our own (above the multipart threshold, or streamed to another
/// endpoint above the part size). A single request (CopyObject, or a streamed PutObject at
/// another endpoint) and a copy in the source's own layout keep it, at any endpoint; where the
/// source's layout cannot be read (Ceph RGW as the source) the copy goes in parts of its own and
/// its record says so ([`crate::store::REPLICA_LAYOUT`]), which lifts this. Wherever it holds a
/// replica's ETag must be the source's exactly: one of another layout there is no replica's.
pub(super) fn keeps_etag(rule: &Rule, head: &SourceVersion, copy: &copy::CopySettings) -> bool {
    let streamed = rule.destination.endpoint.is_some();
    let rechunked = matches!(
        copy::choose(head.size, &head.etag, copy, streamed),
        Ok(CopyMethod::Multipart { source_parts: None })
    );
    !matches!(head.encryption, Encryption::Kms { .. })
        && rule.destination.replica_kms_key_id.is_none()
        && !rechunked
}

/// Whether `theirs`, a replica of `head` by its record, shows none of the damage a check
/// finds and a rewrite fixes: the source's size, its ETag where the copy keeps it, the storage
/// class the rule asks for, the source's content headers and user metadata, and what else the
/// engine promises (encryption, checksum, Object Lock).
fn undamaged(rule: &Rule, head: &SourceVersion, theirs: &SourceVersion, keeps: bool) -> bool {
    let class = |c: Option<&str>| c.unwrap_or("STANDARD").to_owned();
    let wanted = class(
        rule.destination
            .storage_class
            .as_deref()
            .or(head.storage_class.as_deref()),
    );
    theirs.size == head.size
        && (!keeps || theirs.etag == head.etag)
        && class(theirs.storage_class.as_deref()) == wanted
        && theirs.content == head.content
        && crate::store::without_replica_entries(&theirs.metadata)
            == crate::store::without_replica_entries(&head.metadata)
        && super::promised::promised_differences(rule, head, theirs).is_empty()
}

/// What a copy checks at the destination first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Convergence has just read the destination and decided: the copy lands only while the
    /// destination is as read (`SourceRead::converge_on`), else convergence reads it again.
    Converge,
    /// An event: the replica may already be current or in the history; later writes stand.
    Event,
    /// A repair: the replica is written again even where one claims to be current (it was
    /// found damaged), but later writes and later deletes at the destination stand.
    Rewrite,
    /// A history copy (`backfill --all-versions`): later writes and deletes stand.
    History,
}

/// What the destination check decided.
pub(super) enum Guard {
    /// Nothing to write: the outcome.
    Stop(Done),
    /// Write, on this condition; the version id of the destination's object it was read from.
    Write(Option<WriteCondition>, Option<String>),
    /// Write over the delete marker read (its version id), on this condition
    /// (`If-None-Match: *`, which S3 lets through over any delete marker: one put since the read
    /// too, so a tool proves what lies below its write after it lands).
    WriteOverMarker(Option<WriteCondition>, Option<String>),
}

/// Where the source stands, for a late event's version over another writer's original.
enum MovedOn {
    /// Still at this version (or nothing to go by).
    No,
    /// At a state earlier than the destination's write: that write stays.
    ToEarlier,
    /// At a later state: convergence brings it.
    ToLater,
    /// A chain's middle, at a later write of its own that a replica from a third bucket,
    /// later still, replaced: it sends nothing on, and the destination keeps what it has.
    ToKept,
}

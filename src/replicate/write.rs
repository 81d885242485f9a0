//! The copy of one version to one destination: written on the condition the destination was
//! read in (decided anew when another writer raced it), in one request or in parts, then checked.

use super::guard::{Check, Guard};
use super::plan::verify;
use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Copies the version to one destination, after `check` decides from what the destination
    /// holds whether it may (every caller but convergence's re-assert reads it first).
    pub(super) async fn copy_to(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        check: Check,
        run: &Run,
    ) -> Result<Done, ReplicationError> {
        // A write refused because someone else wrote the key since it was read (a concurrent
        // delivery of the same event, most often) is decided anew from what is there now.
        let mut fresh = false;
        let mut assume = self.may_assume_no_object(rule, src, check, run);
        let mut races = 0;
        while races < RACE_ROUNDS {
            // Boxed: an attempt's future (its checks after the write included) is large, and
            // every caller's, a tool's on a test's small stack too, would carry it.
            match Box::pin(self.copy_once(rule, src, check, fresh, assume, run)).await? {
                Attempt::Done(done) => return Ok(done),
                // The key held an object after all: the destination's read decides.
                Attempt::Refused => assume = false,
                // Convergence decides anew from both sides' current state.
                Attempt::Raced if check == Check::Converge => {
                    return Ok(Done::Skipped(SkipReason::DestinationChanged))
                }
                Attempt::Raced => {
                    races += 1;
                    fresh = true;
                }
            }
        }
        Err(ReplicationError::NotConverged(format!(
            "the destination key changed under {RACE_ROUNDS} conditional writes in a row"
        )))
    }

    /// Whether an in-order event's copy may go out before the destination's read comes back,
    /// on `If-None-Match: *`, assuming the key holds no object. Where it holds none, the read
    /// would have let the copy through on that same condition: over nothing, and over a delete
    /// marker too, since this version is the source's current one (an event's convergence puts
    /// its replica back on top of one). Where it holds an object, S3 refuses the copy and the
    /// read decides. Only for events (a tool leaves a delete marker over a replica alone), on
    /// the function's own endpoint (which honours write conditions), and while few recent
    /// reads found an object: each refusal costs a request. Not where this deployment writes
    /// the destination from several sources: there the copy is proven after its read.
    fn may_assume_no_object(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        check: Check,
        run: &Run,
    ) -> bool {
        check == Check::Event
            && src.is_current
            && !run.is_tool()
            && rule.destination.endpoint.is_none()
            && !self
                .config
                .writes_from_several_sources(&rule.destination.bucket)
            && self.occupancy.low()
    }

    /// One attempt of [`Self::copy_to`]; `assume`: see [`Self::may_assume_no_object`].
    async fn copy_once(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        check: Check,
        fresh: bool,
        assume: bool,
        run: &Run,
    ) -> Result<Attempt, ReplicationError> {
        if matches!(src.head.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms {
            return Ok(Attempt::Done(Done::Skipped(SkipReason::KmsNotSelected)));
        }
        let region = self.destination_region(rule, run).await?;
        // Another endpoint cannot copy server-side: the bytes are streamed through the function.
        let streamed = rule.destination.endpoint.is_some();
        let method = copy::choose(src.head.size, &src.head.etag, &self.config.copy, streamed)?;
        let at = location_for(rule, &src.event.key, region.clone());
        // Only a single request: a refused multipart copy would have copied every part.
        let assumed = assume
            && matches!(method, CopyMethod::SingleRequest)
            && src
                .destinations
                .is_some_and(|reads| reads.pending(&rule.destination.id()));
        let mut over_marker = false;
        // The destination's entry the condition was read from, where known: an object's or a
        // delete marker's version id, or `None` for nothing there. A tool proves it lies
        // directly below its write (see `landed`).
        let mut read: Option<Option<String>> = src.converge_over.map(|v| v.map(str::to_owned));
        let condition = if assumed {
            Some(WriteCondition::IfNoneMatch)
        } else if check == Check::Converge {
            src.converge_on.clone().filter(|_| !streamed)
        } else {
            // Unversioned sources too: every overwrite reuses the `null` id, and the guard tells
            // a replica of this very write from an older one by the write itself.
            match self.guard(rule, src, &at, check, fresh, run).await? {
                Guard::Stop(done) => return Ok(Attempt::Done(done)),
                Guard::Write(c, over) => {
                    // A late event's copy to a key read as holding nothing: `If-None-Match: *`
                    // also lets it land on a delete marker put since, over a concurrent
                    // delivery's replica of this version (its convergence hid it under the
                    // source's later state): checked as a copy over a marker is. Not for an
                    // in-order copy (whose request counts stay as documented); a tool's write
                    // is proven below (see `landed`).
                    over_marker = check == Check::Event
                        && !src.is_current
                        && !run.is_tool()
                        && over.is_none()
                        && c == Some(WriteCondition::IfNoneMatch);
                    read = Some(over);
                    c
                }
                Guard::WriteOverMarker(c, marker) => {
                    over_marker = true;
                    read = marker.map(Some);
                    c
                }
            }
        };
        let (method, layout) = match method {
            CopyMethod::SingleRequest => (method, None),
            CopyMethod::Multipart { source_parts } => {
                match self
                    .layout_of(src.region, src.version, src.head, source_parts, run)
                    .await
                {
                    Ok(layout) => (method, Some(layout)),
                    // A source server that answers no part by number (Ceph RGW) hides its
                    // layout: streamed, the copy goes in parts of its own (its ETag not kept).
                    // Its record says so, so that the ETag is not taken for damage.
                    Err(e) if streamed && no_part_by_number(&e) => (
                        CopyMethod::Multipart { source_parts: None },
                        Some(copy::uniform_layout(
                            src.head.size,
                            self.config.copy.part_size,
                        )),
                    ),
                    Err(e) => return Err(e),
                }
            }
        };
        // Only CopyObject copies tags server-side; an upload or a PUT is given them.
        let tags = match (&layout, src.tags) {
            (None, _) if !streamed => Vec::new(),
            (_, Some(tags)) => tags.to_vec(),
            (_, None) if self.tags_known_empty(src.head, &src.event.bucket) => Vec::new(),
            (_, None) => self.read_tags(src.region, src.version, run).await?,
        };
        let acl_disabled = self.acl_disabled(&rule.destination);
        let mut request = CopyRequest {
            source: src.version.clone(),
            source_region: src.region.to_owned(),
            source_if_match: src.if_match.map(str::to_owned),
            target: plan_replica(
                rule,
                src.event,
                src.head,
                src.tags,
                src.grants,
                acl_disabled,
                region,
            ),
        };
        request.target.condition = condition.clone();
        if matches!(method, CopyMethod::Multipart { source_parts: None })
            && copy::multipart_parts(&src.head.etag).is_some()
        {
            request = copy::in_own_layout(&request, src.head.size);
        }
        if layout.is_some() && src.if_match.is_none() {
            // Each part is pinned to the version, and to its ETag as well.
            request.source_if_match = Some(src.head.etag.clone());
        }
        // With the source's own layout and MD5 part ETags, the upload is checked before Complete.
        let expected_etag = expected_etag(method, src.head, &request.target);
        let written = match self
            .write(
                &request,
                src.head.size,
                layout.as_deref(),
                &tags,
                expected_etag.as_deref(),
                run,
            )
            .await
        {
            Err(e)
                if e.disposition() == Disposition::AclUnsupported
                    && matches!(request.target.acl, AclPlan::Grants(_)) =>
            {
                self.learn_acl_disabled(&rule.destination);
                request.target.acl = AclPlan::Default;
                self.write(
                    &request,
                    src.head.size,
                    layout.as_deref(),
                    &tags,
                    expected_etag.as_deref(),
                    run,
                )
                .await
            }
            other => other,
        };
        let written = match written {
            Ok(w) => w,
            Err(e) if assumed && e.is_precondition_failed() => return Ok(Attempt::Refused),
            Err(e)
                if e.is_precondition_failed()
                    && self
                        .destination_refused(&request, condition.as_ref(), run)
                        .await? =>
            {
                return Ok(Attempt::Raced)
            }
            // `If-Match` on a key deleted since the read: S3 finds no object to match (404),
            // the same answer as a source version gone, which the source's read tells apart.
            Err(e)
                if e.is_no_such_key()
                    && matches!(condition, Some(WriteCondition::IfMatch(_)))
                    && Box::pin(self.source_still_there(&request, run)).await? =>
            {
                return Ok(Attempt::Raced)
            }
            Err(e) => return skip_or_fail(e).map(Attempt::Done),
        };
        // Noted the moment it landed: whatever the checks below meet (the deadline, a read that
        // hangs), the replica is there and is counted once; withdrawn where they delete it.
        let landed = run.landed(crate::run::Landed {
            destination: rule.destination.id().to_string(),
            bytes: src.head.size,
            by_convergence: check == Check::Converge,
            source_modified: src.head.last_modified,
            at: std::time::SystemTime::now(),
        });
        // A multipart copy is proven by its ETag here, or was read back after Complete; a
        // single request whose ETag cannot tell (KMS) has its size checked.
        // A wrong replica fails the record, is withdrawn (a retry copies again) and is no
        // replica to count.
        let checked = match verify(src.head, &request.target, &written, method) {
            Ok(false) if layout.is_none() => {
                self.verify_size(&request, &written, src.head.size, run)
                    .await
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            if matches!(e, ReplicationError::ReplicaMismatch(_)) {
                run.withdrawn(landed);
                let target = &request.target;
                return Err(copy::wrong_replica(&self.destination, target, &written, run, e).await);
            }
            return Err(e);
        }
        if assumed
            && self
                .landed_on_a_later_delete(rule, src, &at, &written, run)
                .await?
        {
            run.withdrawn(landed);
            return Ok(Attempt::Done(Done::Skipped(SkipReason::NewerInDestination)));
        }
        // A conditional write over an entry read (an object on `If-Match`, a delete marker) is
        // proven to lie directly on it (see `landed`), whoever writes: write conditions compare
        // ETags only, so a write of the same ETag slipped in between (a user's same bytes, a
        // concurrent delivery's replica of a later write of those bytes, from this source or
        // another) lets ours through, and ours would bury it. A tool's and a late event's write
        // over nothing too: `If-None-Match: *` also lands on a delete marker put since the
        // read, or over another run's replica of this version hidden by one. Where another
        // write lies below, it stands: ours is withdrawn and the key decided anew (where a
        // replica of this version now current stops the copy). An in-order event's copy to a
        // key read as holding nothing is the usual new key: it pays no listing (one sent ahead
        // of its read is checked by `landed_on_a_later_delete`), unless this deployment writes
        // the destination from several sources (fan-in, two-way with one function), where a
        // concurrent delivery of another source's delete may put a marker there meanwhile.
        let proven = run.is_tool()
            || check == Check::Converge
            || (check == Check::Event
                && (!src.is_current
                    || matches!(read, Some(Some(_)))
                    || self
                        .config
                        .writes_from_several_sources(&rule.destination.bucket)));
        // A copy over a delete marker (S3 lets `If-None-Match: *` through one) where several
        // sources write the destination: another source's delete since may have written
        // nothing there (see `fan_in`).
        let over_a_marker =
            condition == Some(WriteCondition::IfNoneMatch) && matches!(read, Some(Some(_)));
        if let (true, Some(ours)) = (over_a_marker, written.version_id.as_deref()) {
            if Box::pin(self.withdrawn_under_a_delete_elsewhere(src, &at, ours, run)).await? {
                run.withdrawn(landed);
                return Ok(Attempt::Raced);
            }
        }
        if let (true, Some(_), Some(read), Some(ours)) = (
            proven,
            condition.as_ref(),
            read.as_ref(),
            written.version_id.as_deref(),
        ) {
            if !Box::pin(self.landed_on_read(&at, ours, read.as_deref(), run)).await? {
                run.withdrawn(landed);
                return Ok(Attempt::Raced);
            }
            return Ok(Attempt::Done(Done::Replicated(written)));
        }
        if over_marker
            && matches!(check, Check::Event | Check::History)
            && self.second_replica(rule, src, &at, &written, run).await?
        {
            run.withdrawn(landed);
            return Ok(Attempt::Done(Done::Skipped(SkipReason::AlreadyReplicated)));
        }
        Ok(Attempt::Done(Done::Replicated(written)))
    }

    /// One CopyObject, or a multipart copy in `layout`'s parts (checked against
    /// `expected_etag` before Complete, when given).
    pub(super) async fn write(
        &self,
        request: &CopyRequest,
        size: u64,
        layout: Option<&[(u64, u64)]>,
        tags: &[(String, String)],
        expected_etag: Option<&str>,
        run: &Run,
    ) -> Result<Written, ReplicationError> {
        let transfer = match request.target.endpoint {
            Some(_) => multipart::Transfer::Streamed {
                source: &self.source,
                region: &request.source_region,
            },
            None => multipart::Transfer::ServerSide,
        };
        // A single request is stamped while it runs: its record is dated just before it is
        // sent, and it may run only as long as the record allows.
        let stamp = self.stamp();
        let Some(layout) = layout else {
            run.start()?;
            let multipart::Transfer::Streamed { source, region } = transfer else {
                let (target, limit) = stamp.date(&request.target, size, size);
                let request = CopyRequest {
                    target,
                    ..request.clone()
                };
                let copy = self.destination.copy_object(&request);
                // Boxed: the engine's futures nest deep, and a test's stack is small.
                return Box::pin(copy::stamp::within(&stamp, limit, "CopyObject", copy)).await;
            };
            run.start()?;
            let if_match = request.source_if_match.as_deref();
            let body = source
                .read(region, &request.source, if_match, None)
                .await
                .map_err(src_err)?;
            let (target, limit) = stamp.date(&request.target, size, body.length);
            let put = self.destination.put_object(&target, body, tags);
            return Box::pin(copy::stamp::within(&stamp, limit, "PutObject", put)).await;
        };
        let plan = multipart::Plan {
            layout,
            tags,
            concurrency: self.config.copy.concurrency,
            expected_etag,
            stamp,
        };
        multipart::copy(&self.destination, transfer, request, plan, run).await
    }

    /// The part layout of a copy of `version` (read as `head`): its own (for ETag parity), or
    /// a uniform one.
    pub(super) async fn layout_of(
        &self,
        region: &str,
        version: &VersionRef,
        head: &SourceVersion,
        source_parts: Option<u32>,
        run: &Run,
    ) -> Result<Vec<(u64, u64)>, ReplicationError> {
        let Some(parts) = source_parts else {
            return Ok(copy::uniform_layout(head.size, self.config.copy.part_size));
        };
        // The last part is what the others leave of the object.
        let leading = parts.saturating_sub(1);
        let sizes = match leading {
            0 => Vec::new(),
            _ => {
                run.start_many(leading)?;
                self.source
                    .part_sizes(region, version, leading)
                    .await
                    .map_err(src_err)?
            }
        };
        copy::source_layout(&sizes, parts, head.size)
    }

    /// Where the ETag cannot tell (a re-chunked or KMS copy), the replica's size must match.
    pub(super) async fn verify_size(
        &self,
        request: &CopyRequest,
        written: &Written,
        size: u64,
        run: &Run,
    ) -> Result<(), ReplicationError> {
        match copy::read_back(&self.destination, &request.target, written, run).await? {
            Some(o) if o.size == size => Ok(()),
            Some(o) => Err(ReplicationError::ReplicaMismatch(format!(
                "replica has {} bytes, the source {size}",
                o.size
            ))),
            None => Err(ReplicationError::ReplicaMismatch(
                "the replica just written is not there".to_owned(),
            )),
        }
    }
}

/// Whether the source's server answered no part by its number (its layout cannot be read).
fn no_part_by_number(e: &ReplicationError) -> bool {
    e.s3_failure()
        .is_some_and(|f| f.code.as_deref() == Some(crate::store::NO_PART_BY_NUMBER))
}

/// The ETag a multipart copy in the source's own layout must make before it is completed: the
/// source's, where part ETags are MD5s (no KMS on either side); `None` otherwise.
pub(super) fn expected_etag(
    method: CopyMethod,
    head: &SourceVersion,
    target: &ReplicaSpec,
) -> Option<String> {
    match method {
        CopyMethod::Multipart {
            source_parts: Some(_),
        } if !matches!(head.encryption, Encryption::Kms { .. })
            && !matches!(target.encryption, TargetEncryption::Kms { .. }) =>
        {
            Some(head.etag.clone())
        }
        _ => None,
    }
}

/// Conditional writes refused in a row (the key kept changing) before a record gives up and is
/// retried whole.
const RACE_ROUNDS: u32 = 3;

/// One attempt of a copy.
enum Attempt {
    /// It ended: written, or nothing to write.
    Done(Done),
    /// Someone else wrote the key since it was read: read it again.
    Raced,
    /// The key assumed to hold no object held one.
    Refused,
}

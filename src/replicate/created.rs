//! A created version: read the source once, then copy and check it at every destination.

use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};

use futures::future::{select, BoxFuture, Either, Shared};
use futures::FutureExt;

use super::order;
use super::plan::verify;
use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn created(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        // An in-order event reads each destination's current object while it reads the source.
        // The reads go on beside the record, which awaits one only where it needs it, and end
        // with it.
        let in_order = event.version_id.is_some() && matches!(run.mode(), Mode::Event);
        let candidates = match in_order {
            true => rules::select_for_key(&self.config, &event.bucket, &event.key),
            false => Vec::new(),
        };
        let reads = self.destination_reads(&candidates, event, run);
        let in_order = in_order.then_some(InOrder {
            candidates: &candidates,
            reads: &reads,
        });
        let record = pin!(self.created_with(event, run, in_order));
        // The reads are polled first: one that has come back is seen as back.
        let drive = pin!(join_all(reads.values().cloned()));
        match select(drive, record).await {
            Either::Left((_, record)) => record.await,
            Either::Right((outcomes, _)) => outcomes,
        }
    }

    async fn created_with(
        &self,
        event: &ObjectEvent,
        run: &Run,
        in_order: Option<InOrder<'_, '_>>,
    ) -> Vec<DestinationOutcome> {
        let region = self.source_region(event);
        let version = event.version_ref();
        // Without a version id, only the object the event announced may be copied.
        let if_match = match &version.version_id {
            None => event.etag.as_deref().map(quoted),
            Some(_) => None,
        };

        // An event in order names the source's current version: the reads it needs (the
        // source's current object, the version's ACL, and each destination's current object,
        // already under way) are independent, so they go out at once. Anything else reads step
        // by step.
        let prefetched = match (&version.version_id, in_order) {
            (Some(id), Some(o)) => Some(
                self.prefetch(event, &region, &version, id, o.candidates, run)
                    .await,
            ),
            _ => None,
        };
        // The version is the source's current one, read so just now.
        let is_current = prefetched.as_ref().is_some_and(|p| p.head.is_some());
        let known_head = prefetched.as_ref().and_then(|p| p.head.clone());
        let mut head = match known_head {
            Some(head) => head,
            None => match self
                .read_head(&region, &version, if_match.as_deref(), run)
                .await
            {
                Ok(head) => head,
                Err(e) => return whole(skip_or_fail(e)),
            },
        };
        if let Some(reason) = skip_reason(&head, &event.bucket) {
            return whole(Ok(Done::Skipped(reason)));
        }
        if let Err(e) = self.complete_lock(&region, &version, &mut head, run).await {
            return whole(skip_or_fail(e));
        }

        let tags = if self.tags_known_empty(&head, &event.bucket) {
            Some(Vec::new())
        } else if self.config.uses_tag_filters() {
            match self.read_tags(&region, &version, run).await {
                Ok(tags) => Some(tags),
                Err(e) => return whole(skip_or_fail(e)),
            }
        } else {
            None // copied server-side
        };

        let selected = rules::select(
            &self.config,
            &event.bucket,
            &event.key,
            tags.as_deref().unwrap_or(&[]),
        );
        if selected.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::NoMatchingRule)));
        }

        let needs_acl = selected.iter().any(|r| self.carries_acl(r))
            && !self.source_acls_disabled(&region, &event.bucket, run).await;
        let prefetched_grants = prefetched.as_ref().and_then(|p| p.grants.clone());
        let grants = match (needs_acl, prefetched_grants) {
            (false, _) => None,
            (true, Some(Ok(grants))) => grants,
            (true, Some(Err(e))) => return whole(skip_or_fail(e)),
            (true, None) => match self.read_grants(&region, &version, run).await {
                Ok(grants) => grants,
                Err(e) => return whole(skip_or_fail(e)),
            },
        };

        let source = SourceRead {
            event,
            region: &region,
            version: &version,
            if_match: if_match.as_deref(),
            head: &head,
            tags: tags.as_deref(),
            grants: grants.as_ref(),
            destinations: in_order.map(|o| o.reads as &dyn DestinationReads),
            is_current,
        };
        let mut outcomes = join_all(
            selected
                .iter()
                .map(|rule| self.to_destination(rule, &source, run)),
        )
        .await;

        // Ordering needs versions; an unversioned source is guarded by its ETag instead. (A
        // run that defers convergence, a history copy included, converges nothing here.)
        if version.version_id.is_some() {
            let landed: Vec<&Rule> = selected
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| {
                    matches!(
                        o.result,
                        Ok(Done::Replicated(_))
                            | Ok(Done::Skipped(
                                SkipReason::AlreadyReplicated | SkipReason::InHistory
                            ))
                    )
                })
                .map(|(r, _)| *r)
                .collect();
            // Nothing written, the source's current version was read as this one, and each
            // destination's current object already is its replica: nothing to converge.
            let settled = is_current
                && outcomes.iter().all(|o| {
                    !matches!(
                        o.result,
                        Ok(Done::Replicated(_)) | Ok(Done::Skipped(SkipReason::InHistory))
                    )
                });
            // Only where each destination now holds this version as its current object may the
            // source alone confirm it; a replica found in the history is not current there.
            let found_in_history = outcomes
                .iter()
                .any(|o| matches!(o.result, Ok(Done::Skipped(SkipReason::InHistory))));
            let just_written = match found_in_history {
                true => None,
                false => version.version_id.as_deref(),
            };
            let converged = match settled {
                true => Vec::new(),
                false => {
                    self.converge(event, &region, just_written, &landed, run)
                        .await
                }
            };
            outcomes.extend(converged.into_iter().filter(made_a_difference));
        }
        outcomes
    }

    async fn to_destination(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        run: &Run,
    ) -> DestinationOutcome {
        let started = Instant::now();
        let bucket = rule.destination.id().to_string();
        let result = match run.mode() {
            Mode::Rewrite if run.rewrites(&bucket) => {
                self.copy_to(rule, src, Check::Rewrite, run).await
            }
            Mode::Event | Mode::Rewrite => self.copy_to(rule, src, Check::Event, run).await,
            Mode::History => match self.in_history(rule, src, run).await {
                Ok(true) => Ok(Done::Skipped(SkipReason::AlreadyReplicated)),
                Ok(false) => self.copy_to(rule, src, Check::History, run).await,
                Err(e) => Err(e),
            },
        };
        match &result {
            Ok(Done::Replicated(written)) => info!(
                bucket = %src.event.bucket,
                key = %src.event.key,
                version_id = src.head.version_id.as_deref().unwrap_or("null"),
                destination = %bucket,
                rule = %rule.id,
                bytes = src.head.size,
                ms = started.elapsed().as_millis() as u64,
                replica_version_id = written.version_id.as_deref().unwrap_or("null"),
                "replicated"
            ),
            // Skips are logged once, with their reason, by the handler.
            Ok(_) => {}
            Err(e) => warn!(
                bucket = %src.event.bucket,
                key = %src.event.key,
                version_id = src.head.version_id.as_deref().unwrap_or("null"),
                destination = %bucket,
                rule = %rule.id,
                code = e.code(),
                error = %e,
                "replication failed"
            ),
        }
        DestinationOutcome {
            destination: Some(bucket),
            result,
        }
    }

    /// What the destination holds may forbid the copy: a later original write (written there,
    /// or replicated there from elsewhere) and a delete marker above a replica of this version
    /// (deleted there after it arrived) are never replaced, whatever the caller; in event mode
    /// the replica may also already be current, or in the history. `None`: copy.
    async fn guard(
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
        if check == Check::Event && current.replica_of() == Some(version) {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::AlreadyReplicated)));
        }
        // The copy lands only while the key is as read here: two writers racing on it cannot
        // both write (S3 conditional writes; another endpoint may not honour them).
        let condition = rule.destination.endpoint.is_none().then(|| match &current {
            Current::Object(o) => WriteCondition::IfMatch(o.etag.clone()),
            _ => WriteCondition::IfNoneMatch,
        });
        let ours = order::written_at(src.event, src.head);
        let keeps = keeps_etag(rule, src.head);
        let maybe_late = match &current {
            Current::Object(theirs) => {
                let theirs_at = theirs.origin_in(&rule.destination.bucket);
                // Two-way: the other side's later original write stays current on both sides.
                let bucket = &src.event.bucket;
                if self
                    .later_original(rule, src.region, bucket, src.head, &ours, theirs, at, run)
                    .await?
                {
                    return Ok(Guard::Stop(Done::Skipped(SkipReason::NewerInDestination)));
                }
                // A replica of a write no earlier than this one is current.
                check == Check::Event
                    && current.replica_of().is_some()
                    && !theirs.not_replicated_from(&src.event.bucket)
                    && theirs_at.millis >= ours.millis
            }
            Current::DeleteMarker(_) => {
                let below = self.replica_in_history(at, src.head, keeps, run).await?;
                return Ok(match (check, below) {
                    // Deleted at the destination after this version's replica arrived.
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
                    (_, false) => Guard::Write(condition),
                });
            }
            Current::Absent => false,
        };
        // A late or redelivered event: its replica may already be in the history. (In order,
        // the current replica is of an earlier write, and this costs nothing.)
        if maybe_late && self.replica_in_history(at, src.head, keeps, run).await? {
            return Ok(Guard::Stop(Done::Skipped(SkipReason::InHistory)));
        }
        Ok(Guard::Write(condition))
    }

    /// Whether any version in the destination's history is a replica of the source version.
    async fn in_history(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let at = self.location(rule, &src.event.key, run).await?;
        self.replica_in_history(&at, src.head, keeps_etag(rule, src.head), run)
            .await
    }

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
            match self.copy_once(rule, src, check, fresh, assume, run).await? {
                Attempt::Done(done) => return Ok(done),
                // The key held an object after all: the destination's read decides.
                Attempt::Refused => assume = false,
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
    /// reads found an object: each refusal costs a request.
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
        let mut condition = None;
        // Only a single request: a refused multipart copy would have copied every part.
        let assumed = assume
            && matches!(method, CopyMethod::SingleRequest)
            && src
                .destinations
                .is_some_and(|reads| reads.pending(&rule.destination.id()));
        if assumed {
            condition = Some(WriteCondition::IfNoneMatch);
        } else if check != Check::None && src.version.version_id.is_some() {
            match self.guard(rule, src, &at, check, fresh, run).await? {
                Guard::Stop(done) => return Ok(Attempt::Done(done)),
                Guard::Write(c) => condition = c,
            }
        }
        let layout = match method {
            CopyMethod::SingleRequest => None,
            CopyMethod::Multipart { source_parts } => Some(
                self.layout_of(src.region, src.version, src.head, source_parts, run)
                    .await?,
            ),
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
        if layout.is_some() && src.if_match.is_none() {
            // Each part is pinned to the version, and to its ETag as well.
            request.source_if_match = Some(src.head.etag.clone());
        }
        // With the source's own layout and MD5 part ETags, the upload is checked before Complete.
        let expected_etag = expected_etag(method, src.head, &request.target);
        let written = match self
            .write(
                &request,
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
                if e.is_precondition_failed() && self.moved(&at, condition.as_ref(), run).await =>
            {
                return Ok(Attempt::Raced)
            }
            Err(e) => return skip_or_fail(e).map(Attempt::Done),
        };
        // A multipart copy is proven by its ETag here, or was read back after Complete; a
        // single request whose ETag cannot tell (KMS) has its size checked.
        if !verify(src.head, &request.target, &written, method)? && layout.is_none() {
            self.verify_size(&request, &written, src.head.size, run)
                .await?;
        }
        Ok(Attempt::Done(Done::Replicated(written)))
    }

    /// Whether the destination key no longer meets the condition a write carried: a 412 then
    /// says someone else wrote it, not that the source changed (both answer 412).
    async fn moved(
        &self,
        at: &ReplicaLocation,
        condition: Option<&WriteCondition>,
        run: &Run,
    ) -> bool {
        let Some(condition) = condition else {
            return false;
        };
        match self.replica_current(at, run).await {
            Ok(Current::Object(o)) => match condition {
                WriteCondition::IfMatch(etag) => o.etag != *etag,
                WriteCondition::IfNoneMatch => true,
            },
            Ok(_) => matches!(condition, WriteCondition::IfMatch(_)),
            Err(_) => false,
        }
    }

    /// One CopyObject, or a multipart copy in `layout`'s parts (checked against
    /// `expected_etag` before Complete, when given).
    pub(super) async fn write(
        &self,
        request: &CopyRequest,
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
        let Some(layout) = layout else {
            run.start()?;
            let multipart::Transfer::Streamed { source, region } = transfer else {
                return self.destination.copy_object(request).await.map_err(dst_err);
            };
            run.start()?;
            let if_match = request.source_if_match.as_deref();
            let body = source
                .read(region, &request.source, if_match, None)
                .await
                .map_err(src_err)?;
            return self
                .destination
                .put_object(&request.target, body, tags)
                .await
                .map_err(dst_err);
        };
        let plan = multipart::Plan {
            layout,
            tags,
            concurrency: self.config.copy.concurrency,
            expected_etag,
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

/// Whether a replica of `head` written by `rule` has the source's ETag: not when either side is
/// SSE-KMS (the ETag is then no MD5), nor when the bytes are streamed to another endpoint.
pub(super) fn keeps_etag(rule: &Rule, head: &SourceVersion) -> bool {
    !matches!(head.encryption, Encryption::Kms { .. })
        && rule.destination.replica_kms_key_id.is_none()
        && rule.destination.endpoint.is_none()
}

/// What an in-order event's first, parallel reads of the source found.
pub(super) struct Prefetched {
    /// The source's current object, when it is the event's version (else it is read by id).
    head: Option<SourceVersion>,
    /// The version's ACL as grants, when a candidate rule needs it.
    grants: Option<Result<Option<GrantHeaders>, ReplicationError>>,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Reads at once the source's current object and the version's ACL (where a rule for the
    /// key may carry it).
    async fn prefetch(
        &self,
        event: &ObjectEvent,
        region: &str,
        version: &VersionRef,
        version_id: &str,
        candidates: &[&Rule],
        run: &Run,
    ) -> Prefetched {
        let needs_acl = candidates.iter().any(|r| self.carries_acl(r))
            && !self.source_acls_disabled(region, &event.bucket, run).await;
        let current = self.source_current(region, event, run);
        let grants = async {
            match needs_acl {
                true => Some(self.read_grants(region, version, run).await),
                false => None,
            }
        };
        let (current, grants) = futures::join!(current, grants);
        let head = match current {
            Ok(Current::Object(head)) if head.version_id.as_deref() == Some(version_id) => {
                Some(*head)
            }
            _ => None,
        };
        Prefetched { head, grants }
    }

    /// The reads of the current object of each destination the `candidates` (the rules for the
    /// event's key) name, not yet started. Each feeds [`Occupancy`].
    fn destination_reads<'a>(
        &'a self,
        candidates: &[&'a Rule],
        event: &'a ObjectEvent,
        run: &'a Run,
    ) -> Reads<'a> {
        candidates
            .iter()
            .map(|&rule| {
                let read = async move {
                    // Known to hold nothing: the copy's `If-None-Match: *` stands in for the read.
                    let conditional = rule.destination.endpoint.is_none();
                    if conditional && run.never_written(&rule.destination.id().to_string()) {
                        return Some(Current::Absent);
                    }
                    let at = self.location(rule, &event.key, run).await.ok()?;
                    let current = self.replica_current(&at, run).await.ok()?;
                    // A replica of this very version is no overwrite: this event's own copy,
                    // sent ahead and landed before the read was answered (or a duplicate's).
                    let overwrite = matches!(current, Current::Object(_))
                        && current.replica_of() != event.version_id.as_deref();
                    self.occupancy.observe(overwrite);
                    Some(current)
                };
                (rule.destination.id(), read.boxed().shared())
            })
            .collect()
    }
}

/// What a copy checks at the destination first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// Nothing (convergence has just read the destination and decided).
    None,
    /// An event: the replica may already be current or in the history; later writes stand.
    Event,
    /// A repair: the replica is written again even where one claims to be current (it was
    /// found damaged), but later writes and later deletes at the destination stand.
    Rewrite,
    /// A history copy (`backfill --all-versions`): later writes and deletes stand.
    History,
}

/// Conditional writes refused in a row (the key kept changing) before a record gives up and is
/// retried whole.
const RACE_ROUNDS: u32 = 3;

/// What the destination check decided.
enum Guard {
    /// Nothing to write: the outcome.
    Stop(Done),
    /// Write, on this condition.
    Write(Option<WriteCondition>),
}

/// One attempt of a copy.
enum Attempt {
    /// It ended: written, or nothing to write.
    Done(Done),
    /// Someone else wrote the key since it was read: read it again.
    Raced,
    /// The key assumed to hold no object held one.
    Refused,
}

/// What an in-order event knows before its record starts: the rules for its key, and their
/// destinations' reads, under way.
#[derive(Clone, Copy)]
struct InOrder<'r, 'a> {
    candidates: &'r [&'a Rule],
    reads: &'r Reads<'a>,
}

/// Each candidate destination's current object, being read beside an in-order event's record
/// (`None` inside: no read, or it failed).
type Reads<'a> = HashMap<DestinationId, Shared<BoxFuture<'a, Option<Current>>>>;

/// The destinations' reads as a copy sees them.
pub(super) trait DestinationReads: Sync {
    /// What the read of `id`'s current object found, once it comes back (`None`: read anew).
    fn read<'s>(&'s self, id: &DestinationId) -> BoxFuture<'s, Option<Current>>;
    /// Whether the read of `id`'s current object is still under way.
    fn pending(&self, id: &DestinationId) -> bool;
}

impl DestinationReads for Reads<'_> {
    fn read<'s>(&'s self, id: &DestinationId) -> BoxFuture<'s, Option<Current>> {
        match self.get(id) {
            Some(read) => read.clone().boxed(),
            None => futures::future::ready(None).boxed(),
        }
    }

    fn pending(&self, id: &DestinationId) -> bool {
        self.get(id).is_some_and(|read| read.peek().is_none())
    }
}

/// The recent share of in-order events whose destination key already held another object (an
/// overwrite), in thousandths: each read weighs an eighth, the earlier ones the rest. A copy
/// assumes an empty key only while the share is under a quarter, so that refused copies stay
/// few where most events overwrite.
#[derive(Default)]
pub(super) struct Occupancy(AtomicU32);

impl Occupancy {
    fn observe(&self, held_object: bool) {
        let weight = if held_object { 125 } else { 0 };
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |share| {
                Some(share - share / 8 + weight)
            });
    }

    fn low(&self) -> bool {
        self.0.load(Ordering::Relaxed) < 250
    }
}

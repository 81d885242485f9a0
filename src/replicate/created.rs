//! A created version: read the source once, then copy and check it at every destination.

use std::pin::pin;

use futures::future::{select, Either};

use super::guard::Check;
use super::in_order::{DestinationReads, InOrder};
use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn created(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        // An in-order event reads each destination's current object while it reads the source.
        // The reads go on beside the record, which awaits one only where it needs it, and end
        // with it.
        let in_order = event.version_id.is_some() && matches!(run.mode(), Mode::Event);
        let candidates = match in_order {
            true => rules::select_for_key(&self.config, &event.bucket, &event.key)
                .into_iter()
                .filter(|r| !run.leaves(&r.destination.id()))
                .collect(),
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
        let mut version = event.version_ref();
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
                // An event without a version id names a write made while the bucket was
                // unversioned: where versioning was enabled since and the key deleted, that
                // write is the `null` version under the delete marker, still to replicate.
                // One HEAD more, only where the key reads as gone.
                Err(e)
                    if version.version_id.is_none()
                        && e.disposition() == Disposition::SourceGone =>
                {
                    let null = VersionRef {
                        version_id: Some("null".to_owned()),
                        ..version.clone()
                    };
                    // Boxed: an error path's read need not grow every event's future.
                    let read = Box::pin(self.read_head(&region, &null, if_match.as_deref(), run));
                    match read.await {
                        Ok(head) => {
                            version = null;
                            head
                        }
                        Err(_) => return whole(skip_or_fail(e)),
                    }
                }
                Err(e) => return whole(skip_or_fail(e)),
            },
        };
        if let Some(reason) = skip_reason(&head, &event.bucket, &event.key) {
            // A tool's run (repair, backfill) on a chain's middle, whose current object is a
            // replica from a third bucket: the source's own write below it is still sent on
            // (`sent_on`), so the key is converged at those destinations, as its check judged
            // it. (An event of the replica itself stops here.)
            if reason == SkipReason::IsReplica && run.is_tool() {
                let below: Vec<&Rule> =
                    rules::select_for_key(&self.config, &event.bucket, &event.key)
                        .into_iter()
                        .filter(|r| !run.leaves(&r.destination.id()))
                        .filter(|r| self.judged_below(r, &head, &event.bucket, &event.key))
                        .collect();
                let converged: Vec<_> = self
                    .converge_boxed(event, &region, &below, run)
                    .await
                    .into_iter()
                    .filter(made_a_difference)
                    .collect();
                if !converged.is_empty() {
                    return converged;
                }
            }
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
        let selected: Vec<&Rule> = selected
            .into_iter()
            .filter(|r| !run.leaves(&r.destination.id()))
            .collect();
        run.selected(selected.iter().map(|r| &r.destination));
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
            converge_on: None,
            converge_over: None,
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
                    // A late version a later write at the destination beats: the source's
                    // current state may beat that write (convergence follows every record).
                    let late_and_later = !is_current
                        && matches!(o.result, Ok(Done::Skipped(SkipReason::NewerInDestination)));
                    late_and_later
                        || matches!(
                            o.result,
                            Ok(Done::Replicated(_))
                                | Ok(Done::Skipped(
                                    SkipReason::AlreadyReplicated
                                        | SkipReason::InHistory
                                        | SkipReason::Superseded
                                        | SkipReason::SourceMovedOn
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
            // The source's current version, read so just now, is earlier than a write a
            // destination holds: where that destination replicates back here, its write is
            // brought back over it (see `reassert`). An event's work: a tool judges each side
            // on its own, and counts only what it was asked to judge.
            let later: Vec<&Rule> = selected
                .iter()
                .zip(&outcomes)
                .filter(|(_, o)| {
                    matches!(o.result, Ok(Done::Skipped(SkipReason::NewerInDestination)))
                })
                .map(|(r, _)| *r)
                .collect();
            if is_current && !later.is_empty() && !run.is_tool() && !run.defers_convergence() {
                let back = self.reassert_back(event, &later, run).await;
                outcomes.extend(back);
            }
        }
        outcomes
    }

    /// [`Self::converge`] on the heap, its future built in a frame of its own: a rare path of
    /// a record must not grow every record's future (a test's stack is small).
    fn converge_boxed<'a>(
        &'a self,
        event: &'a ObjectEvent,
        region: &'a str,
        rules: &'a [&'a Rule],
        run: &'a Run,
    ) -> futures::future::BoxFuture<'a, Vec<DestinationOutcome>> {
        Box::pin(self.converge(event, region, None, rules, run))
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
}

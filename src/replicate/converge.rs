//! Convergence: each destination's current version ends as the source's current version.

use super::guard::{condition_on, keeps_etag, Check};
use super::order;
use super::outcome::Copied;
use super::*;
use crate::order::write_of;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Brings every destination a rule for the event's key names in line with the source's
    /// current state, whatever the event was: a batch's key after its last event (an ACL or
    /// tag change, a skipped create, a version delete left alone converge nothing themselves).
    /// Only writes and failures are returned.
    pub async fn converge_key(&self, event: &ObjectEvent, run: &Run) -> Vec<DestinationOutcome> {
        // A bucket outside the deployment's sources: its events have failed already.
        if !self.config.allows_source(&event.bucket) {
            return Vec::new();
        }
        let region = self.source_region(event);
        let rules = rules::select_for_key(&self.config, &event.bucket, &event.key);
        self.converge(event, &region, None, &rules, run)
            .await
            .into_iter()
            .filter(made_a_difference)
            .collect()
    }

    /// Brings each rule's destination in line with the source's current version: one outcome per
    /// rule. `just_written` is the version this record copied: while it is still the source's
    /// current version, the copy itself was the convergence (one HEAD, no more).
    pub(super) async fn converge(
        &self,
        event: &ObjectEvent,
        region: &str,
        just_written: Option<&str>,
        rules: &[&Rule],
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        if run.defers_convergence() {
            return Vec::new();
        }
        let mut writes: HashMap<&str, (u32, Vec<Copied>)> = HashMap::new();
        let mut outcomes = Vec::new();
        let mut pending: Vec<&Rule> = rules.to_vec();
        for round in 0..CONVERGE_ROUNDS {
            if pending.is_empty() {
                break;
            }
            // Right after a copy, the source alone says whether it was the convergence. Otherwise
            // both sides are read at once.
            let src_only = round == 0 && just_written.is_some();
            let read_destinations = join_all(pending.iter().map(|rule| async move {
                if src_only {
                    return None;
                }
                let at = self.location(rule, &event.key, run).await.ok()?;
                self.replica_current(&at, run).await.ok()
            }));
            let (src, known) =
                futures::join!(self.source_current(region, event, run), read_destinations);
            let src = match src {
                Ok(c) => c,
                Err(err) => {
                    for rule in pending.drain(..) {
                        copies_made(&mut writes, rule, &mut outcomes);
                        outcomes.push(DestinationOutcome {
                            destination: Some(rule.destination.id().to_string()),
                            result: Err(err.clone()),
                        });
                    }
                    break;
                }
            };
            if round == 0 && just_written.is_some() && src.version_id() == just_written {
                for rule in pending.drain(..) {
                    outcomes.push(DestinationOutcome {
                        destination: Some(rule.destination.id().to_string()),
                        result: Ok(Done::Synced { writes: 0 }),
                    });
                }
                break;
            }
            let steps = join_all(
                pending
                    .iter()
                    .zip(known)
                    .map(|(rule, dst)| self.converge_step(rule, event, region, &src, dst, run)),
            )
            .await;
            let mut again = Vec::new();
            for (rule, step) in pending.into_iter().zip(steps) {
                // Keyed by rule: each rule is one destination (DestinationId) here.
                let bucket = rule.id.as_str();
                let label = rule.destination.id().to_string();
                match step {
                    Ok(Step::Settled) => {
                        let (writes, copies) = writes.remove(bucket).unwrap_or_default();
                        let result = match copies.is_empty() {
                            true => Done::Synced { writes },
                            false => Done::Converged { writes, copies },
                        };
                        outcomes.push(DestinationOutcome {
                            destination: Some(label),
                            result: Ok(result),
                        })
                    }
                    Ok(Step::Wrote(copied)) => {
                        let made = writes.entry(bucket).or_default();
                        made.0 += 1;
                        made.1.extend(copied);
                        again.push(rule);
                    }
                    // Raced by another writer: both sides are read again.
                    Ok(Step::Raced) => again.push(rule),
                    Err(e) => {
                        copies_made(&mut writes, rule, &mut outcomes);
                        outcomes.push(DestinationOutcome {
                            destination: Some(label),
                            result: Err(e),
                        })
                    }
                }
            }
            pending = again;
        }
        for rule in pending {
            copies_made(&mut writes, rule, &mut outcomes);
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.id().to_string()),
                result: Err(ReplicationError::NotConverged(format!(
                    "the destination's current version still differs from the source's after {CONVERGE_ROUNDS} rounds"
                ))),
            });
        }
        outcomes
    }

    /// One round for one destination: returns whether it wrote (and so must look again).
    async fn converge_step(
        &self,
        rule: &Rule,
        event: &ObjectEvent,
        region: &str,
        src: &Current,
        known: Option<Current>,
        run: &Run,
    ) -> Result<Step, ReplicationError> {
        let at = self.location(rule, &event.key, run).await?;
        // The destination's current object, unless it was read with the source's.
        let mut known = known;
        let dst_current = |known: &mut Option<Current>| {
            let known = known.take();
            let at = &at;
            async move {
                match known {
                    Some(current) => Ok(current),
                    None => self.replica_current(at, run).await,
                }
            }
        };
        // Which rule governs the destination is decided from the source's current state, never
        // from the rule that chose the event's version: a delete marker has no tags, so only
        // rules without tag filters select it; an object is judged by its own tags.
        let destination = rule.destination.id();
        let newest;
        let s = match src {
            Current::Absent => return Ok(Step::Settled),
            Current::DeleteMarker(_, put) => {
                let governs =
                    rules::governing(&self.config, &event.bucket, &destination, &event.key, &[]);
                match governs {
                    Some(marker_rule) if marker_rule.delete_marker_replication => {
                        let dst = dst_current(&mut known).await?;
                        // This source's replica is hidden. Another write (made in the
                        // destination itself, or replicated there from another source: two-way,
                        // fan-in) is hidden only where the source's delete marker is later in
                        // the one order of writes.
                        let hides = match &dst {
                            Current::Object(theirs) => {
                                let from_source = theirs
                                    .replica_record(&at.bucket, &at.key)
                                    .is_some_and(|r| r.from(&event.bucket));
                                let deleted = order::marker_write(put.as_ref(), &event.bucket);
                                let theirs = write_of(theirs, &at.bucket, &at.key);
                                from_source || deleted.is_some_and(|d| order::later(&d, &theirs))
                            }
                            _ => false,
                        };
                        if !hides {
                            return Ok(Step::Settled);
                        }
                        // Only while the object read is current: a write made at the destination
                        // since is never hidden (S3's conditional delete).
                        let read = match &dst {
                            Current::Object(o) => Some(o.etag.as_str()),
                            _ => None,
                        };
                        run.start()?;
                        match self.destination.put_delete_marker(&at, read).await {
                            Ok(()) => {}
                            Err(f) if f.status == Some(412) => return Ok(Step::Raced),
                            Err(f) => return Err(dst_err(f)),
                        }
                        info!(bucket = %event.bucket, key = %event.key, destination = %at.bucket,
                              "delete marker replicated");
                        return Ok(Step::Wrote(None));
                    }
                    // Where delete markers are not replicated, the destination follows the
                    // source's newest object version, whatever order the events came in.
                    _ => match self.newest_object(region, event, run).await? {
                        Some(v) => {
                            newest = v;
                            &newest
                        }
                        None => return Ok(Step::Settled),
                    },
                }
            }
            Current::Object(s) => s.as_ref(),
        };
        if skip_reason(s, &event.bucket, &event.key).is_some() {
            return Ok(Step::Settled);
        }
        let dst = dst_current(&mut known).await?;
        let current_marker = s.version_id.as_deref().unwrap_or("null");
        let in_sync = matches!(&dst, Current::Object(o)
            if o.is_replica_of(&at.bucket, &at.key, &event.bucket, s, keeps_etag(rule, s)));
        // Another bucket's later original write (written there, two-way, fan-in) stays: the
        // one order of writes decides, as every copy's guard does.
        let later = matches!(&dst, Current::Object(theirs)
            if order::later_original(&event.bucket, s, theirs, &at));
        if in_sync || later {
            return Ok(Step::Settled);
        }
        let version = VersionRef {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version_id: s.version_id.clone(),
        };
        // Tags are read only where a rule for this destination filters on them.
        let tag_filtered = self.config.rules.iter().any(|r| {
            r.enabled
                && r.destination.id() == destination
                && !r.filter.tags.is_empty()
                && event.key.starts_with(&r.filter.prefix)
        });
        let tags = if self.tags_known_empty(s, &event.bucket) {
            Some(Vec::new())
        } else if !tag_filtered {
            None
        } else {
            Some(self.read_tags(region, &version, run).await?)
        };
        let Some(rule) = rules::governing(
            &self.config,
            &event.bucket,
            &destination,
            &event.key,
            tags.as_deref().unwrap_or(&[]),
        ) else {
            // No rule selects the source's current version for this destination: it keeps
            // what it has (as in S3).
            return Ok(Step::Settled);
        };
        if matches!(s.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms {
            return Ok(Step::Settled);
        }
        // A delete marker at the destination is a write too, whoever put it: later in the one
        // order of writes than the source's current version, it stands (for events and tools
        // alike). Where the server does not say when it was put, one above a replica of that
        // version was put after it arrived, and stands.
        if let Current::DeleteMarker(_, put) = &dst {
            let stands = self
                .delete_stands(region, &event.bucket, s, &at, put.as_ref(), run)
                .await?;
            let stands = match stands {
                Some(stands) => stands,
                None => {
                    self.replica_in_history(&at, &event.bucket, s, keeps_etag(rule, s), run)
                        .await?
                }
            };
            if stands {
                return Ok(Step::Settled);
            }
        }
        let grants = if rule.destination.owner_override
            || self.acl_disabled(&rule.destination)
            || self.source_acls_disabled(region, &event.bucket, run).await
        {
            None
        } else {
            self.read_grants(region, &version, run).await?
        };
        let mut head = s.clone();
        self.complete_lock(region, &version, &mut head, run).await?;
        let read = SourceRead {
            event,
            region,
            version: &version,
            if_match: None,
            head: &head,
            tags: tags.as_deref(),
            grants: grants.as_ref(),
            destinations: None,
            is_current: false,
            converge_on: Some(condition_on(&dst)),
        };
        let started = Instant::now();
        match self.copy_to(rule, &read, Check::Converge, run).await? {
            Done::Replicated(written) => {
                // One `replicated` line a replica, whoever wrote it (as an event's copy logs).
                info!(bucket = %event.bucket, key = %event.key, version_id = current_marker,
                      destination = %at.bucket, rule = %rule.id, bytes = head.size,
                      ms = started.elapsed().as_millis() as u64,
                      replica_version_id = written.version_id.as_deref().unwrap_or("null"),
                      by = "convergence", "replicated");
                Ok(Step::Wrote(Some(Copied {
                    written,
                    bytes: head.size,
                    source_modified: head.last_modified,
                })))
            }
            Done::Skipped(SkipReason::DestinationChanged) => Ok(Step::Raced),
            _ => Ok(Step::Settled),
        }
    }
}

/// The replicas convergence wrote at `rule`'s destination before it failed there: an outcome
/// of their own beside the failure, so that each is counted (the record still fails).
fn copies_made<'r>(
    writes: &mut HashMap<&'r str, (u32, Vec<Copied>)>,
    rule: &'r Rule,
    outcomes: &mut Vec<DestinationOutcome>,
) {
    let Some((writes, copies)) = writes.remove(rule.id.as_str()) else {
        return;
    };
    if !copies.is_empty() {
        outcomes.push(DestinationOutcome {
            destination: Some(rule.destination.id().to_string()),
            result: Ok(Done::Converged { writes, copies }),
        });
    }
}

/// What one round of convergence did at one destination.
enum Step {
    /// Nothing to write: the destination is as it should be.
    Settled,
    /// Wrote (a replica, when it copied), and must look again.
    Wrote(Option<Copied>),
    /// Another writer changed the destination under the copy: look again.
    Raced,
}

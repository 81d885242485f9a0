//! Convergence: each destination's current version ends as the source's current version.

use super::decide::Decision;
use super::guard::{condition_on, Check};
use super::outcome::Copied;
use super::*;

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
        // The delete marker each destination was given in the round before, by version id.
        let mut markers: HashMap<&str, String> = HashMap::new();
        // Destinations where a tool's write was withdrawn under a later write.
        let mut withdrew: HashSet<&str> = HashSet::new();
        let mut outcomes = Vec::new();
        // Destinations a tool found unavailable are left (reported once, by the tool).
        let mut pending: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| !run.leaves(&r.destination.id()))
            .collect();
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
            let steps = join_all(pending.iter().zip(known).map(|(rule, dst)| {
                let just_put = markers.get(rule.id.as_str()).map(String::as_str);
                self.converge_step(rule, event, region, (&src, dst), just_put, run)
            }))
            .await;
            let mut again = Vec::new();
            markers.clear();
            for (rule, step) in pending.into_iter().zip(steps) {
                // Keyed by rule: each rule is one destination (DestinationId) here.
                let bucket = rule.id.as_str();
                let label = rule.destination.id().to_string();
                match step {
                    Ok(Step::Settled(later)) => {
                        let (writes, copies) = writes.remove(bucket).unwrap_or_default();
                        let result = match copies.is_empty() {
                            // Ours withdrawn under a later write, which stands.
                            true if later && writes == 0 && withdrew.contains(bucket) => {
                                Done::Skipped(SkipReason::NewerInDestination)
                            }
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
                    Ok(Step::Hid(marker)) => {
                        writes.entry(bucket).or_default().0 += 1;
                        if let Some(marker) = marker {
                            markers.insert(bucket, marker);
                        }
                        again.push(rule);
                    }
                    // Raced by another writer: both sides are read again.
                    Ok(Step::Raced) => again.push(rule),
                    Ok(Step::Withdrawn) => {
                        withdrew.insert(bucket);
                        again.push(rule);
                    }
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

    /// One round for one destination, from the source's current state and the destination's
    /// current object where it was read with it: returns whether it wrote (and so must look
    /// again).
    async fn converge_step(
        &self,
        rule: &Rule,
        event: &ObjectEvent,
        region: &str,
        (src, known): (&Current, Option<Current>),
        just_put: Option<&str>,
        run: &Run,
    ) -> Result<Step, ReplicationError> {
        let at = self.location(rule, &event.key, run).await?;
        // A chain's middle: the source's own write under a replica from a third bucket.
        let below = self.sent_on(region, event, &at, src, run).await?;
        let src = below.as_ref().unwrap_or(src);
        if self.withdrawn(event, src, &at, just_put, run).await? {
            return Ok(Step::Raced);
        }
        // The destination's current object, unless it was read with the source's.
        let dst = match known {
            Some(current) => current,
            None => self.replica_current(&at, run).await?,
        };
        let (rule, s, tags) = match self
            .decide(rule, event, region, (src, &dst), &at, run)
            .await?
        {
            Decision::Settled(settled) => return Ok(Step::Settled(settled == Settled::Later)),
            Decision::Hide(read) => {
                run.start()?;
                let marker = match self
                    .destination
                    .put_delete_marker(&at, read.as_deref())
                    .await
                {
                    Ok(marker) => marker,
                    // Another object, or none any more (a delete marker on top since: S3
                    // answers `If-Match` with 404 NoSuchKey there): read both sides again.
                    Err(f) if f.status == Some(412) => return Ok(Step::Raced),
                    Err(f)
                        if read.is_some()
                            && f.status == Some(404)
                            && f.code.as_deref() == Some("NoSuchKey") =>
                    {
                        return Ok(Step::Raced)
                    }
                    Err(f) => return Err(dst_err(f)),
                };
                // On an empty key a server that keeps no versions (or moto) puts no marker:
                // nothing more to write there.
                if read.is_none() && marker.is_none() {
                    return Ok(Step::Settled(false));
                }
                // The marker is proven to lie on the object read (see `landed`), a tool's and an
                // event's alike: a same-bytes write slipped in between is never hidden. (Another
                // endpoint is listed by no client here, and its write conditions are not
                // trusted anyway.)
                let provable = at.endpoint.is_none();
                if let (true, Some(ours)) = (provable, &marker) {
                    // Put on an empty key, nothing may lie below it.
                    let read = match dst {
                        Current::Absent => None,
                        _ => Some(dst.version_id().unwrap_or("null")),
                    };
                    if !self.landed_on_read(&at, ours, read, run).await? {
                        return Ok(match run.is_tool() {
                            true => Step::Withdrawn,
                            false => Step::Raced,
                        });
                    }
                }
                info!(bucket = %event.bucket, key = %event.key, destination = %at.bucket,
                      "delete marker replicated");
                return Ok(Step::Hid(marker));
            }
            Decision::Copy { rule, head, tags } => (rule, head, tags),
        };
        let s = &s;
        let current_marker = s.version_id.as_deref().unwrap_or("null");
        let version = super::decide::version_read(event, s, src);
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
            converge_over: Some(match dst {
                Current::Absent => None,
                _ => Some(dst.version_id().unwrap_or("null")),
            }),
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
            Done::Skipped(SkipReason::DestinationChanged) if run.is_tool() => Ok(Step::Withdrawn),
            Done::Skipped(SkipReason::DestinationChanged) => Ok(Step::Raced),
            _ => Ok(Step::Settled(false)),
        }
    }
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// A delete marker just put for the source's delete stands, in the one order of writes,
    /// at the second it was put: later than a version the source wrote between convergence's
    /// read and the put, which it would then hide. So the next round's read of the source
    /// (`src`) decides: where its key is no longer deleted, the marker (ours, put in the round
    /// before, by its version id) is deleted again and convergence reads both sides anew. Only a marker that survives this check can be the
    /// source's delete replicated, which lets [`Self::delete_stands`] judge any other by time.
    async fn withdrawn(
        &self,
        event: &ObjectEvent,
        src: &Current,
        at: &ReplicaLocation,
        marker: Option<&str>,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        let Some(marker) = marker else {
            return Ok(false);
        };
        if matches!(src, Current::DeleteMarker(..)) {
            return Ok(false);
        }
        run.start()?;
        self.destination
            .delete_version(at, marker)
            .await
            .map_err(dst_err)?;
        info!(bucket = %event.bucket, key = %event.key, destination = %at.bucket,
              "the source wrote the key while its delete was replicated: the marker withdrawn");
        Ok(true)
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
    /// Nothing to write: the destination is as it should be (`true`: it holds a later write).
    Settled(bool),
    /// Wrote (a replica, when it copied), and must look again.
    Wrote(Option<Copied>),
    /// Put a delete marker (its version id, where the server answered one), and must look
    /// again: at the source first, whether the marker may stay.
    Hid(Option<String>),
    /// Another writer changed the destination under the copy: look again.
    Raced,
    /// A tool's write landed over another write made since the read, and was withdrawn: look
    /// again (that write stands where it is later, and is then counted as such).
    Withdrawn,
}

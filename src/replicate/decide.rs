//! The one judgement of a key at a destination: what convergence writes there, given what the
//! source and the destination hold now, or why it writes nothing. Convergence acts on it, and
//! every tool reports it (`verify` calls a key damaged exactly where convergence would write),
//! so no tool can disagree with the engine about what a destination should hold.

use super::guard::keeps_etag;
use super::order;
use super::*;
use crate::order::write_of;

/// What convergence does at one destination.
#[derive(Debug)]
pub enum Decision<'r> {
    /// Nothing to write: the destination is as the rules leave it.
    Settled(Settled),
    /// The destination's current object (its ETag as read, the delete's condition) is hidden
    /// under a delete marker: the source's key is deleted and the rule replicates that. `None`:
    /// the key is empty there, and the deployment writes it from several sources.
    Hide(Option<String>),
    /// The source's version `head` is copied under `rule` (`tags` read where a rule filters on
    /// them).
    Copy {
        rule: &'r Rule,
        head: Box<SourceVersion>,
        tags: Option<Vec<(String, String)>>,
    },
}

/// Why convergence writes nothing at a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// The destination holds what the source's current state asks for: the replica of its
    /// current version, no object where the source's delete is replicated, or, where delete
    /// markers are not replicated, what the source's object versions leave there.
    InSync,
    /// The destination holds a later write than the source's (an original written there or
    /// replicated there from another bucket, or a delete marker put after it): it stands.
    Later,
    /// The source's current object is one the engine leaves where it is.
    Skipped(SkipReason),
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// The one judgement: what the destination of `rule` (at `at`) must become, given the
    /// source's current state and the destination's current object (both read by the caller).
    pub(super) async fn decide<'c>(
        &'c self,
        rule: &Rule,
        event: &ObjectEvent,
        region: &str,
        (src, dst): (&Current, &Current),
        at: &ReplicaLocation,
        run: &Run,
    ) -> Result<Decision<'c>, ReplicationError> {
        // Which rule governs the destination is decided from the source's current state, never
        // from the rule that chose the event's version: a delete marker has no tags, so only
        // rules without tag filters select it; an object is judged by its own tags.
        let destination = rule.destination.id();
        let newest;
        let s = match src {
            Current::Absent => return Ok(Decision::Settled(Settled::InSync)),
            Current::DeleteMarker(_, put) => {
                let governs =
                    rules::governing(&self.config, &event.bucket, &destination, &event.key, &[]);
                match governs {
                    Some(marker_rule) if marker_rule.delete_marker_replication => {
                        // This source's replica is hidden. Another write (made in the
                        // destination itself, or replicated there from another source: two-way,
                        // fan-in) is hidden only where the source's delete marker is later in
                        // the one order of writes.
                        let theirs = match dst {
                            Current::Object(theirs) => theirs,
                            // Where this deployment writes the destination from several
                            // sources, the delete is replicated onto an empty key too, as S3
                            // Replication does: another source's earlier write, its event late,
                            // then finds it there (docs/semantics.md, "Delete markers").
                            Current::Absent
                                if self.config.writes_from_several_sources(&at.bucket) =>
                            {
                                return Ok(Decision::Hide(None));
                            }
                            _ => return Ok(Decision::Settled(Settled::InSync)),
                        };
                        let from_source = theirs
                            .replica_record(&at.bucket, &at.key)
                            .is_some_and(|r| r.from(&event.bucket));
                        let deleted = order::marker_write(put.as_ref(), &event.bucket);
                        let written = write_of(theirs, &at.bucket, &at.key);
                        if from_source || deleted.is_some_and(|d| order::later(&d, &written)) {
                            // Only while the object read is current: a write made at the
                            // destination since is never hidden (S3's conditional delete).
                            return Ok(Decision::Hide(Some(theirs.etag.clone())));
                        }
                        return Ok(Decision::Settled(Settled::Later));
                    }
                    // Where delete markers are not replicated, the destination follows the
                    // source's newest object version, whatever order the events came in.
                    _ => match self.newest_object(region, event, run).await? {
                        Some(v) => {
                            newest = v;
                            &newest
                        }
                        None => return Ok(Decision::Settled(Settled::InSync)),
                    },
                }
            }
            Current::Object(s) => s.as_ref(),
        };
        if let Some(reason) = skip_reason(s, &event.bucket, &event.key) {
            return Ok(Decision::Settled(Settled::Skipped(reason)));
        }
        let in_sync = matches!(dst, Current::Object(o)
            if o.is_replica_of(&at.bucket, &at.key, &event.bucket, s, keeps_etag(rule, s, &self.config.copy)));
        if in_sync {
            return Ok(Decision::Settled(Settled::InSync));
        }
        // Another bucket's later original write (written there, two-way, fan-in) stays: the
        // one order of writes decides, as every copy's guard does.
        if matches!(dst, Current::Object(theirs)
            if order::later_original(&event.bucket, s, theirs, at))
        {
            return Ok(Decision::Settled(Settled::Later));
        }
        // So does one below a replica that the source's version delete takes away.
        if let Current::Object(theirs) = dst {
            if self
                .later_below_gone_replica(region, &event.bucket, s, theirs, at, run)
                .await?
            {
                return Ok(Decision::Settled(Settled::Later));
            }
        }
        let version = version_read(event, s, src);
        // Tags are read only where a rule for this destination filters on them.
        let tag_filtered = self.config.filters_on_tags(&destination, &event.key);
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
            return Ok(Decision::Settled(Settled::Skipped(
                SkipReason::NoMatchingRule,
            )));
        };
        if matches!(s.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms {
            return Ok(Decision::Settled(Settled::Skipped(
                SkipReason::KmsNotSelected,
            )));
        }
        // A delete marker at the destination is a write too, whoever put it: later in the one
        // order of writes than the source's current version, it stands (for events and tools
        // alike). Where the server does not say when it was put, one above a replica of that
        // version was put after it arrived, and stands.
        if let Current::DeleteMarker(id, put) = dst {
            let stands = self
                .delete_stands(
                    region,
                    &event.bucket,
                    s,
                    at,
                    super::reads::marker(id, put),
                    run,
                )
                .await?;
            let stands = match stands {
                Some(stands) => stands,
                None => {
                    self.replica_in_history(
                        at,
                        &event.bucket,
                        s,
                        keeps_etag(rule, s, &self.config.copy),
                        run,
                    )
                    .await?
                }
            };
            if stands {
                return Ok(Decision::Settled(Settled::Later));
            }
        }
        Ok(Decision::Copy {
            rule,
            head: Box::new(s.clone()),
            tags,
        })
    }

    /// The one judgement for a tool: what convergence would do now for `key` of `bucket` at the
    /// destination of `rule`, given what the source holds (`src`, just read by the tool) and the
    /// destination's current object, read here (nothing is written).
    pub async fn judge(
        &self,
        rule: &Rule,
        region: &str,
        bucket: &str,
        key: &str,
        src: &Current,
    ) -> Result<Decision<'_>, ReplicationError> {
        self.judge_in(rule, region, bucket, key, src, &Run::new(None))
            .await
    }

    /// [`Self::judge`], its reads counted in `run`.
    pub async fn judge_in(
        &self,
        rule: &Rule,
        region: &str,
        bucket: &str,
        key: &str,
        src: &Current,
        run: &Run,
    ) -> Result<Decision<'_>, ReplicationError> {
        let event = ObjectEvent {
            kind: EventKind::Created,
            index: 0,
            event_name: "Verify".to_owned(),
            region: Some(region.to_owned()),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: None,
            null_version: false,
            etag: None,
            sequencer: None,
            event_time: None,
            size: None,
        };
        let at = self.location(rule, key, run).await?;
        let dst = self.replica_current(&at, run).await?;
        let below = self.sent_on(region, &event, &at, src, run).await?;
        let src = below.as_ref().unwrap_or(src);
        self.decide(rule, &event, region, (src, &dst), &at, run)
            .await
    }
}

/// The source version `s` as its reads must name it: under a delete marker (the newest object
/// version, where delete markers are not replicated) a `null` version is named `null`, or the
/// read would reach the current version, the delete marker.
pub(super) fn version_read(event: &ObjectEvent, s: &SourceVersion, src: &Current) -> VersionRef {
    let hidden = matches!(src, Current::DeleteMarker(..));
    VersionRef {
        bucket: event.bucket.clone(),
        key: event.key.clone(),
        version_id: s
            .version_id
            .clone()
            .or_else(|| hidden.then(|| "null".to_owned())),
    }
}

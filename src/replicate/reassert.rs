//! Two-way: a write of the source's that its own bucket made current over a later write of the
//! destination's, already replicated here (a multipart upload initiated before that write and
//! completed after it: the upload counts from its initiation, S3 stacks it by completion). The
//! one order keeps the destination's write, so the source must hold it again: only a second copy
//! of it can put it back on top, and the upload's own event may be the last one S3 sends.

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// Where `later` (rules of the event's record whose destination holds a later write than
    /// the source's current version) name a bucket this deployment also replicates from, back to
    /// the event's bucket: that key is converged the other way, which copies the later write to
    /// the event's bucket where it is not current there. Only writes and failures are returned.
    pub(super) async fn reassert_back(
        &self,
        event: &ObjectEvent,
        later: &[&Rule],
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        let mut outcomes = Vec::new();
        for rule in later.iter().filter(|r| r.destination.endpoint.is_none()) {
            let other = &rule.destination.bucket;
            if !self.config.allows_source(other) {
                continue;
            }
            let back: Vec<&Rule> = rules::select_for_key(&self.config, other, &event.key)
                .into_iter()
                .filter(|r| {
                    r.destination.endpoint.is_none() && r.destination.bucket == event.bucket
                })
                .filter(|r| !run.leaves(&r.destination.id()))
                .collect();
            if back.is_empty() {
                continue;
            }
            let at = match self.location(rule, &event.key, run).await {
                Ok(at) => at,
                Err(e) => {
                    outcomes.push(DestinationOutcome {
                        destination: Some(rule.destination.id().to_string()),
                        result: Err(e),
                    });
                    continue;
                }
            };
            let reverse = ObjectEvent {
                kind: EventKind::Created,
                index: event.index,
                event_name: event.event_name.clone(),
                region: Some(at.region.clone()),
                bucket: other.clone(),
                key: event.key.clone(),
                version_id: None,
                null_version: false,
                etag: None,
                sequencer: None,
                event_time: None,
                size: None,
            };
            let converged = self.converge(&reverse, &at.region, None, &back, run).await;
            outcomes.extend(converged.into_iter().filter(made_a_difference));
        }
        outcomes
    }
}

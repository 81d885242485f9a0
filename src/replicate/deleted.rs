//! Delete markers and permanently deleted versions.

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn delete_marker(
        &self,
        event: &ObjectEvent,
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        let selected: Vec<&Rule> =
            rules::select_for_marker(&self.config, &event.bucket, &event.key)
                .into_iter()
                .filter(|r| !run.leaves(&r.destination.id()))
                .collect();
        run.selected(selected.iter().map(|r| &r.destination));
        if selected.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::DeleteMarkerNotSelected)));
        }
        if run.defers_convergence() {
            return whole(Ok(Done::Skipped(SkipReason::LaterEventSettles)));
        }
        let region = self.source_region(event);
        self.converge(event, &region, None, &selected, run).await
    }

    pub(super) async fn version_deleted(
        &self,
        event: &ObjectEvent,
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        if !self.config.replicate_version_deletes {
            // The deleted version's replicas stay, but what is current may have changed (the
            // version below is current again): the key is brought in line with the source's
            // current state, as after any event. Nothing is taken from the event's word.
            let region = self.source_region(event);
            let selected = rules::select_for_key(&self.config, &event.bucket, &event.key);
            let converged: Vec<_> = self
                .converge(event, &region, None, &selected, run)
                .await
                .into_iter()
                .filter(made_a_difference)
                .collect();
            if converged.is_empty() {
                return whole(Ok(Done::Skipped(SkipReason::VersionDeletesOff)));
            }
            return converged;
        }
        let version = event.named_version();
        let Some(deleted) = version.version_id.as_deref() else {
            return Vec::new();
        };
        let region = self.source_region(event);
        // The event alone is no proof: anyone who can send one must not be able to erase the
        // destination's history. Replicas go only once the source says the version is gone.
        match self.read_head(&region, &version, None, run).await {
            Ok(_) => return whole(Ok(Done::Skipped(SkipReason::SourceVersionExists))),
            Err(e) if e.disposition() == Disposition::SourceGone => {}
            Err(e) => return whole(Err(e)),
        }
        let mut selected = rules::select_for_key(&self.config, &event.bucket, &event.key);
        selected.retain(|r| !run.leaves(&r.destination.id()));
        let mut outcomes = Vec::new();
        for rule in &selected {
            let result = async {
                let at = self.location(rule, &event.key, run).await?;
                let (replicas, before) = self
                    .replicas_of_deleted(&at, &event.bucket, deleted, run)
                    .await?;
                if replicas.is_empty() {
                    return Ok(Done::Skipped(SkipReason::NoReplica));
                }
                for replica in &replicas {
                    run.start()?;
                    self.destination
                        .delete_version(&at, replica)
                        .await
                        .map_err(dst_err)?;
                    info!(bucket = %event.bucket, key = %event.key, version_id = deleted,
                          destination = %at.bucket, replica_version_id = %replica,
                          "deleted a replica of a deleted version");
                }
                // What was put over it may now bury a later write (see `uncovered`): one
                // listing, the key as the delete left it. Boxed: its reads are rare.
                let withdrawn =
                    Box::pin(self.uncover(&region, &event.bucket, &at, &before, run)).await?;
                Ok(Done::Synced {
                    writes: replicas.len() as u32 + withdrawn,
                })
            }
            .await;
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.id().to_string()),
                result,
            });
        }
        // Deleting the current version changes what is current.
        let converged = self.converge(event, &region, None, &selected, run).await;
        outcomes.extend(converged.into_iter().filter(made_a_difference));
        outcomes
    }
}

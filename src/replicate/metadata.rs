//! ACL and tag changes carried onto the replica of that version.

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn metadata_changed(
        &self,
        event: &ObjectEvent,
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        let region = self.source_region(event);
        let version = event.version_ref();
        let marker = event
            .version_id
            .clone()
            .unwrap_or_else(|| "null".to_owned());
        // Read from the source once, and only if some destination has a replica to update.
        let (tags, grants) = (OnceCell::new(), OnceCell::new());
        let mut outcomes = Vec::new();
        for rule in rules::select_for_key(&self.config, &event.bucket, &event.key) {
            let result = async {
                let at = self.location(rule, &event.key, run).await?;
                let acl_fixed = rule.destination.owner_override || self.acl_disabled(&at.bucket);
                if event.kind == EventKind::AclChanged && acl_fixed {
                    return Ok(Done::Skipped(SkipReason::AclNotReplicated));
                }
                let Some(replica) = self.find_replica(&at, &marker, run).await? else {
                    return Ok(Done::Skipped(SkipReason::NoReplica));
                };
                let written = if event.kind == EventKind::TagsChanged {
                    let tags = tags
                        .get_or_try_init(|| self.read_tags(&region, &version, run))
                        .await?;
                    run.requests.fetch_add(1, Ordering::Relaxed);
                    self.destination.set_tags(&at, &replica, tags).await
                } else {
                    let grants = grants
                        .get_or_try_init(|| self.read_grants(&region, &version, run))
                        .await?;
                    let plan = match grants {
                        Some(grants) => AclPlan::Grants(grants.clone()),
                        None => AclPlan::Default,
                    };
                    run.requests.fetch_add(1, Ordering::Relaxed);
                    self.destination.set_acl(&at, &replica, &plan).await
                };
                written.map_err(ReplicationError::from_destination)?;
                info!(bucket = %event.bucket, key = %event.key, version_id = %marker,
                      destination = %at.bucket, event_name = %event.event_name, "replica metadata synced");
                Ok(Done::Synced { writes: 1 })
            }
            .await;
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.bucket.clone()),
                result: result.or_else(skip_or_fail),
            });
        }
        if outcomes.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::NoMatchingRule)));
        }
        outcomes
    }
}

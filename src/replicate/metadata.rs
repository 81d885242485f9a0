//! ACL and tag changes carried onto the replica of that version.

use super::*;
use tokio::sync::OnceCell;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn metadata_changed(
        &self,
        event: &ObjectEvent,
        run: &Run,
    ) -> Vec<DestinationOutcome> {
        let region = self.source_region(event);
        let version = event.named_version();
        let marker = version
            .version_id
            .clone()
            .unwrap_or_else(|| "null".to_owned());
        // Read from the source once, and only if some destination has a replica to update.
        let (tags, grants) = (OnceCell::new(), OnceCell::new());
        let mut outcomes = Vec::new();
        let mut selected = rules::select_for_key(&self.config, &event.bucket, &event.key);
        selected.retain(|r| !run.leaves(&r.destination.id()));
        for rule in selected {
            let result = async {
                let at = self.location(rule, &event.key, run).await?;
                let acl_fixed =
                    rule.destination.owner_override || self.acl_disabled(&rule.destination);
                if event.kind == EventKind::AclChanged && acl_fixed {
                    return Ok(Done::Skipped(SkipReason::AclNotReplicated));
                }
                let replicas = match marker.as_str() {
                    // A `null` version names every write of an unversioned key: only the
                    // replicas of the write the source holds now take its tags and ACL.
                    "null" => {
                        let head = self.null_head(&region, &version, run).await?;
                        let keeps = guard::keeps_etag(rule, &head, &self.config.copy);
                        self.replicas_of_write(&at, &event.bucket, &head, keeps, None, false, run)
                            .await?
                    }
                    _ => self.find_replicas(&at, &event.bucket, &marker, run).await?,
                };
                if replicas.is_empty() {
                    return Ok(Done::Skipped(SkipReason::NoReplica));
                }
                for replica in &replicas {
                    let written = if event.kind == EventKind::TagsChanged {
                        let tags = tags
                            .get_or_try_init(|| self.read_tags(&region, &version, run))
                            .await?;
                        run.start()?;
                        self.destination.set_tags(&at, replica, tags).await
                    } else {
                        let grants = grants
                            .get_or_try_init(|| self.read_grants(&region, &version, run))
                            .await?;
                        let plan = match grants {
                            Some(grants) => AclPlan::Grants(grants.clone()),
                            None => AclPlan::Default,
                        };
                        run.start()?;
                        self.destination.set_acl(&at, replica, &plan).await
                    };
                    match written.map_err(dst_err) {
                        Err(e) if e.disposition() == Disposition::AclUnsupported => {
                            self.learn_acl_disabled(&rule.destination);
                            return Ok(Done::Skipped(SkipReason::AclNotReplicated));
                        }
                        other => other?,
                    }
                }
                info!(bucket = %event.bucket, key = %event.key, version_id = %marker,
                      destination = %at.bucket, event_name = %event.event_name,
                      replicas = replicas.len(), "replica metadata synced");
                Ok(Done::Synced {
                    writes: replicas.len() as u32,
                })
            }
            .await;
            outcomes.push(DestinationOutcome {
                destination: Some(rule.destination.id().to_string()),
                result: result.or_else(skip_or_fail),
            });
        }
        if outcomes.is_empty() {
            return whole(Ok(Done::Skipped(SkipReason::NoMatchingRule)));
        }
        outcomes
    }

    /// The source's `null` version: the current object where it is that one (an unversioned
    /// bucket answers no version id, and refuses `versionId=null` on some servers), else read
    /// by its id `null` (versioned since, the null version below the current one).
    async fn null_head(
        &self,
        region: &str,
        version: &VersionRef,
        run: &Run,
    ) -> Result<SourceVersion, ReplicationError> {
        let current = VersionRef {
            version_id: None,
            ..version.clone()
        };
        match self.read_head(region, &current, None, run).await {
            Ok(head) if matches!(head.version_id.as_deref(), None | Some("null")) => Ok(head),
            // Another version, or a delete marker, is current.
            Ok(_) => self.read_head(region, version, None, run).await,
            Err(e) if e.disposition() == Disposition::SourceGone => {
                self.read_head(region, version, None, run).await
            }
            Err(e) => Err(e),
        }
    }
}

//! What the engine learns once per bucket and warm instance, however many records ask at once:
//! destination regions, Object Lock and Object Ownership of source buckets, destinations with
//! ACLs disabled, and where replicas live.

use super::*;

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    pub(super) async fn location(
        &self,
        rule: &Rule,
        key: &str,
        run: &Run,
    ) -> Result<ReplicaLocation, ReplicationError> {
        let region = self.destination_region(rule, run).await?;
        Ok(location_for(rule, key, region))
    }

    /// The destinations the rules for `key` name that cannot be listed (the bucket gone, or
    /// listing refused), with the failure: a tool's task must fail there with its code, since a
    /// HEAD answers a missing bucket as a missing key (404, no body). One listing of the key's
    /// versions per destination and warm instance; a failure is looked up again next time.
    pub async fn unavailable_destinations(
        &self,
        bucket: &str,
        key: &str,
    ) -> Vec<(String, ReplicationError)> {
        let rules = rules::select_for_key(&self.config, bucket, key);
        let run = &Run::new(None);
        let checks = rules.into_iter().map(|rule| async move {
            let id = rule.destination.id();
            let listed = self
                .listed
                .get(&id, || async {
                    let at = self.location(rule, key, run).await?;
                    self.destination
                        .replica_versions(&at)
                        .await
                        .map(|_| ())
                        .map_err(dst_err)
                })
                .await;
            listed.err().map(|e| (id.to_string(), e))
        });
        join_all(checks).await.into_iter().flatten().collect()
    }

    pub(super) async fn destination_region(
        &self,
        rule: &Rule,
        run: &Run,
    ) -> Result<String, ReplicationError> {
        if let Some(region) = &rule.destination.region {
            return Ok(region.clone());
        }
        self.region_of(rule.destination.id(), run).await
    }

    /// The region of the bucket `id` names: one lookup per bucket and warm instance, however
    /// many records ask at once (the others wait for the first).
    pub(super) async fn region_of(
        &self,
        id: DestinationId,
        run: &Run,
    ) -> Result<String, ReplicationError> {
        self.regions
            .get(&id, || async {
                run.start()?;
                self.destination
                    .bucket_region(&id.bucket)
                    .await
                    .map_err(dst_err)
            })
            .await
    }

    /// Whether a source bucket has Object Lock enabled: learnt once per bucket and warm instance.
    pub(super) async fn lock_enabled(
        &self,
        region: &str,
        bucket: &str,
        run: &Run,
    ) -> Result<bool, ReplicationError> {
        self.lock_enabled
            .get(&bucket.to_owned(), || async {
                run.start()?;
                self.source
                    .lock_enabled(region, bucket)
                    .await
                    .map_err(src_err)
            })
            .await
    }

    /// Learns ahead what every copy from the source bucket asks first (its Object Ownership,
    /// where a rule carries ACLs, and its Object Lock), so that a tool's first copies do not
    /// wait for it: a backfill, while it lists. A lookup that fails is left to the copies.
    pub async fn learn_source(&self, region: &str, bucket: &str) {
        let run = Run::new(None);
        let carries_acls = self
            .config
            .rules
            .iter()
            .any(|r| r.enabled && self.carries_acl(r));
        let ownership = async {
            if carries_acls {
                self.source_acls_disabled(region, bucket, &run).await;
            }
        };
        let _ = futures::join!(ownership, self.lock_enabled(region, bucket, &run));
    }

    /// Whether a source bucket has ACLs disabled (Object Ownership `BucketOwnerEnforced`, the
    /// default for new buckets since 2023): learnt once per bucket and warm instance. Then no
    /// object ACL is read: it can only be the owner's full control. When the lookup fails (a
    /// role without `s3:GetBucketOwnershipControls`, an endpoint without it), ACLs are read.
    pub(super) async fn source_acls_disabled(&self, region: &str, bucket: &str, run: &Run) -> bool {
        let lookup = || async {
            run.start()?;
            self.source
                .acls_disabled(region, bucket)
                .await
                .map_err(src_err)
        };
        match self
            .source_acls_disabled
            .get(&bucket.to_owned(), lookup)
            .await
        {
            Ok(disabled) => disabled,
            Err(e) => {
                debug!(bucket, error = %e, "Object Ownership unknown; object ACLs are read");
                false
            }
        }
    }

    /// Remembers, for this warm instance, that a destination bucket has ACLs disabled.
    pub(super) fn learn_acl_disabled(&self, destination: &Destination) {
        let id = destination.id();
        warn!(
            destination = %id,
            "destination bucket has ACLs disabled; replicas get no ACL grants"
        );
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id);
    }

    /// Whether a rule's replicas carry the source's ACL: not where the rule makes the
    /// destination's owner own them, nor where the destination has ACLs disabled.
    /// Whether a copy under `rule` from `bucket` reads the source version's ACL first (the
    /// rule carries ACLs and the bucket has them enabled, learnt once): for a dry run's count.
    pub async fn reads_source_acl(&self, region: &str, bucket: &str, rule: &Rule) -> bool {
        self.carries_acl(rule)
            && !self
                .source_acls_disabled(region, bucket, &Run::new(None))
                .await
    }

    pub(super) fn carries_acl(&self, rule: &Rule) -> bool {
        !rule.destination.owner_override && !self.acl_disabled(&rule.destination)
    }

    pub(super) fn acl_disabled(&self, destination: &Destination) -> bool {
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&destination.id())
    }

    /// Whether the source version is known to have no tags, so that none need be read. Its
    /// HeadObject said `x-amz-tagging-count: 0`; or, on AWS S3, which sends that header only
    /// for an object that has tags and only to a caller who may read them, it sent none and a
    /// GetObjectTagging in this bucket has succeeded in this warm instance (the role may read
    /// tags there). Another endpoint's silence proves nothing: some never send the header.
    pub(crate) fn tags_known_empty(&self, head: &SourceVersion, bucket: &str) -> bool {
        match head.tag_count {
            Some(count) => count == 0,
            None => {
                self.source.omits_zero_tag_count()
                    && self
                        .tags_readable
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains(bucket)
            }
        }
    }
}

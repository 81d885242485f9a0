//! The replication of one object version to every destination its rules select: read the
//! source once, plan each replica, copy, verify.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures::future::join_all;
use tracing::{debug, info, warn};

use crate::config::{Config, Rule};
use crate::copy::{self, CopyMethod};
use crate::error::{ReplicationError, S3FailureKind};
use crate::events::ObjectEvent;
use crate::rules;
use crate::store::{
    Acl, AclPlan, CopyRequest, DestinationStore, Encryption, GrantHeaders, Grantee, ReplicaSpec,
    SourceStore, SourceVersion, TagsPlan, TargetEncryption, VersionRef, Written, REPLICA_MARKER,
};

/// Why a version was deliberately not replicated (logged; not a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The version was deleted before it could be read.
    VersionGone,
    /// An unversioned object was overwritten since the event; the newer object's event copies it.
    SourceChanged,
    /// The object is itself a replica (carries the replica marker).
    IsReplica,
    /// Archived in GLACIER or DEEP_ARCHIVE (as native replication, not replicated).
    Archived(String),
    /// SSE-C: cannot be read without the customer's key.
    CustomerEncrypted,
    /// No enabled rule selects the object.
    NoMatchingRule,
    /// SSE-KMS object, and the rule does not select SSE-KMS objects (as native replication).
    KmsNotSelected,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VersionGone => write!(f, "the source version no longer exists"),
            Self::SourceChanged => write!(
                f,
                "the unversioned source was overwritten since the event; its own event replicates it"
            ),
            Self::IsReplica => write!(f, "the object is a replica ({REPLICA_MARKER} is set)"),
            Self::Archived(class) => write!(f, "the object is archived ({class}); restore it first"),
            Self::CustomerEncrypted => write!(f, "SSE-C objects cannot be read without the customer key"),
            Self::NoMatchingRule => write!(f, "no enabled rule matches the object"),
            Self::KmsNotSelected => write!(
                f,
                "SSE-KMS object and the rule does not enable SourceSelectionCriteria.SseKmsEncryptedObjects"
            ),
        }
    }
}

/// The outcome for one destination (or for the record as a whole, when `destination` is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationOutcome {
    /// The destination bucket, if the outcome is specific to one.
    pub destination: Option<String>,
    /// Replicated, skipped, or failed.
    pub result: Result<Done, ReplicationError>,
}

/// A successful outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A replica was written.
    Replicated(Written),
    /// Deliberately not replicated.
    Skipped(SkipReason),
}

/// Replicates object versions according to a configuration.
pub struct Replicator<S, D> {
    config: Config,
    source: S,
    destination: D,
    default_region: String,
    regions: Mutex<HashMap<String, String>>,
    acl_disabled: Mutex<HashSet<String>>,
}

impl<S: SourceStore, D: DestinationStore> Replicator<S, D> {
    /// `default_region` is used for records that do not name their region.
    pub fn new(
        config: Config,
        source: S,
        destination: D,
        default_region: impl Into<String>,
    ) -> Self {
        Self {
            config,
            source,
            destination,
            default_region: default_region.into(),
            regions: Mutex::new(HashMap::new()),
            acl_disabled: Mutex::new(HashSet::new()),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replicates the version an event names to every destination its rules select.
    pub async fn replicate(&self, event: &ObjectEvent) -> Vec<DestinationOutcome> {
        let started = Instant::now();
        let requests = AtomicU32::new(0);
        let outcomes = self.replicate_counted(event, &requests).await;
        debug!(
            bucket = %event.bucket,
            key = %event.key,
            version_id = event.version_id.as_deref().unwrap_or("null"),
            requests = requests.load(Ordering::Relaxed),
            ms = started.elapsed().as_millis() as u64,
            "S3 requests for this record"
        );
        outcomes
    }

    async fn replicate_counted(
        &self,
        event: &ObjectEvent,
        requests: &AtomicU32,
    ) -> Vec<DestinationOutcome> {
        let whole = |result| {
            vec![DestinationOutcome {
                destination: None,
                result,
            }]
        };
        let region = event
            .region
            .clone()
            .unwrap_or_else(|| self.default_region.clone());
        let version = VersionRef {
            bucket: event.bucket.clone(),
            key: event.key.clone(),
            version_id: event.version_id.clone(),
        };
        // Without a version id, only the object the event announced may be copied.
        let if_match = match &version.version_id {
            None => event.etag.as_deref().map(quoted),
            Some(_) => None,
        };

        requests.fetch_add(1, Ordering::Relaxed);
        let head = match self
            .source
            .head_version(&region, &version, if_match.as_deref())
            .await
        {
            Ok(head) => head,
            Err(f) => {
                return whole(skip_or_fail(ReplicationError::from_source(
                    f,
                    ReplicationError::SrcHeadObjectNotPermitted,
                )))
            }
        };
        if let Some(reason) = skip_reason(&head) {
            return whole(Ok(Done::Skipped(reason)));
        }

        let tags = if head.tag_count == Some(0) {
            Some(Vec::new())
        } else if self.config.uses_tag_filters() {
            requests.fetch_add(1, Ordering::Relaxed);
            match self.source.version_tags(&region, &version).await {
                Ok(tags) => Some(tags),
                Err(f) => {
                    return whole(skip_or_fail(ReplicationError::from_source(
                        f,
                        ReplicationError::SrcGetObjectTaggingNotPermitted,
                    )))
                }
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

        let needs_acl = selected
            .iter()
            .any(|r| !r.destination.owner_override && !self.acl_disabled(&r.destination.bucket));
        let grants = if needs_acl {
            requests.fetch_add(1, Ordering::Relaxed);
            match self.source.version_acl(&region, &version).await {
                Ok(acl) if acl.is_private() => None,
                Ok(acl) => Some(grant_headers(&acl)),
                Err(f) => {
                    return whole(skip_or_fail(ReplicationError::from_source(
                        f,
                        ReplicationError::SrcGetObjectAclNotPermitted,
                    )))
                }
            }
        } else {
            None
        };

        let source = SourceRead {
            event,
            region: &region,
            version: &version,
            if_match: if_match.as_deref(),
            head: &head,
            tags: tags.as_deref(),
            grants: grants.as_ref(),
        };
        join_all(
            selected
                .iter()
                .map(|rule| self.to_destination(rule, &source, requests)),
        )
        .await
    }

    async fn to_destination(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        requests: &AtomicU32,
    ) -> DestinationOutcome {
        let started = Instant::now();
        let bucket = rule.destination.bucket.clone();
        let result = self.copy_to(rule, src, requests).await;
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
            Ok(Done::Skipped(reason)) => info!(
                bucket = %src.event.bucket,
                key = %src.event.key,
                destination = %bucket,
                rule = %rule.id,
                reason = %reason,
                "skipped"
            ),
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

    async fn copy_to(
        &self,
        rule: &Rule,
        src: &SourceRead<'_>,
        requests: &AtomicU32,
    ) -> Result<Done, ReplicationError> {
        if matches!(src.head.encryption, Encryption::Kms { .. }) && !rule.replicate_sse_kms {
            return Ok(Done::Skipped(SkipReason::KmsNotSelected));
        }
        let region = self.destination_region(rule, requests).await?;
        let CopyMethod::SingleRequest = copy::choose(src.head.size)?;
        let acl_disabled = self.acl_disabled(&rule.destination.bucket);
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
        requests.fetch_add(1, Ordering::Relaxed);
        let written = match self.destination.copy_object(&request).await {
            Err(f)
                if f.kind == S3FailureKind::AclNotSupported
                    && matches!(request.target.acl, AclPlan::Grants(_)) =>
            {
                warn!(
                    destination = %rule.destination.bucket,
                    "destination bucket has ACLs disabled; replicas get no ACL grants"
                );
                self.acl_disabled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(rule.destination.bucket.clone());
                request.target.acl = AclPlan::Default;
                requests.fetch_add(1, Ordering::Relaxed);
                self.destination.copy_object(&request).await
            }
            other => other,
        };
        let written = match written {
            Ok(w) => w,
            Err(f) => return skip_or_fail(ReplicationError::from_destination(f)),
        };
        verify(src.head, &request.target, &written)?;
        Ok(Done::Replicated(written))
    }

    async fn destination_region(
        &self,
        rule: &Rule,
        requests: &AtomicU32,
    ) -> Result<String, ReplicationError> {
        if let Some(region) = &rule.destination.region {
            return Ok(region.clone());
        }
        let bucket = &rule.destination.bucket;
        if let Some(region) = self
            .regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(bucket)
        {
            return Ok(region.clone());
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let region = self
            .destination
            .bucket_region(bucket)
            .await
            .map_err(|f| match f.kind {
                S3FailureKind::NoSuchBucket => ReplicationError::DstBucketNotFound(f),
                _ => ReplicationError::DstBucketRegionUnknown(f),
            })?;
        self.regions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(bucket.clone(), region.clone());
        Ok(region)
    }

    fn acl_disabled(&self, bucket: &str) -> bool {
        self.acl_disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(bucket)
    }
}

/// What was read from the source once, shared by every destination.
struct SourceRead<'a> {
    event: &'a ObjectEvent,
    region: &'a str,
    version: &'a VersionRef,
    if_match: Option<&'a str>,
    head: &'a SourceVersion,
    tags: Option<&'a [(String, String)]>,
    grants: Option<&'a GrantHeaders>,
}

/// A deleted version or an overwritten unversioned object is skipped, not failed: there is nothing
/// left to copy, and the newer state has its own event.
fn skip_or_fail(err: ReplicationError) -> Result<Done, ReplicationError> {
    match err {
        ReplicationError::SrcVersionNotFound(_) => Ok(Done::Skipped(SkipReason::VersionGone)),
        ReplicationError::SrcObjectChanged(_) => Ok(Done::Skipped(SkipReason::SourceChanged)),
        other => Err(other),
    }
}

fn skip_reason(head: &SourceVersion) -> Option<SkipReason> {
    if head.metadata.contains_key(REPLICA_MARKER) {
        return Some(SkipReason::IsReplica);
    }
    if head.archived {
        let class = head
            .storage_class
            .clone()
            .unwrap_or_else(|| "archive tier".to_owned());
        return Some(SkipReason::Archived(class));
    }
    if head.encryption == Encryption::Customer {
        return Some(SkipReason::CustomerEncrypted);
    }
    None
}

fn quoted(etag: &str) -> String {
    if etag.starts_with('"') {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// The replica one rule asks for.
pub fn plan_replica(
    rule: &Rule,
    event: &ObjectEvent,
    head: &SourceVersion,
    tags: Option<&[(String, String)]>,
    grants: Option<&GrantHeaders>,
    destination_acl_disabled: bool,
    region: String,
) -> ReplicaSpec {
    let mut metadata = head.metadata.clone();
    metadata.insert(
        REPLICA_MARKER.to_owned(),
        head.version_id.clone().unwrap_or_else(|| "null".to_owned()),
    );
    let acl = if rule.destination.owner_override {
        AclPlan::BucketOwnerFullControl
    } else {
        match grants {
            Some(g) if !destination_acl_disabled => AclPlan::Grants(g.clone()),
            _ => AclPlan::Default,
        }
    };
    let encryption = match (&head.encryption, &rule.destination.replica_kms_key_id) {
        (
            Encryption::Kms {
                algorithm,
                bucket_key,
                ..
            },
            Some(key),
        ) => TargetEncryption::Kms {
            algorithm: algorithm.clone(),
            key_id: key.clone(),
            bucket_key: *bucket_key,
        },
        (Encryption::S3, _) => TargetEncryption::S3,
        _ => TargetEncryption::BucketDefault,
    };
    ReplicaSpec {
        bucket: rule.destination.bucket.clone(),
        key: event.key.clone(),
        region,
        content: head.content.clone(),
        metadata,
        tags: match tags {
            Some(t) => TagsPlan::Set(t.to_vec()),
            None => TagsPlan::FromSource,
        },
        acl,
        storage_class: rule
            .destination
            .storage_class
            .clone()
            .or_else(|| head.storage_class.clone())
            .unwrap_or_else(|| "STANDARD".to_owned()),
        encryption,
        object_lock: head.object_lock.clone(),
        expected_bucket_owner: rule.destination.account.clone(),
    }
}

/// Turns an ACL into grant headers, so the copy request itself carries it.
pub fn grant_headers(acl: &Acl) -> GrantHeaders {
    let mut headers = GrantHeaders::default();
    for grant in &acl.grants {
        let grantee = match &grant.grantee {
            Grantee::Id(id) => format!("id=\"{id}\""),
            Grantee::Uri(uri) => format!("uri=\"{uri}\""),
            Grantee::Email(email) => format!("emailAddress=\"{email}\""),
        };
        let slot = match grant.permission.as_str() {
            "FULL_CONTROL" => &mut headers.full_control,
            "READ" => &mut headers.read,
            "READ_ACP" => &mut headers.read_acp,
            "WRITE_ACP" => &mut headers.write_acp,
            _ => continue, // WRITE has no meaning on objects
        };
        match slot {
            Some(list) => {
                list.push_str(", ");
                list.push_str(&grantee);
            }
            None => *slot = Some(grantee),
        }
    }
    headers
}

/// A single-part, non-KMS source has an MD5 ETag that its copy must reproduce exactly.
fn verify(
    head: &SourceVersion,
    target: &ReplicaSpec,
    written: &Written,
) -> Result<(), ReplicationError> {
    let md5_etag = !head.etag.contains('-')
        && !matches!(head.encryption, Encryption::Kms { .. })
        && !matches!(target.encryption, TargetEncryption::Kms { .. });
    if md5_etag && written.etag != head.etag {
        return Err(ReplicationError::ReplicaMismatch(format!(
            "replica ETag {} differs from source ETag {}",
            written.etag, head.etag
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ContentHeaders, Grant, ObjectLock};
    use std::collections::BTreeMap;

    fn head() -> SourceVersion {
        SourceVersion {
            size: 3,
            etag: "\"abc\"".into(),
            version_id: Some("v1".into()),
            content: ContentHeaders {
                content_type: Some("text/plain".into()),
                ..Default::default()
            },
            metadata: BTreeMap::from([("owner".to_owned(), "me".to_owned())]),
            storage_class: None,
            archived: false,
            encryption: Encryption::S3,
            object_lock: ObjectLock::default(),
            tag_count: None,
            parts_count: None,
        }
    }

    fn event() -> ObjectEvent {
        ObjectEvent {
            index: 0,
            event_name: "ObjectCreated:Put".into(),
            region: Some("us-east-1".into()),
            bucket: "src".into(),
            key: "k".into(),
            version_id: Some("v1".into()),
            etag: Some("abc".into()),
            sequencer: None,
        }
    }

    fn rule(json_destination: &str) -> Rule {
        Config::from_json(&format!(
            r#"{{"Rules":[{{"Priority":1,"Status":"Enabled","Filter":{{}},"DeleteMarkerReplication":{{"Status":"Disabled"}},
               "SourceSelectionCriteria":{{"SseKmsEncryptedObjects":{{"Status":"Enabled"}}}},
               "Destination":{json_destination}}}]}}"#
        ))
        .unwrap()
        .rules
        .remove(0)
    }

    #[test]
    fn replica_plan_adds_only_the_marker_to_user_metadata() {
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k1"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(spec.metadata.len(), 2);
        assert_eq!(spec.metadata["owner"], "me");
        assert_eq!(spec.metadata[REPLICA_MARKER], "v1");
        assert_eq!(spec.storage_class, "STANDARD");
        assert_eq!(spec.encryption, TargetEncryption::S3);
        assert_eq!(spec.tags, TagsPlan::FromSource);
    }

    #[test]
    fn kms_source_is_written_with_the_replica_key() {
        let mut h = head();
        h.encryption = Encryption::Kms {
            algorithm: "aws:kms".into(),
            key_id: Some("src-key".into()),
            bucket_key: true,
        };
        let spec = plan_replica(
            &rule(
                r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"replica-key"}}"#,
            ),
            &event(),
            &h,
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(
            spec.encryption,
            TargetEncryption::Kms {
                algorithm: "aws:kms".into(),
                key_id: "replica-key".into(),
                bucket_key: true
            }
        );
    }

    #[test]
    fn owner_override_writes_bucket_owner_full_control() {
        let spec = plan_replica(
            &rule(
                r#"{"Bucket":"dst","Account":"123456789012","AccessControlTranslation":{"Owner":"Destination"},"EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#,
            ),
            &event(),
            &head(),
            None,
            Some(&GrantHeaders::default()),
            false,
            "eu-west-1".into(),
        );
        assert_eq!(spec.acl, AclPlan::BucketOwnerFullControl);
        assert_eq!(spec.expected_bucket_owner.as_deref(), Some("123456789012"));
    }

    #[test]
    fn grants_become_grant_headers_per_permission() {
        let acl = Acl {
            owner_id: Some("o".into()),
            grants: vec![
                Grant {
                    grantee: Grantee::Id("o".into()),
                    permission: "FULL_CONTROL".into(),
                },
                Grant {
                    grantee: Grantee::Uri("http://acs.amazonaws.com/groups/global/AllUsers".into()),
                    permission: "READ".into(),
                },
                Grant {
                    grantee: Grantee::Id("friend".into()),
                    permission: "READ".into(),
                },
            ],
        };
        let h = grant_headers(&acl);
        assert_eq!(h.full_control.as_deref(), Some("id=\"o\""));
        assert_eq!(
            h.read.as_deref(),
            Some("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"friend\"")
        );
        assert_eq!(h.read_acp, None);
    }

    #[test]
    fn etag_mismatch_on_a_plain_copy_is_a_failure() {
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "r".into(),
        );
        let bad = Written {
            etag: "\"other\"".into(),
            version_id: None,
        };
        assert_eq!(
            verify(&head(), &spec, &bad).unwrap_err().code(),
            "ReplicaMismatch"
        );
        let good = Written {
            etag: "\"abc\"".into(),
            version_id: None,
        };
        assert!(verify(&head(), &spec, &good).is_ok());
    }

    #[test]
    fn replicas_and_archived_objects_are_skipped() {
        let mut h = head();
        h.metadata.insert(REPLICA_MARKER.into(), "v0".into());
        assert_eq!(skip_reason(&h), Some(SkipReason::IsReplica));
        let mut h = head();
        h.archived = true;
        h.storage_class = Some("DEEP_ARCHIVE".into());
        assert_eq!(
            skip_reason(&h),
            Some(SkipReason::Archived("DEEP_ARCHIVE".into()))
        );
    }
}

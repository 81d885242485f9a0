//! The replica a rule asks for, and the checks of what was written: pure functions.

use aws_smithy_types::DateTime;

use super::*;
use crate::store::{key_digest, record_mac, ObjectLock};

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
    metadata.insert(REPLICA_SOURCE_BUCKET.to_owned(), event.bucket.clone());
    metadata.insert(
        REPLICA_WRITTEN_TO.to_owned(),
        rule.destination.bucket.clone(),
    );
    metadata.insert(REPLICA_KEY.to_owned(), key_digest(&event.key));
    metadata.insert(
        REPLICA_SOURCE_ETAG.to_owned(),
        head.etag.trim_matches('"').to_owned(),
    );
    // The source version is an original (replicas are not replicated): its place in the one
    // order of writes, in whole seconds as S3 records them (kept in milliseconds, as before).
    let written = super::order::source_write(event, head);
    metadata.insert(
        REPLICA_ORIGIN_TIME.to_owned(),
        (written.secs * 1000).to_string(),
    );
    // Proof that this function wrote the record, where a record key is configured (the replica
    // has the source's size on every path, so the MAC can cover it).
    record_mac::seal(&mut metadata, head.size, record_mac::installed());
    let acl = if rule.destination.owner_override {
        AclPlan::BucketOwnerFullControl
    } else {
        match grants {
            Some(g) if !destination_acl_disabled => AclPlan::Grants(g.clone()),
            _ => AclPlan::Default,
        }
    };
    let encryption = target_encryption(rule, head);
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
        object_lock: lock_in_force(
            &head.object_lock,
            DateTime::from(std::time::SystemTime::now()),
        ),
        checksum: head.checksum.clone(),
        expected_bucket_owner: rule.destination.account.clone(),
        endpoint: rule.destination.endpoint.as_ref().map(RemoteEndpoint::id),
        condition: None,
    }
}

/// The Object Lock a replica can carry at `now`: a retention whose date has passed is no longer
/// in force, and S3 refuses a retain-until date in the past, so only one still in force is
/// restated; a legal hold always is.
pub fn lock_in_force(lock: &ObjectLock, now: DateTime) -> ObjectLock {
    let in_force = lock.retain_until.is_some_and(|until| until > now);
    ObjectLock {
        mode: lock.mode.clone().filter(|_| in_force),
        retain_until: lock.retain_until.filter(|_| in_force),
        legal_hold: lock.legal_hold,
    }
}

/// The encryption a rule asks for the replica of `head`: the rule's replica KMS key for an SSE-KMS
/// source, SSE-S3 for an SSE-S3 source, else the destination bucket's default. At an endpoint
/// AWS does not run, SSE-S3 is not restated: such a server may refuse it (Ceph RGW 16.2 answers
/// 400 InvalidRequest without TLS or a configured key) where it means no more than "encrypted
/// at rest by the server", which the destination bucket's default encryption decides there.
pub fn target_encryption(rule: &Rule, head: &SourceVersion) -> TargetEncryption {
    match (&head.encryption, &rule.destination.replica_kms_key_id) {
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
        (Encryption::S3, _)
            if rule
                .destination
                .endpoint
                .as_ref()
                .is_none_or(|e| e.run_by_aws()) =>
        {
            TargetEncryption::S3
        }
        _ => TargetEncryption::BucketDefault,
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

/// Checks the replica's ETag where it must equal the source's: a single-part source copied in one
/// request, neither under KMS. Returns whether it could tell (otherwise the caller checks the
/// size). A multipart copy proves itself: in the source's layout by the source's ETag, which its
/// parts must make and Complete must answer, in another (one of our own, or switched to one when
/// a source part could not be copied within an invocation) by reading the replica back.
pub(super) fn verify(
    head: &SourceVersion,
    target: &ReplicaSpec,
    written: &Written,
    method: CopyMethod,
) -> Result<bool, ReplicationError> {
    let same_layout = match method {
        CopyMethod::SingleRequest => !head.etag.contains('-'),
        CopyMethod::Multipart { .. } => false,
    };
    let comparable = same_layout
        && !matches!(head.encryption, Encryption::Kms { .. })
        && !matches!(target.encryption, TargetEncryption::Kms { .. });
    if comparable && written.etag != head.etag {
        return Err(ReplicationError::ReplicaMismatch(format!(
            "replica ETag {} differs from source ETag {}",
            written.etag, head.etag
        )));
    }
    Ok(comparable)
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
            checksum: None,
            last_modified: None,
        }
    }

    fn event() -> ObjectEvent {
        ObjectEvent {
            kind: EventKind::Created,
            index: 0,
            event_name: "ObjectCreated:Put".into(),
            region: Some("us-east-1".into()),
            bucket: "src".into(),
            key: "k".into(),
            version_id: Some("v1".into()),
            etag: Some("abc".into()),
            sequencer: None,
            event_time: None,
            size: None,
            null_version: false,
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
    fn replica_plan_adds_only_the_replica_entries_to_user_metadata() {
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k1"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(spec.metadata.len(), 7);
        assert_eq!(
            spec.metadata[REPLICA_SOURCE_ETAG],
            head().etag.trim_matches('"')
        );
        assert_eq!(spec.metadata["owner"], "me");
        assert_eq!(spec.metadata[REPLICA_MARKER], "v1");
        assert_eq!(spec.metadata[REPLICA_SOURCE_BUCKET], "src");
        assert_eq!(spec.metadata[REPLICA_WRITTEN_TO], "dst");
        assert_eq!(spec.metadata[REPLICA_KEY], key_digest(&event().key));
        assert_eq!(spec.metadata[REPLICA_ORIGIN_TIME], "0");
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

    /// The replica of `head()` under a rule without owner override or tag filters.
    fn plain_spec() -> ReplicaSpec {
        plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#),
            &event(),
            &head(),
            None,
            None,
            false,
            "r".into(),
        )
    }

    #[test]
    fn etag_mismatch_on_a_plain_copy_is_a_failure() {
        let spec = plain_spec();
        let bad = Written {
            etag: "\"other\"".into(),
            version_id: None,
        };
        assert_eq!(
            verify(&head(), &spec, &bad, CopyMethod::SingleRequest)
                .unwrap_err()
                .code(),
            "ReplicaMismatch"
        );
        let good = Written {
            etag: "\"abc\"".into(),
            version_id: None,
        };
        assert_eq!(
            verify(&head(), &spec, &good, CopyMethod::SingleRequest),
            Ok(true)
        );
    }

    #[test]
    fn rechunked_copy_cannot_be_checked_by_etag() {
        let spec = plain_spec();
        let rechunked = Written {
            etag: "\"other-5\"".into(),
            version_id: None,
        };
        let method = CopyMethod::Multipart { source_parts: None };
        assert_eq!(verify(&head(), &spec, &rechunked, method), Ok(false));
    }

    #[test]
    fn replicas_and_archived_objects_are_skipped() {
        let mut h = head();
        h.metadata.insert(REPLICA_MARKER.into(), "v0".into());
        assert_eq!(skip_reason(&h, "src", "k"), Some(SkipReason::IsReplica));
        // A replica written into "dst" and copied back into "src" is a new object in "src".
        h.metadata.insert(REPLICA_WRITTEN_TO.into(), "dst".into());
        assert_eq!(skip_reason(&h, "src", "k"), None);
        assert_eq!(skip_reason(&h, "dst", "k"), Some(SkipReason::IsReplica));
        // A replica of "k" copied to "k2" (`aws s3 cp` keeps user metadata) is a new object.
        h.metadata.insert(REPLICA_KEY.into(), key_digest("k"));
        assert_eq!(skip_reason(&h, "dst", "k"), Some(SkipReason::IsReplica));
        assert_eq!(skip_reason(&h, "dst", "k2"), None);
        let mut h = head();
        h.archived = true;
        h.storage_class = Some("DEEP_ARCHIVE".into());
        assert_eq!(
            skip_reason(&h, "src", "k"),
            Some(SkipReason::Archived("DEEP_ARCHIVE".into()))
        );
    }

    #[test]
    fn an_expired_retention_is_not_restated_but_a_legal_hold_is() {
        let now = DateTime::from(std::time::SystemTime::now());
        let past = DateTime::from_secs(now.secs() - 86_400);
        let future = DateTime::from_secs(now.secs() + 86_400);
        let mut h = head();
        h.object_lock = ObjectLock {
            mode: Some("GOVERNANCE".into()),
            retain_until: Some(past),
            legal_hold: Some(true),
        };
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#),
            &event(),
            &h,
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(
            spec.object_lock,
            ObjectLock {
                mode: None,
                retain_until: None,
                legal_hold: Some(true)
            },
            "S3 refuses a retain-until date in the past"
        );
        h.object_lock.retain_until = Some(future);
        let spec = plan_replica(
            &rule(r#"{"Bucket":"dst","EncryptionConfiguration":{"ReplicaKmsKeyID":"k"}}"#),
            &event(),
            &h,
            None,
            None,
            false,
            "eu-west-1".into(),
        );
        assert_eq!(
            spec.object_lock, h.object_lock,
            "in force: restated as it is"
        );
    }
}

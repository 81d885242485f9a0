//! Replication against a real local S3 server (moto): fidelity, rules, keys, failures.

use crate::common::*;
use aws_sdk_s3::types::{
    ObjectCannedAcl, Permission, ServerSideEncryption, StorageClass, Tag, Type,
};
use aws_sdk_s3::Client;
use s3_replicator::error::InvocationError;
use s3_replicator::{handle, Summary};
use serde_json::json;

const MARKER: &str = "replica-source-version-id";

struct Pair {
    s3: Client,
    src: String,
    dst: String,
}

/// A versioned source in us-east-1 and a versioned destination in eu-west-1.
async fn pair() -> Pair {
    let s3 = client();
    let src = versioned_bucket(&s3, "src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "dst", "eu-west-1").await;
    Pair { s3, src, dst }
}

fn rules(json: serde_json::Value) -> String {
    json.to_string()
}

fn rule(
    id: &str,
    priority: i64,
    filter: serde_json::Value,
    destination: serde_json::Value,
) -> serde_json::Value {
    json!({"ID": id, "Priority": priority, "Status": "Enabled", "Filter": filter,
           "DeleteMarkerReplication": {"Status": "Disabled"}, "Destination": destination})
}

async fn run(env: &[(&str, &str)], event: serde_json::Value) -> Result<Summary, InvocationError> {
    let replicator = replicator(&server().endpoint, env);
    handle(&replicator, event).await
}

#[tokio::test]
async fn replica_keeps_body_and_all_metadata() {
    let p = pair().await;
    let put = put_with(&p.s3, &p.src, "docs/readme.txt", b"hello replica", |b| {
        b.content_type("text/plain; charset=utf-8")
            .cache_control("max-age=60")
            .content_disposition("attachment; filename=\"readme.txt\"")
            .content_encoding("identity")
            .content_language("en-GB")
            .expires(aws_sdk_s3::primitives::DateTime::from_secs(1_900_000_000))
            .website_redirect_location("/other.html")
            .metadata("owner", "team-a")
            .metadata("checksum-note", "x y z")
    })
    .await;
    let summary = run(
        &[("DESTINATION_BUCKET", &p.dst)],
        created_event(std::slice::from_ref(&put)),
    )
    .await
    .unwrap();
    assert_eq!(summary.replicated, 1);

    assert_eq!(
        body_of(&p.s3, &p.dst, "docs/readme.txt", None).await,
        b"hello replica"
    );
    let src =
        p.s3.head_object()
            .bucket(&p.src)
            .key("docs/readme.txt")
            .send()
            .await
            .unwrap();
    let dst =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("docs/readme.txt")
            .send()
            .await
            .unwrap();
    assert_eq!(dst.content_type(), src.content_type());
    assert_eq!(dst.cache_control(), Some("max-age=60"));
    assert_eq!(dst.content_disposition(), src.content_disposition());
    assert_eq!(dst.content_encoding(), Some("identity"));
    assert_eq!(dst.content_language(), Some("en-GB"));
    assert_eq!(dst.expires_string(), src.expires_string());
    assert!(dst.expires_string().is_some());
    assert_eq!(dst.website_redirect_location(), Some("/other.html"));
    assert_eq!(dst.e_tag(), src.e_tag());
    let meta = dst.metadata().unwrap();
    assert_eq!(meta.get("owner").map(String::as_str), Some("team-a"));
    assert_eq!(meta.get("checksum-note").map(String::as_str), Some("x y z"));
    assert_eq!(meta.get(MARKER), put.version_id.as_ref());
    assert_eq!(meta.get("replica-source-bucket"), Some(&p.src));
    assert_eq!(meta.get("replica-written-to"), Some(&p.dst));
    assert_eq!(
        meta.get("replica-written-key-md5").map(String::as_str),
        Some(s3_replicator::store::key_digest("docs/readme.txt").as_str())
    );
    let original = src
        .last_modified()
        .unwrap()
        .to_millis()
        .unwrap()
        .to_string();
    assert_eq!(meta.get("replica-original-time"), Some(&original));
    assert_eq!(
        meta.get("replica-source-etag").map(String::as_str),
        src.e_tag().map(|e| e.trim_matches('"'))
    );
    // The write's times: sent, and the latest S3 may stamp it, around its Last-Modified.
    let at: i64 = meta["replica-written-at"].parse().unwrap();
    let until: i64 = meta["replica-written-until"].parse().unwrap();
    let stamped = dst.last_modified().unwrap().secs();
    assert!(at / 1000 <= stamped && stamped <= until / 1000, "{meta:?}");
    assert_eq!(
        meta.len(),
        10,
        "exactly the eight replica entries added: {meta:?}"
    );
}

#[tokio::test]
async fn replica_keeps_tags() {
    let p = pair().await;
    let put = put_with(&p.s3, &p.src, "tagged", b"t", |b| {
        b.tagging("team=a&cost%20centre=42")
    })
    .await;
    run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    let tags =
        p.s3.get_object_tagging()
            .bucket(&p.dst)
            .key("tagged")
            .send()
            .await
            .unwrap();
    let mut got: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("cost centre".into(), "42".into()),
            ("team".into(), "a".into())
        ]
    );
}

#[tokio::test]
async fn replica_gets_the_tags_of_its_own_version_not_the_latest() {
    let p = pair().await;
    let first = put_with(&p.s3, &p.src, "k", b"one", |b| b.tagging("v=1")).await;
    put_with(&p.s3, &p.src, "k", b"two", |b| b.tagging("v=2")).await;
    run(
        &[("DESTINATION_BUCKET", &p.dst)],
        created_event(std::slice::from_ref(&first)),
    )
    .await
    .unwrap();
    let replica = replica_version_of(&p.s3, &p.dst, "k", first.version_id.as_deref().unwrap())
        .await
        .expect("the first version has a replica");
    let tags =
        p.s3.get_object_tagging()
            .bucket(&p.dst)
            .key("k")
            .version_id(replica)
            .send()
            .await
            .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "1");
}

#[tokio::test]
async fn replica_keeps_acl_grants() {
    let p = pair().await;
    let put = put_with(&p.s3, &p.src, "public.txt", b"p", |b| {
        b.acl(ObjectCannedAcl::PublicRead)
    })
    .await;
    run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    let acl =
        p.s3.get_object_acl()
            .bucket(&p.dst)
            .key("public.txt")
            .send()
            .await
            .unwrap();
    let all_users_read = acl.grants().iter().any(|g| {
        g.permission() == Some(&Permission::Read)
            && g.grantee().is_some_and(|ge| {
                *ge.r#type() == Type::Group
                    && ge.uri() == Some("http://acs.amazonaws.com/groups/global/AllUsers")
            })
    });
    assert!(all_users_read, "{:?}", acl.grants());
}

#[tokio::test]
async fn private_object_gets_a_private_replica() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "private.txt", b"p").await;
    run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    let acl =
        p.s3.get_object_acl()
            .bucket(&p.dst)
            .key("private.txt")
            .send()
            .await
            .unwrap();
    assert!(
        acl.grants().iter().all(|g| g
            .grantee()
            .is_some_and(|ge| *ge.r#type() == Type::CanonicalUser)),
        "{:?}",
        acl.grants()
    );
}

#[tokio::test]
async fn storage_class_comes_from_the_rule_else_the_source() {
    let p = pair().await;
    let ia = put_with(&p.s3, &p.src, "keep/ia", b"x", |b| {
        b.storage_class(StorageClass::StandardIa)
    })
    .await;
    let std = put(&p.s3, &p.src, "change/std", b"y").await;
    let config = rules(json!({"Rules": [
        rule("keep", 1, json!({"Prefix": "keep/"}), json!({"Bucket": p.dst})),
        rule("change", 2, json!({"Prefix": "change/"}), json!({"Bucket": p.dst, "StorageClass": "ONEZONE_IA"})),
    ]}));
    run(
        &[("REPLICATION_CONFIG", &config)],
        created_event(&[ia, std]),
    )
    .await
    .unwrap();
    let kept =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("keep/ia")
            .send()
            .await
            .unwrap();
    assert_eq!(kept.storage_class(), Some(&StorageClass::StandardIa));
    let changed =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("change/std")
            .send()
            .await
            .unwrap();
    assert_eq!(changed.storage_class(), Some(&StorageClass::OnezoneIa));
}

#[tokio::test]
async fn sse_s3_is_kept_on_the_replica() {
    let p = pair().await;
    let put = put_with(&p.s3, &p.src, "enc", b"secret", |b| {
        b.server_side_encryption(ServerSideEncryption::Aes256)
    })
    .await;
    run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    let dst =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("enc")
            .send()
            .await
            .unwrap();
    assert_eq!(
        dst.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
}

#[tokio::test]
async fn sse_kms_object_is_written_with_the_replica_key_only_when_selected() {
    let p = pair().await;
    let other = versioned_bucket(&p.s3, "dst-nokms", "eu-west-1").await;
    let put = put_with(&p.s3, &p.src, "kms", b"secret", |b| {
        b.server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("source-key")
    })
    .await;
    let config = rules(json!({"Rules": [
        {"ID": "kms", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
         "Destination": {"Bucket": p.dst, "EncryptionConfiguration": {"ReplicaKmsKeyID": "replica-key"}}},
        rule("plain", 1, json!({}), json!({"Bucket": other})),
    ]}));
    let summary = run(&[("REPLICATION_CONFIG", &config)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (1, 1));
    let dst =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("kms")
            .send()
            .await
            .unwrap();
    assert_eq!(
        dst.server_side_encryption(),
        Some(&ServerSideEncryption::AwsKms)
    );
    assert_eq!(dst.ssekms_key_id(), Some("replica-key"));
    assert_eq!(version_count(&p.s3, &other, "kms").await, 0);
}

#[tokio::test]
async fn prefix_filter_leaves_other_keys_alone() {
    let p = pair().await;
    let inside = put(&p.s3, &p.src, "logs/a", b"a").await;
    let outside = put(&p.s3, &p.src, "tmp/b", b"b").await;
    let summary = run(
        &[
            ("DESTINATION_BUCKET", &p.dst),
            ("REPLICATE_PREFIXES", "logs/,images/"),
        ],
        created_event(&[inside, outside]),
    )
    .await
    .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (1, 1));
    assert_eq!(version_count(&p.s3, &p.dst, "logs/a").await, 1);
    assert_eq!(version_count(&p.s3, &p.dst, "tmp/b").await, 0);
}

#[tokio::test]
async fn highest_priority_rule_decides_for_a_destination() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "data/x", b"x").await;
    let config = rules(json!({"Rules": [
        rule("broad", 1, json!({}), json!({"Bucket": p.dst, "StorageClass": "STANDARD_IA"})),
        rule("narrow", 2, json!({"Prefix": "data/"}), json!({"Bucket": p.dst, "StorageClass": "GLACIER_IR"})),
    ]}));
    let summary = run(&[("REPLICATION_CONFIG", &config)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    assert_eq!(version_count(&p.s3, &p.dst, "data/x").await, 1);
    let dst =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("data/x")
            .send()
            .await
            .unwrap();
    assert_eq!(dst.storage_class(), Some(&StorageClass::GlacierIr));
}

#[tokio::test]
async fn object_goes_to_every_destination_and_not_through_disabled_rules() {
    let p = pair().await;
    let second = versioned_bucket(&p.s3, "dst2", "us-east-1").await;
    let third = versioned_bucket(&p.s3, "dst3", "us-east-1").await;
    let put = put(&p.s3, &p.src, "multi", b"m").await;
    let mut off = rule("off", 3, json!({}), json!({"Bucket": third}));
    off["Status"] = json!("Disabled");
    let config = rules(json!({"Rules": [
        rule("one", 1, json!({}), json!({"Bucket": p.dst})),
        rule("two", 2, json!({}), json!({"Bucket": second, "Region": "us-east-1"})),
        off,
    ]}));
    let summary = run(&[("REPLICATION_CONFIG", &config)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 2);
    assert_eq!(body_of(&p.s3, &p.dst, "multi", None).await, b"m");
    assert_eq!(body_of(&p.s3, &second, "multi", None).await, b"m");
    assert_eq!(version_count(&p.s3, &third, "multi").await, 0);
}

#[tokio::test]
async fn tag_filter_uses_the_versions_tags() {
    let p = pair().await;
    let yes = put_with(&p.s3, &p.src, "t/yes", b"y", |b| {
        b.tagging("replicate=yes&x=1")
    })
    .await;
    let no = put_with(&p.s3, &p.src, "t/no", b"n", |b| b.tagging("replicate=no")).await;
    let config = rules(json!({"Rules": [
        rule("tags", 1, json!({"Tag": {"Key": "replicate", "Value": "yes"}}), json!({"Bucket": p.dst})),
    ]}));
    run(
        &[("REPLICATION_CONFIG", &config)],
        created_event(&[yes, no]),
    )
    .await
    .unwrap();
    assert_eq!(version_count(&p.s3, &p.dst, "t/yes").await, 1);
    assert_eq!(version_count(&p.s3, &p.dst, "t/no").await, 0);
    let tags =
        p.s3.get_object_tagging()
            .bucket(&p.dst)
            .key("t/yes")
            .send()
            .await
            .unwrap();
    assert_eq!(tags.tag_set().len(), 2);
}

#[tokio::test]
async fn awkward_keys_replicate_to_the_same_key() {
    let p = pair().await;
    let long_key = format!("long/{}", "k".repeat(895));
    let keys = [
        "with space.txt",
        "plus+sign.txt",
        "100% done.txt",
        "ünïcødé/日本語/✓.txt",
        "a&b=c?d#e.txt",
        long_key.as_str(),
    ];
    let mut puts = Vec::new();
    for key in keys {
        puts.push(put(&p.s3, &p.src, key, key.as_bytes()).await);
    }
    let summary = run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&puts))
        .await
        .unwrap();
    assert_eq!(summary.replicated, keys.len());
    for key in keys {
        assert_eq!(
            body_of(&p.s3, &p.dst, key, None).await,
            key.as_bytes(),
            "{key}"
        );
    }
}

#[tokio::test]
async fn older_version_replicated_by_its_own_event_gets_that_versions_bytes_and_metadata() {
    let p = pair().await;
    let old = put_with(&p.s3, &p.src, "doc", b"old bytes", |b| {
        b.metadata("rev", "1").content_type("text/old")
    })
    .await;
    put_with(&p.s3, &p.src, "doc", b"new bytes", |b| {
        b.metadata("rev", "2").content_type("text/new")
    })
    .await;
    run(
        &[("DESTINATION_BUCKET", &p.dst)],
        created_event(std::slice::from_ref(&old)),
    )
    .await
    .unwrap();
    // The late old version is kept as history with its own bytes and metadata ...
    let replica = replica_version_of(&p.s3, &p.dst, "doc", old.version_id.as_deref().unwrap())
        .await
        .expect("the old version has a replica");
    assert_eq!(
        body_of(&p.s3, &p.dst, "doc", Some(&replica)).await,
        b"old bytes"
    );
    let dst =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("doc")
            .version_id(&replica)
            .send()
            .await
            .unwrap();
    assert_eq!(dst.content_type(), Some("text/old"));
    assert_eq!(
        dst.metadata().unwrap().get("rev").map(String::as_str),
        Some("1")
    );
    // ... and the source's current version is re-asserted as the destination's current one.
    assert_eq!(body_of(&p.s3, &p.dst, "doc", None).await, b"new bytes");
}

#[tokio::test]
async fn replica_is_never_replicated_again() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "loop", b"l").await;
    // Two-way: each bucket replicates into the other.
    let config = rules(json!({"Rules": [
        rule("a-to-b", 1, json!({}), json!({"Bucket": p.dst})),
        rule("b-to-a", 2, json!({}), json!({"Bucket": p.src})),
    ]}));
    run(&[("REPLICATION_CONFIG", &config)], created_event(&[put]))
        .await
        .unwrap();
    let replica_version =
        p.s3.head_object()
            .bucket(&p.dst)
            .key("loop")
            .send()
            .await
            .unwrap();
    let replica = Put {
        bucket: p.dst.clone(),
        key: "loop".into(),
        version_id: replica_version.version_id().map(str::to_owned),
        etag: replica_version.e_tag().unwrap().trim_matches('"').into(),
        size: 1,
    };
    let mut event = created_event(&[replica]);
    event["Records"][0]["awsRegion"] = json!("eu-west-1");
    let summary = run(&[("REPLICATION_CONFIG", &config)], event)
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(version_count(&p.s3, &p.src, "loop").await, 1);
}

#[tokio::test]
async fn archived_source_is_skipped() {
    let p = pair().await;
    let put = put_with(&p.s3, &p.src, "cold", b"c", |b| {
        b.storage_class(StorageClass::DeepArchive)
    })
    .await;
    let summary = run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(version_count(&p.s3, &p.dst, "cold").await, 0);
}

#[tokio::test]
async fn deleted_version_is_skipped_without_failing() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "gone", b"g").await;
    p.s3.delete_object()
        .bucket(&p.src)
        .key("gone")
        .set_version_id(put.version_id.clone())
        .send()
        .await
        .unwrap();
    let summary = run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
}

#[tokio::test]
async fn unversioned_source_copies_only_the_object_the_event_announced() {
    let s3 = client();
    let src = unique_bucket("plain");
    s3.create_bucket().bucket(&src).send().await.unwrap();
    let dst = versioned_bucket(&s3, "dst", "us-east-1").await;
    let first = put(&s3, &src, "k", b"first").await;
    assert!(first.version_id.is_none());
    run(
        &[("DESTINATION_BUCKET", &dst)],
        created_event(std::slice::from_ref(&first)),
    )
    .await
    .unwrap();
    let head = s3.head_object().bucket(&dst).key("k").send().await.unwrap();
    assert_eq!(
        head.metadata().unwrap().get(MARKER).map(String::as_str),
        Some("null")
    );

    // Overwritten before a late (re)delivery of the first event: nothing stale is copied.
    put(&s3, &src, "k", b"second").await;
    let summary = run(&[("DESTINATION_BUCKET", &dst)], created_event(&[first]))
        .await
        .unwrap();
    assert_eq!((summary.replicated, summary.skipped), (0, 1));
    assert_eq!(body_of(&s3, &dst, "k", None).await, b"first");
}

#[tokio::test]
async fn destination_region_is_discovered_when_not_configured() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "where", b"w").await;
    let summary = run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
    let location =
        p.s3.get_bucket_location()
            .bucket(&p.dst)
            .send()
            .await
            .unwrap();
    assert_eq!(
        location.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
}

#[tokio::test]
async fn failed_record_fails_the_invocation_after_the_others_land() {
    let p = pair().await;
    let missing = unique_bucket("missing");
    let good = put(&p.s3, &p.src, "ok/1", b"1").await;
    let good2 = put(&p.s3, &p.src, "ok/2", b"2").await;
    let mut event = created_event(&[good.clone(), good2]);
    // A malformed record in the middle.
    let mut bad = event["Records"][0].clone();
    bad["s3"]["object"]["key"] = json!("bad%zz");
    event["Records"].as_array_mut().unwrap().insert(1, bad);
    let config = rules(json!({"Rules": [
        rule("good", 1, json!({"Prefix": "ok/"}), json!({"Bucket": p.dst})),
        rule("broken", 2, json!({"Prefix": "ok/1"}), json!({"Bucket": missing, "Region": "us-east-1"})),
    ]}));
    let err = run(&[("REPLICATION_CONFIG", &config)], event)
        .await
        .unwrap_err();
    let InvocationError::RecordsFailed { total, failures } = &err else {
        panic!("{err}")
    };
    assert_eq!(*total, 3);
    let codes: Vec<(usize, &str)> = failures.iter().map(|f| (f.index, f.code)).collect();
    assert_eq!(
        codes,
        vec![(0, "DstBucketNotFound"), (1, "InvalidRecord")],
        "{err}"
    );
    assert_eq!(body_of(&p.s3, &p.dst, "ok/1", None).await, b"1");
    assert_eq!(body_of(&p.s3, &p.dst, "ok/2", None).await, b"2");
}

#[tokio::test]
async fn repeated_event_for_a_replicated_version_is_harmless() {
    let p = pair().await;
    let put = put(&p.s3, &p.src, "twice", b"t").await;
    let event = created_event(&[put]);
    run(&[("DESTINATION_BUCKET", &p.dst)], event.clone())
        .await
        .unwrap();
    run(&[("DESTINATION_BUCKET", &p.dst)], event).await.unwrap();
    assert_eq!(body_of(&p.s3, &p.dst, "twice", None).await, b"t");
}

#[tokio::test]
async fn multipart_source_replicates_with_its_bytes() {
    let p = pair().await;
    let part = vec![7u8; 5 * 1024 * 1024];
    let upload =
        p.s3.create_multipart_upload()
            .bucket(&p.src)
            .key("mp")
            .send()
            .await
            .unwrap();
    let id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for n in 1..=2 {
        let body = if n == 1 {
            part.clone()
        } else {
            b"tail".to_vec()
        };
        let out =
            p.s3.upload_part()
                .bucket(&p.src)
                .key("mp")
                .upload_id(id)
                .part_number(n)
                .body(body.into())
                .send()
                .await
                .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .set_e_tag(out.e_tag().map(Into::into))
                .build(),
        );
    }
    let done =
        p.s3.complete_multipart_upload()
            .bucket(&p.src)
            .key("mp")
            .upload_id(id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    let put = Put {
        bucket: p.src.clone(),
        key: "mp".into(),
        version_id: done.version_id().map(str::to_owned),
        etag: done.e_tag().unwrap().trim_matches('"').into(),
        size: part.len() + 4,
    };
    run(&[("DESTINATION_BUCKET", &p.dst)], created_event(&[put]))
        .await
        .unwrap();
    let body = body_of(&p.s3, &p.dst, "mp", None).await;
    assert_eq!(body.len(), part.len() + 4);
    assert!(body.ends_with(b"tail"));
}

#[tokio::test]
async fn tags_set_explicitly_do_not_leak_between_objects() {
    // With a tag filter the tags are read and written explicitly: check each replica has its own.
    let p = pair().await;
    let a = put_with(&p.s3, &p.src, "a", b"a", |b| b.tagging("r=1&only=a")).await;
    let b = put_with(&p.s3, &p.src, "b", b"b", |b| b.tagging("r=1&only=b")).await;
    let config = rules(json!({"Rules": [
        rule("t", 1, json!({"Tag": {"Key": "r", "Value": "1"}}), json!({"Bucket": p.dst})),
    ]}));
    run(&[("REPLICATION_CONFIG", &config)], created_event(&[a, b]))
        .await
        .unwrap();
    for key in ["a", "b"] {
        let tags =
            p.s3.get_object_tagging()
                .bucket(&p.dst)
                .key(key)
                .send()
                .await
                .unwrap();
        let only = tags
            .tag_set()
            .iter()
            .find(|t| t.key() == "only")
            .map(Tag::value);
        assert_eq!(only, Some(key));
    }
}

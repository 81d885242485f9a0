//! What a sender of events cannot make the function do in a fan-in (two sources, one
//! destination): erase one source's replica with a version delete naming another source, or
//! carry one source's tag change onto another source's replica of the same key where both hold
//! `null` versions (issue 37, "no bucket is taken from data").

use crate::common::*;
use serde_json::json;

fn fan_in(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Disabled"},
        "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// With version deletes replicated, a forged `ObjectRemoved:Delete` naming source B and source
/// A's version id: B does not hold that version, but the replica of it in the shared destination
/// is A's, and A still has it. Nothing is deleted (allow-list set or empty alike).
#[tokio::test]
async fn a_version_delete_naming_another_source_erases_nothing() {
    let s3 = client();
    let a = versioned_bucket(&s3, "fe-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "fe-b", "us-east-1").await;
    let c = versioned_bucket(&s3, "fe-c", "eu-west-1").await;
    let config = fan_in(&c);
    let allow = format!("{a},{b}");
    for sources in ["", allow.as_str()] {
        let put_a = put(&s3, &a, "k", b"from a").await;
        let r = replicator(
            &server().endpoint,
            &[
                ("REPLICATION_CONFIG", &config),
                ("REPLICATE_VERSION_DELETES", "true"),
                ("SOURCE_BUCKETS", sources),
            ],
        );
        s3_replicator::handle(&r, created_event(std::slice::from_ref(&put_a)))
            .await
            .unwrap();
        let before = version_count(&s3, &c, "k").await;
        let forged = event_of(vec![record(
            "ObjectRemoved:Delete",
            &b,
            "k",
            put_a.version_id.as_deref(),
            None,
            "0A",
        )]);
        let _ = s3_replicator::handle(&r, forged).await;
        assert_eq!(
            version_count(&s3, &c, "k").await,
            before,
            "allow-list {sources:?}: A's replica was deleted"
        );
        assert_eq!(body_of(&s3, &c, "k", None).await, b"from a");
    }
}

/// Two unversioned sources write one key (every version `null`): a tag change on A's object
/// reaches A's replica only, never B's replica of the same key.
#[tokio::test]
async fn a_null_versions_tag_change_stays_with_its_own_sources_replica() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let s3 = client();
    let a = unique_bucket("fe-na");
    let b = unique_bucket("fe-nb");
    for bucket in [&a, &b] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    }
    let c = versioned_bucket(&s3, "fe-nc", "eu-west-1").await;
    let config = fan_in(&c);
    let r = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let put_a = put(&s3, &a, "k", b"from a").await;
    s3_replicator::handle(&r, created_event(std::slice::from_ref(&put_a)))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let put_b = put(&s3, &b, "k", b"from b, later").await;
    s3_replicator::handle(&r, created_event(std::slice::from_ref(&put_b)))
        .await
        .unwrap();
    assert_eq!(body_of(&s3, &c, "k", None).await, b"from b, later");
    s3.put_object_tagging()
        .bucket(&a)
        .key("k")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("from").value("a").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let change = event_of(vec![record(
        "ObjectTagging:Put",
        &a,
        "k",
        Some("null"),
        None,
        "0B",
    )]);
    s3_replicator::handle(&r, change).await.unwrap();
    let tags = s3
        .get_object_tagging()
        .bucket(&c)
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(
        tags.tag_set().is_empty(),
        "A's tags reached B's replica: {:?}",
        tags.tag_set()
    );
}

/// An unversioned source overwritten: the destination keeps the first write's replica below the
/// second's. A tag change of the object the source holds now reaches the second write's replica
/// only: the first write's replica (another `null` write) keeps its own tags.
#[tokio::test]
async fn a_null_versions_tag_change_leaves_the_replicas_of_earlier_writes_alone() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let s3 = client();
    let a = unique_bucket("fe-ow");
    s3.create_bucket().bucket(&a).send().await.unwrap();
    let c = versioned_bucket(&s3, "fe-owc", "eu-west-1").await;
    let config = fan_in(&c);
    let r = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config)]);
    let first = put_with(&s3, &a, "k", b"draft", |b| b.tagging("class=secret")).await;
    s3_replicator::handle(&r, created_event(std::slice::from_ref(&first)))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = put(&s3, &a, "k", b"final text").await;
    s3_replicator::handle(&r, created_event(std::slice::from_ref(&second)))
        .await
        .unwrap();
    s3.put_object_tagging()
        .bucket(&a)
        .key("k")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("class").value("public").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let change = event_of(vec![record(
        "ObjectTagging:Put",
        &a,
        "k",
        Some("null"),
        None,
        "0C",
    )]);
    s3_replicator::handle(&r, change).await.unwrap();
    let versions = version_ids(&s3, &c, "k").await;
    assert_eq!(versions.len(), 2, "{versions:?}");
    let tags_of = |v: String| {
        let s3 = s3.clone();
        let c = c.clone();
        async move {
            s3.get_object_tagging()
                .bucket(&c)
                .key("k")
                .version_id(v)
                .send()
                .await
                .unwrap()
                .tag_set()
                .iter()
                .map(|t| format!("{}={}", t.key(), t.value()))
                .collect::<Vec<_>>()
        }
    };
    let mut all = Vec::new();
    for v in versions {
        all.push(tags_of(v).await);
    }
    assert!(
        all.contains(&vec!["class=secret".to_owned()]),
        "the first write's replica took the current write's tags: {all:?}"
    );
    assert!(all.contains(&vec!["class=public".to_owned()]), "{all:?}");
}

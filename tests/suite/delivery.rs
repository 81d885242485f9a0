//! Correct under real delivery (local S3): duplicates, late and reordered events, delete markers,
//! version deletes, ACL and tag changes, two-way replication.

use crate::common::*;
use aws_sdk_s3::types::{ObjectCannedAcl, Tag, Tagging};
use aws_sdk_s3::Client;
use s3_replicator::{handle, Summary};
use serde_json::{json, Value};

struct Setup {
    s3: Client,
    src: String,
    dst: String,
}

async fn setup() -> Setup {
    let s3 = client();
    let src = versioned_bucket(&s3, "src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "dst", "eu-west-1").await;
    Setup { s3, src, dst }
}

fn config(dst: &str, delete_markers: bool) -> String {
    let status = if delete_markers {
        "Enabled"
    } else {
        "Disabled"
    };
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": status}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

async fn run(config: &str, extra: &[(&str, &str)], event: Value) -> Summary {
    let mut env = vec![("REPLICATION_CONFIG", config)];
    env.extend_from_slice(extra);
    handle(&replicator(&server().endpoint, &env), event)
        .await
        .expect("invocation succeeds")
}

fn created(p: &Put, sequencer: &str) -> Value {
    record(
        "ObjectCreated:Put",
        &p.bucket,
        &p.key,
        p.version_id.as_deref(),
        Some(&p.etag),
        sequencer,
    )
}

async fn delete_marker(s3: &Client, bucket: &str, key: &str, sequencer: &str) -> Value {
    let out = s3
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    record(
        "ObjectRemoved:DeleteMarkerCreated",
        bucket,
        key,
        out.version_id(),
        None,
        sequencer,
    )
}

async fn current_body(s3: &Client, bucket: &str, key: &str) -> Option<Vec<u8>> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(out.body.collect().await.unwrap().to_vec())
}

#[tokio::test]
async fn duplicate_event_copies_nothing() {
    let t = setup().await;
    let v = put(&t.s3, &t.src, "k", b"once").await;
    let cfg = config(&t.dst, false);
    let first = run(&cfg, &[], event_of(vec![created(&v, "01")])).await;
    let again = run(
        &cfg,
        &[],
        event_of(vec![created(&v, "01"), created(&v, "01")]),
    )
    .await;
    assert_eq!((first.replicated, again.replicated), (1, 0));
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 1);
}

#[tokio::test]
async fn events_of_one_key_in_a_batch_are_applied_in_sequencer_order() {
    let t = setup().await;
    let v1 = put(&t.s3, &t.src, "k", b"first").await;
    let v2 = put(&t.s3, &t.src, "k", b"second").await;
    // Delivered newest first in one event.
    let summary = run(
        &config(&t.dst, false),
        &[],
        event_of(vec![
            created(&v2, "0062E99A88DC4074B2"),
            created(&v1, "0062E99A88DC4074B1"),
        ]),
    )
    .await;
    // Two writes in all (one may be the first record's convergence) ...
    assert_eq!(summary.replicated + summary.synced, 2, "{summary:?}");
    // ... in source order: out of order, the current version would have needed a third copy.
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 2);
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"second");
}

#[tokio::test]
async fn late_older_version_under_the_current_replica_is_superseded_not_copied() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let v1 = put(&t.s3, &t.src, "k", b"first").await;
    let v2 = put(&t.s3, &t.src, "k", b"second").await;
    run(&cfg, &[], event_of(vec![created(&v2, "02")])).await;
    let late = run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    assert_eq!((late.replicated, late.skipped), (0, 1));
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"second");
    // One replica a version: copying v1 on top would need a second copy of v2 to restore it.
    assert!(
        replica_version_of(&t.s3, &t.dst, "k", v1.version_id.as_deref().unwrap())
            .await
            .is_none()
    );
    assert_eq!(
        replicas_of(&t.s3, &t.dst, "k", v2.version_id.as_deref().unwrap())
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn delete_marker_is_replicated_only_when_the_rule_enables_it() {
    let t = setup().await;
    let v = put(&t.s3, &t.src, "k", b"x").await;
    let off = config(&t.dst, false);
    run(&off, &[], event_of(vec![created(&v, "01")])).await;
    let marker = delete_marker(&t.s3, &t.src, "k", "02").await;
    let summary = run(&off, &[], event_of(vec![marker.clone()])).await;
    assert_eq!(summary.synced, 0);
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"x");
    let summary = run(&config(&t.dst, true), &[], event_of(vec![marker])).await;
    assert_eq!(summary.synced, 1);
    assert_eq!(current_body(&t.s3, &t.dst, "k").await, None);
}

#[tokio::test]
async fn late_delete_event_does_not_hide_a_newer_object() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"old").await;
    let marker = delete_marker(&t.s3, &t.src, "k", "02").await;
    let v2 = put(&t.s3, &t.src, "k", b"new").await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    run(&cfg, &[], event_of(vec![created(&v2, "03")])).await;
    run(&cfg, &[], event_of(vec![marker])).await; // late
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"new");
}

#[tokio::test]
async fn late_create_does_not_resurrect_a_deleted_key() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"gone soon").await;
    let marker = delete_marker(&t.s3, &t.src, "k", "02").await;
    run(&cfg, &[], event_of(vec![marker])).await; // arrives first: nothing to hide yet
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await; // late create
    assert_eq!(
        current_body(&t.s3, &t.dst, "k").await,
        None,
        "the key stays deleted"
    );
    assert!(
        replica_version_of(&t.s3, &t.dst, "k", v1.version_id.as_deref().unwrap())
            .await
            .is_some()
    );
}

#[tokio::test]
async fn version_delete_is_replicated_only_when_opted_in() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    let v2 = put(&t.s3, &t.src, "k", b"two").await;
    run(
        &cfg,
        &[],
        event_of(vec![created(&v1, "01"), created(&v2, "02")]),
    )
    .await;
    t.s3.delete_object()
        .bucket(&t.src)
        .key("k")
        .set_version_id(v1.version_id.clone())
        .send()
        .await
        .unwrap();
    let deleted = record(
        "ObjectRemoved:Delete",
        &t.src,
        "k",
        v1.version_id.as_deref(),
        None,
        "03",
    );

    let default = run(&cfg, &[], event_of(vec![deleted.clone()])).await;
    assert_eq!(default.synced, 0);
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 2);

    let opted = run(
        &cfg,
        &[("REPLICATE_VERSION_DELETES", "true")],
        event_of(vec![deleted]),
    )
    .await;
    assert_eq!(opted.synced, 1);
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 1);
    assert!(
        replica_version_of(&t.s3, &t.dst, "k", v1.version_id.as_deref().unwrap())
            .await
            .is_none()
    );
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"two");
}

#[tokio::test]
async fn deleting_the_current_version_converges_to_the_previous_one() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    let v2 = put(&t.s3, &t.src, "k", b"two").await;
    run(
        &cfg,
        &[],
        event_of(vec![created(&v1, "01"), created(&v2, "02")]),
    )
    .await;
    t.s3.delete_object()
        .bucket(&t.src)
        .key("k")
        .set_version_id(v2.version_id.clone())
        .send()
        .await
        .unwrap();
    let deleted = record(
        "ObjectRemoved:Delete",
        &t.src,
        "k",
        v2.version_id.as_deref(),
        None,
        "03",
    );
    run(
        &cfg,
        &[("REPLICATE_VERSION_DELETES", "true")],
        event_of(vec![deleted]),
    )
    .await;
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"one");
}

#[tokio::test]
async fn tag_change_is_synced_onto_the_replica() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let v = put_with(&t.s3, &t.src, "k", b"x", |b| b.tagging("stage=draft")).await;
    run(&cfg, &[], event_of(vec![created(&v, "01")])).await;
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("stage").value("final").build().unwrap())
        .build()
        .unwrap();
    t.s3.put_object_tagging()
        .bucket(&t.src)
        .key("k")
        .set_version_id(v.version_id.clone())
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let summary = run(
        &cfg,
        &[],
        event_of(vec![record(
            "ObjectTagging:Put",
            &t.src,
            "k",
            v.version_id.as_deref(),
            None,
            "02",
        )]),
    )
    .await;
    assert_eq!(summary.synced, 1);
    let tags =
        t.s3.get_object_tagging()
            .bucket(&t.dst)
            .key("k")
            .send()
            .await
            .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "final");

    t.s3.delete_object_tagging()
        .bucket(&t.src)
        .key("k")
        .set_version_id(v.version_id.clone())
        .send()
        .await
        .unwrap();
    run(
        &cfg,
        &[],
        event_of(vec![record(
            "ObjectTagging:Delete",
            &t.src,
            "k",
            v.version_id.as_deref(),
            None,
            "03",
        )]),
    )
    .await;
    let tags =
        t.s3.get_object_tagging()
            .bucket(&t.dst)
            .key("k")
            .send()
            .await
            .unwrap();
    assert!(tags.tag_set().is_empty());
}

#[tokio::test]
async fn acl_change_is_synced_onto_the_replica() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let v = put(&t.s3, &t.src, "k", b"x").await;
    run(&cfg, &[], event_of(vec![created(&v, "01")])).await;
    t.s3.put_object_acl()
        .bucket(&t.src)
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let summary = run(
        &cfg,
        &[],
        event_of(vec![record(
            "ObjectAcl:Put",
            &t.src,
            "k",
            v.version_id.as_deref(),
            None,
            "02",
        )]),
    )
    .await;
    assert_eq!(summary.synced, 1);
    assert!(grants_read(&t.s3, &t.dst, "k").await);
}

#[tokio::test]
async fn two_way_replication_converges_without_loops() {
    let s3 = client();
    let a = versioned_bucket(&s3, "two-way-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "two-way-b", "eu-west-1").await;
    // One configuration serves both buckets: a rule never targets the bucket an event came from.
    let cfg = json!({"Rules": [
        {"ID": "a-to-b", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": b}},
        {"ID": "b-to-a", "Priority": 2, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": a}}]})
    .to_string();
    let deliver = |bucket: &str, key: &str| {
        let (s3, bucket, key, cfg) = (s3.clone(), bucket.to_owned(), key.to_owned(), cfg.clone());
        async move {
            // The event S3 would send for the bucket's current version of key.
            let head = s3
                .head_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            let mut rec = record(
                "ObjectCreated:Put",
                &bucket,
                &key,
                head.version_id(),
                head.e_tag(),
                "01",
            );
            if bucket.contains("two-way-b") {
                rec["awsRegion"] = "eu-west-1".into();
            }
            run(&cfg, &[], event_of(vec![rec])).await
        }
    };
    put(&s3, &a, "from-a", b"written in a").await;
    assert_eq!(deliver(&a, "from-a").await.replicated, 1);
    assert_eq!(
        deliver(&b, "from-a").await.replicated,
        0,
        "the replica in b is not sent back"
    );
    put(&s3, &b, "from-b", b"written in b").await;
    assert_eq!(deliver(&b, "from-b").await.replicated, 1);
    assert_eq!(deliver(&a, "from-b").await.replicated, 0);
    // Edited on the other side later: still one current state on both sides.
    put(&s3, &b, "from-a", b"edited in b").await;
    deliver(&b, "from-a").await;
    deliver(&a, "from-a").await;
    for key in ["from-a", "from-b"] {
        assert_eq!(
            current_body(&s3, &a, key).await,
            current_body(&s3, &b, key).await,
            "{key}"
        );
    }
    assert_eq!(
        current_body(&s3, &a, "from-a").await.unwrap(),
        b"edited in b"
    );
    assert_eq!(version_count(&s3, &a, "from-a").await, 2);
    assert_eq!(version_count(&s3, &b, "from-a").await, 2);
}

/// v1 and v2 replicated, then a second replica of v1 written (as two racing instances can, each
/// finding no replica yet), then v2 current again: the destination holds two replicas of v1.
async fn two_replicas_of_v1(t: &Setup, cfg: &str) -> (Put, Put) {
    let v1 = put_with(&t.s3, &t.src, "k", b"one", |b| b.tagging("stage=draft")).await;
    let v2 = put(&t.s3, &t.src, "k", b"two").await;
    run(
        cfg,
        &[],
        event_of(vec![created(&v1, "01"), created(&v2, "02")]),
    )
    .await;
    let first = replicas_of(&t.s3, &t.dst, "k", v1.version_id.as_deref().unwrap()).await;
    t.s3.copy_object()
        .bucket(&t.dst)
        .key("k")
        .copy_source(format!("{}/k?versionId={}", t.dst, first[0]))
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Copy)
        .send()
        .await
        .unwrap();
    run(cfg, &[], event_of(vec![created(&v2, "02")])).await;
    (v1, v2)
}

#[tokio::test]
async fn version_delete_removes_every_replica_of_the_version() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let (v1, _) = two_replicas_of_v1(&t, &cfg).await;
    let v1_id = v1.version_id.clone().unwrap();
    assert_eq!(replicas_of(&t.s3, &t.dst, "k", &v1_id).await.len(), 2);
    t.s3.delete_object()
        .bucket(&t.src)
        .key("k")
        .version_id(&v1_id)
        .send()
        .await
        .unwrap();
    let deleted = record(
        "ObjectRemoved:Delete",
        &t.src,
        "k",
        Some(&v1_id),
        None,
        "03",
    );
    let summary = run(
        &cfg,
        &[("REPLICATE_VERSION_DELETES", "true")],
        event_of(vec![deleted]),
    )
    .await;
    assert_eq!(summary.synced, 1);
    assert!(replicas_of(&t.s3, &t.dst, "k", &v1_id).await.is_empty());
    assert_eq!(current_body(&t.s3, &t.dst, "k").await.unwrap(), b"two");
}

#[tokio::test]
async fn tag_change_reaches_every_replica_of_the_version() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let (v1, _) = two_replicas_of_v1(&t, &cfg).await;
    let v1_id = v1.version_id.clone().unwrap();
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("stage").value("final").build().unwrap())
        .build()
        .unwrap();
    t.s3.put_object_tagging()
        .bucket(&t.src)
        .key("k")
        .version_id(&v1_id)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let changed = record("ObjectTagging:Put", &t.src, "k", Some(&v1_id), None, "03");
    run(&cfg, &[], event_of(vec![changed])).await;
    let replicas = replicas_of(&t.s3, &t.dst, "k", &v1_id).await;
    assert_eq!(replicas.len(), 2);
    for id in replicas {
        let tags =
            t.s3.get_object_tagging()
                .bucket(&t.dst)
                .key("k")
                .version_id(&id)
                .send()
                .await
                .unwrap();
        assert_eq!(tags.tag_set()[0].value(), "final", "replica {id}");
    }
}

#[tokio::test]
async fn without_delete_marker_replication_the_newest_object_stays_current_in_every_order() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let orders: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for (n, order) in orders.iter().enumerate() {
        let key = format!("k{n}");
        // An object, its overwrite, then a delete marker; events delivered in `order`.
        let v1 = put(&t.s3, &t.src, &key, b"one").await;
        let v2 = put(&t.s3, &t.src, &key, b"two").await;
        let marker = delete_marker(&t.s3, &t.src, &key, "03").await;
        let events = [created(&v1, "01"), created(&v2, "02"), marker];
        for i in order {
            run(&cfg, &[], event_of(vec![events[*i].clone()])).await;
        }
        assert_eq!(
            current_body(&t.s3, &t.dst, &key).await.as_deref(),
            Some(&b"two"[..]),
            "order {order:?}"
        );
    }
}

fn two_way_config(a: &str, b: &str) -> String {
    json!({"Rules": [
        {"ID": "a-to-b", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": b}},
        {"ID": "b-to-a", "Priority": 2, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": a}}]})
    .to_string()
}

#[tokio::test]
async fn two_way_simultaneous_writes_end_with_the_later_write_on_both_sides() {
    let s3 = client();
    let a = versioned_bucket(&s3, "race-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "race-b", "us-east-1").await;
    let cfg = two_way_config(&a, &b);
    for (n, a_first) in [true, false].into_iter().enumerate() {
        let key = format!("k{n}");
        let in_a = put(&s3, &a, &key, b"written in a").await;
        // S3's Last-Modified has one-second resolution: b's write is unambiguously later.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let in_b = put(&s3, &b, &key, b"written in b, later").await;
        let (ea, eb) = (created(&in_a, "01"), created(&in_b, "01"));
        let order = if a_first { [ea, eb] } else { [eb, ea] };
        for event in order {
            run(&cfg, &[], event_of(vec![event])).await;
        }
        for bucket in [&a, &b] {
            assert_eq!(
                current_body(&s3, bucket, &key).await.unwrap(),
                b"written in b, later",
                "{bucket}, a's event first: {a_first}"
            );
        }
    }
}

#[tokio::test]
async fn replica_copied_back_into_the_source_is_replicated_again() {
    let t = setup().await;
    let cfg = config(&t.dst, false);
    let v1 = put_with(&t.s3, &t.src, "doc", b"precious", |b| {
        b.metadata("owner", "ops")
    })
    .await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    // Disaster recovery: the replica is copied back with its metadata (as `aws s3 cp` does).
    let restored =
        t.s3.copy_object()
            .bucket(&t.src)
            .key("doc")
            .copy_source(format!("{}/doc", t.dst))
            .send()
            .await
            .unwrap();
    let restored = Put {
        version_id: restored.version_id().map(str::to_owned),
        etag: restored
            .copy_object_result()
            .unwrap()
            .e_tag()
            .unwrap()
            .trim_matches('"')
            .to_owned(),
        ..v1.clone()
    };
    let summary = run(&cfg, &[], event_of(vec![created(&restored, "02")])).await;
    assert_eq!(summary.replicated, 1, "the restored object is replicated");
    assert_eq!(marker_of(&t.s3, &t.dst, "doc").await, restored.version_id);
    // Its replica is not sent on again: one more version in the destination, no loop.
    assert_eq!(version_count(&t.s3, &t.dst, "doc").await, 2);
}

/// The source's delete marker was permanently deleted, so an old version is current again,
/// while the destination still shows the replicated marker. That marker is a write at its own
/// Last-Modified, later than the old version: a redelivered event for the version copies
/// nothing and the delete stands (deletions of delete markers are not replicated, as in S3).
#[tokio::test]
async fn redelivery_after_a_source_marker_is_removed_leaves_the_replicated_delete_standing() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    // A second later: the replicated delete marker is later than v1 in the one order of writes
    // (within one second, the bucket names would decide).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let marker =
        t.s3.delete_object()
            .bucket(&t.src)
            .key("k")
            .send()
            .await
            .unwrap();
    let marker_id = marker.version_id().unwrap().to_owned();
    let deleted = record(
        "ObjectRemoved:DeleteMarkerCreated",
        &t.src,
        "k",
        Some(&marker_id),
        None,
        "02",
    );
    run(&cfg, &[], event_of(vec![deleted])).await;
    assert_eq!(current_body(&t.s3, &t.dst, "k").await, None);
    // Someone removes the source's marker: v1 is current there again. The destination's
    // delete marker is a write later than v1 (as native S3: deletions of delete markers are
    // not replicated), so it stands.
    t.s3.delete_object()
        .bucket(&t.src)
        .key("k")
        .version_id(&marker_id)
        .send()
        .await
        .unwrap();
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    assert_eq!(current_body(&t.s3, &t.dst, "k").await, None);
}

/// A version-delete event is no proof: while the source still has the version, its replicas
/// stay, so a forged or mistaken event cannot erase the destination's history.
#[tokio::test]
async fn a_version_delete_event_for_a_version_the_source_still_has_deletes_nothing() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    let v2 = put(&t.s3, &t.src, "k", b"two").await;
    run(
        &cfg,
        &[],
        event_of(vec![created(&v1, "01"), created(&v2, "02")]),
    )
    .await;
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 2);
    let forged = record(
        "ObjectRemoved:Delete",
        &t.src,
        "k",
        v1.version_id.as_deref(),
        None,
        "03",
    );
    let summary = run(
        &cfg,
        &[("REPLICATE_VERSION_DELETES", "true")],
        event_of(vec![forged]),
    )
    .await;
    assert_eq!(summary.synced, 0);
    assert_eq!(summary.skipped, 1);
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 2, "history kept");
}

/// With SOURCE_BUCKETS set (as the template sets it), an event naming any other bucket fails its
/// record, named, and replicates nothing; the deployment's own bucket replicates as before.
#[tokio::test]
async fn an_event_for_a_bucket_outside_source_buckets_fails_and_replicates_nothing() {
    let t = setup().await;
    let other = versioned_bucket(&t.s3, "other", "us-east-1").await;
    let cfg = config(&t.dst, true);
    let theirs = put(&t.s3, &other, "k", b"not ours to replicate").await;
    let ours = put(&t.s3, &t.src, "k", b"ours").await;
    let replicator = replicator(
        &server().endpoint,
        &[("REPLICATION_CONFIG", &cfg), ("SOURCE_BUCKETS", &t.src)],
    );
    let err = handle(&replicator, event_of(vec![created(&theirs, "01")]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SourceBucketNotAllowed"), "{err}");
    assert_eq!(version_count(&t.s3, &t.dst, "k").await, 0);
    let summary = handle(&replicator, event_of(vec![created(&ours, "01")]))
        .await
        .unwrap();
    assert_eq!(summary.replicated, 1);
}

/// Two rules for one destination, as users write them: a tag-filtered rule (S3 requires its
/// DeleteMarkerReplication disabled) above a catch-all that replicates delete markers.
fn tag_rule_over_catch_all(dst: &str) -> String {
    json!({"Rules": [
        {"ID": "tagged", "Priority": 2, "Status": "Enabled",
         "Filter": {"Tag": {"Key": "class", "Value": "gold"}},
         "DeleteMarkerReplication": {"Status": "Disabled"},
         "Destination": {"Bucket": dst, "StorageClass": "STANDARD_IA"}},
        {"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
         "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// Tags one version of `key` with a=b.
async fn tag_version(s3: &Client, bucket: &str, key: &str, version: &str) {
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("a").value("b").build().unwrap())
        .build()
        .unwrap();
    s3.put_object_tagging()
        .bucket(bucket)
        .key(key)
        .version_id(version)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

async fn put_gold(s3: &Client, bucket: &str, key: &str, body: &[u8]) -> Put {
    put_with(s3, bucket, key, body, |p| p.tagging("class=gold")).await
}

#[tokio::test]
async fn late_event_of_a_tagged_version_leaves_the_untagged_current_version_current() {
    let t = setup().await;
    let cfg = tag_rule_over_catch_all(&t.dst);
    let v1 = put_gold(&t.s3, &t.src, "k", b"gold one").await;
    let v2 = put(&t.s3, &t.src, "k", b"plain two").await;
    run(&cfg, &[], event_of(vec![created(&v2, "02")])).await;
    // v1's event arrives late: it is copied (history), then v2 — chosen by the catch-all, not
    // by the tag rule that chose v1 — is current again.
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    assert_eq!(marker_of(&t.s3, &t.dst, "k").await, v2.version_id);
    assert_eq!(
        current_body(&t.s3, &t.dst, "k").await.unwrap(),
        b"plain two"
    );
}

#[tokio::test]
async fn redelivered_create_of_a_tagged_version_does_not_bring_back_a_deleted_key() {
    let t = setup().await;
    let cfg = tag_rule_over_catch_all(&t.dst);
    let v1 = put_gold(&t.s3, &t.src, "k", b"gold one").await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    let marker = delete_marker(&t.s3, &t.src, "k", "02").await;
    run(&cfg, &[], event_of(vec![marker])).await;
    assert_eq!(
        current_body(&t.s3, &t.dst, "k").await,
        None,
        "marker replicated"
    );
    // The catch-all governs the key's deleted state; the tag rule's "no delete markers" does not.
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    assert_eq!(current_body(&t.s3, &t.dst, "k").await, None);
}

#[tokio::test]
async fn batch_ending_in_a_tag_change_still_hides_a_deleted_key() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    let marker = delete_marker(&t.s3, &t.src, "k", "02").await;
    tag_version(&t.s3, &t.src, "k", v1.version_id.as_deref().unwrap()).await;
    // EventBridge tag events carry no sequencer and sort last.
    let mut tagged = record(
        "ObjectTagging:Put",
        &t.src,
        "k",
        v1.version_id.as_deref(),
        None,
        "",
    );
    tagged["s3"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("sequencer");
    run(&cfg, &[], event_of(vec![marker, tagged])).await;
    assert_eq!(current_body(&t.s3, &t.dst, "k").await, None);
}

#[tokio::test]
async fn batch_of_a_redelivered_create_and_a_later_tag_change_ends_on_the_current_version() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    let v1 = put(&t.s3, &t.src, "k", b"one").await;
    run(&cfg, &[], event_of(vec![created(&v1, "01")])).await;
    let v2 = put(&t.s3, &t.src, "k", b"two").await;
    // v2's own event is lost for now; v1's create comes again with a tag change of v2.
    tag_version(&t.s3, &t.src, "k", v2.version_id.as_deref().unwrap()).await;
    let tagged = record(
        "ObjectTagging:Put",
        &t.src,
        "k",
        v2.version_id.as_deref(),
        None,
        "03",
    );
    run(&cfg, &[], event_of(vec![created(&v1, "01"), tagged])).await;
    assert_eq!(marker_of(&t.s3, &t.dst, "k").await, v2.version_id);
}

/// Waits for the start of a second, so that what follows (well under a second) shares it.
async fn at_the_start_of_a_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let left = 1000 - now.subsec_millis() as u64;
    tokio::time::sleep(std::time::Duration::from_millis(left + 20)).await;
}

#[tokio::test]
async fn two_way_overwrite_in_the_same_second_wins_on_both_sides_whatever_its_etag() {
    let s3 = client();
    let a = versioned_bucket(&s3, "tie-a", "us-east-1").await;
    let b = versioned_bucket(&s3, "tie-b", "us-east-1").await;
    let cfg = two_way_config(&a, &b);
    for redeliver_first in [false, true] {
        let key = format!("k-{redeliver_first}");
        at_the_start_of_a_second().await;
        // a1's ETag (f3…) sorts above b1's (03…): the clock's tie-break favours a1.
        let a1 = put(&s3, &a, &key, b"alpha write 27").await;
        run(&cfg, &[], event_of(vec![created(&a1, "01")])).await;
        // Within the same second, a user overwrites the replica in b: b1 is the later write.
        let b1 = put(&s3, &b, &key, b"bravo write 26").await;
        assert!(a1.etag > b1.etag);
        let (again, b1_event) = (created(&a1, "01"), created(&b1, "02"));
        let order = match redeliver_first {
            true => [again, b1_event],
            false => [b1_event, again],
        };
        for event in order {
            run(&cfg, &[], event_of(vec![event])).await;
        }
        for bucket in [&a, &b] {
            let body = current_body(&s3, bucket, &key).await.unwrap();
            assert_eq!(
                body, b"bravo write 26",
                "{bucket}, redelivered first: {redeliver_first}"
            );
        }
    }
}

#[tokio::test]
async fn multipart_source_initiated_before_a_destination_write_is_the_earlier_write() {
    let t = setup().await;
    let cfg = config(&t.dst, true);
    // The upload starts before a direct write in the destination and completes after it. S3
    // stamps the object with its initiation, and that is what every side can read: in the one
    // order of writes it is the earlier write, and the destination's stands (the event's
    // later `eventTime` is no part of the order).
    let upload =
        t.s3.create_multipart_upload()
            .bucket(&t.src)
            .key("k")
            .send()
            .await
            .unwrap();
    let id = upload.upload_id().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put(&t.s3, &t.dst, "k", b"written in the destination").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let part =
        t.s3.upload_part()
            .bucket(&t.src)
            .key("k")
            .upload_id(id)
            .part_number(1)
            .body(b"completed last".to_vec().into())
            .send()
            .await
            .unwrap();
    let done =
        t.s3.complete_multipart_upload()
            .bucket(&t.src)
            .key("k")
            .upload_id(id)
            .multipart_upload(
                aws_sdk_s3::types::CompletedMultipartUpload::builder()
                    .parts(
                        aws_sdk_s3::types::CompletedPart::builder()
                            .part_number(1)
                            .e_tag(part.e_tag().unwrap())
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    let stamped =
        t.s3.head_object()
            .bucket(&t.src)
            .key("k")
            .send()
            .await
            .unwrap();
    let direct =
        t.s3.head_object()
            .bucket(&t.dst)
            .key("k")
            .send()
            .await
            .unwrap();
    assert!(
        stamped.last_modified() < direct.last_modified(),
        "the local S3 stamps initiation"
    );
    let mut event = record(
        "ObjectCreated:CompleteMultipartUpload",
        &t.src,
        "k",
        done.version_id(),
        done.e_tag(),
        "01",
    );
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now());
    event["eventTime"] = now
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap()
        .into();
    run(&cfg, &[], event_of(vec![event])).await;
    assert_eq!(
        current_body(&t.s3, &t.dst, "k").await.unwrap(),
        b"written in the destination"
    );
}

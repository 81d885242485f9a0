//! Convergence under real delivery, with real concurrency against the local S3: about 200
//! versions over 20 keys (puts, overwrites, delete markers), their events shuffled with 20 %
//! duplicated and fed to 4 concurrent invocations. Every key must end with the destination's
//! current version equal to the source's, and no replica of a replica may exist. In order,
//! no version may be copied twice.

use std::collections::HashMap;

use crate::common::*;
use aws_sdk_s3::Client;
use s3_replicator::handle;
use serde_json::{json, Value};

const KEYS: usize = 20;
const OPERATIONS: usize = 200;
const MARKER: &str = "replica-source-version-id";

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn config(dst: &str) -> String {
    json!({"Rules": [{"ID": "all", "Priority": 1, "Status": "Enabled", "Filter": {},
        "DeleteMarkerReplication": {"Status": "Enabled"}, "Destination": {"Bucket": dst}}]})
    .to_string()
}

/// Performs one random write (a put with its own metadata, or a delete marker, 1 in 5) and
/// returns the record S3 would send for it. Sequencers grow per key, as S3's do.
async fn write(s3: &Client, bucket: &str, rng: &mut Rng, n: usize) -> Value {
    let key = format!("key-{:02}", rng.below(KEYS));
    let sequencer = format!("0062E99A88DC{n:06X}");
    if rng.below(5) == 0 {
        let out = s3
            .delete_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        return record(
            "ObjectRemoved:DeleteMarkerCreated",
            bucket,
            &key,
            out.version_id(),
            None,
            &sequencer,
        );
    }
    let body = format!("write {n} of {key}");
    let p = put_with(s3, bucket, &key, body.as_bytes(), |b| {
        b.metadata("write", n.to_string())
    })
    .await;
    record(
        "ObjectCreated:Put",
        bucket,
        &key,
        p.version_id.as_deref(),
        Some(&p.etag),
        &sequencer,
    )
}

/// (body and `write` metadata) of the current version, or `None` for a delete marker / no key.
async fn current(s3: &Client, bucket: &str, key: &str) -> Option<(Vec<u8>, Option<String>)> {
    let out = s3.get_object().bucket(bucket).key(key).send().await.ok()?;
    let write = out.metadata().and_then(|m| m.get("write")).cloned();
    Some((out.body.collect().await.unwrap().to_vec(), write))
}

/// Every destination key's current state equals the source's; no replica is of a replica.
/// Returns how many destination versions each source version has.
async fn assert_converged(s3: &Client, src: &str, dst: &str) -> HashMap<String, usize> {
    for k in 0..KEYS {
        let key = format!("key-{k:02}");
        assert_eq!(
            current(s3, dst, &key).await,
            current(s3, src, &key).await,
            "{key} diverged"
        );
    }
    let source_versions: Vec<String> = s3
        .list_object_versions()
        .bucket(src)
        .send()
        .await
        .unwrap()
        .versions()
        .iter()
        .filter_map(|v| v.version_id().map(str::to_owned))
        .collect();
    let listing = s3.list_object_versions().bucket(dst).send().await.unwrap();
    assert!(
        !listing.is_truncated().unwrap_or(false),
        "listing fits one page"
    );
    let mut copies: HashMap<String, usize> = HashMap::new();
    for v in listing.versions() {
        let head = s3
            .head_object()
            .bucket(dst)
            .key(v.key().unwrap())
            .version_id(v.version_id().unwrap())
            .send()
            .await
            .unwrap();
        let of = head
            .metadata()
            .and_then(|m| m.get(MARKER))
            .cloned()
            .expect("every destination object is a replica");
        assert!(
            source_versions.contains(&of),
            "replica of {of}, which is not a source original"
        );
        *copies.entry(of).or_default() += 1;
    }
    copies
}

#[tokio::test]
async fn shuffled_duplicated_concurrent_events_converge_every_key() {
    let s3 = client();
    let src = versioned_bucket(&s3, "conv-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "conv-dst", "eu-west-1").await;
    let mut rng = Rng(0x5EED_0FC0_FFEE);
    let mut records = Vec::new();
    for n in 0..OPERATIONS {
        records.push(write(&s3, &src, &mut rng, n).await);
    }
    // 20 % delivered twice, then everything shuffled (Fisher-Yates).
    let duplicates: Vec<Value> = records
        .iter()
        .filter(|_| rng.below(5) == 0)
        .cloned()
        .collect();
    records.extend(duplicates);
    for i in (1..records.len()).rev() {
        let j = rng.below(i + 1);
        records.swap(i, j);
    }
    // Events of 1 to 4 records, dealt to 4 concurrent invocations (separate instances, as Lambda
    // runs them in separate containers).
    let mut events: Vec<Value> = Vec::new();
    let mut rest = records.as_slice();
    while !rest.is_empty() {
        let take = (1 + rng.below(4)).min(rest.len());
        events.push(event_of(rest[..take].to_vec()));
        rest = &rest[take..];
    }
    let cfg = config(&dst);
    let mut workers = Vec::new();
    for w in 0..4 {
        let mine: Vec<Value> = events.iter().skip(w).step_by(4).cloned().collect();
        let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &cfg)]);
        workers.push(async move {
            for event in mine {
                // A failed invocation is retried by Lambda: do the same, up to its two retries.
                let mut attempt = 0;
                while let Err(e) = handle(&replicator, event.clone()).await {
                    attempt += 1;
                    assert!(
                        attempt <= 2,
                        "invocation failed after Lambda's retries: {e}"
                    );
                }
            }
        });
    }
    // The four invocations run at once: their S3 requests interleave on the server.
    futures::future::join_all(workers).await;
    assert_converged(&s3, &src, &dst).await;
}

#[tokio::test]
async fn in_order_delivery_copies_no_version_twice() {
    let s3 = client();
    let src = versioned_bucket(&s3, "order-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "order-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let mut rng = Rng(0xC0DE_0F0D_DE12);
    // Each event arrives right after its write, as S3 delivers when nothing is late.
    for n in 0..OPERATIONS {
        let record = write(&s3, &src, &mut rng, n).await;
        handle(&replicator, event_of(vec![record])).await.unwrap();
    }
    let copies = assert_converged(&s3, &src, &dst).await;
    let twice: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "copied more than once: {twice:?}");
}

/// Every destination version and delete marker, as (key, version id) pairs.
async fn destination_history(s3: &Client, dst: &str) -> Vec<(String, String)> {
    let listing = s3.list_object_versions().bucket(dst).send().await.unwrap();
    let mut all: Vec<(String, String)> = listing
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_owned(),
                v.version_id().unwrap().to_owned(),
            )
        })
        .chain(listing.delete_markers().iter().map(|m| {
            (
                m.key().unwrap().to_owned(),
                m.version_id().unwrap().to_owned(),
            )
        }))
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn every_event_delivered_again_copies_nothing() {
    let s3 = client();
    let src = versioned_bucket(&s3, "again-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "again-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let mut rng = Rng(0xA6A1_0000_D00D);
    let mut records = Vec::new();
    for n in 0..OPERATIONS {
        records.push(write(&s3, &src, &mut rng, n).await);
    }
    // Delivered once, shuffled, in events of 1 to 4 records.
    let deliver = |mut records: Vec<Value>, mut rng: Rng| {
        let replicator = &replicator;
        async move {
            for i in (1..records.len()).rev() {
                let j = rng.below(i + 1);
                records.swap(i, j);
            }
            let mut written = 0;
            let mut rest = records.as_slice();
            while !rest.is_empty() {
                let take = (1 + rng.below(4)).min(rest.len());
                let summary = handle(replicator, event_of(rest[..take].to_vec()))
                    .await
                    .unwrap();
                written += summary.replicated + summary.synced;
                rest = &rest[take..];
            }
            written
        }
    };
    assert!(deliver(records.clone(), Rng(1)).await > 0);
    assert_converged(&s3, &src, &dst).await;
    let before = destination_history(&s3, &dst).await;

    // Every event again, in another order: nothing is written.
    assert_eq!(deliver(records, Rng(2)).await, 0, "a redelivery wrote");
    assert_eq!(destination_history(&s3, &dst).await, before);
    assert_converged(&s3, &src, &dst).await;
}

#[tokio::test]
async fn lagged_delivery_adds_no_version_under_the_current_replica() {
    let s3 = client();
    let src = versioned_bucket(&s3, "lag-src", "us-east-1").await;
    let dst = versioned_bucket(&s3, "lag-dst", "eu-west-1").await;
    let replicator = replicator(&server().endpoint, &[("REPLICATION_CONFIG", &config(&dst))]);
    let mut records = Vec::new();
    for n in 0..5 {
        let p = put(&s3, &src, "k", format!("v{n}").as_bytes()).await;
        records.push(record(
            "ObjectCreated:Put",
            &src,
            "k",
            p.version_id.as_deref(),
            Some(&p.etag),
            &format!("0062E99A88DC{n:04X}"),
        ));
    }
    // Newest first, one invocation each: every event but the first is late.
    for record in records.iter().rev() {
        handle(&replicator, event_of(vec![record.clone()]))
            .await
            .unwrap();
    }
    assert_eq!(body_of(&s3, &dst, "k", None).await, b"v4");
    // v4 alone: each late event's version would land on top of v4's replica, and only a second
    // copy of v4 could restore it (one replica a version, as S3 keeps).
    assert_eq!(version_count(&s3, &dst, "k").await, 1);
}

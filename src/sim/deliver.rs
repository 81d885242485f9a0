//! Delivery: each event at least once, in any order, some late and some twice; as S3
//! notifications invoking the function directly, or as SQS batches (several events of one key
//! in one batch included); two invocations at once on one key; an invocation stopped part-way
//! by a failure and retried.

use serde_json::{json, Value};

use crate::handler::{handle_until, respond};

use super::world::{Pending, World};

/// An event is given up on (and reported) after this many failed deliveries in a row.
const GIVE_UP: u32 = 8;

const TEMPLATE: &str = include_str!("../../events/object-created-put.json");

/// The S3 notification record for a notice.
fn record(p: &Pending) -> Value {
    let n = &p.notice;
    let template: Value = serde_json::from_str(TEMPLATE).expect("the fixture is JSON");
    let mut r = template["Records"][0].clone();
    r["eventName"] = n.event_name.into();
    let time = aws_smithy_types::DateTime::from_millis(n.time_ms)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default();
    r["eventTime"] = time.into();
    r["s3"]["bucket"]["name"] = n.bucket.as_str().into();
    r["s3"]["bucket"]["arn"] = format!("arn:aws:s3:::{}", n.bucket).into();
    let key: String = form_urlencoded::byte_serialize(n.key.as_bytes()).collect();
    let mut object = json!({"key": key, "sequencer": n.sequencer});
    if n.event_name.starts_with("ObjectCreated:") {
        object["size"] = n.size.into();
        if let Some(etag) = &n.etag {
            object["eTag"] = etag.as_str().into();
        }
    }
    if let Some(v) = &n.version_id {
        object["versionId"] = v.as_str().into();
    }
    r["s3"]["object"] = object;
    r
}

/// An SQS batch of one notification per message: (payload, message ids in order).
fn sqs(events: &[Pending]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "messageId": format!("m{}-{i}", p.id),
                "receiptHandle": "AQEB",
                "body": json!({"Records": [record(p)]}).to_string(),
                "attributes": {"ApproximateReceiveCount": (p.failures + 1).to_string()},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3-replicator-events",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What an invocation asked to be delivered again, with why.
type Retry = (Vec<Pending>, String);

impl World {
    /// Picks a batch of one function's pending events: (function, batch), or `None` when
    /// nothing is pending.
    fn take_batch(&mut self) -> Option<(usize, Vec<Pending>)> {
        if self.pending.is_empty() {
            return None;
        }
        let first = self.rng.below(self.pending.len());
        let function = self.function_of(&self.pending[first].notice.bucket)?;
        let size = 1 + self.rng.below(4);
        let mut batch = vec![self.pending.remove(first)];
        while batch.len() < size {
            let same: Vec<usize> = (0..self.pending.len())
                .filter(|&i| self.function_of(&self.pending[i].notice.bucket) == Some(function))
                .collect();
            if same.is_empty() {
                break;
            }
            let i = *self.rng.pick(&same);
            batch.push(self.pending.remove(i));
        }
        // At least once: some events are delivered again later, some twice in one batch.
        for p in batch.clone() {
            if self.rng.chance(6) {
                self.pending.push(p.clone());
            }
            if self.rng.chance(10) {
                batch.push(p);
            }
        }
        Some((function, batch))
    }

    /// One delivery step: one invocation, or two at once on a key they share.
    pub async fn deliver_step(&mut self) {
        let Some((f, batch)) = self.take_batch() else {
            return;
        };
        let sqs_shape = self.rng.chance(2);
        if self.rng.chance(7) {
            let op = *self.rng.pick(&[
                "CopyObject",
                "UploadPartCopy",
                "CompleteMultipartUpload",
                "PutObject",
            ]);
            let skip = self.rng.below(2) as u32;
            self.s3.fail_later(op, skip);
            self.log
                .push(format!("      fault: the {}th {op} fails", skip + 1));
        }
        let twin = match self.rng.chance(5) && self.twins {
            true => Some(batch.clone()),
            false => None,
        };
        let retries = match twin {
            None => vec![self.invoke(f, batch, sqs_shape).await],
            Some(twin) => {
                let (a, b) = futures::join!(
                    invoke(self, f, batch, sqs_shape, "A"),
                    invoke(self, f, twin, !sqs_shape, "B")
                );
                vec![a, b]
            }
        };
        self.s3.disarm();
        let notes = std::mem::take(&mut *self.notes.borrow_mut());
        self.log.extend(notes);
        for (events, why) in retries.into_iter().flatten() {
            self.retry(events, &why);
        }
        self.collect_notices();
    }

    async fn invoke(&self, f: usize, batch: Vec<Pending>, sqs_shape: bool) -> Option<Retry> {
        invoke(self, f, batch, sqs_shape, "").await
    }

    fn retry(&mut self, events: Vec<Pending>, why: &str) {
        for mut p in events {
            p.failures += 1;
            if p.failures >= GIVE_UP {
                self.problems
                    .push(format!("e{} fails on every delivery: {why}", p.id));
                continue;
            }
            if !self.pending.iter().any(|q| q.id == p.id) {
                self.pending.push(p);
            }
        }
    }

    /// Delivers until nothing is pending.
    pub async fn drain(&mut self) {
        let mut rounds = 0;
        while !self.pending.is_empty() && rounds < 10_000 {
            self.deliver_step().await;
            rounds += 1;
        }
    }

    /// Every event ever sent, once more, in an order the generator picks.
    pub async fn redeliver_all(&mut self) {
        let mut all: Vec<Pending> = self.sent.clone();
        for p in &mut all {
            p.failures = 0;
        }
        self.rng.shuffle(&mut all);
        self.log
            .push(format!("final redelivery of {} events", all.len()));
        self.pending = all;
        self.drain().await;
    }
}

/// One invocation of function `f` with `batch` (logged): what must be delivered again.
async fn invoke(
    world: &World,
    f: usize,
    batch: Vec<Pending>,
    sqs_shape: bool,
    label: &str,
) -> Option<Retry> {
    let replicator = &world.replicators[f];
    let ids: Vec<String> = batch.iter().map(|p| format!("e{}", p.id)).collect();
    let shape = if sqs_shape { "sqs" } else { "s3" };
    let head = format!("      deliver{label} [{}] as {shape}", ids.join(" "));
    let line = if sqs_shape {
        match respond(replicator, sqs(&batch), None).await {
            Ok(answer) => {
                let failed: Vec<String> = answer["batchItemFailures"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|i| i["itemIdentifier"].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let back: Vec<Pending> = batch
                    .iter()
                    .enumerate()
                    .filter(|(i, p)| failed.contains(&format!("m{}-{i}", p.id)))
                    .map(|(_, p)| p.clone())
                    .collect();
                if back.is_empty() {
                    world.note(format!("{head}: ok"));
                    return None;
                }
                world.note(format!("{head}: {} messages back to the queue", back.len()));
                return Some((back, "batch item failure".into()));
            }
            Err(e) => format!("{head}: failed: {e}"),
        }
    } else {
        match handle_until(
            replicator,
            json!({ "Records": batch.iter().map(record).collect::<Vec<_>>() }),
            None,
        )
        .await
        {
            Ok(summary) => {
                world.count(summary.replicated as u64);
                world.note(format!(
                    "{head}: replicated {} synced {} skipped {}",
                    summary.replicated, summary.synced, summary.skipped
                ));
                return None;
            }
            Err(e) => format!("{head}: failed: {e}"),
        }
    };
    world.note(line.clone());
    Some((batch, line))
}

impl World {
    /// Logs a line from a shared borrow (two invocations at once).
    fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }

    fn count(&self, replicated: u64) {
        *self.counted.borrow_mut() += replicated;
    }
}

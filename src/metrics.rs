//! Replication metrics, recorded through the `metrics` facade and written by the binary as
//! CloudWatch Embedded Metric Format documents on stdout (metrics_cloudwatch_embedded), where
//! Lambda's log pipeline turns them into CloudWatch metrics without an API call.
//!
//! Dimensions are bounded: source and destination bucket, and a failure code or skip reason,
//! never a key or a version id. Bucket values come from the configuration, not from payloads:
//! a source outside `SOURCE_BUCKETS` is counted as [`OTHER`] (destinations are the rules' own).
//! Without a recorder installed (tests, the command line), every call here is a no-op.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::SystemTime;

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

use crate::error::ReplicationError;
use crate::events::ObjectEvent;
use crate::replicate::{Done, SkipReason};

/// The namespace unless `METRICS_NAMESPACE` names another.
pub const NAMESPACE: &str = "S3Replicator";

/// Event time to replica written, in milliseconds.
pub const REPLICATION_LATENCY: &str = "ReplicationLatency";
/// Replicas written.
pub const OPERATIONS_REPLICATED: &str = "OperationsReplicated";
/// Bytes of the replicas written.
pub const BYTES_REPLICATED: &str = "BytesReplicated";
/// Records (per destination) that failed; also per `FailureCode`.
pub const OPERATIONS_FAILED: &str = "OperationsFailedReplication";
/// Records (per destination) deliberately not replicated, per `Reason`.
pub const OPERATIONS_SKIPPED: &str = "OperationsSkipped";
/// S3 requests made for the records of a source bucket.
pub const S3_REQUESTS: &str = "S3Requests";
/// S3 Batch Operations tasks answered, per `ResultCode`.
pub const BATCH_TASKS: &str = "BatchTasks";
/// Multipart copies that gave up the source's part layout for one of their own (a source part
/// too slow to copy within one invocation): replicas without the source's ETag.
pub const LAYOUT_SWITCHED: &str = "MultipartLayoutSwitched";

/// Latency samples between flushes: the EMF writer keeps at most 100 values of a histogram
/// until it is flushed and drops the rest silently, so the function flushes before that.
pub const SAMPLES_PER_FLUSH: usize = 90;

/// The `SourceBucket` of a bucket outside `SOURCE_BUCKETS` (a forged event's, a manifest's).
pub const OTHER: &str = "other";

static SOURCES: OnceLock<Vec<String>> = OnceLock::new();

/// Sets the source buckets a `SourceBucket` value may name (`SOURCE_BUCKETS`); called once.
/// Empty: any bucket is a source, and its name is the value.
pub fn set_sources(buckets: &[String]) {
    let _ = SOURCES.set(buckets.to_vec());
}

/// The `SourceBucket` value of `bucket`: whoever sends an event or writes a manifest names any
/// bucket they like, and each new value would be a new custom metric.
fn source_value(bucket: &str) -> String {
    match SOURCES.get() {
        Some(allowed) if bucket != "none" && !allowed.is_empty() => {
            match allowed.iter().any(|b| b == bucket) {
                true => bucket.to_owned(),
                false => OTHER.to_owned(),
            }
        }
        _ => bucket.to_owned(),
    }
}

static UNFLUSHED: AtomicUsize = AtomicUsize::new(0);
static FLUSH: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Sets how the recorded metrics are written out (the binary's EMF writer); called once.
pub fn set_flush(flush: impl Fn() + Send + Sync + 'static) {
    let _ = FLUSH.set(Box::new(flush));
}

/// Writes out what was recorded (at the end of an invocation, before its deadline, and
/// whenever the samples could otherwise overflow).
pub fn flush() {
    UNFLUSHED.store(0, Ordering::SeqCst);
    if let Some(flush) = FLUSH.get() {
        flush();
    }
}

fn latency_sample(labels: &[(&'static str, String); 2], ms: f64) {
    histogram!(REPLICATION_LATENCY, labels).record(ms);
    // Across destinations too: what the latency alarm watches.
    histogram!(REPLICATION_LATENCY, "SourceBucket" => labels[0].1.clone()).record(ms);
    if UNFLUSHED.fetch_add(1, Ordering::SeqCst) + 1 >= SAMPLES_PER_FLUSH {
        flush();
    }
}

/// Every metric the function emits, with its unit (the dashboard may reference only these).
pub const ALL: [(&str, &str); 8] = [
    (REPLICATION_LATENCY, "Milliseconds"),
    (OPERATIONS_REPLICATED, "Count"),
    (BYTES_REPLICATED, "Bytes"),
    (OPERATIONS_FAILED, "Count"),
    (OPERATIONS_SKIPPED, "Count"),
    (S3_REQUESTS, "Count"),
    (BATCH_TASKS, "Count"),
    (LAYOUT_SWITCHED, "Count"),
];

const PAIR: &[&str] = &["SourceBucket", "DestinationBucket"];

/// Every metric with each dimension set the function emits it with: all that an alarm, a widget
/// or a query may name (the template's alarms are checked against this list, and this list
/// against what the code records).
pub const DIMENSION_SETS: &[(&str, &[&str])] = &[
    (REPLICATION_LATENCY, PAIR),
    // Across destinations: what the latency alarm watches.
    (REPLICATION_LATENCY, &["SourceBucket"]),
    (OPERATIONS_REPLICATED, PAIR),
    (BYTES_REPLICATED, PAIR),
    // Across destinations and codes: what the failure alarm watches.
    (OPERATIONS_FAILED, &["SourceBucket"]),
    (OPERATIONS_FAILED, PAIR),
    (
        OPERATIONS_FAILED,
        &["SourceBucket", "DestinationBucket", "FailureCode"],
    ),
    (
        OPERATIONS_SKIPPED,
        &["SourceBucket", "DestinationBucket", "Reason"],
    ),
    (S3_REQUESTS, &["SourceBucket"]),
    (BATCH_TASKS, &["SourceBucket", "ResultCode"]),
    (LAYOUT_SWITCHED, &["DestinationBucket"]),
];

/// Gives each metric its unit; called once after the recorder is installed.
pub fn describe() {
    describe_histogram!(
        REPLICATION_LATENCY,
        Unit::Milliseconds,
        "event time to replica written"
    );
    describe_counter!(OPERATIONS_REPLICATED, Unit::Count, "replicas written");
    describe_counter!(BYTES_REPLICATED, Unit::Bytes, "bytes of replicas written");
    describe_counter!(OPERATIONS_FAILED, Unit::Count, "failed records");
    describe_counter!(OPERATIONS_SKIPPED, Unit::Count, "records not replicated");
    describe_counter!(S3_REQUESTS, Unit::Count, "S3 requests");
    describe_counter!(BATCH_TASKS, Unit::Count, "Batch Operations tasks answered");
    describe_counter!(
        LAYOUT_SWITCHED,
        Unit::Count,
        "multipart copies switched to a part layout of their own"
    );
}

/// Records one outcome of an event at a destination (`None`: the record as a whole): the one
/// place a skip or a failure is counted, whatever the trigger. Replicas are counted by
/// [`landed`], from the run's ledger, whatever wrote them (the event's copy, convergence's, a
/// Batch Operations task's). A latency sample runs from the event's time (for convergence's
/// copy, from its source version's write) and is taken only for events: a tool's task has no
/// event time, and the age of the objects a backfill copies is no replication lag.
pub fn outcome(
    event: &ObjectEvent,
    destination: Option<&str>,
    result: &Result<Done, ReplicationError>,
) {
    let source = source_value(&event.bucket);
    let destination = destination.unwrap_or("none").to_owned();
    let labels = [
        ("SourceBucket", source.clone()),
        ("DestinationBucket", destination.clone()),
    ];
    match result {
        // Each replica is counted where it landed, from the run's ledger ([`landed`]): also
        // when the work is cut short, or a check after the write fails.
        Ok(Done::Replicated(_) | Done::Converged { .. }) => {}
        Ok(Done::Synced { .. }) => {}
        Ok(Done::Skipped(reason)) => {
            let [source, destination] = labels;
            let labels = [
                source,
                destination,
                ("Reason", reason_name(reason).to_owned()),
            ];
            counter!(OPERATIONS_SKIPPED, &labels).increment(1);
        }
        Err(e) => failure(&source, &destination, e.code()),
    }
}

/// A replica that landed, as the run's ledger noted it the moment the write returned (whatever
/// happened after: a check that failed, the deadline): counted once, with its bytes (the
/// source version's size) and, for events, a latency sample to when it landed.
pub fn landed(event: &ObjectEvent, landed: &crate::run::Landed) {
    let now = landed.at;
    let labels = [
        ("SourceBucket", source_value(&event.bucket)),
        ("DestinationBucket", landed.destination.clone()),
    ];
    let latency = match landed.by_convergence {
        true => converged_latency(event, landed.source_modified, now),
        false => latency_ms(event.event_time.as_deref(), now),
    };
    replica(&labels, landed.bytes, latency);
}

/// The latency of convergence's copy: from its source version's write, for events only.
fn converged_latency(
    event: &ObjectEvent,
    source_modified: Option<aws_smithy_types::DateTime>,
    now: SystemTime,
) -> Option<f64> {
    let written_at = source_modified
        .and_then(|at| SystemTime::try_from(at).ok())
        .filter(|_| event.event_time.is_some())?;
    Some(
        now.duration_since(written_at)
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0,
    )
}

/// One replica written: counted, its bytes, and its latency sample when it has one.
fn replica(labels: &[(&'static str, String); 2], bytes: u64, latency_ms: Option<f64>) {
    counter!(OPERATIONS_REPLICATED, labels).increment(1);
    counter!(BYTES_REPLICATED, labels).increment(bytes);
    if let Some(ms) = latency_ms {
        latency_sample(labels, ms);
    }
}

/// Records one failure: of a record at a destination, of a record that could not be read
/// (`source` and `destination` "none"), of a Batch Operations task.
pub fn failure(source: &str, destination: &str, code: &str) {
    let source = &source_value(source);
    counter!(OPERATIONS_FAILED, "SourceBucket" => source.to_owned()).increment(1);
    let labels = [
        ("SourceBucket", source.to_owned()),
        ("DestinationBucket", destination.to_owned()),
    ];
    counter!(OPERATIONS_FAILED, &labels).increment(1);
    let by_code = [
        ("SourceBucket", source.to_owned()),
        ("DestinationBucket", destination.to_owned()),
        ("FailureCode", code.to_owned()),
    ];
    counter!(OPERATIONS_FAILED, &by_code).increment(1);
}

/// Records one answered Batch Operations task (its replicas and failures are counted as
/// every outcome is, by [`outcome`] and [`failure`]).
pub fn batch_task(source: &str, result_code: &str) {
    counter!(BATCH_TASKS, "SourceBucket" => source_value(source), "ResultCode" => result_code.to_owned())
        .increment(1);
}

/// Records one multipart copy to `destination` (a bucket of the rules') switched to a part layout
/// of its own.
pub fn layout_switched(destination: &str) {
    counter!(LAYOUT_SWITCHED, "DestinationBucket" => destination.to_owned()).increment(1);
}

/// Records the S3 requests one record's work made.
pub fn requests(source_bucket: &str, n: u32) {
    counter!(S3_REQUESTS, "SourceBucket" => source_value(source_bucket)).increment(u64::from(n));
}

/// Milliseconds from an event's `eventTime` to `now` (never negative).
pub fn latency_ms(event_time: Option<&str>, now: SystemTime) -> Option<f64> {
    let at = crate::events::parse_event_time(event_time?)?;
    let at = SystemTime::try_from(at).ok()?;
    Some(now.duration_since(at).unwrap_or_default().as_secs_f64() * 1000.0)
}

/// A skip reason as a bounded dimension value.
pub fn reason_name(reason: &SkipReason) -> &'static str {
    match reason {
        SkipReason::VersionGone => "VersionGone",
        SkipReason::SourceChanged => "SourceChanged",
        SkipReason::IsReplica => "IsReplica",
        SkipReason::Archived(_) | SkipReason::ArchivedVersion(_) => "Archived",
        SkipReason::CustomerEncrypted => "CustomerEncrypted",
        SkipReason::NoMatchingRule => "NoMatchingRule",
        SkipReason::KmsNotSelected => "KmsNotSelected",
        SkipReason::AlreadyReplicated => "AlreadyReplicated",
        SkipReason::NewerInDestination => "NewerInDestination",
        SkipReason::DeleteMarkerNotSelected => "DeleteMarkerNotSelected",
        SkipReason::VersionDeletesOff => "VersionDeletesOff",
        SkipReason::NoReplica => "NoReplica",
        SkipReason::AclNotReplicated => "AclNotReplicated",
        SkipReason::LaterEventSettles => "LaterEventSettles",
        SkipReason::InHistory => "InHistory",
        SkipReason::SourceVersionExists => "SourceVersionExists",
        SkipReason::DestinationChanged => "DestinationChanged",
        SkipReason::Superseded => "Superseded",
        SkipReason::SourceMovedOn => "SourceMovedOn",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// A metric's name and label names.
    type Registered = BTreeSet<(String, Vec<String>)>;

    /// Keeps the name and label names of every metric registered.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Registered>>);

    impl Seen {
        fn keep(&self, key: &metrics::Key) {
            let labels = key.labels().map(|l| l.key().to_owned()).collect();
            let name = key.name().to_owned();
            self.0.lock().unwrap().insert((name, labels));
        }
    }

    impl metrics::Recorder for Seen {
        fn describe_counter(&self, _: metrics::KeyName, _: Option<Unit>, _: metrics::SharedString) {
        }
        fn describe_gauge(&self, _: metrics::KeyName, _: Option<Unit>, _: metrics::SharedString) {}
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.keep(key);
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.keep(key);
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.keep(key);
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn dimension_sets_are_exactly_what_the_function_records() {
        let seen = Seen::default();
        let event = ObjectEvent {
            kind: crate::events::EventKind::Created,
            index: 0,
            event_name: "ObjectCreated:Put".to_owned(),
            region: None,
            bucket: "src".to_owned(),
            key: "k".to_owned(),
            version_id: Some("v".to_owned()),
            null_version: false,
            etag: None,
            sequencer: None,
            event_time: Some("2026-11-30T00:00:00.000Z".to_owned()),
            size: Some(1),
        };
        let written = crate::store::Written {
            etag: "\"e\"".to_owned(),
            version_id: None,
        };
        let replica = crate::run::Landed {
            destination: "dst".to_owned(),
            bytes: 1,
            by_convergence: false,
            source_modified: None,
            at: SystemTime::now(),
        };
        metrics::with_local_recorder(&seen, || {
            landed(&event, &replica);
            for result in [
                Ok(Done::Replicated(written.clone())),
                Ok(Done::Synced { writes: 1 }),
                Ok(Done::Skipped(SkipReason::NoMatchingRule)),
                Err(ReplicationError::DeadlineReached),
            ] {
                outcome(&event, Some("dst"), &result);
            }
            failure("none", "none", "InvalidRecord");
            batch_task("src", "Succeeded");
            requests("src", 3);
            layout_switched("dst");
        });
        let recorded = seen.0.lock().unwrap().clone();
        let listed: Registered = DIMENSION_SETS
            .iter()
            .map(|(name, dims)| {
                (
                    name.to_string(),
                    dims.iter().map(|d| d.to_string()).collect(),
                )
            })
            .collect();
        assert_eq!(recorded, listed);
        let named: BTreeSet<&str> = DIMENSION_SETS.iter().map(|(n, _)| *n).collect();
        assert_eq!(named, ALL.iter().map(|(n, _)| *n).collect());
    }

    #[test]
    fn latency_runs_from_the_event_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_996_800);
        let ms = latency_ms(
            Some("2026-11-30T00:00:00.000Z"),
            at + Duration::from_millis(1500),
        );
        assert_eq!(ms, Some(1500.0));
        // A clock behind the event's is no negative latency.
        assert_eq!(latency_ms(Some("2026-11-30T00:00:00.000Z"), at), Some(0.0));
        assert_eq!(latency_ms(Some("yesterday"), at), None);
    }
}

//! Point-in-time restore: each key of a bucket brought back to how it was at a time T, from the
//! bucket's own version history or from a replica's (each replica taken at its original write
//! time), copied back server-side with full fidelity as the key's new current version. History
//! is never deleted: a key newer than T can be hidden under a delete marker, nothing more.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::{self, StreamExt};

use crate::backfill::Progress;
use crate::error::{Disposition, ReplicationError, Side};
use crate::replicate::{CopiedBack, Replicator};
use crate::run::Run;
use crate::store::{
    without_replica_entries, Current, DestinationStore, Past, ReplicaLocation, SourceStore,
    SourceVersion, VersionRef, WriteCondition, REPLICA_MARKER, REPLICA_ORIGIN_TIME,
    REPLICA_SOURCE_BUCKET,
};

/// Keys restored at once unless `--concurrency` says otherwise.
pub const CONCURRENCY: u16 = 16;

/// What to restore.
#[derive(Debug, Clone)]
pub struct Options {
    /// The bucket to bring back.
    pub bucket: String,
    /// Only keys under this prefix.
    pub prefix: String,
    /// T, in milliseconds since the epoch.
    pub as_of: i64,
    /// Take the history from this replica bucket instead of the bucket's own.
    pub from: Option<String>,
    /// Hide keys that did not exist at T under a delete marker.
    pub delete_newer: bool,
    /// Write nothing; say what would be done.
    pub dry_run: bool,
    /// Keys worked on at once.
    pub concurrency: u16,
}

/// What was done with one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Its version of T was copied back as the current one (or would be, in a dry run).
    Restored,
    /// It already was as of T.
    AlreadyAsOf,
    /// It did not exist at T and got a delete marker (`--delete-newer`).
    Deleted,
    /// It did not exist at T and was left alone.
    Newer,
    /// Deliberately not restored (the reason says why).
    Skipped,
    /// It could not be restored.
    Failed,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Restored => "restored",
            Action::AlreadyAsOf => "already",
            Action::Deleted => "deleted",
            Action::Newer => "newer",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        })
    }
}

/// One key's outcome (a row of `--report`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The key.
    pub key: String,
    /// What was done.
    pub action: Action,
    /// The version brought back (of the bucket the history came from).
    pub version: Option<String>,
    /// Why, in words.
    pub reason: String,
    /// Bytes copied (or to copy).
    pub bytes: u64,
}

/// The counts of a run, and what it cost or would cost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Keys restored.
    pub restored: u64,
    /// Keys already as of T.
    pub already: u64,
    /// Keys hidden under a delete marker.
    pub deleted: u64,
    /// Keys newer than T, left alone.
    pub newer: u64,
    /// Keys skipped.
    pub skipped: u64,
    /// Keys that failed.
    pub failed: u64,
    /// Keys not started (stopped by Ctrl-C).
    pub not_started: u64,
    /// Bytes copied (or to copy).
    pub bytes: u64,
    /// S3 requests of the PUT, COPY, POST and LIST class (or, in a dry run, to be made).
    pub put_class: u64,
    /// S3 requests of the GET class (GET, HEAD and the other reads).
    pub get_class: u64,
}

/// US East (N. Virginia), S3 Standard, December 2026: PUT, COPY, POST and LIST requests per
/// 1,000 (README states the prices assumed).
pub const PUT_CLASS_PER_1000: f64 = 0.005;
/// GET and all other requests per 1,000.
pub const GET_CLASS_PER_1000: f64 = 0.0004;

/// The PUT-class requests a server-side copy of `size` bytes makes: one CopyObject, or an
/// upload in parts (create, the parts, complete).
pub fn copy_requests(size: u64, settings: &crate::copy::CopySettings) -> u64 {
    match size > settings.threshold {
        true => 2 + size.div_ceil(settings.part_size.max(1)),
        false => 1,
    }
}

/// A dry run's second line: the bytes to copy and the estimated request cost.
pub fn cost_line(verb: &str, bytes: u64, put_class: u64, get_class: u64) -> String {
    let cost = put_class as f64 * PUT_CLASS_PER_1000 / 1000.0
        + get_class as f64 * GET_CLASS_PER_1000 / 1000.0;
    format!(
        "{verb} (dry run): {} to copy; about {put_class} PUT/COPY/LIST and {get_class} GET/HEAD requests, ${cost:.4} at ${PUT_CLASS_PER_1000} and ${GET_CLASS_PER_1000} per 1,000",
        indicatif::HumanBytes(bytes)
    )
}

impl Tally {
    fn add(&mut self, row: &Row) {
        match row.action {
            Action::Restored => self.restored += 1,
            Action::AlreadyAsOf => self.already += 1,
            Action::Deleted => self.deleted += 1,
            Action::Newer => self.newer += 1,
            Action::Skipped => self.skipped += 1,
            Action::Failed => self.failed += 1,
        }
        self.bytes += row.bytes;
    }

    /// The closing line.
    pub fn summary(&self, dry_run: bool) -> String {
        let verb = match dry_run {
            true => "restore (dry run)",
            false => "restore",
        };
        let line = format!(
            "{verb}: {} restored, {} already as of T, {} deleted, {} newer, {} skipped, {} failed",
            self.restored, self.already, self.deleted, self.newer, self.skipped, self.failed
        );
        match self.not_started {
            0 => line,
            n => format!("{line}, {n} not started (stopped)"),
        }
    }
}

/// Why a restore could not start.
#[derive(Debug)]
pub enum RestoreError {
    /// The bucket's versioning is not Enabled: it has no history to restore from, and a copy
    /// would overwrite the only version.
    NotVersioned(String),
    /// Reading what is needed failed.
    Failed(ReplicationError),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::NotVersioned(bucket) => write!(
                f,
                "versioning is required: bucket {bucket} does not have versioning Enabled, so it keeps no history to restore from and a copy would overwrite its only version"
            ),
            RestoreError::Failed(e) => write!(f, "{}: {e}", e.code()),
        }
    }
}

impl From<ReplicationError> for RestoreError {
    fn from(e: ReplicationError) -> Self {
        RestoreError::Failed(e)
    }
}

/// A key's state: an object version (its id in the history's bucket, its ETag and size), or
/// nothing (absent, or a delete marker).
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    version_id: String,
    etag: String,
    size: u64,
}

/// Where the history comes from.
struct History<'a> {
    bucket: &'a str,
    region: String,
    /// A replica bucket: entries are taken at their original write time.
    replica: bool,
}

/// Brings every key under the prefix back to how it was at T; the counts and one row per key.
pub async fn restore<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<(Tally, Vec<Row>), RestoreError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let region = replicator.bucket_region(&options.bucket).await?;
    let source = replicator.source();
    if !source
        .versioning_enabled(&region, &options.bucket)
        .await
        .map_err(src)?
    {
        return Err(RestoreError::NotVersioned(options.bucket.clone()));
    }
    let own = by_key(
        source
            .history(&region, &options.bucket, &options.prefix)
            .await
            .map_err(src)?,
    );
    let mut tally = Tally {
        get_class: 2,
        put_class: 1,
        ..Tally::default()
    };
    let (history, theirs) = match &options.from {
        None => (
            History {
                bucket: &options.bucket,
                region: region.clone(),
                replica: false,
            },
            None,
        ),
        Some(from) => {
            let from_region = replicator.bucket_region(from).await?;
            let listed = source
                .history(&from_region, from, &options.prefix)
                .await
                .map_err(src)?;
            tally.get_class += 1;
            tally.put_class += 1;
            (
                History {
                    bucket: from,
                    region: from_region,
                    replica: true,
                },
                Some(by_key(listed)),
            )
        }
    };
    let history_of = theirs.as_ref().unwrap_or(&own);
    let mut keys: Vec<&String> = own.keys().chain(history_of.keys()).collect();
    keys.sort();
    keys.dedup();
    let empty = Vec::new();
    progress.planned(keys.len() as u64, 0);
    let runs = stream::iter(keys)
        .map(|key| {
            let now = own.get(key).unwrap_or(&empty);
            let past = history_of.get(key).unwrap_or(&empty);
            let (history, region) = (&history, &region);
            async move {
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                let mut requests = Requests::default();
                let row = one_key(
                    replicator,
                    options,
                    region,
                    history,
                    key,
                    now,
                    past,
                    &mut requests,
                )
                .await;
                progress.done(row.bytes);
                Some((row, requests))
            }
        })
        .buffer_unordered(usize::from(options.concurrency.max(1)))
        .collect::<Vec<_>>()
        .await;
    let mut rows: Vec<Row> = Vec::new();
    tally.not_started = runs.iter().filter(|r| r.is_none()).count() as u64;
    for (row, requests) in runs.into_iter().flatten() {
        tally.add(&row);
        tally.put_class += requests.put;
        tally.get_class += requests.get;
        rows.push(row);
    }
    // A listing page holds up to 1,000 entries.
    let entries: usize = own.values().map(Vec::len).sum::<usize>()
        + theirs
            .as_ref()
            .map_or(0, |t| t.values().map(Vec::len).sum::<usize>());
    tally.put_class += (entries / 1000) as u64;
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((tally, rows))
}

/// Requests one key made (or would make).
#[derive(Default)]
struct Requests {
    put: u64,
    get: u64,
}

/// Each key's history, newest first.
fn by_key(entries: Vec<Past>) -> BTreeMap<String, Vec<Past>> {
    let mut keys: BTreeMap<String, Vec<Past>> = BTreeMap::new();
    for e in entries {
        keys.entry(e.key.clone()).or_default().push(e);
    }
    keys
}

/// The key's state now: its current entry.
fn current(now: &[Past]) -> Option<State> {
    let latest = now.iter().find(|p| p.latest)?;
    (!latest.delete_marker).then(|| State {
        version_id: latest.version_id.clone(),
        etag: latest.etag.clone(),
        size: latest.size,
    })
}

#[allow(clippy::too_many_arguments)]
async fn one_key<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    options: &Options,
    region: &str,
    history: &History<'_>,
    key: &str,
    now: &[Past],
    past: &[Past],
    requests: &mut Requests,
) -> Row {
    let row = |action, version: Option<&str>, reason: String, bytes| Row {
        key: key.to_owned(),
        action,
        version: version.map(str::to_owned),
        reason,
        bytes,
    };
    let fail = |e: ReplicationError| row(Action::Failed, None, format!("{}: {e}", e.code()), 0);
    let then = match as_of(
        replicator,
        history,
        &options.bucket,
        key,
        past,
        options.as_of,
        requests,
    )
    .await
    {
        Ok(then) => then,
        Err(e) => return fail(e),
    };
    let current = current(now);
    let at = ReplicaLocation {
        bucket: options.bucket.clone(),
        key: key.to_owned(),
        region: region.to_owned(),
        expected_bucket_owner: None,
        endpoint: None,
    };
    let Some(then) = then else {
        return match (current, options.delete_newer) {
            (None, _) => row(Action::AlreadyAsOf, None, "absent at T and now".into(), 0),
            (Some(_), false) => row(
                Action::Newer,
                None,
                "did not exist at T; left alone (--delete-newer hides it)".into(),
                0,
            ),
            (Some(c), true) => {
                requests.put += 1;
                if options.dry_run {
                    return row(Action::Deleted, None, "did not exist at T".into(), 0);
                }
                // Only the object read: a write since the run began is never hidden.
                match still(replicator, &at, &c).await {
                    Ok(true) => {}
                    Ok(false) => return changed(key),
                    Err(e) => return fail(e),
                }
                match replicator.destination().put_delete_marker(&at).await {
                    Ok(_) => row(
                        Action::Deleted,
                        None,
                        "did not exist at T: hidden under a delete marker".into(),
                        0,
                    ),
                    Err(f) => fail(ReplicationError::classify(Side::Destination, f)),
                }
            }
        };
    };
    let version = Some(then.version_id.as_str());
    if let Some(c) = &current {
        let same_version = !history.replica && c.version_id == then.version_id;
        let same = same_version
            || (c.etag == then.etag
                && c.size == then.size
                && match same_object(
                    replicator,
                    history,
                    region,
                    &options.bucket,
                    key,
                    &then,
                    requests,
                )
                .await
                {
                    Ok(same) => same,
                    Err(e) => return fail(e),
                });
        if same {
            return row(Action::AlreadyAsOf, version, "as of T".into(), 0);
        }
    }
    // Copy: HEAD, tags, ACL of the version; one CopyObject (or an upload in parts).
    requests.get += 3;
    requests.put += copy_requests(then.size, &replicator.config().copy);
    let reason = match &current {
        None => "deleted since T",
        Some(_) => "changed since T",
    };
    if options.dry_run {
        return row(Action::Restored, version, reason.into(), then.size);
    }
    let from = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(then.version_id.clone()),
    };
    let run = Run::new(None).for_tool();
    let as_read = current.as_ref().map(|c| c.etag.as_str());
    match copy_back_onto(replicator, (&from, &history.region), &at, as_read, &run).await {
        Ok(Back::Written) => row(Action::Restored, version, reason.into(), then.size),
        Ok(Back::Skipped(why)) => row(Action::Skipped, version, why, 0),
        Ok(Back::Changed) => changed(key),
        Err(e) if e.disposition() == Disposition::SourceGone => row(
            Action::Skipped,
            version,
            "the version of T was deleted during the run".into(),
            0,
        ),
        Err(e) => fail(e),
    }
}

/// What copying a version back onto its key came to.
enum Back {
    /// Written, as the key's current version.
    Written,
    /// Deliberately not copied: why (archived, SSE-C).
    Skipped(String),
    /// The key was written since it was read: left as it is.
    Changed,
}

/// Copies `from` back as the key's current version at `at`, only while the key is as read
/// (its current object's ETag, or nothing there): a write made since is never replaced.
async fn copy_back_onto<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    (from, from_region): (&VersionRef, &str),
    at: &ReplicaLocation,
    as_read: Option<&str>,
    run: &Run,
) -> Result<Back, ReplicationError> {
    let condition = match as_read {
        Some(etag) => WriteCondition::IfMatch(etag.to_owned()),
        None => WriteCondition::IfNoneMatch,
    };
    match replicator
        .copy_back(from, from_region, at, Some(condition), run)
        .await
    {
        Ok(CopiedBack::Written(_)) => Ok(Back::Written),
        Ok(CopiedBack::Skipped(why)) => Ok(Back::Skipped(why.to_string())),
        Err(e) if e.is_precondition_failed() => Ok(Back::Changed),
        Err(e) => Err(e),
    }
}

/// A key written since the run began: never replaced.
fn changed(key: &str) -> Row {
    Row {
        key: key.to_owned(),
        action: Action::Skipped,
        version: None,
        reason: "written since the run began; left as it is".into(),
        bytes: 0,
    }
}

/// Whether the key still is the object `c` read at the start.
async fn still<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    at: &ReplicaLocation,
    c: &State,
) -> Result<bool, ReplicationError> {
    let now = replicator
        .destination()
        .replica_current(at)
        .await
        .map_err(|f| ReplicationError::classify(Side::Destination, f))?;
    Ok(matches!(now, Current::Object(o) if o.version_id.as_deref() == Some(c.version_id.as_str())))
}

/// The key's state at T in the history: its newest entry written at or before T (for a
/// replica, at its original write time), if that is an object version.
async fn as_of<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    bucket: &str,
    key: &str,
    past: &[Past],
    t: i64,
    requests: &mut Requests,
) -> Result<Option<State>, ReplicationError> {
    let state = |p: &Past| {
        (!p.delete_marker).then(|| State {
            version_id: p.version_id.clone(),
            etag: p.etag.clone(),
            size: p.size,
        })
    };
    if !history.replica {
        // Newest first: the first written at or before T (ties keep S3's listing order).
        let then = past.iter().find(|p| p.last_modified <= t);
        return Ok(then.and_then(state));
    }
    // A replica is written after its original, so its own time bounds the original's: read
    // newest first, and stop once no older entry can have been written later than the best.
    let mut best: Option<(i64, &Past)> = None;
    let mut entries: Vec<&Past> = past.iter().collect();
    entries.sort_by_key(|p| std::cmp::Reverse(p.last_modified));
    for p in entries {
        if best.is_some_and(|(at, _)| p.last_modified < at) {
            break;
        }
        let written = match p.delete_marker {
            true => Some(p.last_modified),
            false => {
                requests.get += 1;
                original_time(replicator, history, bucket, key, p).await?
            }
        };
        let Some(written) = written else { continue };
        if written <= t && best.is_none_or(|(at, _)| written > at) {
            best = Some((written, p));
        }
    }
    Ok(best.and_then(|(_, p)| state(p)))
}

/// When the replica version `p` was originally written: its `replica-original-time`, or its own
/// time for an object written there; `None` for a replica of another bucket's object.
async fn original_time<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    bucket: &str,
    key: &str,
    p: &Past,
) -> Result<Option<i64>, ReplicationError> {
    let head = head_of(replicator, history, key, &p.version_id).await?;
    let Some(head) = head else { return Ok(None) };
    if !head.metadata.contains_key(REPLICA_MARKER) {
        return Ok(Some(p.last_modified));
    }
    if head
        .metadata
        .get(REPLICA_SOURCE_BUCKET)
        .is_some_and(|from| from != bucket)
    {
        return Ok(None);
    }
    Ok(Some(
        head.metadata
            .get(REPLICA_ORIGIN_TIME)
            .and_then(|t| t.parse().ok())
            .unwrap_or(p.last_modified),
    ))
}

async fn head_of<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    key: &str,
    version_id: &str,
) -> Result<Option<SourceVersion>, ReplicationError> {
    let version = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(version_id.to_owned()),
    };
    match replicator
        .source()
        .head_version(&history.region, &version, None)
        .await
    {
        Ok(head) => Ok(Some(head)),
        Err(f) => {
            let e = ReplicationError::classify(Side::Source, f);
            match e.disposition() {
                Disposition::SourceGone => Ok(None),
                _ => Err(e),
            }
        }
    }
}

/// Whether the key's current object already is the version of T in everything a restore
/// would write: bytes (ETag and size, checked by the caller), content headers, user metadata
/// (our own entries aside) and tags.
async fn same_object<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    history: &History<'_>,
    region: &str,
    bucket: &str,
    key: &str,
    then: &State,
    requests: &mut Requests,
) -> Result<bool, ReplicationError> {
    requests.get += 6;
    let now = VersionRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: None,
    };
    let then_ref = VersionRef {
        bucket: history.bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(then.version_id.clone()),
    };
    same_as(replicator, (region, &now), (&history.region, &then_ref)).await
}

/// Whether two versions (each with its region) hold the same content headers, user metadata
/// (our own entries aside), storage class, tags and ACL grants: what a copy back would write.
async fn same_as<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    (region_a, a): (&str, &VersionRef),
    (region_b, b): (&str, &VersionRef),
) -> Result<bool, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let source = replicator.source();
    let (head_a, head_b) = futures::join!(
        source.head_version(region_a, a, None),
        source.head_version(region_b, b, None)
    );
    let (head_a, head_b) = (head_a.map_err(src)?, head_b.map_err(src)?);
    let class = |h: &crate::store::SourceVersion| {
        h.storage_class
            .clone()
            .unwrap_or_else(|| "STANDARD".to_owned())
    };
    if head_a.content != head_b.content
        || without_replica_entries(&head_a.metadata) != without_replica_entries(&head_b.metadata)
        || class(&head_a) != class(&head_b)
    {
        return Ok(false);
    }
    let (tags_a, tags_b, acl_a, acl_b) = futures::join!(
        source.version_tags(region_a, a),
        source.version_tags(region_b, b),
        source.version_acl(region_a, a),
        source.version_acl(region_b, b)
    );
    let grants = |acl: crate::store::Acl| {
        let mut grants = acl.grants;
        grants.sort();
        grants
    };
    Ok(tags_a.map_err(src)? == tags_b.map_err(src)?
        && grants(acl_a.map_err(src)?) == grants(acl_b.map_err(src)?))
}

/// The versions a plan brings back, as an S3 Batch Operations CSV manifest: bucket (of the
/// history), URL-encoded key, version id; one row per key to restore.
pub fn write_manifest(
    path: &std::path::Path,
    bucket: &str,
    rows: &[Row],
) -> Result<(), csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .has_headers(false)
        .from_path(path)?;
    for r in rows.iter().filter(|r| r.action == Action::Restored) {
        let Some(version) = &r.version else { continue };
        let key: String =
            percent_encoding::utf8_percent_encode(&r.key, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        out.write_record([bucket, key.as_str(), version.as_str()])?;
    }
    out.flush()?;
    Ok(())
}

/// What a Batch Operations restore task did with the version it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Copied back as its key's current version.
    Restored,
    /// The key already holds it.
    AlreadyAsOf,
    /// Deliberately not copied: why.
    Skipped(String),
    /// It cannot be done: why (the task fails for good).
    Refused(String),
}

/// One task of a restore job: the version `version_id` of `key` in `bucket` (the bucket itself,
/// or a replica of it) copied back as the key's current version in the bucket it belongs to
/// (a replica's names it), unless that key already holds it; conditional on the key as read.
pub async fn restore_task<S: SourceStore, D: DestinationStore>(
    replicator: &Replicator<S, D>,
    bucket: &str,
    key: &str,
    version_id: &str,
    run: &Run,
) -> Result<TaskOutcome, ReplicationError> {
    let src = |f| ReplicationError::classify(Side::Source, f);
    let from = VersionRef {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: Some(version_id.to_owned()),
    };
    let from_region = replicator.bucket_region(bucket).await?;
    let head = match replicator
        .source()
        .head_version(&from_region, &from, None)
        .await
        .map_err(src)
    {
        Ok(head) => head,
        Err(e) if e.disposition() == Disposition::SourceGone => {
            return Ok(TaskOutcome::Refused(format!(
                "version {version_id} no longer exists"
            )))
        }
        Err(e) => return Err(e),
    };
    let target = match head.metadata.contains_key(REPLICA_MARKER) {
        true => head
            .metadata
            .get(REPLICA_SOURCE_BUCKET)
            .cloned()
            .unwrap_or_else(|| bucket.to_owned()),
        false => bucket.to_owned(),
    };
    let region = replicator.bucket_region(&target).await?;
    if !replicator
        .source()
        .versioning_enabled(&region, &target)
        .await
        .map_err(src)?
    {
        return Ok(TaskOutcome::Refused(
            RestoreError::NotVersioned(target).to_string(),
        ));
    }
    let current = replicator
        .source()
        .current(&region, &target, key)
        .await
        .map_err(src)?;
    let now = VersionRef {
        bucket: target.clone(),
        key: key.to_owned(),
        version_id: None,
    };
    let as_read = match &current {
        Current::Object(c) => {
            let same_version = target == bucket && c.version_id.as_deref() == Some(version_id);
            if same_version
                || (c.etag == head.etag
                    && c.size == head.size
                    && same_as(replicator, (&region, &now), (&from_region, &from)).await?)
            {
                return Ok(TaskOutcome::AlreadyAsOf);
            }
            Some(c.etag.as_str())
        }
        _ => None,
    };
    let at = ReplicaLocation {
        bucket: target,
        key: key.to_owned(),
        region,
        expected_bucket_owner: None,
        endpoint: None,
    };
    Ok(
        match copy_back_onto(replicator, (&from, &from_region), &at, as_read, run).await? {
            Back::Written => TaskOutcome::Restored,
            Back::Skipped(why) => TaskOutcome::Skipped(why),
            Back::Changed => {
                TaskOutcome::Skipped("the key was written while the task ran; left as it is".into())
            }
        },
    )
}

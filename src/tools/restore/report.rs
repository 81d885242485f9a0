//! What a restore reports: each key's action and row, the counts and closing line, the requests
//! a run makes (or would make), and the manifest a Batch Operations job reads.

use std::fmt;

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
    /// History cannot prove its state at T (a multipart version's completion): left alone.
    Uncertain,
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
            Action::Uncertain => "uncertain",
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
    /// Keys whose state at T history cannot prove, left alone.
    pub uncertain: u64,
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

impl Tally {
    pub(super) fn add(&mut self, row: &Row) {
        match row.action {
            Action::Restored => self.restored += 1,
            Action::AlreadyAsOf => self.already += 1,
            Action::Deleted => self.deleted += 1,
            Action::Newer => self.newer += 1,
            Action::Skipped => self.skipped += 1,
            Action::Uncertain => self.uncertain += 1,
            Action::Failed => self.failed += 1,
        }
        self.bytes += row.bytes;
    }

    /// The closing line (without what an interruption left: the runner says that).
    pub fn summary(&self, dry_run: bool) -> String {
        let verb = match dry_run {
            true => "restore (dry run)",
            false => "restore",
        };
        // What an interruption left is the runner's line above it, as for every tool.
        format!(
            "{verb}: {} restored, {} already as of T, {} deleted, {} newer, {} skipped, {} uncertain, {} failed",
            self.restored,
            self.already,
            self.deleted,
            self.newer,
            self.skipped,
            self.uncertain,
            self.failed
        )
    }
}

/// Requests one key made (or would make).
#[derive(Default)]
pub(super) struct Requests {
    pub(super) put: u64,
    pub(super) get: u64,
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

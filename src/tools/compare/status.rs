//! What a check says of one key at one destination (its status, in the words the report and
//! the tools use), and the counts of a run.

use std::fmt;

/// What a key is at one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The replica is what the source is.
    Same,
    /// The rules select the key and the destination has none.
    Missing,
    /// The replica is not what the source is (the detail names the fields).
    Differs,
    /// The replica names the source's version and has its size, but its ETag cannot equal the
    /// source's (SSE-KMS, a layout of its own, a streamed copy) and no full-object checksum
    /// proves the bytes. Not damage, and nothing is repaired for it.
    Unproven,
    /// The engine deliberately leaves the object unreplicated (archived, SSE-C, SSE-KMS the rule
    /// does not select, a replica itself): the detail names the reason. Not damage.
    Skipped,
    /// The source's key is deleted (its current version is a delete marker), and the replica is
    /// not what the rule says the destination should then hold: deleted too where the rule
    /// replicates delete markers, else the source's newest object version. Damage.
    Stale,
    /// The destination holds a later write than the source's: an original written there (or
    /// replicated there from elsewhere, two-way) after it, or a delete marker put above its
    /// replica. Not damage: no tool replaces it.
    NewerAtDestination,
    /// Only in the destination (expected where deletes are not replicated).
    Extra,
    /// The key could not be checked (the detail names the failure code).
    Error,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<8}` lines the report up.
        f.pad(match self {
            Self::Same => "same",
            Self::Missing => "missing",
            Self::Differs => "differs",
            Self::Unproven => "unproven",
            Self::Skipped => "skipped",
            Self::Stale => "stale",
            Self::NewerAtDestination => "newer-at-destination",
            Self::Extra => "extra",
            Self::Error => "error",
        })
    }
}

/// One key at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The key.
    pub key: String,
    /// The source's current version, where it was read (deep checks).
    pub version_id: Option<String>,
    /// The destination.
    pub destination: String,
    /// What it is.
    pub status: Status,
    /// The fields that differ, or the failure.
    pub detail: String,
    /// The source object's size as listed (0 where the source has none).
    pub size: u64,
    /// The source object's ETag as listed (empty where the source has none): a multipart
    /// source is copied in its own parts, whatever its size.
    pub etag: String,
}

impl Finding {
    /// A key deleted in the source whose newest object version the destination lacks (its
    /// `missing` names it so).
    pub fn deleted_in_source(&self) -> bool {
        self.status == Status::Missing && self.detail.starts_with(DELETED_IN_SOURCE)
    }
}

/// How a `missing` finding of a key deleted in the source begins.
pub(super) const DELETED_IN_SOURCE: &str = "deleted in the source";

/// The counts of a run, printed as its last line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// `same`.
    pub same: usize,
    /// `missing`.
    pub missing: usize,
    /// `differs`.
    pub differs: usize,
    /// `stale`.
    pub stale: usize,
    /// `unproven`.
    pub unproven: usize,
    /// `skipped`.
    pub skipped: usize,
    /// `newer-at-destination`.
    pub newer_at_destination: usize,
    /// `extra`.
    pub extra: usize,
    /// `error`.
    pub errors: usize,
}

impl Tally {
    /// Counts the findings.
    pub fn of(findings: &[Finding]) -> Self {
        let mut tally = Self::default();
        for f in findings {
            match f.status {
                Status::Same => tally.same += 1,
                Status::Missing => tally.missing += 1,
                Status::Differs => tally.differs += 1,
                Status::Stale => tally.stale += 1,
                Status::Skipped => tally.skipped += 1,
                Status::Unproven => tally.unproven += 1,
                Status::NewerAtDestination => tally.newer_at_destination += 1,
                Status::Extra => tally.extra += 1,
                Status::Error => tally.errors += 1,
            }
        }
        tally
    }

    /// Nothing missing, differing or failed (extra objects are allowed).
    pub fn complete(&self) -> bool {
        self.missing == 0 && self.differs == 0 && self.stale == 0 && self.errors == 0
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verify: {} same, {} missing, {} differs, {} stale, {} unproven, {} skipped, {} newer-at-destination, {} extra, {} errors",
            self.same,
            self.missing,
            self.differs,
            self.stale,
            self.unproven,
            self.skipped,
            self.newer_at_destination,
            self.extra,
            self.errors
        )
    }
}

/// Prints every finding but `same`, one line each, in columns.
pub fn print_findings(findings: &[Finding]) {
    let rows: Vec<Vec<String>> = findings
        .iter()
        .filter(|f| f.status != Status::Same)
        .map(|f| {
            let to = format!("-> {}", f.destination);
            vec![f.status.to_string(), f.key.clone(), to, f.detail.clone()]
        })
        .collect();
    for line in crate::tools::runner::columns(&rows) {
        println!("{line}");
    }
}

/// Prints each destination that could not be listed, with its failure, in the columns the
/// findings use; the closing line's words for their count (empty when there are none).
pub fn print_unavailable(unavailable: &[(String, crate::error::ReplicationError)]) -> String {
    let rows: Vec<Vec<String>> = unavailable
        .iter()
        .map(|(destination, e)| {
            vec![
                "unavailable".to_owned(),
                "-".to_owned(),
                format!("-> {destination}"),
                format!("{}: {e}", e.code()),
            ]
        })
        .collect();
    for line in crate::tools::runner::columns(&rows) {
        println!("{line}");
    }
    match unavailable.len() {
        0 => String::new(),
        1 => ", 1 destination unavailable".to_owned(),
        n => format!(", {n} destinations unavailable"),
    }
}

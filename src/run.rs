//! What the work on one record shares: its count of S3 requests and the instant after which no
//! S3 call is started (the time margin before the function's deadline).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::ReplicationError;

/// How a record's copies treat what a destination already holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An event (or a backfill of the current version): a destination whose current version
    /// already is the replica copies nothing, and the key is converged afterwards.
    #[default]
    Event,
    /// `repair`: at the destinations a check found damaged, the replica is written again even
    /// where the destination's current version claims to be it. The key is converged after.
    Rewrite,
    /// `backfill --all-versions`, for a version that is not the source's current one: copied
    /// only to destinations holding no replica of it in their history, and not converged (the
    /// current version comes last, in event mode).
    History,
}

/// The request count, deadline and mode of one record's work.
#[derive(Debug, Default)]
pub struct Run {
    requests: AtomicU32,
    stop_at: Option<Instant>,
    mode: Mode,
    rewrite: Vec<String>,
    defer_convergence: bool,
    source_deleted: bool,
    tool: bool,
    ledger: Option<Arc<Ledger>>,
    unavailable: Vec<String>,
}

/// A replica that landed, as the work went on: what the metrics count for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    /// The destination (as [`crate::config::DestinationId`] prints it).
    pub destination: String,
    /// The replica's size in bytes.
    pub bytes: u64,
    /// Convergence's copy of the source's current version (its latency runs from that
    /// version's write), not the event's own version (its latency runs from the event).
    pub by_convergence: bool,
    /// The source version's `Last-Modified`.
    pub source_modified: Option<aws_smithy_types::DateTime>,
    /// When it landed (its latency sample runs to here).
    pub at: std::time::SystemTime,
}

/// What a record's work leaves as it goes, kept outside the work itself: where the invocation
/// must answer before the work is done (its deadline), the replicas that already landed are
/// still counted, once, and the version a task read is still named.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Each replica that landed, and whether it was withdrawn since (a second copy of a
    /// version, a copy that landed on a later delete: deleted again, no replica).
    landed: Mutex<Vec<(Landed, bool)>>,
    selected: Mutex<Option<Vec<String>>>,
    version: Mutex<Option<String>>,
    requests: AtomicU32,
}

impl Ledger {
    /// A new, empty ledger to share with the runs of one record.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Notes a replica that landed; the answer names it for [`Self::withdraw`].
    pub fn land(&self, landed: Landed) -> usize {
        let mut all = self.landed.lock().unwrap_or_else(|e| e.into_inner());
        all.push((landed, false));
        all.len() - 1
    }

    /// Notes that the replica [`Self::land`] named was deleted again.
    pub fn withdraw(&self, landed: usize) {
        if let Some(entry) = self
            .landed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(landed)
        {
            entry.1 = true;
        }
    }

    /// The replicas that landed so far and stand.
    pub fn landed(&self) -> Vec<Landed> {
        self.landed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, withdrawn)| !withdrawn)
            .map(|(l, _)| l.clone())
            .collect()
    }

    /// Notes the destinations the work's rules selected (as [`crate::config::DestinationId`]
    /// prints them), once it knows (a created object's tags read).
    pub fn select(&self, destinations: Vec<String>) {
        *self.selected.lock().unwrap_or_else(|e| e.into_inner()) = Some(destinations);
    }

    /// The destinations the work's rules selected, if it got that far.
    pub fn selected(&self) -> Option<Vec<String>> {
        self.selected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The S3 requests the runs sharing this ledger started.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Notes the source version the work acts on, once it read it.
    pub fn read_version(&self, version_id: &str) {
        *self.version.lock().unwrap_or_else(|e| e.into_inner()) = Some(version_id.to_owned());
    }

    /// The source version the work read, if it got that far.
    pub fn version(&self) -> Option<String> {
        self.version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Run {
    /// No S3 call is started at or after `stop_at`.
    pub fn new(stop_at: Option<Instant>) -> Self {
        Self::with_mode(stop_at, Mode::Event)
    }

    /// As [`Self::new`], in `mode`.
    pub fn with_mode(stop_at: Option<Instant>, mode: Mode) -> Self {
        Self {
            requests: AtomicU32::new(0),
            stop_at,
            mode,
            rewrite: Vec::new(),
            defer_convergence: false,
            source_deleted: false,
            tool: false,
            ledger: None,
            unavailable: Vec::new(),
        }
    }

    /// The same run, noting what lands in `ledger` as it goes ([`Ledger`]).
    pub fn with_ledger(self, ledger: Arc<Ledger>) -> Self {
        Self {
            ledger: Some(ledger),
            ..self
        }
    }

    /// Notes a replica that landed in the run's ledger, if it has one; the answer names it
    /// for [`Self::withdrawn`].
    pub fn landed(&self, landed: Landed) -> Option<usize> {
        self.ledger.as_ref().map(|ledger| ledger.land(landed))
    }

    /// Notes that a replica [`Self::landed`] named was deleted again.
    pub fn withdrawn(&self, landed: Option<usize>) {
        if let (Some(ledger), Some(landed)) = (&self.ledger, landed) {
            ledger.withdraw(landed);
        }
    }

    /// Notes the destinations the rules selected for the run's record ([`Ledger::select`]).
    pub fn selected<'a>(
        &self,
        destinations: impl IntoIterator<Item = &'a crate::config::Destination>,
    ) {
        if let Some(ledger) = &self.ledger {
            ledger.select(
                destinations
                    .into_iter()
                    .map(|d| d.id().to_string())
                    .collect(),
            );
        }
    }

    /// The same run, made by a tool (backfill, repair, Batch Operations) rather than an event:
    /// it brings no news of a change at the source, so a delete marker put above the source's
    /// current replica at a destination stands (an event's redelivery after the source's own
    /// delete marker was removed may restore the object; a tool may not).
    pub fn for_tool(self) -> Self {
        Self { tool: true, ..self }
    }

    /// The same run, leaving these destinations (as [`crate::config::DestinationId`] prints
    /// them) alone: a tool found them unavailable (their listing refused, the bucket gone) and
    /// reports them once, rather than failing every key there.
    pub fn leaving(self, destinations: Vec<String>) -> Self {
        Self {
            unavailable: destinations,
            ..self
        }
    }

    /// Whether `destination` is left alone ([`Self::leaving`]).
    pub fn leaves(&self, destination: &crate::config::DestinationId) -> bool {
        !self.unavailable.is_empty() && self.unavailable.contains(&destination.to_string())
    }

    /// Whether a tool made this run ([`Self::for_tool`]).
    pub fn is_tool(&self) -> bool {
        self.tool
    }

    /// A [`Mode::History`] run for a key whose current state in the source is a delete marker
    /// (`source_deleted`) or an object: history is appended under a destination's delete
    /// marker only when the source's current state is one too (it is re-asserted after).
    pub fn history(stop_at: Option<Instant>, source_deleted: bool) -> Self {
        Self {
            source_deleted,
            ..Self::with_mode(stop_at, Mode::History)
        }
    }

    /// Whether the key's current state in the source is a delete marker (history runs).
    pub fn source_deleted(&self) -> bool {
        self.source_deleted
    }

    /// An event run for a record followed by later records of the same key in this
    /// invocation: its version is written, but the key is left for the last record to converge
    /// (and a delete marker in between is left to it too).
    pub fn deferring_convergence(stop_at: Option<Instant>) -> Self {
        Self {
            defer_convergence: true,
            ..Self::new(stop_at)
        }
    }

    /// Whether convergence is left to a later record of the key.
    pub fn defers_convergence(&self) -> bool {
        self.defer_convergence || self.mode == Mode::History
    }

    /// A [`Mode::Rewrite`] run that writes the replica again at these destinations (as
    /// [`crate::config::DestinationId`] prints them); others are treated as for an event.
    pub fn rewriting(stop_at: Option<Instant>, destinations: Vec<String>) -> Self {
        Self {
            rewrite: destinations,
            ..Self::with_mode(stop_at, Mode::Rewrite)
        }
    }

    /// Whether the replica at `destination` is written again whatever it claims to be.
    pub fn rewrites(&self, destination: &str) -> bool {
        self.mode == Mode::Rewrite && self.rewrite.iter().any(|d| d == destination)
    }

    /// How copies treat what a destination already holds.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Before an S3 call: counts it, or refuses it inside the time margin, so that an
    /// invocation the runtime is about to stop never leaves a half-made write behind.
    pub fn start(&self) -> Result<(), ReplicationError> {
        self.start_many(1)
    }

    /// As [`Self::start`], for `n` calls made together.
    pub fn start_many(&self, n: u32) -> Result<(), ReplicationError> {
        if self.past_deadline() {
            return Err(ReplicationError::DeadlineReached);
        }
        self.requests.fetch_add(n, Ordering::Relaxed);
        if let Some(ledger) = &self.ledger {
            ledger.requests.fetch_add(n, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Counts a call that must be made even inside the time margin (reading back what was
    /// just written, so that it is judged).
    pub fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(ledger) = &self.ledger {
            ledger.requests.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether the time margin before the deadline has begun.
    pub fn past_deadline(&self) -> bool {
        self.stop_at.is_some_and(|stop| Instant::now() >= stop)
    }

    /// Whether work taking `took` started now would end before the time margin begins.
    pub fn fits(&self, took: std::time::Duration) -> bool {
        self.stop_at.is_none_or(|stop| Instant::now() + took < stop)
    }

    /// The time left before the margin begins (`None`: no deadline).
    pub fn remaining(&self) -> Option<std::time::Duration> {
        self.stop_at
            .map(|stop| stop.saturating_duration_since(Instant::now()))
    }

    /// Requests started so far.
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn no_call_starts_inside_the_time_margin() {
        let run = Run::new(Some(Instant::now() - Duration::from_millis(1)));
        assert_eq!(run.start(), Err(ReplicationError::DeadlineReached));
        assert_eq!(run.requests(), 0);
        let run = Run::new(Some(Instant::now() + Duration::from_secs(60)));
        assert_eq!(run.start(), Ok(()));
        assert_eq!(run.requests(), 1);
    }
}

//! What the work on one record shares: its count of S3 requests and the instant after which no
//! S3 call is started (the time margin before the function's deadline).

use std::sync::atomic::{AtomicU32, Ordering};
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
    never_written_at: Vec<String>,
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
            never_written_at: Vec::new(),
        }
    }

    /// The same run, made by a tool (backfill, repair, Batch Operations) rather than an event:
    /// it brings no news of a change at the source, so a delete marker put above the source's
    /// current replica at a destination stands (an event's redelivery after the source's own
    /// delete marker was removed may restore the object; a tool may not).
    pub fn for_tool(self) -> Self {
        Self { tool: true, ..self }
    }

    /// The same run, for a key that a listing of its versions at these destinations (as
    /// [`crate::config::DestinationId`] prints them) found never written there: no read of the
    /// destination is made first, and the copy's condition that the key still holds nothing
    /// (`If-None-Match: *`) stands in for it. Destinations that do not honour write conditions
    /// (other endpoints) are read as usual.
    pub fn never_written_at(self, destinations: Vec<String>) -> Self {
        Self {
            never_written_at: destinations,
            ..self
        }
    }

    /// Whether a listing found the key never written at `destination` ([`Self::never_written_at`]).
    pub fn never_written(&self, destination: &str) -> bool {
        self.never_written_at.iter().any(|d| d == destination)
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
        Ok(())
    }

    /// Counts a call that must be made even inside the time margin (reading back what was
    /// just written, so that it is judged).
    pub fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
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

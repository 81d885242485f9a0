//! What the work on one record shares: its count of S3 requests and the instant after which no
//! S3 call is started (the time margin before the function's deadline).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::error::ReplicationError;

/// The request count and deadline of one record's work.
#[derive(Debug, Default)]
pub struct Run {
    requests: AtomicU32,
    stop_at: Option<Instant>,
}

impl Run {
    /// No S3 call is started at or after `stop_at`.
    pub fn new(stop_at: Option<Instant>) -> Self {
        Self {
            requests: AtomicU32::new(0),
            stop_at,
        }
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

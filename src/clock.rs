//! Where the engine reads "now" when it dates a replica's record: the wall clock in the function
//! and the tools, the simulated S3's own clock in the simulation (so the record's time and the
//! `Last-Modified` the store stamps are read from one clock).

/// A source of the current time, in milliseconds since the epoch.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the epoch.
    fn now_millis(&self) -> i64;
}

/// The machine's clock (`SystemTime::now`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

//! What a simulation needs of the in-memory S3 beyond the store traits: the event notifications
//! S3 would send for each change (with `eventTime` in milliseconds and a per-key `sequencer`),
//! failures armed for a later call, and seeded interleaving of concurrent calls.

use super::*;

/// One event notification, as S3 would send it for a change to a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The event name without `s3:`, e.g. `ObjectCreated:Put`.
    pub event_name: &'static str,
    /// The version id (`null` for a null version; none in a bucket never versioned).
    pub version_id: Option<String>,
    /// The ETag, without quotes, for object creations.
    pub etag: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// When the request finished, in milliseconds since the epoch (`eventTime`).
    pub time_ms: i64,
    /// Grows with each change of one key, as S3's does.
    pub sequencer: String,
}

/// Failures armed for later calls, and the interleaving of concurrent calls.
#[derive(Default)]
pub(super) struct Hooks {
    /// Notices not yet taken, when recording.
    pub notices: Option<Vec<Notice>>,
    sequencer: u64,
    /// (operation, calls of it to let through first) failing once with SlowDown.
    faults: Vec<(&'static str, u32)>,
    /// The interleaving generator: each call yields to other tasks a number of times it picks.
    interleave: Option<u64>,
    /// Writes carrying the replica marker, ever.
    pub replica_writes: u64,
}

impl State {
    /// Records the event S3 would send for a change, when notices are recorded.
    pub(super) fn notify(
        &mut self,
        bucket: &str,
        key: &str,
        event_name: &'static str,
        version_id: Option<String>,
        object: Option<(&str, u64)>,
    ) {
        let time_ms = self.now_millis();
        let hooks = &mut self.hooks;
        let Some(notices) = hooks.notices.as_mut() else {
            return;
        };
        hooks.sequencer += 1;
        notices.push(Notice {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            event_name,
            version_id,
            etag: object.map(|(etag, _)| etag.trim_matches('"').to_owned()),
            size: object.map_or(0, |(_, size)| size),
            time_ms,
            sequencer: format!("{:016X}", hooks.sequencer),
        });
    }

    /// The failure armed for this call of `op`, if any (each fires once).
    pub(super) fn injected(&mut self, op: &'static str) -> Result<(), S3Failure> {
        let faults = &mut self.hooks.faults;
        let Some(i) = faults.iter().position(|(o, _)| *o == op) else {
            return Ok(());
        };
        if faults[i].1 > 0 {
            faults[i].1 -= 1;
            return Ok(());
        }
        faults.remove(i);
        Err(crate::faults::slow_down(op))
    }
}

impl FakeS3 {
    /// From now on, every change is recorded as the event notification S3 would send.
    pub fn record_notices(&self) {
        self.state().hooks.notices.get_or_insert_with(Vec::new);
    }

    /// The notices recorded since the last call, in the order of the changes.
    pub fn take_notices(&self) -> Vec<Notice> {
        self.state()
            .hooks
            .notices
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The call of `operation` after `skip` more such calls fails once with a retryable
    /// SlowDown (CopyObject, PutObject, UploadPart, UploadPartCopy, CompleteMultipartUpload).
    pub fn fail_later(&self, operation: &'static str, skip: u32) {
        self.state().hooks.faults.push((operation, skip));
    }

    /// Forgets the failures armed and not yet fired.
    pub fn disarm(&self) {
        self.state().hooks.faults.clear();
    }

    /// Every call yields to other tasks 0 to 2 times, as a generator seeded by `seed` picks:
    /// concurrent invocations on a current-thread runtime interleave their calls, the same way
    /// for the same seed.
    pub fn interleave(&self, seed: u64) {
        self.state().hooks.interleave = Some(seed | 1);
    }

    /// How many writes carrying the replica marker were made, ever.
    pub fn replica_writes(&self) -> u64 {
        self.state().hooks.replica_writes
    }

    /// Yields as [`Self::interleave`] set.
    pub(super) async fn maybe_yield(&self) {
        let turns = {
            let mut state = self.state();
            let Some(x) = state.hooks.interleave.as_mut() else {
                return;
            };
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x % 3
        };
        for _ in 0..turns {
            tokio::task::yield_now().await;
        }
    }
}

//! How a long run shows that it advances: a bar on a terminal (keys, bytes, rate, ETA), plain
//! lines otherwise, or nothing (tests, the library's own callers).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

/// Hears how a long run advances (a progress bar, or periodic lines).
pub trait Progress: Sync {
    /// The work is known: `keys` keys of `bytes` bytes in all (as listed).
    fn planned(&self, keys: u64, bytes: u64);
    /// One key is done, of `bytes` bytes.
    fn done(&self, bytes: u64);
}

/// No progress reports.
pub struct Quiet;

impl Progress for Quiet {
    fn planned(&self, _keys: u64, _bytes: u64) {}
    fn done(&self, _bytes: u64) {}
}

/// Progress on a terminal as a bar (keys, bytes, rate, ETA); otherwise a plain line every
/// `LINE_EVERY`.
pub struct Bar {
    verb: &'static str,
    bar: Option<ProgressBar>,
    plain: Mutex<Plain>,
}

/// How often progress is printed when stdout is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Plain {
    keys: u64,
    total: u64,
    bytes: u64,
    started: Option<Instant>,
    printed: Option<Instant>,
}

impl Bar {
    /// A bar (or plain lines) headed by `verb`.
    pub fn new(verb: &'static str) -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix} {wide_bar} {pos}/{len} keys, {msg} {rate} ETA {eta}",
                )
                .map(|style| {
                    // indicatif's own {per_sec} prints `14.0332/s`: whole keys, with the unit.
                    style.with_key(
                        "rate",
                        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            let _ = write!(w, "{:.0} keys/s", state.per_sec());
                        },
                    )
                })
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(verb);
            bar
        });
        Self {
            verb,
            bar,
            plain: Mutex::new(Plain::default()),
        }
    }

    /// Clears the bar, if one is shown.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn planned(&self, keys: u64, _bytes: u64) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.total = keys;
        plain.started = Some(Instant::now());
        if let Some(bar) = &self.bar {
            bar.set_length(keys);
        }
    }

    fn done(&self, bytes: u64) {
        let mut plain = self.plain.lock().unwrap_or_else(|p| p.into_inner());
        plain.keys += 1;
        plain.bytes += bytes;
        if let Some(bar) = &self.bar {
            bar.set_message(HumanBytes(plain.bytes).to_string());
            bar.inc(1);
            return;
        }
        let now = Instant::now();
        let last = plain.printed.or(plain.started).unwrap_or(now);
        if now - last >= LINE_EVERY {
            let secs = plain.started.map_or(0.0, |s| (now - s).as_secs_f64());
            println!(
                "{}: {}/{} keys, {}, {:.0} keys/s",
                self.verb,
                plain.keys,
                plain.total,
                HumanBytes(plain.bytes),
                plain.keys as f64 / secs.max(0.001)
            );
            plain.printed = Some(now);
        }
    }
}

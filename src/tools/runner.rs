//! What every tool's run shares: keys worked on so many at once, progress as they end, the
//! first Ctrl-C stopping new keys (those in hand finish), the `--report` CSV, and the closing
//! line with the exit status it implies. A tool brings the plan (its keys) and the decision for
//! one key.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::future::ready;
use futures::stream::{self, StreamExt};

use super::progress::Progress;
use crate::error::ReplicationError;

/// How a tool's keys are run: so many at once, their progress heard, stopped by `stop`.
pub struct Runner<'a> {
    /// Keys worked on at once.
    pub concurrency: u16,
    /// Hears each key planned and done.
    pub progress: &'a dyn Progress,
    /// Once set (the first Ctrl-C), no new key is started.
    pub stop: &'a AtomicBool,
}

/// What a run of keys came to.
pub struct Ran<O> {
    /// Each started key's outcome, in the order the keys ended.
    pub outcomes: Vec<O>,
    /// Keys not started because the run was stopped.
    pub not_started: usize,
}

impl Runner<'_> {
    /// Runs `decide` on each key of `plan` ([`Self::concurrency`] at once), until `stop` is
    /// set. `planned_bytes` is what a key weighs before it starts; `decide` answers the key's
    /// outcome and the bytes it moved, for the progress.
    pub async fn run<K, O, F, Fut>(
        &self,
        plan: Vec<K>,
        planned_bytes: impl Fn(&K) -> u64,
        decide: F,
    ) -> Ran<O>
    where
        F: Fn(K) -> Fut,
        Fut: Future<Output = (O, u64)>,
    {
        self.progress
            .planned(plan.len() as u64, plan.iter().map(planned_bytes).sum());
        let total = plan.len();
        let mut results = stream::iter(plan)
            .take_while(|_| ready(!self.stop.load(Ordering::SeqCst)))
            .map(decide)
            .buffer_unordered(usize::from(self.concurrency.max(1)));
        let mut outcomes = Vec::new();
        while let Some((outcome, bytes)) = results.next().await {
            outcomes.push(outcome);
            self.progress.done(bytes);
        }
        Ran {
            not_started: total - outcomes.len(),
            outcomes,
        }
    }
}

/// Set by the first Ctrl-C: no new key is started, and those in hand finish (a multipart copy
/// left by a second Ctrl-C, which quits at once, is resumed by the next run).
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::SeqCst);
            eprintln!("stopping: finishing the keys in hand (Ctrl-C again to quit now)");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    stop
}

/// Whether the `--report` CSV can be written, tried before the run (which may write to S3)
/// rather than found out after it: `None` when it can (the file is created), else the exit
/// status after one line naming the path and why.
pub fn report_writable(tool: &str, path: Option<&Path>) -> Option<ExitCode> {
    let path = path?;
    match std::fs::File::create(path) {
        Ok(_) => None,
        Err(e) => {
            eprintln!("{tool}: --report {}: {e}", path.display());
            Some(ExitCode::from(2))
        }
    }
}

/// Writes a `--report` CSV: the header, then one row per key, each cell made inert for a
/// spreadsheet ([`inert`]).
pub fn write_report<R, F>(path: &Path, header: &[&str], rows: R) -> Result<(), csv::Error>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<[u8]>,
{
    let mut out = csv::Writer::from_path(path)?;
    out.write_record(header)?;
    for row in rows {
        out.write_record(row.iter().map(|cell| inert(cell.as_ref())))?;
    }
    out.flush()?;
    Ok(())
}

/// A cell a spreadsheet shows as text: anyone who can write a key chooses its first character,
/// and a cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a formula
/// (OWASP, CSV injection), so such a cell gets a leading `'`.
pub fn inert(cell: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match cell.first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => {
            let mut quoted = Vec::with_capacity(cell.len() + 1);
            quoted.push(b'\'');
            quoted.extend_from_slice(cell);
            quoted.into()
        }
        _ => cell.into(),
    }
}

/// `cell` with every control character escaped (`\u{1b}` for ESC, `\r`, ...).
fn printable(cell: &str) -> String {
    match cell.chars().any(char::is_control) {
        false => cell.to_owned(),
        true => cell
            .chars()
            .map(|c| match c.is_control() {
                true => c.escape_default().to_string(),
                false => c.to_string(),
            })
            .collect(),
    }
}

/// Lines of cells in columns: each column but the last padded to its widest cell, as a terminal
/// shows it (a wide character takes two columns), two spaces apart.
pub fn columns(rows: &[Vec<String>]) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    // A key may hold control characters (ESC, CR, BS): written raw, a bucket's writer could
    // rewrite or erase the lines around it on the operator's terminal. They are shown escaped.
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let rows = rows.as_slice();
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(cell.width()),
                None => widths.push(cell.width()),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i + 1 < row.len() {
                    let pad = widths[i] - cell.width() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            // An empty last cell (a `missing` line has no detail) leaves no padding behind.
            line.truncate(line.trim_end().len());
            line
        })
        .collect()
}

/// Prints the closing line, after a line saying what an interruption left (the same words for
/// every tool); the exit status: 130 when keys were left unstarted (run again to carry on), 0
/// when nothing failed, 1 otherwise.
pub fn close(line: &str, not_started: usize, failed: usize) -> ExitCode {
    if let Some(left) = interrupted(not_started) {
        println!("{left}");
    }
    println!("{line}");
    if not_started > 0 {
        ExitCode::from(130)
    } else if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The line saying what an interruption left, if it left anything.
pub fn interrupted(not_started: usize) -> Option<String> {
    let keys = if not_started == 1 { "key" } else { "keys" };
    (not_started > 0)
        .then(|| format!("interrupted: {not_started} {keys} not started (run again to carry on)"))
}

/// Prints why a run could not start (or finish); the exit status.
pub fn cannot_run(verb: &str, e: &ReplicationError) -> ExitCode {
    eprintln!("{verb}: {}: {e}", e.code());
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::{columns, inert, interrupted};

    #[test]
    fn a_cell_a_spreadsheet_would_read_as_a_formula_is_quoted() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(
                &*inert(formula.as_bytes()),
                format!("'{formula}").as_bytes()
            );
        }
        for text in ["", "a=b", "key.txt", "'already"] {
            assert_eq!(&*inert(text.as_bytes()), text.as_bytes());
        }
    }

    #[test]
    fn every_tool_says_what_an_interruption_left_in_the_same_words() {
        assert_eq!(interrupted(0), None);
        assert_eq!(
            interrupted(1).as_deref(),
            Some("interrupted: 1 key not started (run again to carry on)")
        );
        assert_eq!(
            interrupted(7).as_deref(),
            Some("interrupted: 7 keys not started (run again to carry on)")
        );
    }

    #[test]
    fn cells_line_up_in_columns_as_a_terminal_shows_them() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let lines = columns(&[
            row(&[
                "restored",
                "reports/2025/annual.csv",
                "v1",
                "changed since T",
            ]),
            row(&[
                "restored",
                "reports/2026/via sns and sqs.txt",
                "v2",
                "changed",
            ]),
            row(&["would delete", "日本.txt", "-", "newer than T"]),
        ]);
        assert_eq!(
            lines,
            [
                "restored      reports/2025/annual.csv           v1  changed since T",
                "restored      reports/2026/via sns and sqs.txt  v2  changed",
                // Each of 日本 takes two columns.
                "would delete  日本.txt                          -   newer than T",
            ]
        );
        assert!(columns(&[]).is_empty());
        // A key's control characters never reach the terminal raw.
        let escaped = columns(&[vec!["missing".into(), "a\u{1b}[2K\rb".into()]]);
        assert_eq!(escaped, ["missing  a\\u{1b}[2K\\rb"]);
        let missing = columns(&[
            row(&["missing", "a", "-> b", ""]),
            row(&["differs", "ab", "-> b", "etag"]),
        ]);
        assert_eq!(missing, ["missing  a   -> b", "differs  ab  -> b  etag"]);
    }
}

//! `repair --reseal` answers in its exit status as every tool does (docs/tools.md, exit codes),
//! so that `repair --reseal && echo ok` means ok: a reseal that fails is a failure of the repair
//! (exit 1), and one stopped by Ctrl-C leaves keys not started (exit 130), its `--dry-run`
//! included. Through the binary, against the local S3 behind a proxy that refuses or holds the
//! requests a test chooses.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::authentic_records::World;
use crate::common::proxy::{proxy, Answer};
use crate::common::*;

/// How long the proxy holds each request where a test acts on a line the process printed: far
/// longer than the test takes to read the line and act.
const HOLD: Duration = Duration::from_millis(500);

/// A world whose `keys` were replicated before the record key was turned on, a second after the
/// source's writes: once it is, each is `newer-at-destination`, a replica `--reseal` seals.
async fn unsealed(label: &str, keys: &[&str]) -> World {
    let w = World::new(label).await;
    let unkeyed: Vec<(&str, &str)> = w
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "REPLICA_RECORD_KEY_SECRET_ARN")
        .collect();
    let mut puts = Vec::new();
    for key in keys {
        puts.push(put(&w.s3, &w.src, key, key.as_bytes()).await);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (answer, _) = crate::metrics::invoke(created_event(&puts), &unkeyed, 60_000).await;
    let replicated = format!("\"replicated\":{}", keys.len());
    assert!(answer.contains(&replicated), "{answer}");
    w
}

/// The command line, with the record key, against `endpoint`.
fn command(w: &World, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_s3-replicator"));
    command
        .envs(function_env(&w.env()))
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(args);
    command
}

/// Runs `args`, calling `checked` with the process's id once it printed the check's closing
/// line (its Ctrl-C handler is then in place, every request of the check answered, and the
/// reseal about to start): the exit status, stdout and stderr.
async fn run_past_the_check(
    w: &World,
    endpoint: &str,
    args: &[&str],
    checked: impl FnOnce(u32),
) -> (Option<i32>, String, String) {
    let mut child = command(w, endpoint, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let mut checked = Some(checked);
    while let Some(line) = lines.next_line().await.unwrap() {
        if line.starts_with("verify: ") && line.contains(" same, ") {
            if let Some(checked) = checked.take() {
                checked(pid);
            }
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        checked.is_none(),
        "the check never closed: {stdout}{stderr}"
    );
    (out.status.code(), stdout, stderr)
}

fn ctrl_c(pid: u32) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The last `n` lines of `out`.
fn last_lines(out: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// A reseal the destination refuses (its CopyObject answered 403 AccessDenied, as a bucket
/// policy would) is a failure of the repair: printed with its code, counted on the reseal's
/// line and on the repair's closing line, exit status 1. (It exited 0.)
#[tokio::test]
async fn a_reseal_the_destination_refuses_fails_the_repair() {
    let w = unsealed("rsx-refused", &["a"]).await;
    let dst = w.dst.clone();
    let endpoint = proxy(&server().endpoint, Duration::ZERO, move |r| {
        match r.is_copy_into(&dst) {
            true => Answer::Refuse,
            false => Answer::Pass,
        }
    })
    .await;
    let out = command(&w, &endpoint, &["repair", "--bucket", &w.src, "--reseal"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("\nfailed  a  "), "{stdout}");
    assert!(
        stdout.contains("reseal: 0 resealed, 0 unproven (left), 1 failed\n"),
        "{stdout}"
    );
    assert_eq!(
        stdout.lines().last(),
        Some("repair: 0 replicated, 0 already in sync, 0 skipped, 1 failed"),
        "{stdout}"
    );
    assert_eq!(
        version_count(&w.s3, &w.dst, "a").await,
        1,
        "nothing written"
    );
}

/// A dry run whose reseal cannot read what it must (every request after the check refused)
/// cannot say what would be resealed: its closing line counts the failure, exit status 1. (It
/// exited 0.)
#[tokio::test]
async fn a_reseal_dry_run_that_cannot_read_fails() {
    let w = unsealed("rsx-dry-refused", &["a"]).await;
    let refuse = Arc::new(AtomicBool::new(false));
    let refusing = refuse.clone();
    let endpoint = proxy(&server().endpoint, HOLD, move |_| {
        match refusing.load(Ordering::SeqCst) {
            true => Answer::Refuse,
            false => Answer::Pass,
        }
    })
    .await;
    let args = ["repair", "--bucket", &w.src, "--reseal", "--dry-run"];
    let (code, out, err) = run_past_the_check(&w, &endpoint, &args, |_| {
        refuse.store(true, Ordering::SeqCst)
    })
    .await;
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("\nfailed  a  "), "{out}");
    assert_eq!(
        last_lines(&out, 1),
        ["reseal --dry-run: 0 to reseal, 0 unproven (left), 1 failed"],
        "{out}"
    );
}

/// Ctrl-C during a reseal of three keys, one at a time, pressed once the first key's reseal has
/// sent a request (held by the proxy, so the key is still in hand): that key finishes, the
/// other two are not started; the closing line is preceded by what was left, exit status 130.
async fn stopped_during_the_reseal(label: &str, dry_run: bool) -> (Option<i32>, String, String) {
    let w = unsealed(label, &["a", "b", "c"]).await;
    // The process's id once the check has closed: the next request is the reseal's.
    let armed = Arc::new(AtomicU32::new(0));
    let arming = armed.clone();
    let endpoint = proxy(&server().endpoint, HOLD, move |_| {
        match arming.swap(0, Ordering::SeqCst) {
            0 => {}
            pid => ctrl_c(pid),
        }
        Answer::Pass
    })
    .await;
    let mut args = vec![
        "repair",
        "--bucket",
        &w.src,
        "--reseal",
        "--concurrency",
        "1",
    ];
    if dry_run {
        args.push("--dry-run");
    }
    run_past_the_check(&w, &endpoint, &args, |pid| {
        armed.store(pid, Ordering::SeqCst)
    })
    .await
}

/// (It exited 0, its `interrupted` line notwithstanding.)
#[tokio::test]
async fn a_reseal_dry_run_stopped_by_ctrl_c_exits_130() {
    let (code, out, err) = stopped_during_the_reseal("rsx-dry-stop", true).await;
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(err.contains("stopping"), "{err}");
    assert_eq!(
        last_lines(&out, 2),
        [
            "interrupted: 2 keys not started (run again to carry on)",
            "reseal --dry-run: 1 to reseal, 0 unproven (left), 0 failed",
        ],
        "{out}"
    );
}

/// With nothing left for the repair after the reseal, the repair's closing line counts the keys
/// the reseal did not start. (It exited 0.)
#[tokio::test]
async fn a_reseal_stopped_by_ctrl_c_exits_130() {
    let (code, out, err) = stopped_during_the_reseal("rsx-stop", false).await;
    assert_eq!(code, Some(130), "{out}{err}");
    assert!(err.contains("stopping"), "{err}");
    assert!(
        out.contains("reseal: 1 resealed, 0 unproven (left), 0 failed\n"),
        "{out}"
    );
    assert_eq!(
        last_lines(&out, 2),
        [
            "interrupted: 2 keys not started (run again to carry on)",
            "repair: 0 replicated, 0 already in sync, 0 skipped, 0 failed",
        ],
        "{out}"
    );
}

//! Runs seeded histories of the simulation (`s3_replicator::sim`) and reports the failures.
//!
//! `soak [HISTORIES] [--start N] [--topologies a,b] [--no-destination-writes] [--no-twins]
//! [--no-tools] [--seed S]`: with `--seed`, replays one
//! history and prints it (operations, events, deliveries, final states and the invariants that
//! failed); otherwise runs HISTORIES seeds from `--start`, with a progress line, each failing
//! seed and its classes (stderr), the first seed of each failure class, and a closing
//! `N histories, M failed`. Exits 1 when any failed.

use std::collections::BTreeMap;
use std::time::Instant;

use s3_replicator::sim::{self, Kind, Options};

/// What `--help` prints: the usage of the module's comment.
const USAGE: &str = "usage: soak [HISTORIES] [--start N] [--topologies a,b] [--no-destination-writes] [--no-twins] [--no-tools] [--seed S]
  HISTORIES        seeds to run from --start (default 1000), with a progress line and a closing count
  --seed S         replay one history and print it (operations, events, deliveries, final states)
  --topologies a,b only these topologies
  --no-destination-writes, --no-twins, --no-tools
                   leave out users' writes at destinations, concurrent twin deliveries, tools mid-history";

/// Exits 2 with the usage and what was wrong.
fn usage(wrong: &str) -> ! {
    eprintln!("soak: {wrong}\n{USAGE}");
    std::process::exit(2)
}

fn number(text: &str, what: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| usage(&format!("{what} must be a whole number, not {text:?}")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let mut histories: u64 = 1000;
    let mut start: u64 = 0;
    let mut seed: Option<u64> = None;
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--start" => start = number(&value(), "--start"),
            "--seed" => seed = Some(number(&value(), "--seed")),
            "--topologies" => options.kinds = kinds(&value()),
            "--no-destination-writes" => {
                options.destination_writes = false;
                i += 1;
                continue;
            }
            "--no-twins" => {
                options.twins = false;
                i += 1;
                continue;
            }
            "--no-tools" => {
                options.tools = false;
                i += 1;
                continue;
            }
            n if n.starts_with('-') => usage(&format!("unknown option {n:?}")),
            n => {
                histories = number(n, "HISTORIES");
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if let Some(seed) = seed {
        // SOAK_TRACE=1: the engine's own log lines too, on standard error.
        if std::env::var("SOAK_TRACE").is_ok_and(|v| v == "1") {
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(std::io::stderr)
                .without_time()
                .init();
        }
        let outcome = sim::run(seed, &options);
        print!("{}", outcome.render());
        std::process::exit(i32::from(!outcome.passed()));
    }
    let began = Instant::now();
    let mut failed = 0u64;
    let mut classes: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
    for (n, seed) in (start..start + histories).enumerate() {
        let outcome = sim::run(seed, &options);
        if !outcome.passed() {
            failed += 1;
            eprintln!("seed {seed} failed: {}", outcome.classes().join(", "));
            for class in outcome.classes() {
                let entry = classes.entry(class).or_insert((0, seed));
                entry.0 += 1;
            }
        }
        let done = n as u64 + 1;
        if done.is_multiple_of(500) || done == histories {
            let rate = done as f64 / began.elapsed().as_secs_f64();
            eprintln!("{done}/{histories} histories, {failed} failed, {rate:.0}/s");
        }
    }
    for (class, (count, first)) in &classes {
        println!("{class}: {count} histories, first seed {first} (make soak SEED={first})");
    }
    let secs = began.elapsed().as_secs_f64();
    println!(
        "{histories} histories, {failed} failed ({:.0} histories/s)",
        histories as f64 / secs
    );
    std::process::exit(i32::from(failed > 0));
}

fn kinds(names: &str) -> Vec<Kind> {
    names
        .split(',')
        .map(|n| {
            *Kind::ALL
                .iter()
                .find(|k| k.name() == n.trim())
                .unwrap_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
                    usage(&format!(
                        "no topology {n:?}; there are {}",
                        known.join(", ")
                    ))
                })
        })
        .collect()
}

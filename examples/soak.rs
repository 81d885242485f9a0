//! Runs seeded histories of the simulation (`s3_replicator::sim`) and reports the failures.
//!
//! `soak [HISTORIES] [--start N] [--topologies a,b] [--no-destination-writes] [--no-twins]
//! [--no-tools] [--seed S]`: with `--seed`, replays one
//! history and prints it (operations, events, deliveries, final states and the invariants that
//! failed); otherwise runs HISTORIES seeds from `--start`, with a progress line, the first seed
//! of each failure class, and a closing `N histories, M failed`. Exits 1 when any failed.

use std::collections::BTreeMap;
use std::time::Instant;

use s3_replicator::sim::{self, Kind, Options};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut histories: u64 = 1000;
    let mut start: u64 = 0;
    let mut seed: Option<u64> = None;
    let mut options = Options::default();
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--start" => start = value().parse().expect("--start N"),
            "--seed" => seed = Some(value().parse().expect("--seed N")),
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
            n => {
                histories = n.parse().expect("HISTORIES is a number");
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    if let Some(seed) = seed {
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
                .unwrap_or_else(|| panic!("no topology {n}"))
        })
        .collect()
}

//! A deterministic simulation of S3, its events and the function: a history generated from a
//! seed (a topology, users' writes at sources and destinations, the clock's steps, deliveries
//! in any order, at least once, two at a time, failing part-way, and the tools run at random
//! moments) runs the real engine and tools against the in-memory S3, then the invariants of
//! issue 34 are checked after a final redelivery round. Same seed, same history, same result:
//! one current-thread runtime, no wall clock, no hash-map order in any decision.
//!
//! `topology` draws the buckets and functions, `generate` the users' operations, `deliver` the
//! events' delivery, `oracle` what each destination must hold (by `crate::order`), and
//! `invariants` the checks. See `docs/simulation.md`.

pub mod deliver;
pub mod generate;
pub mod invariants;
mod marker_origin;
pub mod oracle;
mod tools;
pub mod topology;
mod undone;
pub mod world;

use std::sync::atomic::AtomicBool;

pub use invariants::Violation;
pub use topology::Kind;
use world::{short, World};

/// A small deterministic generator (xorshift64*): the simulation's only source of choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for a seed (any seed, zero included).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One time in `n`.
    pub fn chance(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of the items.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Shuffles in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// What a run may draw from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The topologies to draw from.
    pub kinds: Vec<Kind>,
    /// The most steps of a history (users' operations, deliveries, tools).
    pub max_steps: usize,
    /// Whether the tools (verify, backfill, repair) run at random moments.
    pub tools: bool,
    /// Whether users also write directly at the destinations.
    pub destination_writes: bool,
    /// Whether two invocations sometimes run at once on the same events.
    pub twins: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            kinds: Kind::ALL.to_vec(),
            max_steps: 60,
            tools: true,
            destination_writes: true,
            twins: true,
        }
    }
}

/// What one history did and found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// The topology's kind.
    pub kind: Kind,
    /// The topology, in one line.
    pub topology: String,
    /// The history: operations, events, deliveries and tools, one per line.
    pub log: Vec<String>,
    /// Every bucket's final stacks, one line per key.
    pub finals: Vec<String>,
    /// The invariants that failed.
    pub violations: Vec<Violation>,
}

impl Outcome {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The classes of the violations, each once, in order.
    pub fn classes(&self) -> Vec<&'static str> {
        let mut classes: Vec<&'static str> = self.violations.iter().map(|v| v.class).collect();
        classes.sort();
        classes.dedup();
        classes
    }

    /// The short, readable history.
    pub fn render(&self) -> String {
        let mut out = format!("seed {}: {}\n", self.seed, self.topology);
        for line in &self.log {
            out.push_str(line);
            out.push('\n');
        }
        out.push_str("final states (newest first):\n");
        for line in &self.finals {
            out.push_str(&format!("  {line}\n"));
        }
        match self.violations.is_empty() {
            true => out.push_str("every invariant holds\n"),
            false => {
                out.push_str("failed:\n");
                for v in &self.violations {
                    out.push_str(&format!(
                        "  invariant {} [{}] {}\n",
                        v.invariant, v.class, v.detail
                    ));
                }
            }
        }
        out
    }
}

/// Runs the history of `seed`.
pub fn run(seed: u64, options: &Options) -> Outcome {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    runtime.block_on(history(seed, options))
}

async fn history(seed: u64, options: &Options) -> Outcome {
    let mut rng = Rng::new(seed);
    let kind = *rng.pick(&options.kinds);
    let topology = topology::draw(kind, &mut rng);
    let summary = topology.summary.clone();
    let mut world = World::new(topology, Rng::new(rng.next_u64()));
    world.destination_writes = options.destination_writes;
    world.twins = options.twins;
    let steps = 10 + world.rng.below(options.max_steps.saturating_sub(10).max(1));
    for _ in 0..steps {
        world.step_clock();
        match world.rng.below(100) {
            0..=54 => world.user_step(),
            55..=93 => world.deliver_step().await,
            _ if options.tools => world.tool_step().await,
            _ => world.deliver_step().await,
        }
    }
    world.log.push("every event delivered:".into());
    world.drain().await;
    world.redeliver_all().await;
    let mut violations = world.check_states();
    let states_hold = violations.iter().all(|v| v.invariant > 2);
    violations.extend(world.check_tools(states_hold).await);
    violations.append(&mut world.violations);
    let counted = *world.counted.borrow();
    if counted > world.s3.replica_writes() {
        violations.push(Violation {
            invariant: 6,
            class: "counted-but-not-written",
            detail: format!(
                "{counted} replicas counted, {} written",
                world.s3.replica_writes()
            ),
        });
    }
    for p in &world.problems {
        violations.push(Violation {
            invariant: 0,
            class: "record-keeps-failing",
            detail: p.clone(),
        });
    }
    Outcome {
        seed,
        kind,
        topology: summary,
        finals: world.finals(),
        log: std::mem::take(&mut world.log),
        violations,
    }
}

impl World {
    /// One of the tools on a source, at a random moment.
    async fn tool_step(&mut self) {
        let f = self.rng.below(self.replicators.len());
        let bucket = self.rng.pick(&self.topology.functions[f].sources).clone();
        let replicator = &self.replicators[f];
        let stop = AtomicBool::new(false);
        let line = match self.rng.below(3) {
            0 => match crate::tools::compare::verify(replicator, &verify_options(&bucket)).await {
                Ok(findings) => format!(
                    "verify {bucket}: {}",
                    crate::tools::compare::Tally::of(&findings)
                ),
                Err(e) => format!("verify {bucket}: failed: {e}"),
            },
            1 if !self.rng.chance(3) => {
                let (line, violation) =
                    tools::backfill_after_its_dry_run(replicator, &bucket, &stop).await;
                self.violations.extend(violation);
                line
            }
            1 => {
                let options = crate::tools::backfill::Options {
                    bucket: bucket.clone(),
                    prefix: String::new(),
                    all_versions: true,
                    concurrency: 2,
                };
                let quiet = crate::tools::progress::Quiet;
                match crate::tools::backfill::backfill(replicator, &options, &quiet, &stop).await {
                    Ok((tally, failures)) => format!(
                        "backfill {bucket}{}: {} ({} failures)",
                        if options.all_versions {
                            " --all-versions"
                        } else {
                            ""
                        },
                        tally.summary("backfill"),
                        failures.len()
                    ),
                    Err(e) => format!("backfill {bucket}: failed: {e}"),
                }
            }
            _ => match repair(replicator, &bucket, &stop).await {
                Ok(line) => line,
                Err(e) => format!("repair {bucket}: failed: {e}"),
            },
        };
        self.log.push(format!("t={:>6} {line}", self.now()));
        self.collect_notices();
    }

    /// Invariant 5: verify is clean exactly when the states are right (invariants 1 and 2, which
    /// a check of current versions can see), and clean after repair.
    async fn check_tools(&mut self, states_hold: bool) -> Vec<Violation> {
        let mut out = Vec::new();
        for f in 0..self.replicators.len() {
            for bucket in self.topology.functions[f].sources.clone() {
                let replicator = &self.replicators[f];
                let findings =
                    match crate::tools::compare::verify(replicator, &verify_options(&bucket)).await
                    {
                        Ok(findings) => findings,
                        Err(e) => {
                            out.push(violation5("verify-failed", format!("{bucket}: {e}")));
                            continue;
                        }
                    };
                let tally = crate::tools::compare::Tally::of(&findings);
                self.log.push(format!("final verify {bucket}: {tally}"));
                let damage: Vec<String> = findings
                    .iter()
                    .filter(|f| {
                        !matches!(
                            f.status,
                            crate::tools::compare::Status::Same
                                | crate::tools::compare::Status::Skipped
                                | crate::tools::compare::Status::NewerAtDestination
                                | crate::tools::compare::Status::Unproven
                                | crate::tools::compare::Status::Extra
                        )
                    })
                    .map(|f| format!("{} at {}: {} {}", f.key, f.destination, f.status, f.detail))
                    .collect();
                if states_hold && !tally.complete() {
                    out.push(violation5(
                        "verify-reports-damage-on-a-converged-state",
                        format!("{bucket}: {}", damage.join("; ")),
                    ));
                }
                if !states_hold && tally.complete() && self.topology.functions[f].sources.len() == 1
                {
                    out.push(violation5(
                        "verify-clean-over-broken-state",
                        format!("{bucket}: {tally}"),
                    ));
                }
                // Invariant 7: the tools agree (repair runs here, on these findings).
                out.extend(self.check_agreement(f, &bucket, &findings).await);
                let replicator = &self.replicators[f];
                if let Ok(after) =
                    crate::tools::compare::verify(replicator, &verify_options(&bucket)).await
                {
                    let after = crate::tools::compare::Tally::of(&after);
                    if !after.complete() {
                        out.push(violation5(
                            "verify-not-clean-after-repair",
                            format!("{bucket}: {after}"),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Every bucket's stacks, newest first, one line per key.
    fn finals(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.topology.buckets {
            for key in self.s3.keys(b) {
                let entries: Vec<String> = self
                    .s3
                    .stack(b, &key)
                    .iter()
                    .rev()
                    .map(|e| {
                        let who = match self.is_user_made(b, &key, &e.version_id) {
                            true => "",
                            false => "replica ",
                        };
                        match e.delete_marker {
                            true => format!("{who}marker {}", e.version_id),
                            false => format!(
                                "{who}{} {} t={} etag={}",
                                e.version_id,
                                oracle::w_of(e),
                                e.last_modified * 1000 - world::EPOCH_MS,
                                short(&e.etag)
                            ),
                        }
                    })
                    .collect();
                out.push(format!("{b}/{key}: {}", entries.join(" | ")));
            }
        }
        out
    }
}

fn violation5(class: &'static str, detail: String) -> Violation {
    Violation {
        invariant: 5,
        class,
        detail,
    }
}

fn verify_options(bucket: &str) -> crate::tools::compare::Options {
    crate::tools::compare::Options {
        bucket: bucket.to_owned(),
        prefix: String::new(),
        deep: true,
        explain_missing: true,
    }
}

/// verify, then repair what it found: the log line.
async fn repair(
    replicator: &crate::replicate::Replicator<crate::fake::FakeS3, crate::fake::FakeS3>,
    bucket: &str,
    stop: &AtomicBool,
) -> Result<String, crate::error::ReplicationError> {
    let findings = crate::tools::compare::verify(replicator, &verify_options(bucket)).await?;
    let quiet = crate::tools::progress::Quiet;
    let (tally, failures) =
        crate::tools::repair::repair(replicator, bucket, &findings, Vec::new(), 2, &quiet, stop)
            .await?;
    Ok(format!(
        "repair {bucket}: {} ({} failures)",
        tally.summary("repair"),
        failures.len()
    ))
}

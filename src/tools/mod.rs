//! The operator tools, side by side: `verify`, `backfill`, `repair`, `restore` on the command
//! line, and the Batch Operations modes (`batch`: replicate, verify, restore a job's tasks).
//! Each is a plan over keys and one decision per key; the `runner` they share owns concurrency,
//! Ctrl-C, the `--report` CSV and the closing line, `progress` how a run shows it advances.
//!
//! The decisions more than one tool takes live beside them, never inside a tool: `compare`
//! (what a source object and its replica are to each other: verify reports it, backfill and
//! repair act on it, a Batch verify task answers it), `engine` (a key through the replication
//! engine, for backfill and repair) and `cost` (what a dry run says a run would cost).

pub mod backfill;
pub mod batch;
pub mod compare;
pub mod cost;
pub mod engine;
pub mod progress;
pub mod repair;
pub mod reseal;
pub mod restore;
pub mod runner;
pub mod verify;

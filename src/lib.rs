//! s3-replicator: event-driven replication of S3 object versions, run as an AWS Lambda function,
//! with an operator command line (verify, backfill, repair, restore) and S3 Batch Operations
//! modes in the same binary.
//!
//! The house, by where a reader starts:
//! - **Where an event enters:** `main` wires; [`handler`] runs one invocation; [`events`] turns
//!   each payload shape (S3 notification, SQS, EventBridge, Batch Operations) into the same work
//!   items; [`config`] is parsed and validated once at init ([`lambda_init`], [`wiring`],
//!   [`sdk`]), [`names`] checks what S3 would refuse.
//! - **Where a decision is made:** [`replicate`] (the [`Replicator`]: one event at each
//!   destination, then the key converged), [`rules`] (which destinations apply), [`order`]
//!   (which of two writes is the later), [`copy`] (copy strategies), [`run`] (a record's
//!   deadline and mode), [`error`] (the failure codes and what each means).
//! - **Where S3 is called:** the [`store`] traits and domain types, on the SDK in [`aws_s3`]
//!   (tested with aws-smithy-mocks and a local S3 server) and, behind the `test-util` feature that
//!   only tests, examples and benches enable, in memory (`fake`), wrapped by `faults::Faulty` to
//!   inject failures, and simulated with seeded histories (`sim`).
//! - **The operator tools:** [`tools`] (verify, backfill, repair, restore and the Batch
//!   Operations modes side by side on one runner), parsed and wired by [`cli`]; [`metrics`] is
//!   what the function measures.

pub mod aws_s3;
pub mod cli;
pub mod clock;
pub mod config;
pub mod copy;
pub mod error;
pub mod events;
#[cfg(feature = "test-util")]
pub mod fake;
#[cfg(feature = "test-util")]
pub mod faults;
pub mod handler;
pub mod lambda_init;
pub mod metrics;
pub mod names;
pub mod order;
pub mod replicate;
pub mod rules;
pub mod run;
pub mod sdk;
#[cfg(feature = "test-util")]
pub mod sim;
pub mod store;
pub mod tools;
pub mod wiring;

pub use config::Config;
pub use handler::{handle, handle_until, respond, Summary};
pub use replicate::Replicator;

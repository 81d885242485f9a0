//! s3-replicator: event-driven replication of S3 object versions, run as an AWS Lambda function.
//!
//! The binary wires these modules. The engine speaks to S3 through the [`store`] traits: on the
//! SDK ([`aws_s3`], tested with aws-smithy-mocks and a local S3 server) and, behind the
//! `test-util` feature that only tests, examples and benches enable, in memory (`fake`) and
//! wrapped by `faults::Faulty` to inject failures.

pub mod aws_s3;
pub mod cli;
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
pub mod replicate;
pub mod rules;
pub mod run;
pub mod sdk;
pub mod store;
pub mod tools;
pub mod wiring;

pub use config::Config;
pub use handler::{handle, handle_until, respond, Summary};
pub use replicate::Replicator;

// The tools' paths from before they moved under `tools/`: tests and the simulation still name them.
pub use tools::{batch, restore};

/// The comparison `verify` makes, at its path from before `tools/` ([`tools::compare`]).
pub mod verify {
    pub use crate::tools::compare::{
        verify, verify_object, Finding, KeyCheck, Options, Status, Tally, CONCURRENCY,
    };
}

/// Backfill and repair at their path from before `tools/` ([`tools::backfill`],
/// [`tools::repair`]), with the progress they report to.
pub mod backfill {
    pub use crate::tools::backfill::*;
    pub use crate::tools::progress::{Progress, Quiet};
    pub use crate::tools::repair::repair;
}

//! The integration tests, as one test binary: each file here is a module of one crate, so the SDK
//! and the library are compiled and linked once for all of them rather than once per file (as
//! cargo's own `tests/testsuite/main.rs` does). Run one file's tests with
//! `cargo test --test suite replication::`.
//!
//! Two tests keep a process of their own, as separate binaries beside this directory:
//! `tests/streaming_memory.rs` measures the process's peak memory, which other tests running at
//! the same time would inflate, and `tests/sdk_config.rs` sets the process's environment, which
//! other tests read. Shared helpers live in `tests/common/`, used by all three binaries.
//! Proptest keeps failing cases in `tests/proptest-regressions/<module>.txt`.

#[path = "../common/mod.rs"]
mod common;

mod authentic_records;
mod batch_operations;
mod convergence;
mod convergence_symptoms;
mod crc_forgery;
mod deadline_counts;
mod deleted_since_read;
mod delivery;
mod fake_store;
mod fan_in_deletes;
mod fan_in_hidden_sources;
mod fan_in_other_sources;
mod fixtures;
mod forged_events;
mod fuzz_input;
mod init_error;
mod intake;
mod large_objects;
mod least_privilege;
mod marker_origin;
mod meddled;
mod metrics;
mod one_judgement;
mod own_layouts;
mod record_times;
mod replicated_once;
mod replication;
mod reseal_exit;
mod restore;
mod restore_review;
mod restore_symptoms;
mod rgw_endpoints;
mod rgw_function;
mod rgw_integrity;
mod s3_errors;
mod same_etag_races;
mod security;
mod simulation;
mod stalled_parts;
mod store_conformance;
mod streaming;
mod switched_layouts;
mod template_hardening;
mod tls;
mod tools_availability;
mod tools_keep_later_writes;
mod tools_races;
mod tools_review;
mod two_way_multipart;
mod uncovered_below;
mod verify;
mod writes_kept_below;

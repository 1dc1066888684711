//! Property tests of the on-target crates, run by `cargo test` of the host workspace
//! (`cargo test -p on-target-props`). This crate holds no code: only `tests/`.
//!
//! **Why it exists.** The image recipe vendors every crates.io package of
//! `crates/on-target/Cargo.lock`, and Cargo's lock file always includes the members'
//! dev-dependencies. proptest and the 21 crates it pulls in (rand, regex-syntax, rusty-fork,
//! borsh, …) were in that lock only for tests, so the image fetched and verified them for
//! nothing. Here, in the host workspace, they cost the image nothing; the properties test the
//! on-target crates through their public API, as path dependencies.
//!
//! - `tests/engine_props.rs`: cyclictest-rs' statistics, histogram and cpulists against brute
//!   force.
//! - `tests/cpulist_props.rs`: rros-board's `CpuSet` round trip and set algebra.
//! - `tests/hostile_input_props.rs`: the regression guard of issue #12: whatever the text,
//!   rros-board's parsers and validator never panic and refuse with an error naming a field.
//!
//! Keep example-based tests beside the code they test, in the on-target crates; only
//! properties (and anything else needing a test-only crate) come here.

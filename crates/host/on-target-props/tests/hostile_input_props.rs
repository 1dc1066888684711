//! Property tests against hostile input (issue #12, "Keep it found"): whatever the text, the
//! cpulist parser and the profile parser + validator never panic, never allocate without
//! bound, and either accept with the documented invariants or refuse with an error that
//! names a field.
//!
//! They run in `cargo test` (a few hundred cases each, well under a second). For a longer
//! hunt: `PROPTEST_CASES=200000 cargo test -p on-target-props --test hostile_input_props`
//! (see docs/validation.md, "Hostile input").

use proptest::prelude::*;
use rros_board::cpulist::MAX_CPU;
use rros_board::{
    CpuSet, INTERVAL_US_RANGE, MAX_CPU_COUNT, Severity, parse_profile, periods_in, validate,
};
use std::path::Path;

/// Text made mostly of cpulist characters, with some anything-goes.
fn cpulist_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9,:/ -]{0,40}",
        "[0-9]{1,12}(-[0-9]{1,12})?(:[0-9]{1,4}/[0-9]{1,4})?",
        any::<String>(),
    ]
}

fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,25}(ns|us|ms|s|m|h|d|days|years|y)",
        "[0-9a-z .]{0,20}",
        Just("1000000000000h".to_owned()),
        Just("300years".to_owned()),
    ]
}

fn quoted(s: &str) -> String {
    // A TOML basic string: escape what would end or break it.
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

prop_compose! {
    fn profile_text()(
        count in prop_oneof![0u32..20, any::<u32>()],
        hk in cpulist_text(),
        iso in cpulist_text(),
        oob in cpulist_text(),
        flavour in prop::sample::select(vec!["rros", "evl", "preempt-rt"]),
        duration in duration_text(),
        interval in prop_oneof![1u32..5000, any::<u32>()],
        min_samples in prop::option::of(prop_oneof![0u64..5000, any::<u64>()]),
        priority in any::<u32>(),
        max_us in any::<u32>(),
        load in prop::option::of(".{0,30}"),
    ) -> String {
        let mut t = format!(
            "schema = 1\nname = \"b\"\ndescription = \"\"\nmachine = \"m\"\narch = \"aarch64\"\n\
             [kernel]\nflavour = \"{flavour}\"\ncmdline_delivery = \"qemu\"\n\
             [cpus]\ncount = {count}\nhousekeeping = {}\nisolated = {}\noob = {}\n\
             [[scenario]]\nname = \"s\"\nduration = {}\ninterval_us = {interval}\npriority = {priority}\n\
             threshold = {{ max_us = {max_us} }}\n",
            quoted(&hk), quoted(&iso), quoted(&oob), quoted(&duration)
        );
        if let Some(m) = min_samples {
            t.push_str(&format!("min_samples = {m}\n"));
        }
        if let Some(l) = load {
            t.push_str(&format!("load = {}\n", quoted(&l)));
        }
        t
    }
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=N runs longer (docs/validation.md).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn cpulist_parser_never_panics(text in cpulist_text()) {
        match CpuSet::parse(&text) {
            Ok(set) => prop_assert!(set.iter().all(|c| c <= MAX_CPU)),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn profile_parser_never_panics_on_any_text(text in any::<String>()) {
        if let Ok(profile) = parse_profile(&text, Path::new("x.toml")) {
            let _ = validate(&profile, Some("x"));
        }
    }

    #[test]
    fn profile_validator_accepts_only_what_can_be_measured(text in profile_text()) {
        let Ok(profile) = parse_profile(&text, Path::new("b.toml")) else {
            return Ok(()); // a value TOML cannot hold: refused by the parser, with its message
        };
        let v = validate(&profile, Some("b"));
        let errors: Vec<_> = v.findings.iter().filter(|f| f.severity == Severity::Error).collect();
        prop_assert_eq!(v.board.is_some(), errors.is_empty());
        for f in &errors {
            prop_assert!(!f.field.is_empty() && !f.message.is_empty(), "{}", f);
        }
        if let Some(board) = v.board {
            prop_assert!(board.cpu_count >= 1 && board.cpu_count <= MAX_CPU_COUNT);
            for s in &board.scenarios {
                prop_assert!(!s.duration.is_zero());
                prop_assert!(s.duration <= cyclictest::MAX_DURATION);
                prop_assert!(INTERVAL_US_RANGE.contains(&s.interval_us));
                prop_assert!(s.min_samples >= 1);
                prop_assert!(periods_in(s.duration, s.interval_us) >= u128::from(s.min_samples));
            }
        }
    }
}

//! Every isolation rule, broken on its own: the profile is rejected with exactly that rule,
//! naming the field. The base profile is valid, so any finding comes from the one change.

use rros_board::{Severity, parse_profile, validate};
use std::path::Path;

const BASE: &str = r#"
schema = 1
name = "testboard"
description = "a valid 4-CPU arm64 RROS board"
machine = "qemuarm64"
arch = "aarch64"

[kernel]
flavour = "rros"
cmdline_delivery = "qemu"

[cpus]
count = 4
housekeeping = "0-1"
isolated = "2-3"
oob = "2-3"

[tuning]
governor = "performance"

[[scenario]]
name = "idle"
duration = "10s"
threshold = { max_us = 50, p99_us = 20 }

[[scenario]]
name = "load"
load = "stress-ng --cpu 1"
duration = "1m"
threshold = { max_us = 100 }
"#;

/// Replaces the first occurrence of `from` (which must exist) in the base profile.
fn with(from: &str, to: &str) -> String {
    assert!(
        BASE.contains(from),
        "test bug: {from:?} not in the base profile"
    );
    BASE.replacen(from, to, 1)
}

/// Validates `text` and returns (rule, field, message) of every error.
fn errors(text: &str) -> Vec<(String, String, String)> {
    let profile = parse_profile(text, Path::new("testboard.toml")).expect("parses");
    let validation = validate(&profile, Some("testboard"));
    let errors: Vec<_> = validation
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| (f.rule.to_owned(), f.field.clone(), f.message.clone()))
        .collect();
    assert_eq!(
        validation.board.is_some(),
        errors.is_empty(),
        "a board exists exactly when there are no errors"
    );
    errors
}

/// Asserts that `text` breaks exactly `rule` on `field`, with a message containing `hint`.
#[track_caller]
fn rejects(text: &str, rule: &str, field: &str, hint: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "expected only {rule}, got {errors:#?}");
    let (got_rule, got_field, message) = &errors[0];
    assert_eq!(
        (got_rule.as_str(), got_field.as_str()),
        (rule, field),
        "{message}"
    );
    assert!(
        message.contains(hint),
        "message for {rule} lacks {hint:?}: {message}"
    );
}

#[test]
fn base_profile_is_valid() {
    assert_eq!(errors(BASE), vec![]);
    let profile = parse_profile(BASE, Path::new("t.toml")).unwrap();
    let board = validate(&profile, Some("testboard")).board.unwrap();
    assert_eq!(board.measured_cpus().to_string(), "2-3");
    assert_eq!(board.scenarios.len(), 2);
    assert_eq!(board.scenarios[0].interval_us, 200, "default interval");
    assert_eq!(board.scenarios[0].priority, 90, "default priority");
    assert_eq!(board.scenarios[1].duration.as_secs(), 60);
}

#[test]
fn cpulists_must_parse() {
    rejects(
        &with(r#"isolated = "2-3""#, r#"isolated = "3-2""#),
        "cpulist-syntax",
        "cpus.isolated",
        "write `2-3`",
    );
    rejects(
        &with(r#"oob = "2-3""#, r#"oob = "two""#),
        "cpulist-syntax",
        "cpus.oob",
        "two",
    );
}

#[test]
fn cpus_within_count() {
    let text = with(r#"isolated = "2-3""#, r#"isolated = "2-99""#)
        .replace(r#"oob = "2-3""#, r#"oob = "2""#);
    rejects(
        &text,
        "cpus-in-range",
        "cpus.isolated",
        "does not exist on a 4-CPU board",
    );
    rejects(
        &with("count = 4", "count = 0"),
        "cpu-count",
        "cpus.count",
        "at least 1",
    );
}

#[test]
fn housekeeping_nonempty() {
    let text = with(r#"housekeeping = "0-1""#, r#"housekeeping = """#)
        .replace(r#"isolated = "2-3""#, r#"isolated = "1-3""#);
    // CPU 0 is then in neither set, which is its own rule; check both are named.
    let errors = errors(&text);
    assert!(errors.iter().any(|(rule, field, _)| rule == "housekeeping-nonempty" && field == "cpus.housekeeping"), "{errors:#?}");
}

#[test]
fn boot_cpu_stays_housekeeping() {
    let text = with(r#"housekeeping = "0-1""#, r#"housekeeping = "1""#)
        .replace(r#"isolated = "2-3""#, r#"isolated = "0,2-3""#);
    let errors = errors(&text);
    let rules: Vec<_> = errors
        .iter()
        .map(|(r, f, _)| (r.as_str(), f.as_str()))
        .collect();
    assert_eq!(
        rules,
        vec![
            ("boot-cpu-housekeeping", "cpus.housekeeping"),
            ("boot-cpu-housekeeping", "cpus.isolated")
        ]
    );
}

#[test]
fn housekeeping_and_isolated_are_disjoint() {
    rejects(
        &with(r#"housekeeping = "0-1""#, r#"housekeeping = "0-2""#),
        "housekeeping-isolated-disjoint",
        "cpus.isolated",
        "CPU 2",
    );
}

#[test]
fn every_cpu_is_assigned() {
    let text =
        with(r#"isolated = "2-3""#, r#"isolated = "3""#).replace(r#"oob = "2-3""#, r#"oob = "3""#);
    rejects(&text, "cpus-partition", "cpus.housekeeping", "CPU 2");
}

#[test]
fn isolated_nonempty() {
    let text = with(r#"housekeeping = "0-1""#, r#"housekeeping = "0-3""#)
        .replace(r#"isolated = "2-3""#, r#"isolated = """#)
        .replace(r#"oob = "2-3""#, r#"oob = "2""#);
    let errors = errors(&text);
    assert!(
        errors
            .iter()
            .any(|(rule, field, _)| rule == "isolated-nonempty" && field == "cpus.isolated"),
        "{errors:#?}"
    );
}

#[test]
fn oob_is_within_isolated() {
    rejects(
        &with(r#"oob = "2-3""#, r#"oob = "1-3""#),
        "oob-subset-isolated",
        "cpus.oob",
        "CPU 1",
    );
}

#[test]
fn dual_kernel_needs_oob_and_preempt_rt_has_none() {
    rejects(
        &with(r#"oob = "2-3""#, r#"oob = """#),
        "oob-required",
        "cpus.oob",
        "rros",
    );
    rejects(
        &with(r#"flavour = "rros""#, r#"flavour = "preempt-rt""#),
        "oob-needs-dual-kernel",
        "cpus.oob",
        "no out-of-band stage",
    );
}

#[test]
fn rros_is_arm64_only() {
    rejects(
        &with(r#"arch = "aarch64""#, r#"arch = "x86_64""#),
        "flavour-arch",
        "kernel.flavour",
        "use flavour = \"evl\"",
    );
    // The same board on EVL is fine.
    let evl = with(r#"arch = "aarch64""#, r#"arch = "x86_64""#)
        .replace(r#"flavour = "rros""#, r#"flavour = "evl""#);
    assert_eq!(errors(&evl), vec![]);
}

#[test]
fn rros_kernel_cpu_limit() {
    // 256 CPUs is what the RROS kernel is built for; one more it cannot start or make
    // out-of-band. The same count on EVL is left to that kernel's own configuration.
    let cpus = |n: u32| {
        with("count = 4", &format!("count = {n}")).replace(
            r#"housekeeping = "0-1""#,
            &format!(r#"housekeeping = "0-1,4-{}""#, n - 1),
        )
    };
    assert_eq!(errors(&cpus(256)), vec![]);
    rejects(&cpus(257), "kernel-nr-cpus", "cpus.count", "CONFIG_NR_CPUS");
    let evl = cpus(257)
        .replace(r#"arch = "aarch64""#, r#"arch = "x86_64""#)
        .replace(r#"flavour = "rros""#, r#"flavour = "evl""#);
    assert_eq!(errors(&evl), vec![]);
}

#[test]
fn scenario_names_are_unique_and_present() {
    rejects(
        &with(r#"name = "load""#, r#"name = "idle""#),
        "scenario-unique",
        "scenario[1].name",
        "earlier scenario",
    );
    rejects(
        &with(r#"name = "load""#, r#"name = "with space""#),
        "scenario-name",
        "scenario[1].name",
        "letters, digits",
    );
    let none = BASE.split("[[scenario]]").next().unwrap().to_owned();
    rejects(&none, "scenario-present", "scenario", "add at least one");
}

#[test]
fn thresholds_are_positive_and_ordered() {
    rejects(
        &with("max_us = 50,", "max_us = 0,"),
        "threshold-positive",
        "scenario[0].threshold.max_us",
        "positive",
    );
    rejects(
        &with("p99_us = 20", "p99_us = 0"),
        "threshold-positive",
        "scenario[0].threshold.p99_us",
        "positive",
    );
    rejects(
        &with("p99_us = 20", "p99_us = 70"),
        "threshold-order",
        "scenario[0].threshold.p99_us",
        "cannot exceed",
    );
}

#[test]
fn scenario_settings_are_checked() {
    rejects(
        &with(r#"duration = "10s""#, r#"duration = "ten seconds""#),
        "scenario-duration",
        "scenario[0].duration",
        "\"60s\"",
    );
    rejects(
        &with(r#"duration = "10s""#, r#"duration = "0s""#),
        "scenario-duration",
        "scenario[0].duration",
        "zero",
    );
    rejects(
        &with(r#"duration = "10s""#, "duration = \"10s\"\ninterval_us = 0"),
        "scenario-interval",
        "scenario[0].interval_us",
        "1..=1000000",
    );
    rejects(
        &with(r#"duration = "10s""#, "duration = \"10s\"\npriority = 100"),
        "scenario-priority",
        "scenario[0].priority",
        "1..=99",
    );
    rejects(
        &with(r#"load = "stress-ng --cpu 1""#, r#"load = " ""#),
        "scenario-load",
        "scenario[1].load",
        "leave `load` out",
    );
}

#[test]
fn tuning_is_checked() {
    rejects(
        &with(r#"governor = "performance""#, r#"governor = "turbo""#),
        "governor-known",
        "tuning.governor",
        "performance",
    );
    rejects(
        &with(
            r#"governor = "performance""#,
            "governor = \"performance\"\nextra_cmdline = [\"isolcpus=1\"]",
        ),
        "cmdline-rendered",
        "tuning.extra_cmdline[0]",
        "cpus.isolated",
    );
    rejects(
        &with(
            r#"governor = "performance""#,
            "governor = \"performance\"\nextra_cmdline = [\"a b\"]",
        ),
        "cmdline-arg",
        "tuning.extra_cmdline[0]",
        "without spaces",
    );
    rejects(
        &with(
            r#"governor = "performance""#,
            "governor = \"performance\"\nextra_cmdline = ['x=\"y\"']",
        ),
        "plain-text",
        "tuning.extra_cmdline[0]",
        "quote",
    );
    rejects(
        &with(
            r#"governor = "performance""#,
            "governor = \"performance\"\nrpi_config = [\"force_turbo=1\"]",
        ),
        "rpi-config-delivery",
        "tuning.rpi_config",
        "Raspberry Pi",
    );
    rejects(
        &with(
            r#"governor = "performance""#,
            "governor = \"performance\"\nvm_stat_interval = 0",
        ),
        "vm-stat-interval",
        "tuning.vm_stat_interval",
        "at least 1",
    );
}

#[test]
fn identity_is_checked() {
    rejects(
        &with("schema = 1", "schema = 2"),
        "schema-version",
        "schema",
        "schema = 1",
    );
    rejects(
        &with(r#"name = "testboard""#, r#"name = "other""#),
        "name-matches-file",
        "name",
        "testboard.toml",
    );
    rejects(
        &with(r#"machine = "qemuarm64""#, r#"machine = """#),
        "machine-set",
        "machine",
        "MACHINE",
    );
}

#[test]
fn warnings_do_not_reject() {
    let text = with(
        r#"governor = "performance""#,
        "governor = \"ondemand\"\ntimer_migration = true",
    );
    let profile = parse_profile(&text, Path::new("t.toml")).unwrap();
    let validation = validate(&profile, Some("testboard"));
    assert!(validation.board.is_some());
    let rules: Vec<_> = validation
        .findings
        .iter()
        .map(|f| (f.severity, f.rule))
        .collect();
    assert_eq!(
        rules,
        vec![
            (Severity::Warning, "governor-performance"),
            (Severity::Warning, "timer-migration")
        ]
    );
}

#[test]
fn all_findings_are_reported_at_once() {
    let text = with(r#"oob = "2-3""#, r#"oob = "1-3""#)
        .replace("max_us = 50,", "max_us = 0,")
        .replace(r#"arch = "aarch64""#, r#"arch = "x86_64""#);
    let rules: Vec<_> = errors(&text).into_iter().map(|(rule, _, _)| rule).collect();
    assert_eq!(
        rules,
        vec!["flavour-arch", "oob-subset-isolated", "threshold-positive"]
    );
}

#[test]
fn unknown_keys_and_wrong_types_are_parse_errors() {
    let err = parse_profile(
        &with("[tuning]", "[tuning]\ngovernour = \"performance\""),
        Path::new("b.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("b.toml") && err.contains("governour"), "{err}");
    let err = parse_profile(&with("count = 4", "count = \"four\""), Path::new("b.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("count") || err.contains("invalid type"),
        "{err}"
    );
    let err = parse_profile(
        &with(r#"flavour = "rros""#, r#"flavour = "xenomai""#),
        Path::new("b.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("xenomai") && err.contains("rros"), "{err}");
}

/// Issue #12 finding 1: a duration whose nanoseconds overflow (`1000000000000h`) was accepted
/// and made the engine stop after one sample with PASS.
#[test]
fn duration_overflow_is_refused() {
    for huge in [
        "1000000000000h",
        "300years",
        "366days",
        "584542046090626days",
    ] {
        rejects(
            &with(r#"duration = "10s""#, &format!("duration = \"{huge}\"")),
            "scenario-duration",
            "scenario[0].duration",
            "365 days",
        );
    }
    assert_eq!(
        errors(&with(r#"duration = "1m""#, r#"duration = "365days""#)),
        vec![]
    );
}

/// Issue #12 finding 2: a duration shorter than the minimum number of periods measured one
/// sample and passed. `board check` compares each duration with its interval.
#[test]
fn duration_shorter_than_min_samples_is_refused() {
    rejects(
        &with(r#"duration = "10s""#, "duration = \"1ns\""),
        "scenario-samples",
        "scenario[0].duration",
        "0 period(s) of 200 µs, fewer than the 1000 samples",
    );
    rejects(
        &with(
            r#"duration = "10s""#,
            "duration = \"500us\"\ninterval_us = 1000",
        ),
        "scenario-samples",
        "scenario[0].duration",
        "measure at least 1s",
    );
    // Exactly the minimum is enough (with a warning: no room for overruns); the override
    // lowers or raises it.
    let tight = with(r#"duration = "10s""#, "duration = \"200ms\"");
    assert_eq!(errors(&tight), vec![]);
    let v = validate(
        &parse_profile(&tight, Path::new("t.toml")).unwrap(),
        Some("testboard"),
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.rule == "scenario-samples-margin" && f.field == "scenario[0].duration"),
        "{:?}",
        v.findings
    );
    assert_eq!(
        errors(&with(
            r#"duration = "10s""#,
            "duration = \"2ms\"\nmin_samples = 10"
        )),
        vec![]
    );
    rejects(
        &with(
            r#"duration = "10s""#,
            "duration = \"10s\"\nmin_samples = 100000",
        ),
        "scenario-samples",
        "scenario[0].duration",
        "fewer than the 100000 samples a scenario needs (min_samples)",
    );
    rejects(
        &with(r#"duration = "10s""#, "duration = \"10s\"\nmin_samples = 0"),
        "scenario-min-samples",
        "scenario[0].min_samples",
        "at least 1",
    );
    let board = validate(
        &parse_profile(BASE, Path::new("t.toml")).unwrap(),
        Some("testboard"),
    )
    .board
    .unwrap();
    assert_eq!(
        board.scenarios[0].min_samples,
        rros_board::DEFAULT_MIN_SAMPLES
    );
}

/// Issue #12 finding 7: `interval_us` up to 4294967295 was accepted here and refused by the
/// engine; both now use the engine's 1 µs to 1 s.
#[test]
fn interval_range_matches_the_engine() {
    for bad in [0u64, 1_000_001, 3_600_000_000, 4_294_967_295] {
        rejects(
            &with(
                r#"duration = "10s""#,
                &format!("duration = \"10s\"\ninterval_us = {bad}\nmin_samples = 1"),
            ),
            "scenario-interval",
            "scenario[0].interval_us",
            "1 µs to 1 s",
        );
    }
    let (lo, hi) = (
        *rros_board::INTERVAL_US_RANGE.start(),
        *rros_board::INTERVAL_US_RANGE.end(),
    );
    assert_eq!(u64::from(lo) * 1000, cyclictest::MIN_INTERVAL_NS);
    assert_eq!(u64::from(hi) * 1000, cyclictest::MAX_INTERVAL_NS);
    assert_eq!(
        errors(&with(
            r#"duration = "10s""#,
            "duration = \"10s\"\ninterval_us = 1000000\nmin_samples = 10"
        )),
        vec![]
    );
}

/// Issue #12 finding 5: `count = 4294967295` grew `board check` to 23 GB. The count is
/// bounded by NR_CPUS before anything is sized by it.
#[test]
fn cpu_count_is_bounded_by_nr_cpus() {
    for huge in ["8193", "100000000", "4294967295"] {
        rejects(
            &with("count = 4", &format!("count = {huge}")),
            "cpu-count",
            "cpus.count",
            "NR_CPUS is at most 8192",
        );
    }
}

/// The rules table is the one place the rules are: every finding of a profile that breaks
/// many rules at once names a rule of the tables, each table entry has an id, what it
/// checks and its fix, and only `plain-text` (one check over several fields) is listed twice.
#[test]
fn findings_come_from_the_rules_tables() {
    use rros_board::rules::{RULES, SCENARIO_RULES};
    let ids: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .chain(SCENARIO_RULES.iter().map(|r| r.id))
        .collect();
    for rule in RULES
        .iter()
        .map(|r| (r.id, r.checks, r.fix))
        .chain(SCENARIO_RULES.iter().map(|r| (r.id, r.checks, r.fix)))
    {
        assert!(
            !rule.1.is_empty() && !rule.2.is_empty(),
            "{} lacks its description or fix",
            rule.0
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        assert!(
            seen.insert(*id) || *id == "plain-text",
            "rule {id} is listed twice"
        );
    }
    let text = with(r#"oob = "2-3""#, r#"oob = "1-3,9""#)
        .replace(r#"name = "testboard""#, r#"name = "test board""#)
        .replace(r#"machine = "qemuarm64""#, r#"machine = "qemu$arm""#)
        .replace(
            r#"governor = "performance""#,
            "governor = \"ondemand\"\nextra_cmdline = [\"nosmt\", \"a b\"]\nrpi_config = [\"x\"]",
        )
        .replace("max_us = 50, p99_us = 20", "max_us = 10, p99_us = 20")
        .replace(r#"duration = "1m""#, r#"duration = "1ms""#)
        .replace(r#"name = "load""#, r#"name = "idle""#);
    let profile = parse_profile(&text, Path::new("t.toml")).expect("parses");
    let validation = validate(&profile, Some("other"));
    let found: std::collections::BTreeSet<&str> =
        validation.findings.iter().map(|f| f.rule).collect();
    for id in &found {
        assert!(
            ids.contains(id),
            "finding of rule {id}, which no table lists"
        );
    }
    for id in [
        "name-format",
        "name-matches-file",
        "plain-text",
        "cpus-in-range",
        "oob-subset-isolated",
        "governor-performance",
        "cmdline-arg",
        "cmdline-rendered",
        "rpi-config-delivery",
        "threshold-order",
        "scenario-unique",
        "scenario-samples",
    ] {
        assert!(
            found.contains(id),
            "{id} not reported: {:?}",
            validation.findings
        );
    }
    assert!(validation.board.is_none());
}

/// Issue #17: a claim the scenario's duration cannot prove on the measured CPUs is refused
/// before the run (it could only end INCONCLUSIVE); a bad claim names its field; the
/// board's `claim` is every scenario's default and a scenario's own claim overrides it.
#[test]
fn claims_are_checked_against_what_the_duration_can_prove() {
    // 10 s at 200 µs on the 2 OOB CPUs: 100 000 samples; 1e-5 at 95 % needs 299 572 (⌈ln 0.05 / ln(1 − 1e-5)⌉).
    rejects(
        &with(
            r#"duration = "10s""#,
            "duration = \"10s\"\nclaim = { exceedance = 1e-5 }",
        ),
        "scenario-claim-provable",
        "scenario[0].duration",
        "holds at most 100000 samples (50000 period(s) of 200 µs on 2 measured CPU(s)), fewer than the 299572 that prove",
    );
    // 1e-4 needs 29 957: provable in 10 s.
    let fine = with(
        r#"duration = "10s""#,
        "duration = \"10s\"\nclaim = { exceedance = 1e-4, confidence = 0.95 }",
    );
    assert_eq!(errors(&fine), vec![]);
    let board = validate(
        &parse_profile(&fine, Path::new("testboard.toml")).unwrap(),
        Some("testboard"),
    )
    .board
    .unwrap();
    assert_eq!(board.scenarios[0].claim.unwrap().exceedance, 1e-4);
    assert_eq!(board.scenarios[1].claim, None, "no claim unless stated");
    rejects(
        &with(
            r#"duration = "10s""#,
            "duration = \"10s\"\nclaim = { exceedance = 1.5 }",
        ),
        "scenario-claim",
        "scenario[0].claim.exceedance",
        "1.5 is not a probability strictly between 0 and 1",
    );
    // The board default applies to both scenarios; the 10 s one cannot prove 1e-5, and the
    // error names the board's `claim` as the one to weaken.
    let board_claim = with(
        "arch = \"aarch64\"\n",
        "arch = \"aarch64\"\nclaim = { exceedance = 1e-5, confidence = 0.95 }\n",
    );
    rejects(
        &board_claim,
        "scenario-claim-provable",
        "scenario[0].duration",
        "(claim)",
    );
    let overridden = board_claim.replacen(
        "duration = \"10s\"",
        "duration = \"10s\"\nclaim = { exceedance = 1e-3 }",
        1,
    );
    let board = validate(
        &parse_profile(&overridden, Path::new("testboard.toml")).unwrap(),
        Some("testboard"),
    )
    .board
    .expect("valid");
    assert_eq!(board.scenarios[0].claim.unwrap().exceedance, 1e-3);
    assert_eq!(board.scenarios[1].claim.unwrap().exceedance, 1e-5);
}

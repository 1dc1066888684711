//! Property tests: the canonical cpulist format round-trips through the parser, and the set
//! operations agree with their definition on plain CPU numbers.

use proptest::prelude::*;
use rros_board::CpuSet;
use std::collections::BTreeSet;

fn cpus() -> impl Strategy<Value = BTreeSet<u32>> {
    prop::collection::btree_set(0u32..300, 0..40)
}

proptest! {
    #[test]
    fn format_then_parse_is_identity(set in cpus()) {
        let cpuset: CpuSet = set.iter().copied().collect();
        let text = cpuset.to_string();
        let reparsed = CpuSet::parse(&text).unwrap();
        prop_assert_eq!(&reparsed, &cpuset);
        prop_assert_eq!(reparsed.iter().collect::<BTreeSet<_>>(), set);
        // Canonical: formatting the reparsed set gives the same text.
        prop_assert_eq!(reparsed.to_string(), text);
    }

    #[test]
    fn any_listing_parses_to_its_members(set in cpus(), shuffle in any::<u64>()) {
        // Write the members as single numbers and ranges in an arbitrary order.
        let mut pieces: Vec<String> = set.iter().map(u32::to_string).collect();
        let n = pieces.len().max(1);
        pieces.rotate_left((shuffle as usize) % n);
        let parsed = CpuSet::parse(&pieces.join(",")).unwrap();
        prop_assert_eq!(parsed.iter().collect::<BTreeSet<_>>(), set);
    }

    #[test]
    fn algebra_matches_definition(a in cpus(), b in cpus()) {
        let (sa, sb): (CpuSet, CpuSet) = (a.iter().copied().collect(), b.iter().copied().collect());
        prop_assert_eq!(sa.union(&sb).iter().collect::<BTreeSet<_>>(), a.union(&b).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(sa.intersection(&sb).iter().collect::<BTreeSet<_>>(), a.intersection(&b).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(sa.difference(&sb).iter().collect::<BTreeSet<_>>(), a.difference(&b).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(sa.is_subset(&sb), a.is_subset(&b));
    }

    #[test]
    fn stride_matches_definition(lo in 0u32..64, len in 0u32..64, used in 1u32..8, extra in 0u32..8) {
        let group = used + extra;
        let hi = lo + len;
        let parsed = CpuSet::parse(&format!("{lo}-{hi}:{used}/{group}")).unwrap();
        let expected: BTreeSet<u32> = (lo..=hi).filter(|c| (c - lo) % group < used).collect();
        prop_assert_eq!(parsed.iter().collect::<BTreeSet<_>>(), expected);
    }
}

//! Kernel cpulist syntax (`0-3,5`), parsed in order so `-a 3,1` keeps that order.

use std::fmt::Write;

/// Parses a cpulist such as `1`, `0-3,6`, `2,0`, `0-7:2` (stride) into CPUs in the given
/// order, without duplicates. Returns a message naming the bad part on error.
pub fn parse_cpulist(s: &str) -> Result<Vec<usize>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty CPU list".into());
    }
    let mut out: Vec<usize> = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        let num = |t: &str| -> Result<usize, String> {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{part}` is not a CPU number or range"))
        };
        let (range, stride) = match part.split_once(':') {
            Some((r, st)) => (r, num(st)?),
            None => (part, 1),
        };
        if stride == 0 {
            return Err(format!("`{part}`: stride must be at least 1"));
        }
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(range)?;
                (n, n)
            }
        };
        if lo > hi {
            return Err(format!("`{part}`: range start is above its end"));
        }
        if hi >= 1 << 16 {
            return Err(format!("`{part}`: CPU number too large"));
        }
        for c in (lo..=hi).step_by(stride) {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

/// Formats CPUs as a canonical cpulist (sorted, ranges collapsed): `[3,0,1,2,7]` → `0-3,7`.
pub fn format_cpulist(cpus: &[usize]) -> String {
    let mut v = cpus.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists() {
        assert_eq!(parse_cpulist("1").unwrap(), vec![1]);
        assert_eq!(parse_cpulist("0-3,6").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpulist("3,1,3").unwrap(), vec![3, 1]);
        assert_eq!(parse_cpulist("0-6:2").unwrap(), vec![0, 2, 4, 6]);
        assert_eq!(parse_cpulist(" 2 , 4 ").unwrap(), vec![2, 4]);
        for bad in ["", "a", "3-1", "1-", "-1", "1,,2", "0-4:0", "99999"] {
            assert!(parse_cpulist(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_lists() {
        assert_eq!(format_cpulist(&[3, 0, 1, 2, 7]), "0-3,7");
        assert_eq!(format_cpulist(&[]), "");
        assert_eq!(format_cpulist(&[5]), "5");
    }
}

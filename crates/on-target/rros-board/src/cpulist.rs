//! CPU sets in the kernel's cpulist syntax (`0-1,3`, `0-7:2/4`).
//!
//! This is the notation of `isolcpus=`, `nohz_full=`, `/sys/devices/system/cpu/isolated` and
//! `/proc/irq/*/smp_affinity_list`, so profiles, rendered command lines and the live audit all
//! speak it. Parsing is strict where the kernel is lenient: a reversed range (`3-1`) is an
//! error here rather than a silently empty set, because in a board profile it is always a typo.
//! Formatting is canonical (ascending, maximal ranges), so two equal sets print the same.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// The largest CPU number accepted, matching the kernel's `NR_CPUS` ceiling on arm64/x86-64.
pub const MAX_CPU: u32 = 8191;

/// A set of CPU numbers.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct CpuSet(BTreeSet<u32>);

/// Why a cpulist could not be parsed; the message quotes the offending piece.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    #[error("`{piece}` is not a CPU number or range (expected e.g. `2`, `2-3` or `0-7:2/4`)")]
    Syntax { piece: String },
    #[error("range `{piece}` is reversed: write `{hi}-{lo}`")]
    Reversed { piece: String, lo: u32, hi: u32 },
    #[error("CPU {cpu} in `{piece}` is beyond the largest supported CPU number {MAX_CPU}")]
    TooLarge { piece: String, cpu: u32 },
    #[error("stride `{piece}` needs 0 < used <= group (e.g. `0-7:2/4`)")]
    Stride { piece: String },
}

impl CpuSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// All CPUs `0..count`.
    pub fn first_n(count: u32) -> Self {
        Self((0..count).collect())
    }

    /// Parses a kernel cpulist. Blank input (as in an empty `/sys/.../isolated`) is the empty set.
    pub fn parse(text: &str) -> Result<Self, CpuListError> {
        let mut set = BTreeSet::new();
        let text = text.trim();
        if text.is_empty() {
            return Ok(Self(set));
        }
        for piece in text.split(',') {
            let piece = piece.trim();
            let (range, stride) = match piece.split_once(':') {
                Some((range, stride)) => (range, Some(stride)),
                None => (piece, None),
            };
            let number = |s: &str| -> Result<u32, CpuListError> {
                let cpu: u32 = s.trim().parse().map_err(|_| CpuListError::Syntax {
                    piece: piece.to_owned(),
                })?;
                if cpu > MAX_CPU {
                    return Err(CpuListError::TooLarge {
                        piece: piece.to_owned(),
                        cpu,
                    });
                }
                Ok(cpu)
            };
            let (lo, hi) = match range.split_once('-') {
                Some((lo, hi)) => (number(lo)?, number(hi)?),
                None if stride.is_none() => {
                    let cpu = number(range)?;
                    (cpu, cpu)
                }
                None => {
                    return Err(CpuListError::Syntax {
                        piece: piece.to_owned(),
                    });
                }
            };
            if lo > hi {
                return Err(CpuListError::Reversed {
                    piece: piece.to_owned(),
                    lo,
                    hi,
                });
            }
            let (used, group) = match stride {
                None => (1, 1),
                Some(stride) => {
                    let parsed = stride.split_once('/').and_then(|(u, g)| {
                        Some((u.trim().parse::<u32>().ok()?, g.trim().parse::<u32>().ok()?))
                    });
                    match parsed {
                        Some((used, group)) if used > 0 && used <= group => (used, group),
                        _ => {
                            return Err(CpuListError::Stride {
                                piece: piece.to_owned(),
                            });
                        }
                    }
                }
            };
            set.extend((lo..=hi).filter(|cpu| (cpu - lo) % group < used));
        }
        Ok(Self(set))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, cpu: u32) -> bool {
        self.0.contains(&cpu)
    }

    pub fn insert(&mut self, cpu: u32) -> bool {
        self.0.insert(cpu)
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    /// The largest CPU number in the set.
    pub fn max(&self) -> Option<u32> {
        self.0.last().copied()
    }

    pub fn union(&self, other: &Self) -> Self {
        Self(self.0.union(&other.0).copied().collect())
    }

    pub fn intersection(&self, other: &Self) -> Self {
        Self(self.0.intersection(&other.0).copied().collect())
    }

    pub fn difference(&self, other: &Self) -> Self {
        Self(self.0.difference(&other.0).copied().collect())
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.is_subset(&other.0)
    }

    /// CPUs of this set that are not in `0..count`.
    pub fn beyond(&self, count: u32) -> Self {
        Self(self.0.range(count..).copied().collect())
    }
}

impl FromStr for CpuSet {
    type Err = CpuListError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromIterator<u32> for CpuSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Canonical cpulist: ascending, maximal ranges, `a-b` only for runs of two or more.
impl fmt::Display for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::new();
        self.write_canonical(&mut text)?;
        f.pad(&text)
    }
}

impl CpuSet {
    fn write_canonical(&self, f: &mut impl fmt::Write) -> fmt::Result {
        let mut cpus = self.0.iter().copied().peekable();
        let mut first = true;
        while let Some(lo) = cpus.next() {
            let mut hi = lo;
            while cpus.peek() == Some(&(hi + 1)) {
                hi += 1;
                cpus.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuSet({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_forms() {
        assert_eq!(CpuSet::parse("").unwrap(), CpuSet::new());
        assert_eq!(CpuSet::parse(" \n").unwrap(), CpuSet::new());
        assert_eq!(CpuSet::parse("3").unwrap().to_string(), "3");
        assert_eq!(CpuSet::parse("0-1,3").unwrap().to_string(), "0-1,3");
        assert_eq!(CpuSet::parse("3,1,2,0").unwrap().to_string(), "0-3");
        assert_eq!(CpuSet::parse("0-7:2/4").unwrap().to_string(), "0-1,4-5");
        assert_eq!(CpuSet::parse("2-2").unwrap().to_string(), "2");
        assert_eq!(CpuSet::parse("1,1,1").unwrap().len(), 1);
    }

    #[test]
    fn rejects_malformed() {
        assert!(matches!(
            CpuSet::parse("3-1"),
            Err(CpuListError::Reversed { lo: 3, hi: 1, .. })
        ));
        assert!(matches!(
            CpuSet::parse("a"),
            Err(CpuListError::Syntax { .. })
        ));
        assert!(matches!(
            CpuSet::parse("1,,2"),
            Err(CpuListError::Syntax { .. })
        ));
        assert!(matches!(
            CpuSet::parse("-1"),
            Err(CpuListError::Syntax { .. })
        ));
        assert!(matches!(
            CpuSet::parse("0-3:0/2"),
            Err(CpuListError::Stride { .. })
        ));
        assert!(matches!(
            CpuSet::parse("0-3:3/2"),
            Err(CpuListError::Stride { .. })
        ));
        assert!(matches!(
            CpuSet::parse("9000"),
            Err(CpuListError::TooLarge { .. })
        ));
        let message = CpuSet::parse("3-1").unwrap_err().to_string();
        assert!(message.contains("write `1-3`"), "{message}");
    }

    #[test]
    fn set_algebra() {
        let a = CpuSet::parse("0-3").unwrap();
        let b = CpuSet::parse("2-5").unwrap();
        assert_eq!(a.union(&b).to_string(), "0-5");
        assert_eq!(a.intersection(&b).to_string(), "2-3");
        assert_eq!(a.difference(&b).to_string(), "0-1");
        assert!(CpuSet::parse("2").unwrap().is_subset(&a));
        assert_eq!(b.beyond(4).to_string(), "4-5");
        assert_eq!(CpuSet::first_n(4).to_string(), "0-3");
    }
}

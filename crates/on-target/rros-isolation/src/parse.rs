//! Parsers for the kernel's text formats the audit reads: the command line, hex CPU masks,
//! `/proc/interrupts`, and shell-style `KEY=value` files.

use rros_board::CpuSet;
use std::collections::BTreeMap;

/// One kernel parameter: `key` or `key=value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: Option<String>,
}

impl Param {
    /// The parameter as written on a command line.
    pub fn text(&self) -> String {
        match &self.value {
            Some(value) if value.contains(char::is_whitespace) => {
                format!("{}=\"{value}\"", self.key)
            }
            Some(value) => format!("{}={value}", self.key),
            None => self.key.clone(),
        }
    }
}

/// Splits a kernel command line the way the kernel's `next_arg()` does: whitespace separates
/// parameters except inside double quotes, `"key=a b"` and `key="a b"` both give the value
/// `a b`, and a bare `--` ends the kernel's parameters (the rest is for init).
pub fn parse_cmdline(text: &str) -> Vec<Param> {
    let mut params = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (param, after) = next_arg(rest);
        rest = after.trim_start();
        if param.key == "--" && param.value.is_none() {
            break;
        }
        params.push(param);
    }
    params
}

fn next_arg(args: &str) -> (Param, &str) {
    let bytes = args.as_bytes();
    let mut i = 0;
    let mut in_quote = false;
    let mut quoted = false;
    if bytes.first() == Some(&b'"') {
        i = 1;
        in_quote = true;
        quoted = true;
    }
    let start = i;
    let mut equals = None;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() && !in_quote {
            break;
        }
        if equals.is_none() && c == b'=' {
            equals = Some(i);
        }
        if c == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    let end = i;
    let rest = &args[end..];
    let strip_closing = |s: &str| {
        s.strip_suffix('"')
            .map(str::to_owned)
            .unwrap_or(s.to_owned())
    };
    let param = match equals {
        None => {
            let key = &args[start..end];
            Param {
                key: if quoted {
                    strip_closing(key)
                } else {
                    key.to_owned()
                },
                value: None,
            }
        }
        Some(eq) => {
            let key = args[start..eq].to_owned();
            let raw = &args[eq + 1..end];
            let value = match raw.strip_prefix('"') {
                Some(inner) => strip_closing(inner),
                None if quoted => strip_closing(raw),
                None => raw.to_owned(),
            };
            Param {
                key,
                value: Some(value),
            }
        }
    };
    (param, rest)
}

/// The kernel compares module-style parameter names (`rcupdate.rcu_normal_after_boot`) with `-`
/// and `_` as equal; built-in `__setup` names (`isolcpus`) exactly.
pub fn normalize_key(key: &str) -> String {
    if key.contains('.') {
        key.replace('-', "_")
    } else {
        key.to_owned()
    }
}

/// The last value of every key (the kernel applies parameters in order, so the last one wins).
pub fn last_values(params: &[Param]) -> BTreeMap<String, Param> {
    let mut map = BTreeMap::new();
    for param in params {
        map.insert(normalize_key(&param.key), param.clone());
    }
    map
}

/// `isolcpus=[flag,]...cpulist`: flags (`domain` when none is given) and CPUs, as the kernel's
/// `housekeeping_isolcpus_setup()` reads them.
pub fn parse_isolcpus(value: &str) -> Option<(Vec<String>, CpuSet)> {
    let mut flags = Vec::new();
    let mut rest = value;
    while rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let (flag, after) = rest.split_once(',')?;
        flags.push(flag.to_owned());
        rest = after;
    }
    if flags.is_empty() {
        flags.push("domain".to_owned());
    }
    flags.sort();
    flags.dedup();
    let cpus = CpuSet::parse(rest).ok()?;
    Some((flags, cpus))
}

/// A hex CPU mask as the kernel prints it (`%*pb`): 32-bit groups of hex digits separated by
/// commas, most significant first (`3`, `00000000,0000000f`).
pub fn parse_hex_mask(text: &str) -> Result<CpuSet, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty CPU mask".into());
    }
    let mut set = CpuSet::new();
    let mut bit = 0u32;
    for group in text.rsplit(',') {
        let group = group.trim();
        if group.is_empty() || group.len() > 8 {
            return Err(format!(
                "`{group}` is not a group of 1 to 8 hex digits (expected e.g. `3` or `00000000,0000000f`)"
            ));
        }
        let value =
            u32::from_str_radix(group, 16).map_err(|_| format!("`{group}` is not hexadecimal"))?;
        for i in 0..32 {
            if value & (1 << i) != 0 {
                set.insert(bit + i);
            }
        }
        bit += 32;
    }
    Ok(set)
}

/// A CPU set as a hex mask the kernel's `bitmap_parse()` takes: 32-bit groups, commas between
/// them, no leading zero groups (`1`, `f`, `1,00000000`).
pub fn format_hex_mask(set: &CpuSet) -> String {
    let Some(max) = set.max() else {
        return "0".into();
    };
    let groups = max / 32 + 1;
    let mut words = vec![0u32; groups as usize];
    for cpu in set.iter() {
        words[(cpu / 32) as usize] |= 1 << (cpu % 32);
    }
    let mut out = String::new();
    for (i, word) in words.iter().rev().enumerate() {
        if i == 0 {
            out.push_str(&format!("{word:x}"));
        } else {
            out.push_str(&format!(",{word:08x}"));
        }
    }
    out
}

/// One numbered line of `/proc/interrupts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IrqLine {
    pub irq: u32,
    /// Everything after the per-CPU counts: chip, hardware IRQ, trigger, action names.
    pub desc: String,
    /// The interrupt chip (first word of `desc`), e.g. `IO-APIC`, `GICv3`, `PCI-MSIX-0000:00:04.0`.
    pub chip: String,
    /// The hardware IRQ number (second word of `desc`, `27` or the `4` of `4-edge`), if shown.
    pub hwirq: Option<u64>,
}

impl IrqLine {
    /// Why this IRQ is per-CPU (one instance per CPU, its affinity cannot be set), if it is.
    ///
    /// The rule (docs/audit.md): a GIC PPI or SGI (hardware IRQ below 32, or an extended PPI
    /// 1056–1119), any interrupt of a per-CPU local controller (RISC-V INTC), or an action
    /// whose name is a known per-CPU source (the arm64 architected timer, the PMU, KVM's
    /// guest timers and vGIC maintenance interrupt). The x86 local-APIC vectors (`LOC`,
    /// `TLB`, …) and arm64 IPIs have no number in `/proc/interrupts` and are never audited.
    pub fn per_cpu_reason(&self) -> Option<String> {
        let chip = self.chip.to_ascii_lowercase();
        if chip.starts_with("gic")
            && let Some(hw) = self.hwirq
            && (hw < 32 || (1056..1120).contains(&hw))
        {
            let kind = if hw < 16 {
                "SGI"
            } else if hw < 32 {
                "PPI"
            } else {
                "extended PPI"
            };
            return Some(format!("{} {kind} {hw}: a per-CPU interrupt", self.chip));
        }
        if chip.contains("intc") && chip.contains("risc") {
            return Some(format!(
                "{}: a per-CPU local interrupt controller",
                self.chip
            ));
        }
        PER_CPU_NAMES
            .iter()
            .find(|name| self.desc.contains(*name))
            .map(|name| format!("`{name}` is a per-CPU interrupt"))
    }
}

/// Action names of per-CPU interrupts that are not recognisable by their chip alone.
pub const PER_CPU_NAMES: &[&str] = &[
    "arch_timer",
    "arm-pmu",
    "kvm guest vtimer",
    "kvm guest ptimer",
    "vgic",
    "riscv-timer",
];

/// The numbered lines of `/proc/interrupts`. Only IRQs with a handler (or a count) are listed
/// there, which is what the audit wants: an IRQ without a handler never fires.
pub fn parse_interrupts(text: &str) -> Result<BTreeMap<u32, IrqLine>, String> {
    let mut lines = text.lines();
    let header = lines.next().ok_or("empty /proc/interrupts")?;
    let ncpus = header
        .split_whitespace()
        .filter(|w| w.starts_with("CPU"))
        .count();
    if ncpus == 0 {
        return Err(format!("header `{}` names no CPU column", header.trim()));
    }
    let mut map = BTreeMap::new();
    for line in lines {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = label.trim().parse::<u32>() else {
            continue; // NMI, LOC, IPI0, ERR...: per-CPU vectors without /proc/irq/<n>.
        };
        let mut words = rest.split_whitespace().peekable();
        for _ in 0..ncpus {
            if words.next_if(|w| w.parse::<u64>().is_ok()).is_none() {
                break;
            }
        }
        let desc: Vec<&str> = words.collect();
        let chip = desc.first().copied().unwrap_or_default().to_owned();
        let hwirq = desc.get(1).and_then(|w| {
            let digits: String = w.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        });
        map.insert(
            irq,
            IrqLine {
                irq,
                desc: desc.join(" "),
                chip,
                hwirq,
            },
        );
    }
    Ok(map)
}

/// `KEY=value` assignments of a shell-style environment file (`/etc/default/irqbalance`):
/// comments and `export` ignored, quotes removed, the last assignment wins.
pub fn parse_env_file(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        map.insert(key.trim().to_owned(), value.to_owned());
    }
    map
}

/// `KEY=value` entries of a NUL-separated `/proc/<pid>/environ`.
pub fn parse_environ(text: &str) -> BTreeMap<String, String> {
    text.split('\0')
        .filter_map(|entry| entry.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, Option<String>)> {
        parse_cmdline(text)
            .into_iter()
            .map(|p| (p.key, p.value))
            .collect()
    }

    fn p(key: &str, value: Option<&str>) -> (String, Option<String>) {
        (key.to_owned(), value.map(str::to_owned))
    }

    #[test]
    fn cmdline_plain_and_flags() {
        assert_eq!(
            kv("console=ttyS0 quiet  isolcpus=managed_irq,domain,1\n"),
            vec![
                p("console", Some("ttyS0")),
                p("quiet", None),
                p("isolcpus", Some("managed_irq,domain,1"))
            ]
        );
        assert_eq!(kv(""), vec![]);
        assert_eq!(kv("a= b"), vec![p("a", Some("")), p("b", None)]);
    }

    #[test]
    fn cmdline_quotes_like_the_kernel() {
        assert_eq!(
            kv(r#"dyndbg="file foo.c +p" "acpi_osi=Linux x" x"#),
            vec![
                p("dyndbg", Some("file foo.c +p")),
                p("acpi_osi", Some("Linux x")),
                p("x", None)
            ]
        );
        assert_eq!(kv(r#""quiet""#), vec![p("quiet", None)]);
    }

    #[test]
    fn cmdline_stops_at_double_dash() {
        assert_eq!(
            kv("quiet -- --init-flag nohz_full=1"),
            vec![p("quiet", None)]
        );
        // `--=x` is a parameter, not the separator.
        assert_eq!(kv("--=x a"), vec![p("--", Some("x")), p("a", None)]);
    }

    #[test]
    fn last_value_wins_and_module_names_normalize() {
        let params = parse_cmdline(
            "nohz_full=1 rcupdate.rcu-expedited=1 nohz_full=2 rcupdate.rcu_expedited=0",
        );
        let last = last_values(&params);
        assert_eq!(last["nohz_full"].value.as_deref(), Some("2"));
        assert_eq!(last["rcupdate.rcu_expedited"].value.as_deref(), Some("0"));
        assert_eq!(normalize_key("nohz-full"), "nohz-full");
    }

    #[test]
    fn isolcpus_forms() {
        let (flags, cpus) = parse_isolcpus("managed_irq,domain,2-3").unwrap();
        assert_eq!(flags, ["domain", "managed_irq"]);
        assert_eq!(cpus.to_string(), "2-3");
        let (flags, cpus) = parse_isolcpus("3,2").unwrap();
        assert_eq!(flags, ["domain"]);
        assert_eq!(cpus.to_string(), "2-3");
        assert_eq!(
            parse_isolcpus("domain,managed_irq,2,3"),
            parse_isolcpus("managed_irq,domain,2-3")
        );
        assert!(parse_isolcpus("domain").is_none());
    }

    #[test]
    fn hex_masks() {
        assert_eq!(parse_hex_mask("3\n").unwrap().to_string(), "0-1");
        assert_eq!(
            parse_hex_mask("00000000,0000000f").unwrap().to_string(),
            "0-3"
        );
        assert_eq!(parse_hex_mask("1,00000000").unwrap().to_string(), "32");
        assert_eq!(parse_hex_mask("0").unwrap().to_string(), "");
        assert!(parse_hex_mask("xyz").is_err());
        assert!(parse_hex_mask("123456789").is_err());
        assert!(parse_hex_mask("").is_err());
        for text in ["0-1", "1", "2-3", "0,32", "0-63", "5,40-41"] {
            let set = CpuSet::parse(text).unwrap();
            assert_eq!(parse_hex_mask(&format_hex_mask(&set)).unwrap(), set);
        }
        assert_eq!(format_hex_mask(&CpuSet::parse("0").unwrap()), "1");
        assert_eq!(format_hex_mask(&CpuSet::parse("0-3").unwrap()), "f");
        assert_eq!(format_hex_mask(&CpuSet::parse("32").unwrap()), "1,00000000");
        assert_eq!(format_hex_mask(&CpuSet::new()), "0");
    }

    #[test]
    fn interrupts_x86_and_arm64() {
        let x86 = "           CPU0       CPU1       \n  \
 26:          0         14  IO-APIC   4-edge      ttyS0\n  \
 42:          0      30010 PCI-MSIX-0000:00:04.0   2-edge      virtio3-tx\n\
NMI:          0          0   Non-maskable interrupts\n\
ERR:          0\n";
        let map = parse_interrupts(x86).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(map[&26].chip, "IO-APIC");
        assert_eq!(map[&26].hwirq, Some(4));
        assert_eq!(map[&42].desc, "PCI-MSIX-0000:00:04.0 2-edge virtio3-tx");
        assert_eq!(map[&42].per_cpu_reason(), None);

        let arm = "           CPU0       CPU1       CPU2       CPU3       \n \
 11:      12345      12001      11876      11902     GIC-0  27 Level     arch_timer\n \
 36:        120          0          0          0     GIC-0  33 Level     uart-pl011\n \
 14:          0          0          0          0     GICv3  23 Level     arm-pmu\n\
IPI0:       341        402        387        399       Rescheduling interrupts\n";
        let map = parse_interrupts(arm).unwrap();
        assert!(map[&11].per_cpu_reason().unwrap().contains("PPI 27"));
        assert!(map[&14].per_cpu_reason().is_some());
        assert_eq!(map[&36].per_cpu_reason(), None);
        assert_eq!(map[&36].hwirq, Some(33));
        assert!(parse_interrupts("").is_err());
    }

    #[test]
    fn env_files() {
        let map = parse_env_file(
            "# comment\nIRQBALANCE_ONESHOT=\nexport IRQBALANCE_BANNED_CPULIST=\"2-3\"\nOTHER='x y'\nIRQBALANCE_BANNED_CPULIST=1\n",
        );
        assert_eq!(map["IRQBALANCE_BANNED_CPULIST"], "1");
        assert_eq!(map["OTHER"], "x y");
        let env = parse_environ("IRQBALANCE_BANNED_CPULIST=2-3\0PATH=/bin\0");
        assert_eq!(env["IRQBALANCE_BANNED_CPULIST"], "2-3");
    }
}

//! Checking fragments against a tree.

use crate::expr::{Lookup, Tristate};
use crate::fragment::{Fragment, FragmentIssue, Value};
use crate::tree::KconfigTree;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// A fragment line naming a symbol the tree does not define: `merge_config.sh` would drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSymbol {
    pub fragment: PathBuf,
    pub line: usize,
    pub symbol: String,
    /// The tree's spelling if it differs only in case (`CONFIG_RROS` -> `CONFIG_Rros`).
    pub suggestion: Option<String>,
}

/// Where a fragment says something, quoted in warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub fragment: PathBuf,
    pub line: usize,
    /// The line as written (`# CONFIG_MODVERSIONS is not set`).
    pub spelled: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarningKind {
    /// The symbol is set but a dependency evaluates to `n` under the fragments' own values,
    /// so the symbol cannot end up set.
    DependencyDisabled {
        dependency: String,
        defined_at: (PathBuf, usize),
        because: Vec<Origin>,
    },
    /// The symbol is set and selects a symbol the fragments disable: Kconfig will turn the
    /// selected symbol on regardless, so the `not set` line is a lie.
    SelectedButDisabled {
        target: String,
        selected_at: (PathBuf, usize),
        disabled_by: Origin,
    },
    /// Two or more members of one `choice` are set to `y`; only one can win.
    ChoiceConflict { others: Vec<Origin> },
    /// The symbol is assigned again with a different value; the later line wins.
    Overridden { earlier: Origin },
}

/// A contradiction the fragments visibly contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub fragment: PathBuf,
    pub line: usize,
    pub symbol: String,
    /// The line as written.
    pub spelled: String,
    pub kind: WarningKind,
}

/// The result of [`check`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Assignment lines read (including `is not set`).
    pub assignments: usize,
    pub unknown: Vec<UnknownSymbol>,
    /// Malformed fragment lines, with their file.
    pub issues: Vec<(PathBuf, FragmentIssue)>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// No unknown symbols and no malformed lines (warnings do not make a report fail).
    pub fn passed(&self) -> bool {
        self.unknown.is_empty() && self.issues.is_empty()
    }
}

#[derive(Clone)]
struct Effective<'a> {
    value: &'a Value,
    origin: Origin,
}

struct Values<'a>(HashMap<&'a str, Effective<'a>>);

impl Lookup for Values<'_> {
    fn tristate(&self, symbol: &str) -> Tristate {
        match self.0.get(symbol).map(|e| e.value) {
            Some(Value::Yes) => Tristate::Yes,
            Some(Value::Module) => Tristate::Mod,
            Some(Value::No) => Tristate::No,
            _ => Tristate::Unknown,
        }
    }

    fn raw(&self, symbol: &str) -> Option<String> {
        self.0.get(symbol).map(|e| e.value.raw())
    }
}

/// Check fragments, in the order they are merged (a later assignment overrides an earlier
/// one), against a tree.
pub fn check(tree: &KconfigTree, fragments: &[Fragment]) -> Report {
    let mut report = Report::default();
    let mut values: Values = Values(HashMap::new());
    // Effective assignments in merge order, for stable output.
    let mut order: Vec<&str> = Vec::new();

    for fragment in fragments {
        for issue in &fragment.issues {
            report.issues.push((fragment.path.clone(), issue.clone()));
        }
        for assignment in &fragment.assignments {
            report.assignments += 1;
            if !tree.defines(&assignment.symbol) {
                report.unknown.push(UnknownSymbol {
                    fragment: fragment.path.clone(),
                    line: assignment.line,
                    symbol: assignment.symbol.clone(),
                    suggestion: tree
                        .spelled_differently(&assignment.symbol)
                        .map(str::to_string),
                });
            }
            let origin = Origin {
                fragment: fragment.path.clone(),
                line: assignment.line,
                spelled: assignment.spelled(),
            };
            let effective = Effective {
                value: &assignment.value,
                origin: origin.clone(),
            };
            match values.0.insert(&assignment.symbol, effective) {
                Some(earlier) if earlier.value != &assignment.value => {
                    report.warnings.push(warning(
                        &assignment.symbol,
                        &origin,
                        WarningKind::Overridden {
                            earlier: earlier.origin,
                        },
                    ));
                }
                Some(_) => {}
                None => order.push(&assignment.symbol),
            }
        }
    }

    let mut choices: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for symbol in &order {
        let effective = &values.0[symbol];
        if !effective.value.is_set() || !tree.defines(symbol) {
            continue;
        }
        let definitions = tree.definitions(symbol);

        // Dependencies: a warning only if every definition has one that is visibly false.
        let blocked: Vec<_> = definitions
            .iter()
            .map(|def| {
                def.depends
                    .iter()
                    .find(|expr| expr.eval(&values) == Tristate::No)
                    .map(|expr| (def, expr))
            })
            .collect();
        if let Some(Some((def, expr))) = blocked.first()
            && blocked.iter().all(Option::is_some)
        {
            let because = expr
                .symbols()
                .into_iter()
                .filter_map(|name| values.0.get(name).map(|e| e.origin.clone()))
                .collect();
            report.warnings.push(warning(
                symbol,
                &effective.origin,
                WarningKind::DependencyDisabled {
                    dependency: expr.to_string(),
                    defined_at: (def.file.clone(), def.line),
                    because,
                },
            ));
            continue;
        }

        // Selects of the definitions that can be active.
        let mut warned_targets: Vec<&str> = Vec::new();
        for (def, _) in definitions
            .iter()
            .zip(&blocked)
            .filter(|(_, b)| b.is_none())
        {
            for select in def.selects.iter().filter(|s| !s.implied) {
                if warned_targets.contains(&select.target.as_str()) {
                    continue;
                }
                if let Some(condition) = &select.condition
                    && condition.eval(&values) == Tristate::No
                {
                    continue;
                }
                if let Some(disabled) = values.0.get(select.target.as_str())
                    && disabled.value == &Value::No
                {
                    warned_targets.push(&select.target);
                    report.warnings.push(warning(
                        symbol,
                        &effective.origin,
                        WarningKind::SelectedButDisabled {
                            target: select.target.clone(),
                            selected_at: (def.file.clone(), select.line),
                            disabled_by: disabled.origin.clone(),
                        },
                    ));
                }
            }
        }

        if effective.value == &Value::Yes
            && let Some(choice) = definitions.iter().find_map(|d| d.choice)
        {
            choices.entry(choice).or_default().push(symbol);
        }
    }

    for (choice, members) in choices {
        if members.len() < 2 {
            continue;
        }
        debug_assert!(tree.choice_members(choice).count() >= members.len());
        let last = members[members.len() - 1];
        let others = members[..members.len() - 1]
            .iter()
            .map(|m| values.0[m].origin.clone())
            .collect();
        report.warnings.push(warning(
            last,
            &values.0[last].origin,
            WarningKind::ChoiceConflict { others },
        ));
    }

    report
}

fn warning(symbol: &str, origin: &Origin, kind: WarningKind) -> Warning {
    Warning {
        fragment: origin.fragment.clone(),
        line: origin.line,
        symbol: symbol.to_string(),
        spelled: origin.spelled.clone(),
        kind,
    }
}

fn at(path: &Path, line: usize) -> String {
    format!("{}:{line}", path.display())
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.spelled, at(&self.fragment, self.line))
    }
}

impl fmt::Display for UnknownSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: CONFIG_{} is not defined by any Kconfig file of the tree",
            at(&self.fragment, self.line),
            self.symbol
        )?;
        if let Some(suggestion) = &self.suggestion {
            write!(
                f,
                " (symbols are case-sensitive: the tree defines CONFIG_{suggestion})"
            )?;
        }
        Ok(())
    }
}

fn list(origins: &[Origin]) -> String {
    origins
        .iter()
        .map(Origin::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: `{}`: ", at(&self.fragment, self.line), self.spelled)?;
        match &self.kind {
            WarningKind::DependencyDisabled {
                dependency,
                defined_at,
                because,
            } => {
                write!(
                    f,
                    "{} depends on `{dependency}` ({}), which the fragments make false",
                    self.symbol,
                    at(&defined_at.0, defined_at.1)
                )?;
                if !because.is_empty() {
                    write!(f, " through {}", list(because))?;
                }
                write!(f, "; the symbol will not be set")
            }
            WarningKind::SelectedButDisabled {
                target,
                selected_at,
                disabled_by,
            } => write!(
                f,
                "{} selects {target} ({}), but {disabled_by} disables it; Kconfig will set it \
                 anyway",
                self.symbol,
                at(&selected_at.0, selected_at.1)
            ),
            WarningKind::ChoiceConflict { others } => write!(
                f,
                "{} is in the same choice as {}; only one member of a choice can be y",
                self.symbol,
                list(others)
            ),
            WarningKind::Overridden { earlier } => {
                write!(f, "overrides {earlier}; the later line wins")
            }
        }
    }
}

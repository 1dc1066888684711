//! A reader for the parts of the Kconfig language that decide whether a symbol exists and
//! what it depends on: `config`/`menuconfig`, `choice`, `menu`, `if`, `depends on`, `select`,
//! types, and help texts (skipped by indentation, so prose is never mistaken for keywords).
//! `source` lines are ignored: the tree reader visits every `Kconfig*` file anyway.

use crate::expr::{Expr, TooDeep, parse_expr_bounded};
use crate::tree::{Definition, Select, SymbolKind};
use std::path::Path;

enum Block {
    If(Expr),
    Menu(Vec<Expr>),
    Choice { id: usize, depends: Vec<Expr> },
}

/// What `depends on` lines currently attach to.
enum Current {
    None,
    Definition(usize),
    /// The innermost block (a menu or choice that was just opened).
    Block,
    /// A `comment` or `mainmenu`: its `depends on` lines matter to nobody here.
    Ignored,
}

/// An expression of a Kconfig file nested too deep to read safely, at a 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeepAt {
    pub line: usize,
    pub source: TooDeep,
}

/// Parse one Kconfig file. `choice_base` makes choice ids unique across files; the returned
/// count is how many choices this file opened. `too_deep` decides what an expression nested
/// deeper than [`crate::MAX_EXPR_DEPTH`] becomes (given its line and text): an error that ends
/// the parse, or a stand-in expression.
pub(crate) fn parse_file<E>(
    path: &Path,
    text: &str,
    choice_base: usize,
    too_deep: impl Fn(TooDeepAt, &str) -> Result<Expr, E>,
) -> Result<(Vec<Definition>, usize), E> {
    let mut definitions: Vec<Definition> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    let mut current = Current::None;
    let mut choices = 0usize;
    let mut help_indent: Option<Option<usize>> = None;

    for (line_no, line) in logical_lines(text) {
        let parse_expr = |text: &str| {
            parse_expr_bounded(text).or_else(|source| {
                too_deep(
                    TooDeepAt {
                        line: line_no,
                        source,
                    },
                    text,
                )
            })
        };
        // Help text: from `help` until the first non-blank line indented less than the
        // help's first line.
        if let Some(indent) = help_indent {
            if line.trim().is_empty() {
                continue;
            }
            let this = indentation(&line);
            match indent {
                None => {
                    help_indent = Some(Some(this));
                    continue;
                }
                Some(first) if this >= first => continue,
                Some(_) => help_indent = None,
            }
        }

        let code = strip_comment(&line);
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        let (keyword, rest) = split_keyword(code);
        match keyword {
            "config" | "menuconfig" => {
                let name = rest.split_whitespace().next().unwrap_or_default();
                if name.is_empty() {
                    current = Current::Ignored;
                    continue;
                }
                let mut depends = Vec::new();
                let mut choice = None;
                for block in &blocks {
                    match block {
                        Block::If(expr) => depends.push(expr.clone()),
                        Block::Menu(deps) => depends.extend(deps.iter().cloned()),
                        Block::Choice { id, depends: deps } => {
                            depends.extend(deps.iter().cloned());
                            choice = Some(*id);
                        }
                    }
                }
                // Only the innermost choice owns its members; a nested `if` inside a choice
                // keeps that membership.
                if !matches!(
                    blocks.iter().rev().find(|b| !matches!(b, Block::If(_))),
                    Some(Block::Choice { .. })
                ) {
                    choice = None;
                }
                definitions.push(Definition {
                    name: name.to_string(),
                    file: path.to_path_buf(),
                    line: line_no,
                    kind: SymbolKind::Unknown,
                    menuconfig: keyword == "menuconfig",
                    depends,
                    selects: Vec::new(),
                    choice,
                });
                current = Current::Definition(definitions.len() - 1);
            }
            "choice" => {
                blocks.push(Block::Choice {
                    id: choice_base + choices,
                    depends: Vec::new(),
                });
                choices += 1;
                current = Current::Block;
            }
            "menu" => {
                blocks.push(Block::Menu(Vec::new()));
                current = Current::Block;
            }
            "if" => {
                blocks.push(Block::If(parse_expr(rest)?));
                current = Current::None;
            }
            "endif" => {
                pop_until(&mut blocks, |b| matches!(b, Block::If(_)));
                current = Current::None;
            }
            "endmenu" => {
                pop_until(&mut blocks, |b| matches!(b, Block::Menu(_)));
                current = Current::None;
            }
            "endchoice" => {
                pop_until(&mut blocks, |b| matches!(b, Block::Choice { .. }));
                current = Current::None;
            }
            "comment" | "mainmenu" => current = Current::Ignored,
            "source" | "rsource" | "osource" | "orsource" => current = Current::None,
            "depends" => {
                let expr = parse_expr(rest.strip_prefix("on").unwrap_or(rest))?;
                match current {
                    Current::Definition(index) => definitions[index].depends.push(expr),
                    Current::Block => match blocks.last_mut() {
                        Some(Block::Menu(deps)) | Some(Block::Choice { depends: deps, .. }) => {
                            deps.push(expr)
                        }
                        _ => {}
                    },
                    Current::None | Current::Ignored => {}
                }
            }
            "select" | "imply" => {
                if let Current::Definition(index) = current {
                    let (target, condition) = match rest.split_once(" if ") {
                        Some((target, cond)) => (target.trim(), Some(parse_expr(cond)?)),
                        None => (rest.trim(), None),
                    };
                    if !target.is_empty() {
                        definitions[index].selects.push(Select {
                            target: target.to_string(),
                            condition,
                            implied: keyword == "imply",
                            line: line_no,
                        });
                    }
                }
            }
            "bool" | "boolean" | "def_bool" | "tristate" | "def_tristate" | "string" | "int"
            | "hex" => {
                if let Current::Definition(index) = current {
                    definitions[index].kind = match keyword {
                        "bool" | "boolean" | "def_bool" => SymbolKind::Bool,
                        "tristate" | "def_tristate" => SymbolKind::Tristate,
                        "string" => SymbolKind::String,
                        "int" => SymbolKind::Int,
                        _ => SymbolKind::Hex,
                    };
                }
            }
            "help" | "---help---" => help_indent = Some(None),
            // prompt, default, range, option, modules, visible, optional, transitional, ...:
            // nothing that decides existence or dependencies.
            _ => {}
        }
    }
    Ok((definitions, choices))
}

fn pop_until(blocks: &mut Vec<Block>, is_target: impl Fn(&Block) -> bool) {
    if let Some(position) = blocks.iter().rposition(is_target) {
        blocks.truncate(position);
    }
}

/// Join backslash-continued lines; yields (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let (start, mut joined) = match pending.take() {
            Some((start, mut acc)) => {
                acc.push(' ');
                acc.push_str(line.trim_start());
                (start, acc)
            }
            None => (index + 1, line.to_string()),
        };
        if joined.ends_with('\\') {
            joined.pop();
            pending = Some((start, joined));
        } else {
            out.push((start, joined));
        }
    }
    if let Some(rest) = pending {
        out.push(rest);
    }
    out
}

/// Column of the first non-blank character, tabs to the next multiple of 8.
fn indentation(line: &str) -> usize {
    let mut column = 0;
    for c in line.chars() {
        match c {
            ' ' => column += 1,
            '\t' => column = (column / 8 + 1) * 8,
            _ => break,
        }
    }
    column
}

/// Drop a `#` comment that is not inside a quoted string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', Some(_)) => escaped = true,
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('#', None) => return &line[..index],
            _ => {}
        }
    }
    line
}

fn split_keyword(code: &str) -> (&str, &str) {
    match code.find(|c: char| c.is_whitespace()) {
        Some(index) => (&code[..index], code[index..].trim()),
        None => (code, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Definition> {
        parse_file(Path::new("Kconfig"), text, 0, |at, _| Err(at))
            .unwrap()
            .0
    }

    fn deps(def: &Definition) -> Vec<String> {
        def.depends.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn help_text_is_not_read_as_keywords() {
        let defs = parse(
            "config A\n\
             \tbool \"A\"\n\
             \thelp\n\
             \t  config NOT_A_SYMBOL\n\
             \t  depends on NOTHING\n\
             \n\
             \t  select NOTHING_EITHER\n\
             \n\
             config B\n\
             \ttristate\n\
             \tdepends on A\n",
        );
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, vec!["A", "B"]);
        assert!(defs[0].depends.is_empty());
        assert!(defs[0].selects.is_empty());
        assert_eq!(deps(&defs[1]), vec!["A"]);
        assert_eq!(defs[1].kind, SymbolKind::Tristate);
    }

    #[test]
    fn if_menu_and_choice_dependencies_are_inherited() {
        let defs = parse(
            "menu \"Timers\"\n\
             \tdepends on HAVE_TIMERS\n\
             if FTRACE\n\
             config TRACER\n\
             \tbool\n\
             \tdepends on TRACING_SUPPORT # comment\n\
             endif # FTRACE\n\
             choice\n\
             \tprompt \"Tick\"\n\
             \tdepends on SMP\n\
             config NO_HZ_IDLE\n\
             \tbool \"idle\"\n\
             config NO_HZ_FULL\n\
             \tbool \"full\"\n\
             \tdepends on HAVE_CONTEXT_TRACKING && \\\n\
             \t           HAVE_VIRT_CPU_ACCOUNTING_GEN\n\
             endchoice\n\
             endmenu\n\
             config OUTSIDE\n\
             \tbool\n",
        );
        let by_name = |n: &str| defs.iter().find(|d| d.name == n).unwrap();
        assert_eq!(
            deps(by_name("TRACER")),
            vec!["HAVE_TIMERS", "FTRACE", "TRACING_SUPPORT"]
        );
        assert_eq!(deps(by_name("NO_HZ_IDLE")), vec!["HAVE_TIMERS", "SMP"]);
        assert_eq!(
            deps(by_name("NO_HZ_FULL")),
            vec![
                "HAVE_TIMERS",
                "SMP",
                "HAVE_CONTEXT_TRACKING && HAVE_VIRT_CPU_ACCOUNTING_GEN"
            ]
        );
        assert_eq!(by_name("NO_HZ_IDLE").choice, Some(0));
        assert_eq!(by_name("NO_HZ_FULL").choice, Some(0));
        assert_eq!(by_name("TRACER").choice, None);
        assert!(by_name("OUTSIDE").depends.is_empty());
        assert_eq!(by_name("NO_HZ_FULL").line, 13);
    }

    #[test]
    fn selects_with_conditions_and_mixed_case_names() {
        let defs = parse(
            "menuconfig Rros\n\
             \tbool \"BUPT real-time core\"\n\
             \tdepends on HAVE_ARCH_RROS\n\
             \tselect DOVETAIL\n\
             \tselect DEVTMPFS if !EMBEDDED\n\
             \timply RROS_TEST\n",
        );
        assert_eq!(defs.len(), 1);
        let rros = &defs[0];
        assert_eq!(rros.name, "Rros");
        assert!(rros.menuconfig);
        let selects: Vec<(String, Option<String>, bool)> = rros
            .selects
            .iter()
            .map(|s| {
                (
                    s.target.clone(),
                    s.condition.as_ref().map(|c| c.to_string()),
                    s.implied,
                )
            })
            .collect();
        assert_eq!(
            selects,
            vec![
                ("DOVETAIL".into(), None, false),
                ("DEVTMPFS".into(), Some("!EMBEDDED".into()), false),
                ("RROS_TEST".into(), None, true),
            ]
        );
    }

    #[test]
    fn quoted_hash_is_not_a_comment() {
        assert_eq!(
            strip_comment("prompt \"a # b\" # real"),
            "prompt \"a # b\" "
        );
        assert_eq!(indentation("\t  x"), 10);
    }
}

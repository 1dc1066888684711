//! Kconfig expressions (`depends on`, `if`, `select ... if`) and their evaluation against
//! what the fragments assign.

use std::fmt;

/// A Kconfig tristate value, extended with `Unknown` for symbols nobody assigned.
///
/// Ordered `No < Mod < Yes`; `Unknown` sits outside that order and is handled explicitly
/// (Kleene logic: `No && Unknown` is `No`, `Yes || Unknown` is `Yes`, anything else involving
/// `Unknown` stays `Unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tristate {
    No,
    Mod,
    Yes,
    Unknown,
}

impl Tristate {
    fn rank(self) -> Option<u8> {
        match self {
            Tristate::No => Some(0),
            Tristate::Mod => Some(1),
            Tristate::Yes => Some(2),
            Tristate::Unknown => None,
        }
    }

    fn from_rank(rank: u8) -> Self {
        match rank {
            0 => Tristate::No,
            1 => Tristate::Mod,
            _ => Tristate::Yes,
        }
    }

    pub fn and(self, other: Self) -> Self {
        match (self.rank(), other.rank()) {
            (Some(0), _) | (_, Some(0)) => Tristate::No,
            (Some(a), Some(b)) => Tristate::from_rank(a.min(b)),
            _ => Tristate::Unknown,
        }
    }

    pub fn or(self, other: Self) -> Self {
        match (self.rank(), other.rank()) {
            (Some(2), _) | (_, Some(2)) => Tristate::Yes,
            (Some(a), Some(b)) => Tristate::from_rank(a.max(b)),
            _ => Tristate::Unknown,
        }
    }
}

impl std::ops::Not for Tristate {
    type Output = Tristate;

    fn not(self) -> Tristate {
        match self {
            Tristate::No => Tristate::Yes,
            Tristate::Yes => Tristate::No,
            other => other,
        }
    }
}

/// One side of a comparison: a symbol or a constant (`y`, `"text"`, `100`, `0x10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Symbol(String),
    Constant(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed Kconfig expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A bare symbol, or the constants `y`, `m`, `n`.
    Symbol(String),
    Compare {
        op: CompareOp,
        lhs: Operand,
        rhs: Operand,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// Something this reader does not evaluate, e.g. a `$(success,...)` macro. Always unknown.
    Opaque(String),
}

/// What the fragments say about one symbol, as the evaluator needs it.
pub trait Lookup {
    /// The tristate value (`y`/`m`/`n`), `Unknown` if unassigned or not a bool/tristate value.
    fn tristate(&self, symbol: &str) -> Tristate;
    /// The raw value as Kconfig compares it (`y`, `n`, `text`, `100`), if assigned.
    fn raw(&self, symbol: &str) -> Option<String>;
}

impl Expr {
    /// Evaluate against the fragments' assignments.
    pub fn eval(&self, values: &dyn Lookup) -> Tristate {
        match self {
            Expr::Symbol(name) => match name.as_str() {
                "y" => Tristate::Yes,
                "m" => Tristate::Mod,
                "n" => Tristate::No,
                _ => values.tristate(name),
            },
            Expr::Not(inner) => !inner.eval(values),
            Expr::And(a, b) => a.eval(values).and(b.eval(values)),
            Expr::Or(a, b) => a.eval(values).or(b.eval(values)),
            Expr::Compare { op, lhs, rhs } => compare(*op, lhs, rhs, values),
            Expr::Opaque(_) => Tristate::Unknown,
        }
    }

    /// Every symbol the expression mentions (not the `y`/`m`/`n` constants), in order.
    pub fn symbols(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_symbols(&mut out);
        out
    }

    fn collect_symbols<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Symbol(name) => {
                if !matches!(name.as_str(), "y" | "m" | "n") && !out.contains(&name.as_str()) {
                    out.push(name);
                }
            }
            Expr::Compare { lhs, rhs, .. } => {
                for side in [lhs, rhs] {
                    if let Operand::Symbol(name) = side
                        && !matches!(name.as_str(), "y" | "m" | "n")
                        && !out.contains(&name.as_str())
                    {
                        out.push(name);
                    }
                }
            }
            Expr::Not(inner) => inner.collect_symbols(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_symbols(out);
                b.collect_symbols(out);
            }
            Expr::Opaque(_) => {}
        }
    }
}

fn operand_value(operand: &Operand, values: &dyn Lookup) -> Option<String> {
    match operand {
        Operand::Constant(text) => Some(text.clone()),
        Operand::Symbol(name) if matches!(name.as_str(), "y" | "m" | "n") => Some(name.clone()),
        Operand::Symbol(name) => values.raw(name),
    }
}

fn parse_number(text: &str) -> Option<i128> {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        i128::from_str_radix(hex, 16).ok()
    } else {
        text.parse().ok()
    }
}

fn compare(op: CompareOp, lhs: &Operand, rhs: &Operand, values: &dyn Lookup) -> Tristate {
    let (Some(a), Some(b)) = (operand_value(lhs, values), operand_value(rhs, values)) else {
        return Tristate::Unknown;
    };
    let truth = match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        ordering => {
            let (Some(x), Some(y)) = (parse_number(&a), parse_number(&b)) else {
                return Tristate::Unknown;
            };
            match ordering {
                CompareOp::Lt => x < y,
                CompareOp::Le => x <= y,
                CompareOp::Gt => x > y,
                _ => x >= y,
            }
        }
    };
    if truth { Tristate::Yes } else { Tristate::No }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Symbol(name) => f.write_str(name),
            Operand::Constant(text) if parse_number(text).is_some() => f.write_str(text),
            Operand::Constant(text) => write!(f, "\"{text}\""),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Symbol(name) => f.write_str(name),
            Expr::Compare { op, lhs, rhs } => {
                let op = match op {
                    CompareOp::Eq => "=",
                    CompareOp::Ne => "!=",
                    CompareOp::Lt => "<",
                    CompareOp::Le => "<=",
                    CompareOp::Gt => ">",
                    CompareOp::Ge => ">=",
                };
                write!(f, "{lhs}{op}{rhs}")
            }
            Expr::Not(inner) => match inner.as_ref() {
                Expr::Symbol(_) | Expr::Opaque(_) => write!(f, "!{inner}"),
                _ => write!(f, "!({inner})"),
            },
            Expr::And(a, b) => {
                write_operand(f, a, true)?;
                f.write_str(" && ")?;
                write_operand(f, b, true)
            }
            Expr::Or(a, b) => {
                write_operand(f, a, false)?;
                f.write_str(" || ")?;
                write_operand(f, b, false)
            }
            Expr::Opaque(text) => f.write_str(text),
        }
    }
}

/// Parenthesise an `||` inside an `&&` so the printed form parses back to the same tree.
fn write_operand(f: &mut fmt::Formatter<'_>, expr: &Expr, inside_and: bool) -> fmt::Result {
    if inside_and && matches!(expr, Expr::Or(..)) {
        write!(f, "({expr})")
    } else {
        write!(f, "{expr}")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Macro(String),
    Not,
    And,
    Or,
    Open,
    Close,
    Op(CompareOp),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                tokens.push(Token::Open);
                i += 1;
            }
            ')' => {
                tokens.push(Token::Close);
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                tokens.push(Token::Op(CompareOp::Ne));
                i += 2;
            }
            '!' => {
                tokens.push(Token::Not);
                i += 1;
            }
            '&' if chars.get(i + 1) == Some(&'&') => {
                tokens.push(Token::And);
                i += 2;
            }
            '|' if chars.get(i + 1) == Some(&'|') => {
                tokens.push(Token::Or);
                i += 2;
            }
            '=' => {
                tokens.push(Token::Op(CompareOp::Eq));
                i += 1;
            }
            '<' | '>' => {
                let or_equal = chars.get(i + 1) == Some(&'=');
                tokens.push(Token::Op(match (c, or_equal) {
                    ('<', false) => CompareOp::Lt,
                    ('<', true) => CompareOp::Le,
                    ('>', false) => CompareOp::Gt,
                    _ => CompareOp::Ge,
                }));
                i += if or_equal { 2 } else { 1 };
            }
            '"' | '\'' => {
                let quote = c;
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(format!("unterminated string in `{text}`")),
                        Some('\\') => {
                            if let Some(next) = chars.get(i + 1) {
                                text.push(*next);
                            }
                            i += 2;
                        }
                        Some(ch) if *ch == quote => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            text.push(*ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                // A preprocessor macro such as $(success,...): keep it whole, nested parens too.
                let start = i;
                let mut depth = 0usize;
                while i < chars.len() {
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                tokens.push(Token::Macro(chars[start..i].iter().collect()));
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric()
                        || matches!(chars[i], '_' | '-' | '.' | '$'))
                {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(tokens)
}

/// How deep an expression may nest: every `(`, `!`, `&&` and `||` on the way from the root to
/// a leaf counts one level. Parsing, evaluating, printing and dropping an expression all
/// recurse once per level, so without a bound a hostile file (20 000 parentheses, 200 000 `!`)
/// overflows the stack. The deepest expression in the Linux/RROS tree has 29 operators in one
/// `||` chain and 3 levels of parentheses; 256 leaves ample room and little stack.
pub const MAX_EXPR_DEPTH: usize = 256;

/// An expression that nests deeper than [`MAX_EXPR_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the expression nests deeper than {limit} levels (parentheses, `!`, `&&`, `||`): \
     no kernel Kconfig comes close, so the file is generated or damaged; fix or remove it"
)]
pub struct TooDeep {
    pub limit: usize,
}

/// Parse an expression. Anything this reader cannot parse becomes [`Expr::Opaque`], which is
/// never evaluated: a reader that guesses would produce false warnings. An expression deeper
/// than [`MAX_EXPR_DEPTH`] is opaque too; [`parse_expr_bounded`] reports it instead.
#[allow(dead_code)]
pub(crate) fn parse_expr(text: &str) -> Expr {
    parse_expr_bounded(text).unwrap_or_else(|_| Expr::Opaque(text.trim().to_string()))
}

/// Parse an expression, refusing one deeper than [`MAX_EXPR_DEPTH`] (see [`parse_expr`] for
/// what becomes opaque).
pub(crate) fn parse_expr_bounded(text: &str) -> Result<Expr, TooDeep> {
    let text = text.trim();
    let opaque = || Expr::Opaque(text.to_string());
    let Ok(tokens) = tokenize(text) else {
        return Ok(opaque());
    };
    let mut parser = Parser {
        tokens,
        pos: 0,
        nesting: 0,
    };
    Ok(match parser.or()? {
        Some(node) if parser.pos == parser.tokens.len() => node.expr,
        _ => opaque(),
    })
}

/// A parsed subexpression and how deep its tree is (a leaf is 0).
struct Node {
    expr: Expr,
    depth: usize,
}

impl Node {
    fn leaf(expr: Expr) -> Node {
        Node { expr, depth: 0 }
    }

    /// `op(a, b)`, one level deeper than the deeper of the two.
    fn join(a: Node, b: Node, op: fn(Box<Expr>, Box<Expr>) -> Expr) -> Result<Node, TooDeep> {
        let depth = a.depth.max(b.depth) + 1;
        if depth > MAX_EXPR_DEPTH {
            return Err(TooDeep {
                limit: MAX_EXPR_DEPTH,
            });
        }
        Ok(Node {
            expr: op(Box::new(a.expr), Box::new(b.expr)),
            depth,
        })
    }
}

/// `Ok(None)`: not an expression this reader understands (the caller makes it opaque).
type Parsed = Result<Option<Node>, TooDeep>;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Parentheses and `!` currently open: the parser's own recursion depth.
    nesting: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    /// Enter one more `(` or `!`, refusing to recurse past the bound.
    fn descend(&mut self) -> Result<(), TooDeep> {
        self.nesting += 1;
        if self.nesting > MAX_EXPR_DEPTH {
            return Err(TooDeep {
                limit: MAX_EXPR_DEPTH,
            });
        }
        Ok(())
    }

    fn or(&mut self) -> Parsed {
        let Some(mut left) = self.and()? else {
            return Ok(None);
        };
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            let Some(right) = self.and()? else {
                return Ok(None);
            };
            left = Node::join(left, right, Expr::Or)?;
        }
        Ok(Some(left))
    }

    fn and(&mut self) -> Parsed {
        let Some(mut left) = self.unary()? else {
            return Ok(None);
        };
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            let Some(right) = self.unary()? else {
                return Ok(None);
            };
            left = Node::join(left, right, Expr::And)?;
        }
        Ok(Some(left))
    }

    fn unary(&mut self) -> Parsed {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            self.descend()?;
            let inner = self.unary()?;
            self.nesting -= 1;
            let Some(inner) = inner else {
                return Ok(None);
            };
            let depth = inner.depth + 1;
            if depth > MAX_EXPR_DEPTH {
                return Err(TooDeep {
                    limit: MAX_EXPR_DEPTH,
                });
            }
            return Ok(Some(Node {
                expr: Expr::Not(Box::new(inner.expr)),
                depth,
            }));
        }
        self.primary()
    }

    fn primary(&mut self) -> Parsed {
        let Some(token) = self.next() else {
            return Ok(None);
        };
        Ok(match token {
            Token::Open => {
                self.descend()?;
                let inner = self.or()?;
                self.nesting -= 1;
                match inner {
                    Some(inner) if self.next() == Some(Token::Close) => {
                        // Parentheses leave no node, but they are a level of the parse.
                        Some(Node {
                            expr: inner.expr,
                            depth: inner.depth + 1,
                        })
                    }
                    _ => None,
                }
            }
            Token::Macro(text) => Some(Node::leaf(Expr::Opaque(text))),
            Token::Word(word) => self
                .maybe_compare(Operand::Symbol(word.clone()), word)
                .map(Node::leaf),
            Token::Quoted(text) => {
                // A lone string constant is false in Kconfig unless it is "y"/"m".
                self.maybe_compare(Operand::Constant(text.clone()), text)
                    .map(Node::leaf)
            }
            _ => None,
        })
    }

    fn maybe_compare(&mut self, lhs: Operand, word: String) -> Option<Expr> {
        if let Some(Token::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let rhs = match self.next()? {
                Token::Word(w) if is_number(&w) => Operand::Constant(w),
                Token::Word(w) => Operand::Symbol(w),
                Token::Quoted(q) => Operand::Constant(q),
                Token::Macro(m) => return Some(Expr::Opaque(format!("{word} {m}"))),
                _ => return None,
            };
            let lhs = match lhs {
                Operand::Symbol(w) if is_number(&w) => Operand::Constant(w),
                other => other,
            };
            return Some(Expr::Compare { op, lhs, rhs });
        }
        match lhs {
            Operand::Symbol(_) if word.contains('$') => Some(Expr::Opaque(word)),
            Operand::Symbol(_) => Some(Expr::Symbol(word)),
            Operand::Constant(_) => Some(Expr::Opaque(format!("\"{word}\""))),
        }
    }
}

fn is_number(word: &str) -> bool {
    parse_number(word).is_some() || (word.starts_with('-') && word[1..].parse::<i128>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Values(HashMap<&'static str, &'static str>);

    impl Lookup for Values {
        fn tristate(&self, symbol: &str) -> Tristate {
            match self.0.get(symbol).copied() {
                Some("y") => Tristate::Yes,
                Some("m") => Tristate::Mod,
                Some("n") => Tristate::No,
                _ => Tristate::Unknown,
            }
        }
        fn raw(&self, symbol: &str) -> Option<String> {
            self.0.get(symbol).map(|v| v.to_string())
        }
    }

    fn values(pairs: &[(&'static str, &'static str)]) -> Values {
        Values(pairs.iter().copied().collect())
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        let expr = parse_expr("A || B && !C");
        assert_eq!(
            expr,
            Expr::Or(
                Box::new(Expr::Symbol("A".into())),
                Box::new(Expr::And(
                    Box::new(Expr::Symbol("B".into())),
                    Box::new(Expr::Not(Box::new(Expr::Symbol("C".into()))))
                ))
            )
        );
        assert_eq!(expr.to_string(), "A || B && !C");
        assert_eq!(parse_expr("(A || B) && C").to_string(), "(A || B) && C");
    }

    #[test]
    fn kleene_logic_keeps_unknowns_unknown() {
        let v = values(&[("OFF", "n"), ("ON", "y"), ("MOD", "m")]);
        assert_eq!(parse_expr("OFF && UNSET").eval(&v), Tristate::No);
        assert_eq!(parse_expr("ON || UNSET").eval(&v), Tristate::Yes);
        assert_eq!(parse_expr("ON && UNSET").eval(&v), Tristate::Unknown);
        assert_eq!(parse_expr("!UNSET").eval(&v), Tristate::Unknown);
        assert_eq!(parse_expr("ON && MOD").eval(&v), Tristate::Mod);
        assert_eq!(parse_expr("!MOD").eval(&v), Tristate::Mod);
        assert_eq!(parse_expr("!ON").eval(&v), Tristate::No);
    }

    #[test]
    fn comparisons_use_raw_values() {
        let v = values(&[("ARCH", "arm64"), ("HZ", "250"), ("ON", "y")]);
        assert_eq!(parse_expr("ARCH = \"arm64\"").eval(&v), Tristate::Yes);
        assert_eq!(parse_expr("ARCH != \"x86\"").eval(&v), Tristate::Yes);
        assert_eq!(parse_expr("HZ >= 1000").eval(&v), Tristate::No);
        assert_eq!(parse_expr("HZ < 0x100").eval(&v), Tristate::Yes);
        assert_eq!(parse_expr("ON = y").eval(&v), Tristate::Yes);
        assert_eq!(parse_expr("UNSET = y").eval(&v), Tristate::Unknown);
    }

    #[test]
    fn macros_and_garbage_are_opaque() {
        let macro_expr = parse_expr("$(success,$(RUSTC) --version)");
        assert!(matches!(macro_expr, Expr::Opaque(_)));
        assert_eq!(macro_expr.eval(&values(&[])), Tristate::Unknown);
        assert!(matches!(parse_expr("A &&"), Expr::Opaque(_)));
        assert!(matches!(parse_expr("(A"), Expr::Opaque(_)));
        let mixed = parse_expr("ARM64 && $(cc-option,-mfoo)");
        assert_eq!(mixed.eval(&values(&[("ARM64", "n")])), Tristate::No);
    }

    #[test]
    fn symbols_lists_each_name_once() {
        let expr = parse_expr("A && (B || !A) && C = y && y");
        assert_eq!(expr.symbols(), vec!["A", "B", "C"]);
    }
}

/// Property tests: whatever the text, parsing returns (an expression or a depth error) and the
/// result can be evaluated, printed and dropped. Bounded by proptest's default case count so
/// `cargo test` stays fast; `PROPTEST_CASES=100000 cargo test -p rros-kconfig proptests` runs
/// longer (docs/CONTRIBUTING.md, "Fuzzing and property tests").
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    struct Map(HashMap<String, String>);

    impl Lookup for Map {
        fn tristate(&self, symbol: &str) -> Tristate {
            match self.0.get(symbol).map(String::as_str) {
                Some("y") => Tristate::Yes,
                Some("m") => Tristate::Mod,
                Some("n") => Tristate::No,
                _ => Tristate::Unknown,
            }
        }
        fn raw(&self, symbol: &str) -> Option<String> {
            self.0.get(symbol).cloned()
        }
    }

    fn depth(expr: &Expr) -> usize {
        match expr {
            Expr::Not(inner) => depth(inner) + 1,
            Expr::And(a, b) | Expr::Or(a, b) => depth(a).max(depth(b)) + 1,
            _ => 0,
        }
    }

    fn has_opaque(expr: &Expr) -> bool {
        match expr {
            Expr::Opaque(_) => true,
            Expr::Not(inner) => has_opaque(inner),
            Expr::And(a, b) | Expr::Or(a, b) => has_opaque(a) || has_opaque(b),
            _ => false,
        }
    }

    /// Text made of Kconfig's own tokens, so most inputs get deep into the parser.
    fn kconfig_text() -> impl Strategy<Value = String> {
        let token = prop_oneof![
            Just("("),
            Just(")"),
            Just("!"),
            Just("&&"),
            Just("||"),
            Just("="),
            Just("!="),
            Just("<"),
            Just(">="),
            Just("A"),
            Just("B"),
            Just("C"),
            Just("y"),
            Just("m"),
            Just("n"),
            Just("250"),
            Just("0x10"),
            Just("-1"),
            Just("\"text\""),
            Just("$(success,true)"),
            Just("$("),
            Just("\""),
            Just("&"),
        ];
        proptest::collection::vec((token, prop_oneof![Just(""), Just(" ")]), 0..60).prop_map(
            |parts| {
                parts
                    .into_iter()
                    .map(|(t, sep)| format!("{t}{sep}"))
                    .collect()
            },
        )
    }

    fn values() -> impl Strategy<Value = Map> {
        let value = prop_oneof![
            Just("y"),
            Just("m"),
            Just("n"),
            Just("250"),
            Just("0x10"),
            Just("text")
        ];
        proptest::collection::hash_map(prop_oneof![Just("A"), Just("B"), Just("C")], value, 0..3)
            .prop_map(|m| {
                Map(m
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect())
            })
    }

    proptest! {
        #[test]
        fn any_text_parses_without_panicking(text in any::<String>()) {
            if let Ok(expr) = parse_expr_bounded(&text) {
                prop_assert!(depth(&expr) <= MAX_EXPR_DEPTH);
                let _ = expr.to_string();
                let _ = expr.eval(&Map(HashMap::new()));
                let _ = expr.symbols();
            }
        }

        #[test]
        fn kconfig_token_soup_parses_evaluates_and_prints(text in kconfig_text(), map in values()) {
            let expr = parse_expr_bounded(&text).expect("60 tokens cannot nest 256 deep");
            let value = expr.eval(&map);
            // What is printed reads back as an expression with the same meaning.
            if !has_opaque(&expr) {
                let printed = expr.to_string();
                let again = parse_expr_bounded(&printed).unwrap();
                prop_assert!(!has_opaque(&again), "{printed:?} from {text:?}");
                prop_assert_eq!(again.eval(&map), value, "{} from {}", printed, text);
            }
        }

        #[test]
        fn nesting_is_bounded_not_fatal(
            levels in 0..(3 * MAX_EXPR_DEPTH),
            bits in any::<[u64; 12]>(),
        ) {
            // Which of `(` and `!` each level is, from the random bits (cheaper than a vec).
            let opens: Vec<&str> = (0..levels)
                .map(|i| if bits[i / 64] >> (i % 64) & 1 == 1 { "(" } else { "!" })
                .collect();
            let closes = opens.iter().filter(|o| **o == "(").count();
            let text = format!("{}B{}", opens.concat(), ")".repeat(closes));
            match parse_expr_bounded(&text) {
                Ok(expr) => {
                    prop_assert!(opens.len() <= MAX_EXPR_DEPTH, "{} levels accepted", opens.len());
                    prop_assert!(!has_opaque(&expr));
                }
                Err(TooDeep { limit }) => {
                    prop_assert_eq!(limit, MAX_EXPR_DEPTH);
                    prop_assert!(opens.len() > MAX_EXPR_DEPTH, "{} levels refused", opens.len());
                }
            }
        }

        #[test]
        fn chains_are_bounded_not_fatal(terms in 1..(3 * MAX_EXPR_DEPTH), or in any::<bool>()) {
            let text = vec!["A"; terms].join(if or { " || " } else { " && " });
            match parse_expr_bounded(&text) {
                Ok(expr) => {
                    prop_assert!(terms - 1 <= MAX_EXPR_DEPTH, "{} operators accepted", terms - 1);
                    prop_assert_eq!(depth(&expr), terms - 1);
                }
                Err(_) => prop_assert!(terms - 1 > MAX_EXPR_DEPTH, "{} operators refused", terms - 1),
            }
        }
    }
}

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

/// Parse an expression. Anything this reader cannot parse becomes [`Expr::Opaque`], which is
/// never evaluated: a reader that guesses would produce false warnings.
pub fn parse_expr(text: &str) -> Expr {
    let text = text.trim();
    match tokenize(text) {
        Ok(tokens) => {
            let mut parser = Parser { tokens, pos: 0 };
            match parser.or() {
                Some(expr) if parser.pos == parser.tokens.len() => expr,
                _ => Expr::Opaque(text.to_string()),
            }
        }
        Err(_) => Expr::Opaque(text.to_string()),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
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

    fn or(&mut self) -> Option<Expr> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Some(left)
    }

    fn unary(&mut self) -> Option<Expr> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Some(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Option<Expr> {
        match self.next()? {
            Token::Open => {
                let inner = self.or()?;
                (self.next()? == Token::Close).then_some(inner)
            }
            Token::Macro(text) => Some(Expr::Opaque(text)),
            Token::Word(word) => self.maybe_compare(Operand::Symbol(word.clone()), word),
            Token::Quoted(text) => {
                // A lone string constant is false in Kconfig unless it is "y"/"m".
                self.maybe_compare(Operand::Constant(text.clone()), text)
            }
            _ => None,
        }
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

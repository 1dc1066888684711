//! The human views of a [`Report`](crate::report::Report) (Markdown, terminal) and the JUnit
//! rendering of its [test cases](crate::cases).

pub mod junit;
pub mod lava;
pub mod markdown;
pub mod text;

/// `12.3` / `-`.
pub fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// A budget as written in the profile (`30000`, or `-` when none).
pub fn budget(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v}"))
}

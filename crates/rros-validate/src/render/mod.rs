//! Everything a run writes or prints, rendered from the one [`Report`](crate::report::Report).

pub mod junit;
pub mod markdown;
pub mod prom;
pub mod svg;
pub mod text;

/// `12.3` / `-`.
pub fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// A budget as written in the profile (`30000`, or `-` when none).
pub fn budget(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v}"))
}

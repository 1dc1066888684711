//! What only the service writes: Prometheus metrics and SVG plots. The contract's views
//! (JUnit, Markdown, text, LAVA) are in `rros_contract::render`.

pub mod prom;
pub mod svg;

pub use rros_contract::render::{junit, markdown, text};

//! What runs leave to read: the `metrics.jsonl` log ([`log`]), the progress display
//! ([`progress`]), PNG plots drawn without any font or plotting stack ([`plot`]),
//! side-by-side summaries of finished runs ([`compare`], behind `compare-runs`) and their
//! self-contained HTML page ([`html`], with inline SVG charts from [`svg`]).

pub mod compare;
pub mod html;
pub mod log;
pub mod plot;
pub mod progress;
pub mod svg;

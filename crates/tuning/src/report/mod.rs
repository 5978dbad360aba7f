//! What runs leave to read: the `metrics.jsonl` log ([`log`]), the progress display
//! ([`progress`]), PNG plots drawn without any font or plotting stack ([`plot`]) and
//! side-by-side summaries of finished runs ([`compare`], behind `compare-runs`).

pub mod compare;
pub mod log;
pub mod plot;
pub mod progress;

//! The pictures people read TCP with, as static SVG and HTML (no script,
//! no server; they open from disk): the ladder of a run's segments between
//! the script's peer and the stack ([`ladder`]), RFC 9293's Figure 5 with
//! the transitions a run or a campaign exercised ([`states`]), the state x
//! segment grid as a heat map ([`heatmap`]), a campaign's progress over
//! time ([`plot`]), and the `--report-dir` pages that hold them ([`html`]).
//! Every picture is a function from data to text, so a test can hold its
//! elements to the data it drew.

pub mod heatmap;
pub mod html;
pub mod ladder;
pub mod plot;
pub mod states;
mod svg;

pub use svg::{esc, esc_into};

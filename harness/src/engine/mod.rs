//! The engine: walks a script's steps against a [`crate::target::Target`], checks every
//! packet and call result, and records a trace. Targets differ only in how
//! time passes and where packets go; the checking lives here, once.
//!
//! Its rooms: [`timing`] (the script's clock and the tolerance rules),
//! [`numbering`] (the connection's numbers, and the segments built and
//! matched with them), [`steps`] (one function per step kind), [`calls`]
//! (calls, blocked calls and the checks of what they return) and [`trace`].
//! The step loop here turns a step's error into a failure at that step, in
//! one place.

mod calls;
mod numbering;
mod outcome;
mod run;
mod steps;
mod timing;
mod trace;

pub use outcome::{Failure, FieldDiff, Outcome, RunOptions, RunReport};
pub use run::{run, run_with};
pub(crate) use steps::flood_sources;
pub use trace::{cause_text, Dir, Mark, TraceEntry, TRACE_HEAD, TRACE_TAIL};

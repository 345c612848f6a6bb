//! What a run says: its verdict, the failure (where, what differs) and the
//! options that judge it.

use super::trace::TraceEntry;
use crate::script::Pos;
use std::time::Duration;

/// How a run is judged, beyond the script.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Multiplies every tolerance (slow or debug kernels).
    pub tolerance_scale: f64,
    /// `shell:` steps may run (`harness run --allow-shell`).
    pub allow_shell: bool,
    /// Record the connection's states and the stack's timers in the trace
    /// ([`super::Mark`]): the pictures of `--report-dir` and `coverage
    /// --format html` draw them.
    pub marks: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { tolerance_scale: 1.0, allow_shell: false, marks: false }
    }
}

/// One field that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    pub field: &'static str,
    pub expected: String,
    pub actual: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub step: Option<usize>,
    pub pos: Option<Pos>,
    pub step_text: String,
    pub message: String,
    pub diffs: Vec<FieldDiff>,
    /// The connection's state when it failed, if known.
    pub state: Option<String>,
    /// On a real-time target: how long the harness itself was late or off
    /// the CPU around the failing step, when that is enough to have spoilt
    /// its timing (`engine::run`); the failure may be the machine's load.
    pub descheduled: Option<Duration>,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Passed,
    Failed(Failure),
    /// The target could not run the script (not a verdict on the stack).
    Error(String),
}

#[derive(Clone, Debug)]
pub struct RunReport {
    pub outcome: Outcome,
    pub trace: Vec<TraceEntry>,
    /// Script time covered.
    pub script_time: Duration,
}

//! The script's clock and its tolerance rules: when a step is due, how late
//! (or early) a packet or a call's return may be, and how windows are said.

use crate::script::time::{Base, TimeSpec};
use crate::script::Script;
use crate::target::Clock;
use std::time::Duration;

pub(super) struct Timing {
    /// When the previous step happened: relative times count from here.
    pub last: Duration,
    /// The target's clock when the previous step was done. A packet the
    /// target had sent by then, or by the current step's script time, came
    /// before the current step; one read later came after it, even when the
    /// engine reaches the step late on a loaded machine.
    pub step_end: Duration,
    /// How long after its script time the last step that acted on the
    /// stack (a segment injected, a call made) was really done: on a loaded
    /// machine the engine can get there late, and the stack's answers come
    /// that much later than an absolute time in the script says (relative
    /// times count from [`Timing::last`], the real time, already).
    pub lag: Duration,
    /// The target runs in real time: the harness can be late to it.
    pub real: bool,
    /// The script's fixed tolerance.
    fixed: Duration,
    /// Timer slack in percent of the gap, and the tolerance multiplier.
    pct: f64,
    scale: f64,
    /// How much earlier and later than the script says a timer may fire
    /// on this target because its timer tick is coarser than the script's
    /// (`timer_tick`): see [`tick_allowance`].
    tick_early: Duration,
    tick_late: Duration,
    /// The target's timer tick (zero when it has none to tell).
    tick: Duration,
}

/// How much earlier and how much later a Linux TCP timer can fire with a
/// tick `J` (the target's) than with the tick `J0` that the script's times
/// were written for (`J0` dividing `J`, as 1 ms divides every HZ's). A
/// timer of T is due `ceil(T/J)` tick edges on, and fires on the edge: `d`
/// is in `(J*ceil(T/J) - J, J*ceil(T/J)]`, while the script's time was seen
/// in `(J0*ceil(T/J0) - J0, J0*ceil(T/J0)]`: up to `J` earlier. The RACK and
/// loss-probe timers add two ticks (`TCP_TIMEOUT_MIN`), two of the coarser
/// ones: up to `3J - J0` later. With HZ=250 against HZ=1000: 4 ms earlier,
/// 11 ms later, against packetdrill's 4 ms tolerance (its RACK reordering
/// timer due at +27 ms fires between +32 and +36 ms). The price: on the
/// coarser kernel a timer a few milliseconds off the script's time is
/// not told apart from one on it.
pub(super) fn tick_allowance(script: Option<Duration>, target: Duration) -> (Duration, Duration) {
    match script {
        Some(j0) if target > j0 => (target, target * 3 - j0),
        _ => (Duration::ZERO, Duration::ZERO),
    }
}

impl Timing {
    pub fn new(script: &Script, clock: Clock, scale: f64) -> Timing {
        let (target_pct, tick) = match clock {
            Clock::Virtual => (0.0, Duration::ZERO),
            Clock::Real { slack_percent, tick } => (slack_percent, tick),
        };
        let (tick_early, tick_late) = tick_allowance(script.timer_tick, tick);
        Timing {
            last: Duration::ZERO,
            step_end: Duration::ZERO,
            lag: Duration::ZERO,
            real: matches!(clock, Clock::Real { .. }),
            fixed: script.tolerance,
            pct: script.tolerance_percent.unwrap_or(target_pct),
            scale,
            tick_early,
            tick_late,
            tick,
        }
    }

    /// What a timing failure adds when the coarser tick's allowance was
    /// part of the window: "with 11.0 ms more for the target's 4.0 ms
    /// timer tick, `timer_tick`"; nothing otherwise.
    pub fn tick_note(&self, early: bool) -> Option<String> {
        let more = if early { self.tick_early } else { self.tick_late };
        if more.is_zero() {
            return None;
        }
        Some(format!(
            "with {:.1} ms more for the target's {:.1} ms timer tick, `timer_tick`",
            more.as_secs_f64() * 1e3,
            self.tick.as_secs_f64() * 1e3
        ))
    }

    /// How early an answer `gap` after the previous step may be: the
    /// tolerance, and the coarser tick's allowance (`timer_tick`).
    pub fn early_tol(&self, gap: Duration) -> Duration {
        self.tol(gap) + self.tick_early
    }

    /// How late an answer `gap` after the previous step may be: the
    /// tolerance, and the coarser tick's allowance (`timer_tick`).
    pub fn late_tol(&self, gap: Duration) -> Duration {
        self.tol(gap) + self.tick_late
    }

    /// The tolerance for an event `gap` after the previous one: the larger of
    /// the script's fixed tolerance and the target's slack percentage.
    pub fn tol(&self, gap: Duration) -> Duration {
        let pct = gap.as_secs_f64() * self.pct / 100.0;
        Duration::from_secs_f64(self.fixed.as_secs_f64().max(pct) * self.scale)
    }

    /// How far a TS val may stray from the script's at script time `at`
    /// (`ts_tick`): the fixed tolerance or the slack percentage of `at`.
    pub fn ts_slack(&self, at: Duration) -> Duration {
        self.fixed.max(at.mul_f64(self.pct / 100.0))
    }

    /// A step's window `[lo, hi]`, from the start or after the previous step.
    pub fn window(&self, t: &TimeSpec) -> (Duration, Duration) {
        let base = match t.base {
            Base::Absolute => Duration::ZERO,
            Base::Relative => self.last,
        };
        (base + t.lo, base + t.hi)
    }

    /// The latest an answer to the last action may come for a step with
    /// window `hi` and tolerance `tol`: an absolute time moves with the
    /// action's lateness.
    pub fn deadline(&self, t: &TimeSpec, hi: Duration, tol: Duration) -> Duration {
        match t.base {
            Base::Absolute => hi + tol + self.lag,
            Base::Relative => hi + tol,
        }
    }

    /// When a step at `lo` happens: then, or now if that has passed (`*`: now).
    pub fn at(&self, t: &TimeSpec, lo: Duration) -> Duration {
        if t.any {
            self.last
        } else {
            lo.max(self.last)
        }
    }
}

pub(super) fn window_text(lo: Duration, hi: Duration, any: bool) -> String {
    if any {
        format!("any time after {:.6}", lo.as_secs_f64())
    } else if lo == hi {
        format!("at {:.6}", lo.as_secs_f64())
    } else {
        format!("between {:.6} and {:.6}", lo.as_secs_f64(), hi.as_secs_f64())
    }
}

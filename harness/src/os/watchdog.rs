//! Whether the harness itself got the CPU: a thread that asks to wake every
//! millisecond and remembers when it woke late. On a loaded machine the
//! harness's own threads wait for a CPU too; a packet it reads late, or a
//! step it reaches late, is then the machine's doing, not the stack's. The
//! engine asks [`descheduled`] about a failing step's span before it blames
//! the stack (see `engine::run`).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How often the watchdog asks to wake.
const TICK: Duration = Duration::from_millis(1);
/// A wake-up later than this after the tick is a gap worth remembering
/// (timer slack and the wake-up path take tens of microseconds).
const GAP_MIN: Duration = Duration::from_millis(1);
/// Gaps older than this are forgotten: no step spans a minute of gaps
/// that matter (and a script's span is bounded by [`MAX_GAPS`] anyway).
const KEEP: Duration = Duration::from_secs(120);
const MAX_GAPS: usize = 100_000;

struct Gaps {
    /// (asleep until, woke at), oldest first.
    list: VecDeque<(Instant, Instant)>,
}

fn gaps() -> &'static Mutex<Gaps> {
    static GAPS: OnceLock<Mutex<Gaps>> = OnceLock::new();
    GAPS.get_or_init(|| {
        // The thread starts with the list: one per process, for good.
        let _ = std::thread::Builder::new().name("harness-watchdog".into()).spawn(watch);
        Mutex::new(Gaps { list: VecDeque::new() })
    })
}

fn watch() {
    TID.store(nix::unistd::gettid().as_raw(), std::sync::atomic::Ordering::SeqCst);
    let mut due = Instant::now() + TICK;
    loop {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let woke = Instant::now();
        if woke > due + GAP_MIN {
            record(due, woke);
        }
        due = woke + TICK;
    }
}

/// Remembers that the harness could not run from `from` to `to` (the
/// watchdog's own gaps, and the engine's late wake-ups).
pub fn record(from: Instant, to: Instant) {
    let Ok(mut g) = gaps().lock() else { return };
    while g.list.front().is_some_and(|(_, end)| to.saturating_duration_since(*end) > KEEP) || g.list.len() >= MAX_GAPS {
        g.list.pop_front();
    }
    g.list.push_back((from, to));
}

/// Starts the watchdog (once per process): before the first real-time run.
pub fn start() {
    let _ = gaps();
}

/// How long, between `from` and `to`, the harness could not run: the
/// union of the recorded gaps inside the span (a stall that the watchdog
/// and the engine both saw counts once).
pub fn descheduled(from: Instant, to: Instant) -> Duration {
    match gaps().lock() {
        Ok(g) => covered(g.list.iter().copied(), from, to),
        Err(_) => Duration::ZERO,
    }
}

/// How much of `[from, to]` the spans cover, each instant once (on the
/// watchdog's `Instant`s or the engine's script times).
pub fn covered<T>(spans: impl Iterator<Item = (T, T)>, from: T, to: T) -> Duration
where
    T: Ord + Copy + std::ops::Sub<Output = Duration>,
{
    let mut inside: Vec<(T, T)> = spans.map(|(a, b)| (a.max(from), b.min(to))).filter(|(a, b)| b > a).collect();
    inside.sort();
    let mut total = Duration::ZERO;
    let mut covered_to = from;
    for (a, b) in inside {
        let a = a.max(covered_to);
        if b > a {
            total += b - a;
            covered_to = b;
        }
    }
    total
}

/// The watchdog thread's id, once it runs (for the test that stalls it).
static TID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_records_of_one_stall_count_once_and_only_inside_the_span() {
        let t0 = Instant::now() + Duration::from_secs(3600);
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // One stall seen by the watchdog and by the engine, and one outside.
        record(ms(10), ms(30));
        record(ms(15), ms(32));
        record(ms(100), ms(140));
        assert_eq!(descheduled(ms(0), ms(50)), Duration::from_millis(22));
        assert_eq!(descheduled(ms(20), ms(25)), Duration::from_millis(5));
        assert_eq!(descheduled(ms(120), ms(200)), Duration::from_millis(20));
        assert_eq!(descheduled(ms(40), ms(90)), Duration::ZERO);
    }

    /// A real stall: a real-time thread spins on the watchdog's CPU for
    /// 40 ms (SCHED_FIFO runs before any ordinary thread), and the watchdog
    /// must report it. Needs CAP_SYS_NICE (CI runs as root); skipped
    /// without it, saying so.
    #[test]
    fn a_stall_of_the_cpu_the_harness_runs_on_is_seen() {
        start();
        let tid = loop {
            let t = TID.load(std::sync::atomic::Ordering::SeqCst);
            if t != 0 {
                break t;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        use nix::sched::{sched_setaffinity, CpuSet};
        use nix::unistd::Pid;
        let pin = |who: i32| {
            let mut set = CpuSet::new();
            set.set(0).is_ok() && sched_setaffinity(Pid::from_raw(who), &set).is_ok()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let p = libc::sched_param { sched_priority: 10 };
            // SAFETY: sched_setscheduler reads the sched_param made here.
            #[allow(unsafe_code)]
            let fifo = pin(0) && unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) } == 0;
            if !pin(tid) || !fifo {
                let _ = tx.send(None);
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
            let from = Instant::now();
            while from.elapsed() < Duration::from_millis(40) {
                std::hint::spin_loop();
            }
            let _ = tx.send(Some((from, Instant::now())));
        });
        // A real-time thread can itself be kept off the CPU (a busier one of
        // higher priority, a container without real-time runtime): then
        // this machine cannot make the stall, and the test says so.
        let spun = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(s) => s,
            Err(_) => {
                eprintln!("skipped: the real-time thread did not get CPU 0 within 10 s");
                None
            }
        };
        let Some((from, to)) = spun else {
            eprintln!("skipped: no CAP_SYS_NICE to stall a CPU with a real-time thread");
            return;
        };
        // The watchdog records the gap when it wakes, just after the stall.
        std::thread::sleep(Duration::from_millis(10));
        let seen = descheduled(from, to + Duration::from_millis(5));
        assert!(seen >= Duration::from_millis(30), "a 40 ms stall, the watchdog saw {seen:?}");
        // Let the watchdog run anywhere again.
        let mut all = CpuSet::new();
        for c in 0..CpuSet::count() {
            let _ = all.set(c);
        }
        let _ = sched_setaffinity(Pid::from_raw(tid), &all);
    }
}

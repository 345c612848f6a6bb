//! Whether the harness itself got the CPU: a thread that asks to wake every
//! millisecond and remembers when it woke late. On a loaded machine the
//! harness's own threads wait for a CPU too; a packet it reads late, or a
//! step it reaches late, is then the machine's doing, not the stack's. The
//! engine asks [`descheduled`] about a failing step's span before it blames
//! the stack (see `engine::run`).
//!
//! The same thread watches the kernel's softirq threads (`ksoftirqd/N`).
//! When the kernel has more softirq work than it does on the way out of an
//! interrupt (timers, packets), the rest waits in those threads, which
//! queue for a CPU like any other: on a loaded machine the kernel's own
//! timers and answers then come late. Their wait for a CPU (the second
//! field of `/proc/<pid>/schedstat`) is read on every tick; [`kernel_waited`]
//! tells how much of a span they spent waiting.

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
    /// When a softirq thread waited for a CPU (from, to), oldest first.
    kernel: VecDeque<(Instant, Instant)>,
}

fn gaps() -> &'static Mutex<Gaps> {
    static GAPS: OnceLock<Mutex<Gaps>> = OnceLock::new();
    GAPS.get_or_init(|| {
        // The thread starts with the list: one per process, for good.
        let _ = std::thread::Builder::new().name("harness-watchdog".into()).spawn(watch);
        Mutex::new(Gaps { list: VecDeque::new(), kernel: VecDeque::new() })
    })
}

fn watch() {
    TID.store(nix::unistd::gettid().as_raw(), std::sync::atomic::Ordering::SeqCst);
    let mut softirqd = Softirqd::find();
    let mut due = Instant::now() + TICK;
    loop {
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let woke = Instant::now();
        if woke > due + GAP_MIN {
            record(due, woke);
        }
        // A thread's wait is added to its total when it gets the CPU: the
        // growth since the last tick is a wait that ended just now.
        let waited = softirqd.waited();
        if waited >= GAP_MIN {
            push(|g| &mut g.kernel, woke.checked_sub(waited).unwrap_or(woke), woke);
        }
        due = woke + TICK;
    }
}

/// The kernel's softirq threads and how long each had waited for a CPU
/// when last read (nanoseconds).
struct Softirqd {
    threads: Vec<(std::fs::File, u64)>,
}

impl Softirqd {
    /// Every `ksoftirqd/N` the harness can see (none without /proc, or in
    /// a PID namespace of its own: then only the harness's gaps count).
    fn find() -> Softirqd {
        let mut threads = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let dir = e.path();
            let is_softirqd = std::fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.starts_with("ksoftirqd/"));
            if let (true, Ok(f)) = (is_softirqd, std::fs::File::open(dir.join("schedstat"))) {
                threads.push((f, 0));
            }
        }
        let mut s = Softirqd { threads };
        s.waited();
        s
    }

    /// The longest growth of one thread's wait since the last call (the
    /// threads run on their own CPUs at once: their waits overlap).
    fn waited(&mut self) -> Duration {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let mut most = 0;
        for (f, last) in &mut self.threads {
            let Ok(n) = f.read_at(&mut buf, 0) else { continue };
            if let Some(total) = std::str::from_utf8(&buf[..n]).ok().and_then(run_delay) {
                most = most.max(total.saturating_sub(*last));
                *last = total;
            }
        }
        Duration::from_nanos(most)
    }
}

/// A thread's total wait for a CPU in nanoseconds, from its
/// `/proc/<pid>/schedstat` ("on-CPU ns, waiting ns, timeslices").
fn run_delay(schedstat: &str) -> Option<u64> {
    schedstat.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// Remembers that the harness could not run from `from` to `to` (the
/// watchdog's own gaps, and the engine's late wake-ups).
pub fn record(from: Instant, to: Instant) {
    push(|g| &mut g.list, from, to);
}

fn push(which: fn(&mut Gaps) -> &mut VecDeque<(Instant, Instant)>, from: Instant, to: Instant) {
    let Ok(mut g) = gaps().lock() else { return };
    let list = which(&mut g);
    while list.front().is_some_and(|(_, end)| to.saturating_duration_since(*end) > KEEP) || list.len() >= MAX_GAPS {
        list.pop_front();
    }
    list.push_back((from, to));
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

/// How long, between `from` and `to`, the kernel's softirq threads waited
/// for a CPU (the union of their recorded waits inside the span).
pub fn kernel_waited(from: Instant, to: Instant) -> Duration {
    match gaps().lock() {
        Ok(g) => covered(g.kernel.iter().copied(), from, to),
        Err(_) => Duration::ZERO,
    }
}

/// Who was kept off the CPU around a failing step, and how long: the
/// harness (its watchdog's gaps, the engine's late arrivals) and, on the
/// Linux target, the kernel's softirq threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stall {
    pub harness: Duration,
    pub kernel: Duration,
}

impl Stall {
    pub fn longest(self) -> Duration {
        self.harness.max(self.kernel)
    }

    /// Whose wait it was, in a word (the JSON report's `descheduled_by`).
    pub fn who(self) -> &'static str {
        if self.harness >= self.kernel {
            "harness"
        } else {
            "kernel"
        }
    }

    /// What it was, in words: "the harness itself was late or off the CPU
    /// for 12.0 ms" (the longer of the two waits).
    pub fn text(self) -> String {
        let ms = self.longest().as_secs_f64() * 1e3;
        if self.harness >= self.kernel {
            format!("the harness itself was late or off the CPU for {ms:.1} ms")
        } else {
            format!(
                "the kernel's softirq threads (ksoftirqd), which run its timers and packet work when it has more than \
                 it does at once, waited {ms:.1} ms for a CPU"
            )
        }
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

    #[test]
    fn the_softirq_threads_are_found_and_their_waits_read() {
        assert_eq!(run_delay("3480758997 10377710313 104422\n"), Some(10_377_710_313));
        assert_eq!(run_delay("garbage"), None);
        // Linux with /proc: one ksoftirqd per CPU, each readable.
        let mut s = Softirqd::find();
        if std::path::Path::new("/proc/1/schedstat").exists() {
            assert!(!s.threads.is_empty(), "no ksoftirqd/N under /proc");
        }
        let _ = s.waited();
        // A recorded wait counts only inside the span asked about.
        let t0 = Instant::now() + Duration::from_secs(7200);
        let ms = |n: u64| t0 + Duration::from_millis(n);
        push(|g| &mut g.kernel, ms(10), ms(16));
        assert_eq!(kernel_waited(ms(0), ms(12)), Duration::from_millis(2));
        assert_eq!(kernel_waited(ms(20), ms(30)), Duration::ZERO);
        assert_eq!(descheduled(ms(0), ms(30)), Duration::ZERO, "the harness's gaps are apart");
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

//! The fuzzer's execution cost without LibAFL: every case of a directory
//! (the seeds in `corpus/` by default, or a campaign's queue) run through
//! `harness::fuzz::exec::run_case` on one thread, round after round, for a
//! fixed wall time. Prints executions per second, microseconds per
//! execution and per action, so a change to the reference stack or to the
//! oracles shows its price apart from the fuzzer's own overhead.
//!
//!     cargo bench -p harness --bench fuzz_exec                 # corpus/, 5 s
//!     cargo bench -p harness --bench fuzz_exec -- DIR SECONDS  # a queue, say
//!     FUZZ_EXEC_ROUNDS=2 valgrind --tool=callgrind target/release/deps/fuzz_exec-* DIR
//!
//! `FUZZ_EXEC_AGAINST=smoltcp` runs each case differentially instead
//! (`run_diff`: beside that stack, compared under its allowances).
//!
//! `make fuzz-bench` measures the whole campaign (LibAFL included).

use harness::fuzz::case::Case;
use harness::fuzz::exec::{run_case, run_diff, DiffFailure, MAP_SIZE};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    // `cargo bench` passes `--bench`; positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = args.first().map_or_else(|| root.join("corpus"), PathBuf::from);
    let secs: f64 = match args.get(1).map(|s| s.parse()) {
        None => 5.0,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("fuzz_exec: seconds {:?}: {e}", args[1]);
            std::process::exit(2);
        }
    };
    let mut cases: Vec<Vec<u8>> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .filter_map(|p| std::fs::read(p).ok())
            .collect(),
        Err(e) => {
            eprintln!("fuzz_exec: {}: {e}", dir.display());
            std::process::exit(2);
        }
    };
    cases.sort();
    if cases.is_empty() {
        eprintln!("fuzz_exec: no cases in {}", dir.display());
        std::process::exit(2);
    }
    let actions: usize = cases.iter().map(|c| Case::decode(c).actions.len()).sum();
    let against = match std::env::var("FUZZ_EXEC_AGAINST") {
        Ok(name) => match harness::fuzz::triage::Against::new(&name, None) {
            Ok(a) => Some(a),
            Err(e) => {
                eprintln!("fuzz_exec: FUZZ_EXEC_AGAINST: {e}");
                std::process::exit(2);
            }
        },
        Err(_) => None,
    };
    let mut differ = against.as_ref().map(|a| harness::fuzz::diff::Differ::new(a.make));
    let mut run = |c: &[u8], map: &mut [u8]| -> Result<(), String> {
        match (&against, differ.as_mut()) {
            (Some(a), Some(d)) => run_diff(c, map, d, &a.allow, None).map_err(|e| match e {
                DiffFailure::Oracle(f) => format!("{:?}@{}", f.violation, f.step),
                DiffFailure::Divergence(d) => d.to_string(),
            }),
            _ => run_case(c, map, None).map_err(|f| format!("{:?}@{}", f.violation, f.step)),
        }
    };
    let mut map = vec![0u8; MAP_SIZE];
    let mut failed = 0usize;
    let mut execs = 0usize;
    let mut rounds = 0usize;
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    // FUZZ_EXEC_ROUNDS=N: exactly N rounds whatever the time (for counting
    // instructions under `valgrind --tool=callgrind`, which a shared,
    // noisy machine does not disturb).
    let fixed: Option<usize> = std::env::var("FUZZ_EXEC_ROUNDS").ok().and_then(|v| v.parse().ok());
    while fixed.map_or(start.elapsed() < budget, |n| rounds < n) {
        for c in &cases {
            map.fill(0);
            if run(std::hint::black_box(c), &mut map).is_err() {
                failed += 1;
            }
        }
        execs += cases.len();
        rounds += 1;
    }
    let t = start.elapsed().as_secs_f64();
    // What the cases did, as one number: every map and verdict of one more
    // round folded together. A change that should only make executions
    // cheaper must leave it as it was.
    let mut digest = 0xcbf2_9ce4_8422_2325u64;
    for c in &cases {
        map.fill(0);
        let verdict = run(c, &mut map).err().unwrap_or_default();
        for b in map.iter().copied().chain(verdict.bytes()) {
            digest = (digest ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let per_exec = t * 1e6 / execs as f64;
    println!(
        "fuzz_exec: {} cases ({} actions, {:.1} a case) from {}, {rounds} rounds in {t:.2} s",
        cases.len(),
        actions,
        actions as f64 / cases.len() as f64,
        dir.display()
    );
    println!(
        "fuzz_exec: {:.0} execs/s, {per_exec:.2} us an execution, {:.3} us an action; {} failures (oracles{}) a round",
        execs as f64 / t,
        per_exec * cases.len() as f64 / actions.max(1) as f64,
        failed / rounds.max(1),
        against.as_ref().map_or(String::new(), |a| format!(", divergences from {}", a.name))
    );
    println!("fuzz_exec: digest of the maps and verdicts {digest:016x}");
}

//! `parse-fuzz`: a LibAFL campaign against what reads user input — the
//! script parser (YAML, steps, calls, matrix), the packet notation and the
//! packetdrill importer — looking for panics (aborts: the fuzz profile has
//! panic = "abort"), hangs (over 5 s) and memory use, on one core.
//!
//! An input is a selector byte and text: 0 a script, 1 a packet line, 2 a
//! .pkt file. Seeds are written from `suites/` by `make fuzz-parsers`.
//! Feedback is the edges of the harness crate when it is instrumented
//! (`make fuzz-parsers` builds it so, in target/fuzz-parsers), else none
//! (blind havoc on the seeds). A crash or hang is a solution in OUT/crashes
//! and ends the campaign; its input replays with `parse-fuzz --replay FILE`.
//! At the end it prints executions, solutions and the peak RSS.

// The coverage map is a static shared with the observer, as in LibAFL's examples.
#![allow(unsafe_code)]

use clap::Parser;
use libafl::corpus::{Corpus, InMemoryCorpus, OnDiskCorpus};
use libafl::events::SimpleEventManager;
use libafl::executors::{ExitKind, InProcessExecutor};
use libafl::feedbacks::{CrashFeedback, MaxMapFeedback, TimeoutFeedback};
use libafl::fuzzer::{Fuzzer, StdFuzzer};
use libafl::inputs::{BytesInput, HasTargetBytes};
use libafl::monitors::SimpleMonitor;
use libafl::mutators::{havoc_mutations::havoc_mutations, tokens_mutations, HavocScheduledMutator, Tokens};
use libafl::observers::StdMapObserver;
use libafl::schedulers::QueueScheduler;
use libafl::stages::StdMutationalStage;
use libafl::state::{HasCorpus, HasExecutions, HasMaxSize, HasSolutions, StdState};
use libafl::{feedback_or_fast, Evaluator, HasMetadata};
use libafl_bolts::rands::StdRand;
use libafl_bolts::tuples::{tuple_list, Merge};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

static mut NO_EDGES: [u8; 1] = [0];

#[derive(Parser, Debug)]
#[command(name = "parse-fuzz", about = "LibAFL campaign against the script parser, packet notation and importer")]
struct Opt {
    /// Seed inputs (a directory of files: selector byte, then text).
    #[arg(long, default_value = "target/fuzz-parsers/seeds")]
    seeds: PathBuf,
    /// Where the solutions go (OUT/crashes).
    #[arg(long, default_value = "target/fuzz-parsers/out")]
    out: PathBuf,
    /// Seconds to fuzz.
    #[arg(long, default_value_t = 600)]
    time: u64,
    /// Run one input and exit (a solution, to see what it does).
    #[arg(long)]
    replay: Option<PathBuf>,
}

/// The target: each reader on the input's text. Errors are fine; a panic,
/// a hang, unbounded memory, or an imported script the language refuses is
/// not.
fn run(bytes: &[u8]) {
    let Some((&sel, rest)) = bytes.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match sel % 3 {
        0 => {
            if let Err(e) = harness::script::parse(Path::new("fuzz.yaml"), &text) {
                // The diagnostic is rendered too: it reads the source around the error.
                std::hint::black_box(format!("{:?}", miette::Report::new(e)));
            }
        }
        1 => {
            for line in text.lines() {
                let _ = std::hint::black_box(harness::script::packet::PacketSpec::parse(line));
            }
        }
        _ => {
            // google's helpers (the stand-ins the repository keeps), so
            // the seeds from packetdrill's tree convert and reach the YAML.
            let opts = harness::import::convert::ImportOptions {
                helper_dirs: vec![
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/import-helpers/packetdrill-gtests")
                ],
                ..harness::import::convert::ImportOptions::default()
            };
            let c = harness::import::convert::convert("fuzz.pkt", &text, &opts);
            // The round trip: what the importer writes, the language must
            // read. A script it writes and then refuses is an importer bug,
            // a finding like a panic.
            if let Some(yaml) = &c.yaml {
                if let Err(e) = harness::script::parse(Path::new("fuzz.yaml"), yaml) {
                    panic!("the importer wrote a script the language refuses: {} (line {})\n{yaml}", e.message, e.line);
                }
            }
        }
    }
}

fn edge_counters() -> (*mut u8, usize) {
    // SAFETY: COUNTERS_MAPS is filled by module constructors before main and
    // not changed afterwards; we only read its entries' pointers.
    let maps = unsafe { &*libafl_targets::sancov_8bit::counters_maps_ptr() };
    match maps.as_slice() {
        [] => {
            eprintln!("parse-fuzz: the harness is not instrumented (build with `make fuzz-parsers`): blind havoc");
            #[allow(static_mut_refs)]
            // SAFETY: a static only the observer touches.
            (unsafe { NO_EDGES.as_mut_ptr() }, 1)
        }
        many => {
            let start = many.iter().map(|m| m.as_ptr() as usize).min().unwrap_or(0);
            let end = many.iter().map(|m| m.as_ptr() as usize + m.len()).max().unwrap_or(0);
            eprintln!("parse-fuzz: {} edge counters", end - start);
            (start as *mut u8, end - start)
        }
    }
}

/// Peak resident memory of this process, in KiB (VmHWM).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let opt = Opt::parse();
    if let Some(f) = &opt.replay {
        let bytes = std::fs::read(f).unwrap_or_else(|e| {
            eprintln!("parse-fuzz: {}: {e}", f.display());
            std::process::exit(2)
        });
        let t = Instant::now();
        run(&bytes);
        println!("parse-fuzz: {} ran in {:?}, peak RSS {} KiB", f.display(), t.elapsed(), peak_rss_kib());
        return;
    }
    if let Err(e) = campaign(&opt) {
        eprintln!("parse-fuzz: {e}");
        std::process::exit(3);
    }
}

fn campaign(opt: &Opt) -> Result<(), libafl::Error> {
    let (ptr, len) = edge_counters();
    // SAFETY: the counters live for the whole process; only the
    // instrumented code writes them, during a run.
    let edges = unsafe { StdMapObserver::from_mut_ptr("edges", ptr, len) };
    let mut feedback = MaxMapFeedback::new(&edges);
    let mut objective = feedback_or_fast!(CrashFeedback::new(), TimeoutFeedback::new());
    let mut state = StdState::new(
        StdRand::new(),
        InMemoryCorpus::new(),
        OnDiskCorpus::new(opt.out.join("crashes"))?,
        &mut feedback,
        &mut objective,
    )?;
    state.set_max_size(1 << 16);
    // Words of the languages, for the token mutations.
    let words = [
        "steps:",
        "matrix:",
        "- in: ",
        "- out: ",
        "- call: ",
        "- wait: ",
        "at: +",
        "${",
        "}",
        "[",
        "]",
        "<",
        ">",
        "mss ",
        "sackOK",
        "TS val ",
        "ecr ",
        "wscale ",
        "sack ",
        "nop",
        "win ",
        "ack ",
        "urg ",
        "S.",
        "F.",
        "P.",
        "R",
        "write(4, ",
        "setsockopt(",
        "SO_KEEPALIVE",
        "...",
        "\"\\x",
        "0:0(0)",
        "1:1001(1000)",
        "4294967295",
        "+0 < ",
        "+0 > ",
        "`",
        "//",
        "/*",
        "--",
        "=",
        "~",
        "*",
        "&",
        "|",
    ];
    state.add_metadata(Tokens::from(words.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>()));
    let monitor = SimpleMonitor::new(|s| println!("{s}"));
    let mut mgr = SimpleEventManager::new(monitor);
    let scheduler = QueueScheduler::new();
    let mut fuzzer = StdFuzzer::new(scheduler, feedback, objective);
    let mut harness = |input: &BytesInput| {
        let bytes = input.target_bytes();
        run(&bytes);
        ExitKind::Ok
    };
    let mut executor = InProcessExecutor::builder()
        .timeout(Duration::from_secs(5))
        .harness(&mut harness)
        .observers(tuple_list!(edges))
        .fuzzer(&mut fuzzer)
        .state(&mut state)
        .event_mgr(&mut mgr)
        .build()?;
    let mut loaded = 0;
    for e in std::fs::read_dir(&opt.seeds).into_iter().flatten().flatten() {
        if let Ok(b) = std::fs::read(e.path()) {
            fuzzer.evaluate_input(&mut state, &mut executor, &mut mgr, &BytesInput::new(b))?;
            loaded += 1;
        }
    }
    if state.corpus().count() == 0 {
        for b in [
            &b"\x00steps:\n  - call: socket() = 3\n"[..],
            b"\x01S 0:0(0) win 65535 <mss 1460>",
            b"\x020 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        ] {
            fuzzer.add_input(&mut state, &mut executor, &mut mgr, BytesInput::new(b.to_vec()))?;
        }
    }
    println!("parse-fuzz: {loaded} seeds read, {} in the corpus", state.corpus().count());
    let mutator = HavocScheduledMutator::new(havoc_mutations().merge(tokens_mutations()));
    let mut stages = tuple_list!(StdMutationalStage::new(mutator));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(opt.time);
    while Instant::now() < deadline && state.solutions().count() == 0 {
        fuzzer.fuzz_loop_for(&mut stages, &mut executor, &mut state, &mut mgr, 100)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse-fuzz: {} executions in {secs:.0} s ({:.0}/s), corpus {}, solutions {}, peak RSS {} KiB",
        state.executions(),
        *state.executions() as f64 / secs,
        state.corpus().count(),
        state.solutions().count(),
        peak_rss_kib()
    );
    if state.solutions().count() > 0 {
        println!("parse-fuzz: a solution is in {}: parse-fuzz --replay FILE", opt.out.join("crashes").display());
        std::process::exit(1);
    }
    Ok(())
}

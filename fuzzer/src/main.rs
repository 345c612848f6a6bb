//! `tcp-fuzz`: a LibAFL campaign against the reference stack. Inputs are
//! cases (`harness::fuzz::case`); feedback is the map of (state, segment kind,
//! next state) transitions; every oracle failure or panic is a solution.
//! The queue and the solutions live on disk, so a campaign killed at any
//! moment continues from them when started again with the same `--out`.
//!
//! Feedback is two maps: the edges of the reference-stack crate
//! (SanitizerCoverage 8-bit counters; only that crate is instrumented, see
//! `fuzzer/sancov-rustc`) and the transitions map the harness fills.
//!
//! Built with the workspace's `fuzz` profile (panic = "abort", overflow and
//! debug assertions on) through the wrapper: `make fuzz-build`.

// The coverage map is a static shared with the observer, as in LibAFL's examples.
#![allow(unsafe_code)]

mod mutators;

use clap::Parser;
use harness::fuzz::exec::{run_case, MAP_SIZE};
use libafl::corpus::{Corpus, InMemoryOnDiskCorpus, OnDiskCorpus};
use libafl::events::{EventConfig, Launcher};
use libafl::executors::{inprocess::InProcessExecutor, ExitKind};
use libafl::feedbacks::{CrashFeedback, MaxMapFeedback};
use libafl::fuzzer::{Fuzzer, StdFuzzer};
use libafl::generators::RandBytesGenerator;
use libafl::inputs::{BytesInput, HasTargetBytes};
use libafl::monitors::MultiMonitor;
use libafl::mutators::{havoc_mutations::havoc_mutations, HavocScheduledMutator};
use libafl::observers::{CanTrack, HitcountsMapObserver, StdMapObserver};
use libafl::schedulers::{IndexesLenTimeMinimizerScheduler, QueueScheduler};
use libafl::stages::StdMutationalStage;
use libafl::state::{HasCorpus, HasMaxSize, StdState};
use libafl::Error;
use libafl::{feedback_and_fast, feedback_or};
use libafl_bolts::core_affinity::Cores;
use libafl_bolts::rands::StdRand;
use libafl_bolts::shmem::{ShMemProvider, StdShMemProvider};
use libafl_bolts::tuples::{tuple_list, Merge};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The transitions map the harness writes and the observer reads.
static mut MAP: [u8; MAP_SIZE] = [0; MAP_SIZE];

/// Stands in for the edge counters when the reference stack was built
/// without the sancov wrapper (the campaign then runs on transitions only).
static mut NO_EDGES: [u8; 1] = [0];

/// Largest case: the header and 64 actions. Longer streams add cost per
/// execution without reaching states a shorter one cannot.
const MAX_CASE: usize = harness::fuzz::case::HEADER + harness::fuzz::case::RECORD * mutators::MAX_ACTIONS;

/// The instrumented region of the reference stack: one contiguous range of
/// counters (every module's counters share one linker section, so the
/// runtime merges them), or the stand-in.
fn edge_counters() -> (*mut u8, usize) {
    // SAFETY: COUNTERS_MAPS is filled by module constructors before main and
    // not changed afterwards; we only read its entries' pointers.
    let maps = unsafe { &*libafl_targets::sancov_8bit::counters_maps_ptr() };
    let total: usize = maps.iter().map(|m| m.len()).sum();
    if !maps.is_empty() {
        eprintln!("tcp-fuzz: reference stack instrumented: {total} edge counters in {} region(s)", maps.len());
    }
    match maps.as_slice() {
        [one] => (one.as_ptr().cast_mut(), one.len()),
        [] => {
            eprintln!(
                "tcp-fuzz: the reference stack is not instrumented (build with `make fuzz-build`); \
                 feedback is the transitions map only"
            );
            #[allow(static_mut_refs)]
            // SAFETY: a static only the observer touches.
            (unsafe { NO_EDGES.as_mut_ptr() }, 1)
        }
        many => {
            // Separate regions (not expected for one statically linked crate):
            // observe the span that covers them all.
            let start = many.iter().map(|m| m.as_ptr() as usize).min().unwrap_or(0);
            let end = many.iter().map(|m| m.as_ptr() as usize + m.len()).max().unwrap_or(0);
            (start as *mut u8, end - start)
        }
    }
}

#[derive(Parser, Debug)]
#[command(name = "tcp-fuzz", about = "LibAFL campaign against the reference TCP stack")]
struct Opt {
    /// Cores to run clients on: `0`, `0,1`, `0-3`, `all`.
    #[arg(long, default_value = "0", value_parser = Cores::from_cmdline)]
    cores: Cores,
    /// Seed cases (a directory of .case files); may be empty or absent.
    #[arg(long, default_value = "corpus")]
    corpus: PathBuf,
    /// Where the queue and the solutions go.
    #[arg(long, default_value = "fuzz-out")]
    out: PathBuf,
    /// Stop after this many seconds (0: run until interrupted).
    #[arg(long, default_value_t = 0)]
    time: u64,
    /// LLMP broker port (clients on other machines connect to it).
    #[arg(long, default_value_t = 1337)]
    broker_port: u16,
    /// Connect to a broker elsewhere (multi-machine, broker to broker).
    #[arg(long)]
    remote_broker: Option<std::net::SocketAddr>,
    /// Ignore the seed corpus (to measure coverage from nothing).
    #[arg(long)]
    no_seeds: bool,
}

/// Sends SIGINT to every process below this one (the Launcher's respawners
/// and their clients), then to this one (the broker); LibAFL shuts down on
/// it. Not the process group: that holds whatever shell started us.
fn stop_campaign() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::{getpid, Pid};
    let mut parent_of = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // The parent pid is the second field after the parenthesised command name.
        if let Some(ppid) =
            stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
        {
            parent_of.insert(pid, ppid);
        }
    }
    let me = getpid().as_raw();
    let below = |mut p: i32| {
        while let Some(&pp) = parent_of.get(&p) {
            if pp == me {
                return true;
            }
            if pp <= 1 {
                return false;
            }
            p = pp;
        }
        false
    };
    for &pid in parent_of.keys() {
        if below(pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
    }
    let _ = kill(getpid(), Signal::SIGINT);
}

fn main() {
    let opt = Opt::parse();
    if opt.time > 0 {
        // Stop the campaign: the clients (our children) and then ourselves.
        // Not the process group: that holds whatever shell or script started us.
        let secs = opt.time;
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(secs));
            stop_campaign();
        });
    }
    let queue = opt.out.join("queue");
    let solutions = opt.out.join("crashes");
    let shmem_provider = StdShMemProvider::new().expect("shared memory");
    let monitor = MultiMonitor::new(|s| println!("{s}"));

    let mut run_client = |state: Option<_>, mut mgr, _client| {
        // SAFETY: one harness per process writes MAP; the observer reads it
        // between runs, never concurrently.
        #[allow(static_mut_refs)]
        let observer = HitcountsMapObserver::new(unsafe {
            StdMapObserver::from_mut_ptr("transitions", MAP.as_mut_ptr(), MAP_SIZE)
        });
        let (edges_ptr, edges_len) = edge_counters();
        // SAFETY: the counters live for the whole process; only the
        // instrumented code writes them, during a run.
        let edges = HitcountsMapObserver::new(unsafe { StdMapObserver::from_mut_ptr("edges", edges_ptr, edges_len) })
            .track_indices();
        let mut feedback = feedback_or!(MaxMapFeedback::new(&edges), MaxMapFeedback::new(&observer));
        // A solution is kept only if, among solutions, it reaches an edge no
        // earlier one did: the same bug found a thousand ways is stored a
        // few times, not a thousand (triage then groups by oracle and location).
        let mut objective =
            feedback_and_fast!(CrashFeedback::new(), MaxMapFeedback::with_name("solution-edges", &edges));
        let mut state = state.unwrap_or_else(|| {
            StdState::new(
                StdRand::new(),
                InMemoryOnDiskCorpus::new(&queue).expect("queue directory"),
                OnDiskCorpus::new(&solutions).expect("solutions directory"),
                &mut feedback,
                &mut objective,
            )
            .expect("state")
        });
        state.set_max_size(MAX_CASE);
        let mutator = HavocScheduledMutator::new(havoc_mutations().merge(tuple_list!(
            mutators::InsertAction,
            mutators::DeleteAction,
            mutators::DuplicateAction,
            mutators::SwapActions,
            mutators::FlipFlag,
            mutators::SeqToEdge,
            mutators::ResizePayload
        )));
        let mut stages = tuple_list!(StdMutationalStage::new(mutator));
        let scheduler = IndexesLenTimeMinimizerScheduler::new(&edges, QueueScheduler::new());
        let mut fuzzer = StdFuzzer::new(scheduler, feedback, objective);
        let mut harness = |input: &BytesInput| {
            let bytes = input.target_bytes();
            // SAFETY: see above; this is the only writer.
            #[allow(static_mut_refs)]
            let map = unsafe { &mut MAP };
            match run_case(&bytes, map, None) {
                Ok(()) => ExitKind::Ok,
                // An oracle failed: a solution, like a crash.
                Err(_) => ExitKind::Crash,
            }
        };
        let mut executor = InProcessExecutor::builder()
            .timeout(std::time::Duration::from_secs(10))
            .harness(&mut harness)
            .observers(tuple_list!(edges, observer))
            .fuzzer(&mut fuzzer)
            .state(&mut state)
            .event_mgr(&mut mgr)
            .build()?;
        if state.must_load_initial_inputs() {
            let mut dirs: Vec<PathBuf> = Vec::new();
            for d in [&opt.corpus, &queue] {
                let has_files = std::fs::read_dir(d).is_ok_and(|mut r| r.any(|e| e.is_ok_and(|e| e.path().is_file())));
                if has_files && !(opt.no_seeds && d == &opt.corpus) {
                    dirs.push(d.clone());
                }
            }
            if !dirs.is_empty() {
                state.load_initial_inputs(&mut fuzzer, &mut executor, &mut mgr, &dirs)?;
            }
            if state.corpus().count() == 0 {
                let mut generator = RandBytesGenerator::new(std::num::NonZeroUsize::new(2 + 16 * 12).expect("nonzero"));
                state.generate_initial_inputs(&mut fuzzer, &mut executor, &mut generator, &mut mgr, 16)?;
            }
            println!("client: {} cases in the corpus to start from", state.corpus().count());
        }
        fuzzer.fuzz_loop(&mut stages, &mut executor, &mut state, &mut mgr)?;
        Ok(())
    };

    let r = Launcher::builder()
        .shmem_provider(shmem_provider)
        .configuration(EventConfig::from_name("tcp-fuzz"))
        .monitor(monitor)
        .run_client(&mut run_client)
        .cores(&opt.cores)
        .broker_port(opt.broker_port)
        .remote_broker_addr(opt.remote_broker)
        .build()
        .launch();
    match r {
        Ok(()) | Err(Error::ShuttingDown) => {
            println!("tcp-fuzz: stopped; queue in {}, solutions in {}", queue.display(), solutions.display())
        }
        Err(e) => {
            eprintln!("tcp-fuzz: {e}");
            std::process::exit(3);
        }
    }
}

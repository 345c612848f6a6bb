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
mod scheduler;

use clap::Parser;
use harness::fuzz::diff::Differ;
use harness::fuzz::exec::{classify_counts, run_case, run_diff, MAP_SIZE};
use harness::fuzz::triage::Against;
use libafl::corpus::{Corpus, InMemoryOnDiskCorpus, OnDiskCorpus};
use libafl::events::{
    setup_restarting_mgr_llmp, ClientDescription, EventConfig, Launcher, ManagerKind, ShouldSaveState, StdLlmpEventHook,
};
use libafl::executors::hooks::timer::TimerStruct;
use libafl::executors::inprocess::{HasInProcessHooks, InProcessExecutor};
use libafl::executors::ExitKind;
use libafl::feedbacks::{CrashFeedback, MaxMapFeedback, TimeoutFeedback};
use libafl::fuzzer::{Fuzzer, StdFuzzer};
use libafl::generators::RandBytesGenerator;
use libafl::inputs::{BytesInput, HasTargetBytes};
use libafl::monitors::MultiMonitor;
use libafl::mutators::{havoc_mutations::havoc_mutations, HavocScheduledMutator};
use libafl::observers::{CanTrack, StdMapObserver};
use libafl::stages::StdMutationalStage;
use libafl::state::{HasCorpus, HasMaxSize, StdState};
use libafl::Error;
use libafl::{feedback_and_fast, feedback_or, feedback_or_fast};
use libafl_bolts::core_affinity::Cores;
use libafl_bolts::llmp::{Broker, LlmpBroker};
use libafl_bolts::rands::StdRand;
use libafl_bolts::shmem::{ShMemProvider, StdShMemProvider};
use libafl_bolts::tuples::{tuple_list, Merge};
use std::path::PathBuf;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Havoc stacks up to 2^4 = 16 mutations on one case (7.5 on average).
/// LibAFL's default is 2^7 (36 on average): on cases of 16-byte records
/// that deep a stack mostly scrambles, and it cost a fifth of a campaign's
/// CPU. Three 30-second one-core campaigns from the seeds each way
/// (2026-12-02): 2^7 gave 81k to 98k execs/s, edges 41.3 to 41.6 %,
/// transitions 14.1 to 14.2 %; 2^4 gave 97k to 105k execs/s with the same
/// coverage (41.2 to 41.7 %, 14.1 to 14.2 %).
const HAVOC_STACK_POW: u8 = 4;

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
        // (The crates SANCOV_CRATES named at build time: the reference
        // stack, and the other stack in a differential build.)
        eprintln!("tcp-fuzz: instrumented: {total} edge counters in {} region(s)", maps.len());
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
    /// Cases of one connection only (no second or third connection, no SYN
    /// bursts, the listen queue's defaults): what every case was before
    /// cases had more, at that speed.
    #[arg(long)]
    one_connection: bool,
    /// Differential: run each case on the reference stack and, beside it in
    /// the same virtual time, on this in-process stack (`smoltcp`), and make
    /// every divergence that its allowances and ledger do not list a solution.
    #[arg(long, value_name = "STACK")]
    against: Option<String>,
    /// The other stack's allowances and divergence ledger (default: the
    /// file the harness ships, fuzzer/divergences/<STACK>.yaml).
    #[arg(long, value_name = "FILE", requires = "against")]
    allowances: Option<PathBuf>,
    /// Havoc stacks 2 to 2^N mutations on each new case.
    #[arg(long, default_value_t = HAVOC_STACK_POW, value_parser = clap::value_parser!(u8).range(1..=7))]
    havoc_stack_pow: u8,
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

/// The other stack of a differential campaign and what may differ, or why not.
fn differential(opt: &Opt) -> Result<Option<Against>, String> {
    let Some(name) = &opt.against else { return Ok(None) };
    let text = match &opt.allowances {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| format!("--allowances {}: {e}", p.display()))?),
        None => None,
    };
    let path = opt.allowances.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    Against::new(name, text.as_deref().map(|t| (path.as_str(), t))).map(Some)
}

fn main() {
    let opt = Opt::parse();
    let against = match differential(&opt) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tcp-fuzz: {e}");
            std::process::exit(2);
        }
    };
    // LibAFL logs through `log`: RUST_LOG=info shows the broker links and launches.
    env_logger::init();
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
        // No HitcountsMapObserver here: run_case writes AFL's hit-count
        // classes itself, for the slots it hit, instead of LibAFL
        // classifying all 8192 slots after every run.
        let observer = unsafe { StdMapObserver::from_mut_ptr("transitions", MAP.as_mut_ptr(), MAP_SIZE) };
        let (edges_ptr, edges_len) = edge_counters();
        // SAFETY: the counters live for the whole process; only the
        // instrumented code writes them, during a run.
        // No HitcountsMapObserver: the harness below turns the counters
        // into hit-count classes itself, skipping the zero words, instead
        // of a 128 KiB table lookup for every pair of the 4,000 counters.
        let edges = unsafe { StdMapObserver::from_mut_ptr("edges", edges_ptr, edges_len) }.track_indices();
        let mut feedback = feedback_or!(MaxMapFeedback::new(&edges), MaxMapFeedback::new(&observer));
        // A solution is kept only if, among solutions, it reaches an edge no
        // earlier one did: the same bug found a thousand ways is stored a
        // few times, not a thousand (triage then groups by oracle and location).
        // A run that times out (a hang, in either stack) is a solution too,
        // every one of them: `harness fuzz` triages it as kind `hang`.
        let mut objective = feedback_or_fast!(
            feedback_and_fast!(CrashFeedback::new(), MaxMapFeedback::with_name("solution-edges", &edges)),
            TimeoutFeedback::new()
        );
        let mut state = state.unwrap_or_else(|| {
            StdState::new(
                StdRand::new(),
                // The queue on disk is what a restart loads: the inputs
                // alone. No metadata files (LibAFL's default writes a
                // pretty-printed JSON of about 4.6 KB beside each case) and
                // no lock files: a case's file name is the hash of its
                // bytes, so two clients that store the same name store the
                // same bytes. With both, file creation on ext4 took a
                // quarter of a one-core campaign's first minute.
                InMemoryOnDiskCorpus::with_meta_format_and_prefix(&queue, None, None, false).expect("queue directory"),
                OnDiskCorpus::new(&solutions).expect("solutions directory"),
                &mut feedback,
                &mut objective,
            )
            .expect("state")
        });
        state.set_max_size(MAX_CASE);
        let mutations = havoc_mutations().merge(tuple_list!(
            mutators::InsertAction,
            mutators::DeleteAction,
            mutators::DuplicateAction,
            mutators::SwapActions,
            mutators::FlipFlag,
            mutators::SeqToEdge,
            mutators::ResizePayload,
            mutators::RepeatRun,
            mutators::ShortWait,
            mutators::OtherConnection,
            mutators::QueueHeader,
            mutators::InsertBurst
        ));
        let mutator = mutators::Confined {
            inner: HavocScheduledMutator::with_max_stack_pow(mutations, usize::from(opt.havoc_stack_pow)),
            one: opt.one_connection,
        };
        let one_connection = opt.one_connection;
        let mut confined = Vec::new();
        let mut differ = against.as_ref().map(|a| (Differ::new(a.make), a.allow.clone()));
        let mut stages = tuple_list!(StdMutationalStage::new(mutator));
        let scheduler = scheduler::LazyCull::new(&edges);
        let mut fuzzer = StdFuzzer::new(scheduler, feedback, objective);
        let mut harness = |input: &BytesInput| {
            let bytes = input.target_bytes();
            // SAFETY: see above; this is the only writer.
            #[allow(static_mut_refs)]
            let map = unsafe { &mut MAP };
            let case: &[u8] = if one_connection {
                // Seeds too (mutated cases are confined already).
                confined.clear();
                confined.extend_from_slice(&bytes);
                harness::fuzz::case::confine_to_one_connection(&mut confined);
                &confined
            } else {
                &bytes
            };
            let verdict = match differ.as_mut() {
                Some((d, allow)) => run_diff(case, map, d, allow, None).map_err(|_| ()),
                None => run_case(case, map, None).map_err(|_| ()),
            };
            // SAFETY: the counters (see above) are not borrowed by the
            // observer during a run; this is the only other access.
            classify_counts(unsafe { std::slice::from_raw_parts_mut(edges_ptr, edges_len) });
            match verdict {
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
        // The timeout in batch mode: the timer is armed once and re-armed
        // only when it is close to firing, instead of two timer_settime
        // calls around every execution (about 6 % of a campaign's CPU in
        // the kernel). A hang is still caught, within 10 to 20 seconds.
        executor.inprocess_hooks_mut().timer = TimerStruct::batch_mode(std::time::Duration::from_secs(10));
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

    // `Launcher::launch` in LibAFL 0.16.1 never passes `remote_broker_addr`
    // to the broker it starts (restarting.rs calls its broker loop with
    // `None`), so the broker is set up here: the same hook and loop, plus the
    // broker-to-broker link when `--remote-broker` is given.
    let configuration = EventConfig::from_name("tcp-fuzz");
    let launcher_provider = shmem_provider.clone();
    let broker_port = opt.broker_port;
    let remote_broker = opt.remote_broker;
    let n_clients = std::num::NonZeroUsize::new(opt.cores.ids.len()).unwrap_or(std::num::NonZeroUsize::MIN);
    let spawn_mgr = |_launcher: &Launcher<'_, _, _, _>, client: Option<ClientDescription>, monitor: Option<_>| {
        let provider = launcher_provider.clone();
        match client {
            Some(client_description) => setup_restarting_mgr_llmp(
                provider,
                configuration,
                None::<MultiMonitor<fn(&str)>>,
                broker_port,
                ManagerKind::Client { client_description },
                None,
                ShouldSaveState::OnRestart,
                tuple_list!(),
            ),
            None => {
                let monitor = monitor.ok_or_else(|| Error::illegal_state("the broker has no monitor"))?;
                let mut broker = LlmpBroker::create_attach_to_tcp(
                    provider,
                    tuple_list!(StdLlmpEventHook::<BytesInput, _>::new(monitor)?),
                    broker_port,
                )?;
                if let Some(addr) = remote_broker {
                    // The link's proxy takes the broker's next client id, but
                    // local clients get theirs from the TCP listener's own
                    // counter: link before they have registered and the first
                    // local client shares the proxy's id, and the proxy then
                    // drops that client's messages as its own echo (LibAFL
                    // 0.16.1). So let the local clients register first.
                    let wanted = n_clients.get() + 1; // the listener is client 0
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                    while (broker.inner().peek_next_client_id().0 as usize) < wanted
                        && std::time::Instant::now() < deadline
                    {
                        broker.broker_once()?;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    let registered = (broker.inner().peek_next_client_id().0 as usize).saturating_sub(1);
                    println!("tcp-fuzz: {registered} local client(s) up; linking to the broker at {addr}");
                    broker.inner_mut().connect_b2b(addr)?;
                    println!("tcp-fuzz: broker link to {addr} up");
                }
                broker.set_exit_after(n_clients);
                broker
                    .loop_with_timeouts(std::time::Duration::from_secs(30), Some(std::time::Duration::from_millis(5)));
                Err(Error::shutting_down())
            }
        }
    };
    let r = Launcher::builder()
        .shmem_provider(shmem_provider)
        .configuration(configuration)
        .monitor(monitor)
        .run_client(&mut run_client)
        .cores(&opt.cores)
        .broker_port(opt.broker_port)
        .remote_broker_addr(opt.remote_broker)
        .build()
        .launch_with_manager(spawn_mgr);
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

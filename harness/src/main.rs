//! `harness`: the command line. A thin layer over the `harness` library.
//!
//! Exit codes (README): 0 success; 1 the run found a failure; 2 bad usage.

use clap::{Parser, Subcommand};
use harness::interop::{self, CloseOrder, InteropConfig};
use harness::loopback::{self, LoopbackConfig};
use harness::report;
use harness::runner::{self, Partition, Status};
use harness::script::TargetKind;
use reference_stack::{Duration, EventKind, Profile};
use std::path::PathBuf;
use std::process::ExitCode;

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Prints each error as a positioned diagnostic; returns how many there were.
fn print_script_errors(errors: Vec<harness::script::ScriptError>) -> usize {
    let n = errors.len();
    for e in errors {
        eprintln!("{:?}", miette::Report::new(e));
    }
    n
}

const EXIT_CODES: &str = "Exit codes:
  0  everything passed
  1  a script failed, a run found a failure, or fuzzing has findings
  2  a script or the command line is invalid
  3  a run could not be carried out (privileges, devices)";

#[derive(Parser)]
#[command(name = "harness", version, about = "TCP conformance and fuzz-testing harness", long_about = None, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs scripts (files, or directories searched for *.yaml) and reports.
    #[command(after_help = EXIT_CODES)]
    Run {
        /// Script files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Target to run on: reference (default), linux, or all. Repeatable.
        #[arg(long = "target", default_value = "reference")]
        targets: Vec<String>,
        /// How the Linux target is reached: tun (default) or raw (veth + AF_PACKET).
        #[arg(long, default_value = "tun")]
        transport: String,
        /// Multiplies every timing tolerance (slow or debug kernels).
        #[arg(long, default_value_t = 1.0)]
        tolerance_scale: f64,
        /// Scripts run at once.
        #[arg(short = 'j', long, default_value_t = default_jobs())]
        jobs: usize,
        /// Run only the K-th of N deterministic slices (e.g. 2/4), for CI matrices.
        #[arg(long)]
        partition: Option<String>,
        /// Write a JUnit XML report.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Write one JSON record per script (JSON lines).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write a pcap per script into this directory.
        #[arg(long)]
        pcap_dir: Option<PathBuf>,
        /// Print each script's normalised trace.
        #[arg(long)]
        trace: bool,
        /// Print one line per script and target: its verdict and wall time.
        #[arg(long)]
        verdicts: bool,
        /// Let scripts' `shell:` steps run (in the run's own namespace on the
        /// Linux target). Without it, such scripts are skipped.
        #[arg(long)]
        allow_shell: bool,
    },
    /// Runs the scripts and prints requirement IDs -> scripts -> verdict per
    /// target (pass, FAIL, known deviation, not run, not observable,
    /// UNCOVERED), with counts per level. Exit 1 when a run failed, an
    /// observable MUST has no script, or a tag names an unknown ID.
    #[command(after_help = EXIT_CODES)]
    Coverage {
        /// Script files or directories (a suite root holds requirements.yaml).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Targets: reference, linux, or all (default). Repeatable.
        #[arg(long = "target", default_value = "all")]
        targets: Vec<String>,
        /// text (default), markdown, or html.
        #[arg(long, default_value = "text")]
        format: String,
        /// Write the table here instead of standard output.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// The requirement catalogue (default: requirements.yaml at the suite root).
        #[arg(long)]
        catalogue: Option<PathBuf>,
        /// How the Linux target is reached: tun (default) or raw.
        #[arg(long, default_value = "tun")]
        transport: String,
        /// Scripts run at once.
        #[arg(short = 'j', long, default_value_t = default_jobs())]
        jobs: usize,
    },
    /// Converts packetdrill scripts (.pkt files, or directories of them) to
    /// the YAML language; each step keeps the .pkt line it came from. A file
    /// the language cannot say is refused with file:line and the construct.
    /// Exit 0 when every file was read (refused files included), 2 when a
    /// file could not be read or written.
    #[command(after_help = EXIT_CODES)]
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the scripts under this directory (mirroring the input tree).
        /// Without it, nothing is written: a dry run that reports.
        #[arg(short = 'o', long)]
        output: Option<PathBuf>,
        /// Keep shell commands the language has no equivalent for as
        /// `shell:` steps (they run only under `harness run --allow-shell`).
        #[arg(long)]
        allow_shell: bool,
        /// List every problem of every refused file, not just the first.
        #[arg(short, long)]
        verbose: bool,
        /// What defaults.sh's default congestion control (cubic) becomes: set
        /// on every socket (`congestion: NAME`), or `host` to leave the
        /// host's default, as packetdrill itself gets inside a namespace.
        #[arg(long, default_value = "cubic")]
        congestion: String,
        /// packetdrill's -D NAME=VALUE: replace NAME (a whole word) by VALUE.
        #[arg(short = 'D', long = "define", value_name = "NAME=VALUE")]
        defines: Vec<String>,
    },
    /// Checks scripts without running them; every error is positioned.
    #[command(after_help = EXIT_CODES)]
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Reference target: runs scripts repeatedly and prints scripts per second
    /// and the ratio of script (virtual) time to wall time. Linux target: prints
    /// the fixed cost per script (namespace, device, teardown) and the suite's
    /// wall time at -j 1, 2 and 16, three times at -j 16.
    Bench {
        #[arg(default_value = "suites")]
        paths: Vec<PathBuf>,
        /// Rounds over all the scripts (reference target).
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        #[arg(short = 'j', long, default_value_t = 1)]
        jobs: usize,
        /// reference or linux.
        #[arg(long, default_value = "reference")]
        target: String,
        /// tun or raw (Linux target).
        #[arg(long, default_value = "tun")]
        transport: String,
    },
    /// Fuzzes the reference stack with LibAFL (the `tcp-fuzz` binary, built by
    /// `make fuzz`), then triages what it found: findings deduplicated by
    /// oracle and location, minimised, written as case.bin and case.yaml.
    Fuzz {
        /// Seconds to fuzz (0: only triage what is already in --out).
        #[arg(long, default_value_t = 60)]
        time: u64,
        /// Cores for the clients: `0`, `0,1`, `0-3`, `all`.
        #[arg(long, default_value = "0")]
        cores: String,
        #[arg(long, default_value = "corpus")]
        corpus: PathBuf,
        #[arg(long, default_value = "fuzz-out")]
        out: PathBuf,
        /// The campaign binary (default: tcp-fuzz next to this one, then target/fuzz/).
        #[arg(long)]
        fuzzer: Option<PathBuf>,
    },
    /// Writes fuzzing seeds (`.case` files) from suite trees: every script
    /// (and matrix variant) becomes a case, and a case is kept when it
    /// reaches a transition-map slot the cases kept before it did not, so
    /// the corpus stays small. `.case` files already in OUT are replaced:
    /// `harness seeds suites/ --out corpus/`.
    Seeds {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[arg(long, default_value = "corpus")]
        out: PathBuf,
    },
    /// Two reference stacks over a simulated link in virtual time: connect,
    /// transfer each way, close, wait out TIME-WAIT; print what happened.
    Loopback {
        /// Octets to send each way.
        #[arg(long, default_value_t = 1 << 20)]
        bytes: usize,
        /// Percentage of datagrams the link drops (seeded, repeatable).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// One-way link delay in milliseconds.
        #[arg(long, default_value_t = 5)]
        delay_ms: u64,
        /// Seed for the stacks and the link.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Reference-stack profile.
        #[arg(long, default_value = "rfc9293")]
        profile: String,
        /// Print every state transition.
        #[arg(long)]
        events: bool,
    },
    /// The reference stack against the Linux kernel over TUN, inside a
    /// private network namespace (needs root): both directions at once,
    /// checksums at each end, final states checked.
    Interop {
        /// Octets to send each way.
        #[arg(long, default_value_t = 4 << 20)]
        bytes: usize,
        /// Who closes first: `kernel` or `stack`.
        #[arg(long, default_value = "kernel")]
        close: String,
        /// Percentage of datagrams dropped at the TUN boundary (seeded).
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Reference-stack profile.
        #[arg(long, default_value = "rfc9293")]
        profile: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Use IPv6 (2001:db8::/32) instead of IPv4.
        #[arg(long)]
        ipv6: bool,
    },
}

fn profile_arg(name: &str) -> Result<Profile, ExitCode> {
    Profile::by_name(name).ok_or_else(|| {
        eprintln!("error: unknown profile {name:?} (known: {})", Profile::NAMES.join(", "));
        ExitCode::from(2)
    })
}

fn loss_arg(loss: f64) -> Result<u32, ExitCode> {
    if !(0.0..100.0).contains(&loss) {
        eprintln!("error: --loss {loss} is not a percentage in [0, 100)");
        return Err(ExitCode::from(2));
    }
    Ok((loss * 10_000.0).round() as u32)
}

fn main() -> ExitCode {
    // Die quietly when stdout or stderr is a closed pipe (`harness ... | head`),
    // as command-line tools do, instead of panicking in println!.
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is
    // a valid disposition for SIGPIPE.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            paths,
            targets,
            transport,
            tolerance_scale,
            jobs,
            partition,
            junit,
            json,
            pcap_dir,
            trace,
            allow_shell,
            verdicts,
        } => run_cmd(RunArgs {
            paths,
            targets,
            transport,
            tolerance_scale,
            allow_shell,
            verdicts,
            jobs,
            partition,
            junit,
            json,
            pcap_dir,
            trace,
        }),
        Command::Check { paths } => check_cmd(paths),
        Command::Import { paths, output, allow_shell, verbose, defines, congestion } => {
            import_cmd(&paths, output.as_deref(), allow_shell, verbose, &defines, &congestion)
        }
        Command::Coverage { paths, targets, format, output, catalogue, transport, jobs } => {
            coverage_cmd(&paths, &targets, &format, output, catalogue, &transport, jobs)
        }
        Command::Seeds { paths, out } => seeds_cmd(&paths, &out),
        Command::Fuzz { time, cores, corpus, out, fuzzer } => fuzz_cmd(time, &cores, &corpus, &out, fuzzer),
        Command::Bench { paths, rounds, jobs, target, transport } => match target.as_str() {
            "reference" => bench_cmd(paths, rounds, jobs),
            "linux" => bench_linux(paths, &transport),
            other => {
                eprintln!("error: unknown target {other:?} (reference, linux)");
                ExitCode::from(2)
            }
        },
        Command::Loopback { bytes, loss, delay_ms, seed, profile, events } => {
            let profile = match profile_arg(&profile) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let loss_ppm = match loss_arg(loss) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let cfg = LoopbackConfig {
                bytes,
                loss_ppm,
                delay: Duration::from_millis(delay_ms),
                seed,
                profile,
                ..LoopbackConfig::default()
            };
            match loopback::run(&cfg) {
                Ok(r) => {
                    if events {
                        for e in r.events.iter().filter(|e| matches!(e.kind, EventKind::Transition { .. })) {
                            println!("{e}");
                        }
                    }
                    let secs = r.transfer_done.total_micros() as f64 / 1e6;
                    println!(
                        "loopback: {} octets each way over a {delay_ms} ms link, {loss}% loss, seed {seed}",
                        r.bytes_each_way
                    );
                    println!(
                        "  transfer done at {} virtual ({:.1} Mbit/s each way), both CLOSED at {} after TIME-WAIT",
                        r.transfer_done,
                        if secs > 0.0 { r.bytes_each_way as f64 * 8.0 / secs / 1e6 } else { 0.0 },
                        r.all_closed
                    );
                    println!(
                        "  {} datagrams, {} dropped by the link, {} segments retransmitted",
                        r.datagrams, r.dropped, r.retransmits
                    );
                    println!(
                        "  checksums: sent {:016x}, client got {:016x}, server got {:016x}: {}",
                        r.checksum_sent,
                        r.checksum_at_client,
                        r.checksum_at_server,
                        if r.ok() { "match" } else { "MISMATCH" }
                    );
                    println!("  wall time {:.3} s", r.wall.as_secs_f64());
                    if r.ok() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: loopback run failed: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Interop { bytes, close, loss, profile, seed, ipv6 } => {
            let profile = match profile_arg(&profile) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let loss_ppm = match loss_arg(loss) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let close = match close.as_str() {
                "kernel" => CloseOrder::KernelFirst,
                "stack" => CloseOrder::StackFirst,
                other => {
                    eprintln!("error: --close {other:?}: use `kernel` or `stack`");
                    return ExitCode::from(2);
                }
            };
            let cfg = InteropConfig { bytes, close, loss_ppm, profile, seed, ipv6, ..InteropConfig::default() };
            match interop::run(&cfg) {
                Ok(r) => {
                    println!(
                        "interop: {} octets each way, IPv{}, {close:?}, {loss}% loss at the TUN boundary",
                        r.bytes,
                        if ipv6 { 6 } else { 4 }
                    );
                    println!(
                        "  transfer {:.3} s wall, {:.1} Mbit/s both directions together",
                        r.transfer.as_secs_f64(),
                        r.throughput_mbit()
                    );
                    println!(
                        "  datagrams: {} to the stack, {} to the kernel; dropped {} / {}",
                        r.tun.to_stack, r.tun.to_kernel, r.tun.dropped_to_stack, r.tun.dropped_to_kernel
                    );
                    println!(
                        "  retransmitted segments: reference stack {}, kernel {}",
                        r.stack_retransmits, r.kernel_retransmits
                    );
                    println!("  final states: kernel {}, reference stack {}", r.kernel_final, r.stack_final);
                    let ok = r.ok(close);
                    println!(
                        "  checksums: sent {:016x}, kernel got {:016x}, stack got {:016x}: {}",
                        r.checksum_sent,
                        r.checksum_at_kernel,
                        r.checksum_at_stack,
                        if ok { "ok" } else { "FAILED" }
                    );
                    if ok {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("error: interop run failed: {e}");
                    ExitCode::from(3)
                }
            }
        }
    }
}

struct RunArgs {
    paths: Vec<PathBuf>,
    targets: Vec<String>,
    transport: String,
    tolerance_scale: f64,
    allow_shell: bool,
    verdicts: bool,
    jobs: usize,
    partition: Option<String>,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    pcap_dir: Option<PathBuf>,
    trace: bool,
}

/// Loads the scripts under `paths`, runs them on the targets, and applies the
/// suites' ledgers: the one event stream every report reads. `Err` is the
/// exit code of a command line or ledger that cannot be used.
fn execute(
    paths: &[PathBuf],
    targets: &[String],
    transport: &str,
    tolerance_scale: f64,
    allow_shell: bool,
    jobs: usize,
    partition: Option<String>,
) -> Result<(Vec<runner::ScriptResult>, usize), ExitCode> {
    let mut kinds = Vec::new();
    for t in targets {
        let add: Vec<TargetKind> = if t == "all" {
            TargetKind::ALL.to_vec()
        } else {
            match TargetKind::from_name(t) {
                Some(k) => vec![k],
                None => {
                    eprintln!("error: unknown target {t:?} (targets: reference, linux, all)");
                    return Err(ExitCode::from(2));
                }
            }
        };
        for k in add {
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
    }
    let Some(transport) = harness::target::linux::TransportKind::from_name(transport) else {
        eprintln!("error: unknown transport {transport:?} (tun, raw)");
        return Err(ExitCode::from(2));
    };
    if !(tolerance_scale.is_finite() && tolerance_scale > 0.0) {
        eprintln!("error: --tolerance-scale must be a positive number");
        return Err(ExitCode::from(2));
    }
    let mut cfg = runner::RunConfig {
        jobs,
        transport,
        options: harness::engine::RunOptions { tolerance_scale, allow_shell },
        linux_unavailable: None,
    };
    if kinds.contains(&TargetKind::Linux) {
        cfg.probe_linux();
        if let Some(why) = &cfg.linux_unavailable {
            eprintln!("warning: the Linux target cannot run here: {why}");
        }
    }
    let partition = match partition.map(|p| p.parse::<Partition>()).transpose() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --partition {e}");
            return Err(ExitCode::from(2));
        }
    };
    let files = match runner::find_scripts(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let (scripts, errors) = runner::load_all(&files);
    let invalid = print_script_errors(errors);
    let scripts = runner::partition(scripts, partition);
    let ledgers = match harness::suite::Ledgers::load(paths, &kinds) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let progress = {
        use std::io::IsTerminal;
        let hidden = !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some();
        let pb = if hidden {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new((scripts.len() * kinds.len()) as u64)
        };
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    };
    let mut results = Vec::new();
    for kind in &kinds {
        let on_done = |r: &runner::ScriptResult| {
            progress.inc(1);
            if let Status::Failed(_) | Status::Error(_) = r.status {
                progress.set_message(format!("{} failed", r.id()));
            }
        };
        results.extend(runner::run_all_with(&scripts, *kind, &cfg, &on_done));
    }
    progress.finish_and_clear();
    runner::apply_ledgers(&ledgers, &mut results);
    Ok((results, invalid))
}

fn run_cmd(a: RunArgs) -> ExitCode {
    let RunArgs {
        paths,
        targets,
        transport,
        tolerance_scale,
        allow_shell,
        verdicts,
        jobs,
        partition,
        junit,
        json,
        pcap_dir,
        trace,
    } = a;
    let started = std::time::Instant::now();
    let (results, invalid) = match execute(&paths, &targets, &transport, tolerance_scale, allow_shell, jobs, partition)
    {
        Ok(r) => r,
        Err(code) => return code,
    };
    for r in &results {
        match &r.status {
            Status::Failed(_) => print!("{}", report::failure_text(r)),
            Status::Error(e) => println!("ERROR {} on {}: {e}", r.id(), r.target),
            _ => {}
        }
        if trace {
            println!("--- {} on {}", r.id(), r.target);
            print!("{}", report::trace_text(r));
        }
    }
    let mut io_failed = false;
    if let Some(p) = &json {
        if let Err(e) = report::write_json(p, &results) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let Some(p) = &junit {
        if let Err(e) = report::write_junit(p, &results) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let Some(dir) = &pcap_dir {
        let res = std::fs::create_dir_all(dir).and_then(|_| {
            results
                .iter()
                .filter(|r| !r.trace.is_empty())
                .try_for_each(|r| report::write_pcap(&dir.join(report::artefact_name(r, "pcap")), &r.trace))
        });
        if let Err(e) = res {
            eprintln!("error: writing pcaps into {}: {e}", dir.display());
            io_failed = true;
        }
    }
    print!("{}", report::deviations_text(&results));
    if verdicts {
        for r in &results {
            let v = match &r.status {
                Status::Passed => "pass",
                Status::Failed(_) => "FAIL",
                Status::Deviation { .. } => "deviation",
                Status::Skipped(_) => "skip",
                Status::Error(_) => "ERROR",
            };
            let origin = report::origin(r).map(|o| format!("  (from {o})")).unwrap_or_default();
            println!("{v:9} {:>8.3}s  {} on {}{origin}", r.wall.as_secs_f64(), r.id(), r.target);
        }
        println!("wall time {:.1} s at -j {jobs}", started.elapsed().as_secs_f64());
    }
    let counts = report::counts(&results);
    if invalid > 0 {
        println!("{invalid} invalid script file(s)");
    }
    println!("{counts}");
    if invalid > 0 || io_failed {
        ExitCode::from(2)
    } else if counts.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn coverage_cmd(
    paths: &[PathBuf],
    targets: &[String],
    format: &str,
    output: Option<PathBuf>,
    catalogue: Option<PathBuf>,
    transport: &str,
    jobs: usize,
) -> ExitCode {
    if !matches!(format, "text" | "markdown" | "html") {
        eprintln!("error: unknown --format {format:?} (text, markdown, html)");
        return ExitCode::from(2);
    }
    let catalogue_path = match catalogue {
        Some(p) => p,
        None => match paths.iter().find_map(|p| harness::suite::root_of(p)) {
            Some(root) if root.join(harness::suite::CATALOGUE).is_file() => root.join(harness::suite::CATALOGUE),
            _ => {
                eprintln!(
                    "error: no {} at or above {}; pass --catalogue FILE",
                    harness::suite::CATALOGUE,
                    paths[0].display()
                );
                return ExitCode::from(2);
            }
        },
    };
    let catalogue = match harness::suite::Catalogue::load(&catalogue_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (results, invalid) = match execute(paths, targets, transport, 1.0, false, jobs, None) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut kinds: Vec<TargetKind> = Vec::new();
    for k in TargetKind::ALL {
        if results.iter().any(|r| r.target == k) {
            kinds.push(k);
        }
    }
    for r in &results {
        if let Status::Failed(_) = r.status {
            eprint!("{}", report::failure_text(r));
        } else if let Status::Error(e) = &r.status {
            eprintln!("ERROR {} on {}: {e}", r.id(), r.target);
        }
    }
    let cov = harness::coverage::Coverage::build(&catalogue, &results, &kinds);
    let table = match format {
        "markdown" => cov.markdown(),
        "html" => cov.html(),
        _ => cov.text(),
    };
    match &output {
        Some(p) => {
            if let Err(e) = std::fs::write(p, &table) {
                eprintln!("error: writing {}: {e}", p.display());
                return ExitCode::from(2);
            }
            println!("coverage table written to {}", p.display());
            if format != "text" {
                print!("{}", cov.text().rsplit_once("\n\n").map(|(_, tail)| tail).unwrap_or_default());
            }
        }
        None => print!("{table}"),
    }
    let uncovered = cov.uncovered_musts();
    if !uncovered.is_empty() {
        println!("observable MUSTs without a script: {}", uncovered.join(", "));
    }
    if invalid > 0 {
        println!("{invalid} invalid script file(s)");
        return ExitCode::from(2);
    }
    if cov.failed() || !uncovered.is_empty() || !cov.unknown_tags.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn import_cmd(
    paths: &[PathBuf],
    output: Option<&std::path::Path>,
    allow_shell: bool,
    verbose: bool,
    defines: &[String],
    congestion: &str,
) -> ExitCode {
    use harness::import;
    let mut defs = Vec::new();
    for d in defines {
        match d.split_once('=') {
            Some((n, v)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                defs.push((n.to_string(), v.to_string()))
            }
            _ => {
                eprintln!("error: -D {d:?}: expected NAME=VALUE (NAME of letters, digits and _)");
                return ExitCode::from(2);
            }
        }
    }
    let congestion = match congestion {
        "host" => None,
        c if !c.is_empty() && c.len() < 16 && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') => {
            Some(c.to_string())
        }
        c => {
            eprintln!("error: --congestion {c:?}: a congestion control name (cubic, reno, bbr) or host");
            return ExitCode::from(2);
        }
    };
    let opts = import::convert::ImportOptions { congestion, allow_shell, defines: defs };
    let files = match import::find_pkt(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let results = match import::import(&files, output, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut converted = 0;
    for r in &results {
        match (&r.written, r.problems.first()) {
            (Some(w), None) => {
                converted += 1;
                if verbose {
                    println!("converted {} -> {} ({} steps)", r.source.display(), w.display(), r.steps);
                }
            }
            _ => {
                for p in if verbose { &r.problems[..] } else { &r.problems[..1] } {
                    println!("refused   {}:{}: {}: {}", r.source.display(), p.line, p.construct, p.reason);
                }
                if !verbose && r.problems.len() > 1 {
                    println!("          ({} more problem(s) in this file; -v lists them)", r.problems.len() - 1);
                }
            }
        }
    }
    let groups = import::group_reasons(&results);
    if !groups.is_empty() {
        println!("\nrefused files by construct (a file counts once per construct):");
        let mut g: Vec<_> = groups.iter().collect();
        g.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        for (construct, files) in g {
            println!("  {:4}  {construct}", files.len());
        }
    }
    println!(
        "\n{} file(s) read: {converted} converted, {} refused{}",
        results.len(),
        results.len() - converted,
        output
            .map(|o| format!("; written under {}", o.display()))
            .unwrap_or_else(|| " (dry run: -o DIR writes them)".into())
    );
    ExitCode::SUCCESS
}

fn check_cmd(paths: Vec<PathBuf>) -> ExitCode {
    let files = match runner::find_scripts(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (scripts, errors) = runner::load_all(&files);
    let invalid = print_script_errors(errors);
    println!("{} file(s) checked: {} script(s) valid, {invalid} file(s) invalid", files.len(), scripts.len());
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn bench_cmd(paths: Vec<PathBuf>, rounds: usize, jobs: usize) -> ExitCode {
    let files = match runner::find_scripts(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (scripts, errors) = runner::load_all(&files);
    if print_script_errors(errors) > 0 {
        return ExitCode::from(2);
    }
    let scripts: Vec<_> = scripts.into_iter().filter(|s| s.runs_on(TargetKind::Reference)).collect();
    if scripts.is_empty() {
        eprintln!("error: no script runs on the reference target");
        return ExitCode::from(2);
    }
    let start = std::time::Instant::now();
    let mut runs = 0usize;
    let mut script_time = std::time::Duration::ZERO;
    let mut failed = 0usize;
    for _ in 0..rounds.max(1) {
        for r in runner::run_all(&scripts, TargetKind::Reference, jobs, &|_| {}) {
            runs += 1;
            script_time += r.script_time;
            if !matches!(r.status, Status::Passed) {
                failed += 1;
            }
        }
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "bench: {} scripts x {} rounds = {runs} runs on the reference target, -j {jobs}",
        scripts.len(),
        rounds.max(1)
    );
    println!("  wall time        {wall:.3} s");
    println!("  scripts/second   {:.0}", runs as f64 / wall);
    println!(
        "  script time      {:.1} s covered ({:.0}x faster than real time)",
        script_time.as_secs_f64(),
        script_time.as_secs_f64() / wall
    );
    if failed > 0 {
        println!("  {failed} runs did not pass");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn bench_linux(paths: Vec<PathBuf>, transport: &str) -> ExitCode {
    use harness::target::linux::TransportKind;
    let Some(transport) = TransportKind::from_name(transport) else {
        eprintln!("error: unknown transport {transport:?} (tun, raw)");
        return ExitCode::from(2);
    };
    let mut cfg = runner::RunConfig { transport, ..runner::RunConfig::default() };
    cfg.probe_linux();
    if let Some(why) = &cfg.linux_unavailable {
        eprintln!("error: the Linux target cannot run here: {why}");
        return ExitCode::from(3);
    }
    // The fixed cost: a script that only opens a socket.
    let trivial = match harness::script::parse(
        std::path::Path::new("trivial.yaml"),
        "targets: [linux]\nsteps:\n  - call: socket() = 3\n",
    ) {
        Ok(mut s) => s.remove(0),
        Err(e) => {
            eprintln!("error: {}", e.one_line());
            return ExitCode::from(2);
        }
    };
    let n = 100;
    let mut costs = Vec::with_capacity(n);
    harness::target::linux::reaped();
    let all = std::time::Instant::now();
    for _ in 0..n {
        let t = std::time::Instant::now();
        let r = runner::run_one_with(&trivial, TargetKind::Linux, &cfg);
        costs.push(t.elapsed());
        if !matches!(r.status, Status::Passed) {
            eprintln!("error: the trivial script did not pass: {:?}", r.status);
            return ExitCode::from(1);
        }
    }
    let runs = all.elapsed();
    harness::target::linux::reaped();
    let with_teardown = all.elapsed();
    costs.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("bench linux ({transport:?}): fixed cost per script over {n} runs of a trivial script");
    println!(
        "  per script: median {:.2} ms, p90 {:.2} ms, max {:.2} ms (thread, namespace, device, addresses, readiness probe, run)",
        ms(costs[n / 2]),
        ms(costs[n * 9 / 10]),
        ms(costs[n - 1])
    );
    println!(
        "  {n} runs back to back: {:.0} ms; with every namespace and device torn down: {:.0} ms ({:.2} ms per script)",
        ms(runs),
        ms(with_teardown),
        ms(with_teardown) / n as f64
    );
    let files = match runner::find_scripts(&paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let (scripts, errors) = runner::load_all(&files);
    if print_script_errors(errors) > 0 {
        return ExitCode::from(2);
    }
    let scripts: Vec<_> = scripts.into_iter().filter(|s| s.runs_on(TargetKind::Linux)).collect();
    let ledgers = match harness::suite::Ledgers::load(&paths, &[TargetKind::Linux]) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut any_failed = false;
    for jobs in [1, 2, 16, 16, 16] {
        cfg.jobs = jobs;
        let t = std::time::Instant::now();
        let mut results = runner::run_all_with(&scripts, TargetKind::Linux, &cfg, &|_| {});
        runner::apply_ledgers(&ledgers, &mut results);
        println!(
            "  suite: {} scripts at -j {jobs:<2} in {:.2} s: {}",
            scripts.len(),
            t.elapsed().as_secs_f64(),
            report::counts(&results)
        );
        for r in results.iter().filter(|r| matches!(r.status, Status::Failed(_) | Status::Error(_))) {
            print!("{}", report::failure_text(r));
            any_failed = true;
        }
    }
    if any_failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn seeds_cmd(paths: &[PathBuf], out: &std::path::Path) -> ExitCode {
    let files = match harness::runner::find_scripts(paths) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: {}: {e}", out.display());
        return ExitCode::from(3);
    }
    // The corpus is what this run writes: earlier seeds go.
    if let Ok(rd) = std::fs::read_dir(out) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "case") {
                if let Err(err) = std::fs::remove_file(e.path()) {
                    eprintln!("error: {}: {err}", e.path().display());
                    return ExitCode::from(3);
                }
            }
        }
    }
    let (mut written, mut empty, mut redundant) = (0, 0, 0);
    let mut covered = vec![false; harness::fuzz::exec::MAP_SIZE];
    for f in &files {
        let scripts = match harness::script::load(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(e));
                return ExitCode::from(2);
            }
        };
        for s in &scripts {
            let case = harness::fuzz::seeds::case_from_script(s);
            if case.actions.is_empty() {
                empty += 1;
                continue;
            }
            // Kept only if it reaches something the kept ones do not.
            let mut map = vec![0u8; harness::fuzz::exec::MAP_SIZE];
            let _ = harness::fuzz::exec::run_case(&case.encode(), &mut map, None);
            let mut new = false;
            for (c, m) in covered.iter_mut().zip(&map) {
                if *m > 0 && !*c {
                    *c = true;
                    new = true;
                }
            }
            if !new {
                redundant += 1;
                continue;
            }
            let stem = f.strip_prefix(&paths[0]).unwrap_or(f).with_extension("");
            let mut name: String =
                stem.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
            if let Some(v) = &s.variant {
                name.push('-');
                name.extend(v.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }));
            }
            let path = out.join(format!("{}.case", name.trim_matches('-')));
            if let Err(e) = std::fs::write(&path, case.encode()) {
                eprintln!("error: {}: {e}", path.display());
                return ExitCode::from(3);
            }
            written += 1;
        }
    }
    println!(
        "{written} seeds written to {} ({redundant} reaching nothing new and {empty} without segments left out; {} map slots reached)",
        out.display(),
        covered.iter().filter(|c| **c).count()
    );
    ExitCode::SUCCESS
}

fn fuzz_cmd(
    time: u64,
    cores: &str,
    corpus: &std::path::Path,
    out: &std::path::Path,
    fuzzer: Option<PathBuf>,
) -> ExitCode {
    use harness::fuzz::triage;
    if time > 0 {
        let bin = fuzzer.or_else(|| {
            let here = std::env::current_exe().ok()?.with_file_name("tcp-fuzz");
            [here, PathBuf::from("target/fuzz/tcp-fuzz")].into_iter().find(|p| p.is_file())
        });
        let Some(bin) = bin else {
            eprintln!(
                "error: the tcp-fuzz binary is not built: run `make fuzz` (cargo build --profile fuzz -p fuzzer)"
            );
            return ExitCode::from(3);
        };
        let status = std::process::Command::new(&bin)
            .args(["--cores", cores, "--time", &time.to_string()])
            .arg("--corpus")
            .arg(corpus)
            .arg("--out")
            .arg(out)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!("error: {} exited with {s}", bin.display());
                return ExitCode::from(3);
            }
            Err(e) => {
                eprintln!("error: running {}: {e}", bin.display());
                return ExitCode::from(3);
            }
        }
    }
    // Triage: classify every solution, keep one (the shortest) per oracle and location.
    let crashes = out.join("crashes");
    let mut groups: std::collections::BTreeMap<(String, String), (usize, Vec<u8>, triage::Triage)> = Default::default();
    let mut files: Vec<_> =
        std::fs::read_dir(&crashes).map(|r| r.filter_map(|e| e.ok()).map(|e| e.path()).collect()).unwrap_or_default();
    // LibAFL keeps metadata and lock files next to each solution (dot files).
    files.retain(|f| f.is_file() && !f.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    files.sort();
    let mut unreproduced = 0;
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else { continue };
        match triage::classify(&bytes) {
            Some(t) => {
                let e = groups.entry(t.key()).or_insert((0, bytes.clone(), t));
                e.0 += 1;
                if bytes.len() < e.1.len() {
                    e.1 = bytes;
                }
            }
            None => unreproduced += 1,
        }
    }
    let dir = out.join("findings");
    let _ = std::fs::create_dir_all(&dir);
    println!(
        "{} solutions: {} distinct findings, {unreproduced} not reproduced outside the campaign",
        files.len(),
        groups.len()
    );
    let mut failed_to_replay = 0;
    for ((kind, loc), (n, bytes, _)) in &groups {
        let min = triage::minimise(bytes);
        let Some(t) = triage::classify(&min) else { continue };
        let slug: String =
            format!("{kind}-{loc}").chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(60).collect();
        let fdir = dir.join(slug.trim_matches('-'));
        let _ = std::fs::create_dir_all(&fdir);
        let yaml = triage::script(&min, &t);
        let _ = std::fs::write(fdir.join("case.bin"), &min);
        let _ = std::fs::write(fdir.join("case.yaml"), &yaml);
        // The script must fail on the reference target where the fuzzer did.
        let replay = match harness::script::load(&fdir.join("case.yaml")) {
            Ok(s) => matches!(runner::run_one(&s[0], TargetKind::Reference).status, Status::Failed(_)),
            Err(_) => false,
        };
        if !replay {
            failed_to_replay += 1;
        }
        println!(
            "  {n:>6} x {kind}: {loc}\n         {}\n         minimised to {} actions: {} ({})",
            t.message,
            (min.len().saturating_sub(2)) / 16,
            fdir.join("case.yaml").display(),
            if replay { "replays: harness run fails" } else { "DOES NOT REPLAY" }
        );
    }
    if failed_to_replay > 0 {
        eprintln!("error: {failed_to_replay} finding(s) do not replay as scripts");
    }
    // A finding is a failure of the stack under test (exit 1), like a failed script.
    if groups.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

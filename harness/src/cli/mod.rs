//! The `harness` command line: its options (clap, values as `ValueEnum`s),
//! each command's body, and the exit code, decided in one place
//! ([`exit_code`]). `main.rs` only parses and calls [`Cli::exec`].
//!
//! Exit codes (README): 0 success; 1 a run found a failure (or a fuzz
//! campaign has findings); 2 a script or the command line is invalid; 3 the
//! run could not be carried out (privileges, devices, files).

mod bench;
mod fuzz;
mod import;
mod links;
mod run;

use crate::script::{ScriptError, TargetKind};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};

pub(crate) const EXIT_CODES: &str = "Exit codes:
  0  everything passed
  1  a script failed, a run found a failure, or fuzzing has findings
  2  a script or the command line is invalid
  3  a run could not be carried out (privileges, devices)";

/// How a command ended, when it could do its work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Everything passed.
    Passed,
    /// A run found a failure (a script failed, fuzzing found something).
    Failed,
}

/// Why a command could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: a script, a path, a ledger, an option's value.
    #[error("{0}")]
    Invalid(String),
    /// Scripts that do not check (already printed, each with its position).
    #[error("{0} invalid script file(s)")]
    InvalidScripts(usize),
    /// The run could not be carried out here (privileges, devices, files).
    #[error("{0}")]
    Environment(String),
    /// The run itself failed (a loopback run that broke, say).
    #[error("{0}")]
    Failed(String),
}

impl Error {
    /// Whether the command already printed what went wrong (each invalid
    /// script with its position).
    pub fn already_printed(&self) -> bool {
        matches!(self, Error::InvalidScripts(_))
    }
}

/// The exit code of a command's result: the one place it is decided.
pub fn exit_code(r: &Result<Verdict, Error>) -> u8 {
    match r {
        Ok(Verdict::Passed) => 0,
        Ok(Verdict::Failed) | Err(Error::Failed(_)) => 1,
        Err(Error::Invalid(_) | Error::InvalidScripts(_)) => 2,
        Err(Error::Environment(_)) => 3,
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `--target`: a target, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The bundled reference stack, in virtual time.
    Reference,
    /// The running Linux kernel, in a private namespace per script (root).
    Linux,
    /// Every target.
    All,
}

/// The targets named, each once, in the order given.
fn kinds(targets: &[TargetArg]) -> Vec<TargetKind> {
    let mut out = Vec::new();
    for t in targets {
        let add: &[TargetKind] = match t {
            TargetArg::Reference => &[TargetKind::Reference],
            TargetArg::Linux => &[TargetKind::Linux],
            TargetArg::All => &TargetKind::ALL,
        };
        for k in add {
            if !out.contains(k) {
                out.push(*k);
            }
        }
    }
    out
}

/// `--profile`: the reference stack's profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// What RFC 9293 and its companions say.
    Rfc9293,
    /// Linux's numbers and choices (read off kernel 6.18).
    Linux,
}

impl ProfileArg {
    fn profile(self) -> reference_stack::Profile {
        match self {
            ProfileArg::Rfc9293 => reference_stack::Profile::rfc9293(),
            ProfileArg::Linux => reference_stack::Profile::linux(),
        }
    }
}

/// `--format` of `harness coverage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Markdown,
    Html,
}

/// A percentage in [0, 100), as parts per million.
fn loss(s: &str) -> Result<u32, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..100.0).contains(&v) {
        return Err(format!("{v} is not a percentage in [0, 100)"));
    }
    Ok((v * 10_000.0).round() as u32)
}

/// A positive, finite multiplier.
fn scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// What the importer makes of defaults.sh's congestion control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// Set on every socket the script makes.
    Algo(String),
    /// Leave the host's default.
    Host,
}

fn congestion(s: &str) -> Result<Congestion, String> {
    match s {
        "host" => Ok(Congestion::Host),
        c if !c.is_empty() && c.len() < 16 && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') => {
            Ok(Congestion::Algo(c.to_string()))
        }
        _ => Err("a congestion control name (cubic, reno, bbr) or host".into()),
    }
}

/// packetdrill's `-D NAME=VALUE`.
fn define(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok((n.to_string(), v.to_string()))
        }
        _ => Err("expected NAME=VALUE (NAME of letters, digits and _)".into()),
    }
}

#[derive(Parser)]
#[command(name = "harness", version, about = "TCP conformance and fuzz-testing harness", long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs scripts (files, or directories searched for *.yaml) and reports.
    #[command(after_help = EXIT_CODES)]
    Run(run::RunArgs),
    /// Runs the scripts and prints requirement IDs -> scripts -> verdict per
    /// target (pass, FAIL, known deviation, not run, not observable,
    /// UNCOVERED), with counts per level. Exit 1 when a run failed, an
    /// observable MUST has no script, or a tag names an unknown ID.
    #[command(after_help = EXIT_CODES)]
    Coverage(run::CoverageArgs),
    /// Converts packetdrill scripts (.pkt files, or directories of them) to
    /// the YAML language; each step keeps the .pkt line it came from. A file
    /// the language cannot say is refused with file:line and the construct.
    /// Exit 0 when every file was read (refused files included), 2 when a
    /// file could not be read or written.
    #[command(after_help = EXIT_CODES)]
    Import(import::ImportArgs),
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
    Bench(bench::BenchArgs),
    /// Fuzzes the reference stack with LibAFL (the `tcp-fuzz` binary, built by
    /// `make fuzz`), then triages what it found: findings deduplicated by
    /// oracle and location, minimised, written as case.bin and case.yaml.
    Fuzz(fuzz::FuzzArgs),
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
    /// Writes the state x segment grid (`suites/grid/`) from its rules
    /// (harness/src/grid.rs); with --check, only says whether the files are
    /// what the rules generate (exit 1 when not).
    Grid {
        #[arg(default_value = "suites/grid")]
        dir: PathBuf,
        #[arg(long)]
        check: bool,
    },
    /// Two reference stacks over a simulated link in virtual time: connect,
    /// transfer each way, close, wait out TIME-WAIT; print what happened.
    Loopback(links::LoopbackArgs),
    /// The reference stack against the Linux kernel over TUN, inside a
    /// private network namespace (needs root): both directions at once,
    /// checksums at each end, final states checked.
    Interop(links::InteropArgs),
}

impl Cli {
    /// Runs the command; its printed output is the command's, and the
    /// result says how it ended ([`exit_code`]).
    pub fn exec(self) -> Result<Verdict, Error> {
        match self.command {
            Command::Run(a) => run::run(a),
            Command::Coverage(a) => run::coverage(a),
            Command::Import(a) => import::import(a),
            Command::Check { paths } => run::check(&paths),
            Command::Bench(a) => bench::bench(a),
            Command::Fuzz(a) => fuzz::fuzz(a),
            Command::Seeds { paths, out } => fuzz::seeds(&paths, &out),
            Command::Grid { dir, check } => grid(&dir, check),
            Command::Loopback(a) => links::loopback(a),
            Command::Interop(a) => links::interop(a),
        }
    }
}

/// Dies quietly when stdout or stderr is a closed pipe (`harness ... | head`),
/// as command-line tools do, instead of panicking in println!. Call it first
/// in `main`, before any thread exists.
pub fn die_on_closed_pipe() {
    // SAFETY: called before any thread exists (see above); SIG_DFL is a
    // valid disposition for SIGPIPE.
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints each error as a positioned diagnostic; returns how many there were.
fn print_script_errors(errors: Vec<ScriptError>) -> usize {
    let n = errors.len();
    for e in errors {
        eprintln!("{:?}", miette::Report::new(e));
    }
    n
}

/// Finds and loads the scripts under `paths`; every invalid one is printed
/// with its position.
fn load(paths: &[PathBuf]) -> Result<(Vec<crate::script::Script>, usize, usize), Error> {
    let files = crate::runner::find_scripts(paths).map_err(|e| Error::Invalid(e.to_string()))?;
    let (scripts, errors) = crate::runner::load_all(&files);
    Ok((scripts, print_script_errors(errors), files.len()))
}

fn grid(dir: &Path, check: bool) -> Result<Verdict, Error> {
    let r = crate::grid::write(dir, check).map_err(|e| Error::Environment(format!("{}: {e}", dir.display())))?;
    if check {
        if r.differ.is_empty() {
            println!("{}: the grid is what the rules generate", dir.display());
            return Ok(Verdict::Passed);
        }
        println!("{}: differs from the rules in {}", dir.display(), r.differ.join(", "));
        return Ok(Verdict::Failed);
    }
    println!("{} grid file(s) rewritten under {}", r.written.len(), dir.display());
    Ok(Verdict::Passed)
}

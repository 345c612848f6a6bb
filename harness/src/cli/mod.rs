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

mod common;

pub use common::{die_on_closed_pipe, exit_code, Error, Verdict};

use clap::{Parser, Subcommand};
use common::EXIT_CODES;
use std::path::{Path, PathBuf};

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
    /// Checks scripts without running them; every error of every file is
    /// positioned.
    #[command(after_help = EXIT_CODES)]
    Check(run::CheckArgs),
    /// Lists the scripts (matrix variants expanded) a run would take, with
    /// the targets each runs or is skipped on, its requirement IDs and tags,
    /// without running them.
    #[command(after_help = EXIT_CODES)]
    List(run::ListArgs),
    /// Reference target: runs scripts repeatedly and prints scripts per second
    /// and the ratio of script (virtual) time to wall time. Linux target: prints
    /// the fixed cost per script (namespace, device, teardown) and the suite's
    /// wall time at -j 1, 2 and 16, three times at -j 16.
    Bench(bench::BenchArgs),
    /// Fuzzes the reference stack with LibAFL (the `tcp-fuzz` binary, built by
    /// `make fuzz`), then triages what it found: findings deduplicated by
    /// oracle and location, minimised, written as case.bin and case.yaml.
    Fuzz(fuzz::FuzzArgs),
    /// Replays fuzzing cases (corpus/, a campaign's queue/) on the Linux
    /// kernel beside the reference stack's `linux` profile: each case is
    /// written as the script of what the reference stack sent and run on
    /// the kernel; where it fails, the two parted. Divergences are
    /// clustered (state, action, expected segment or call, field) and each
    /// cluster's shortest case is kept under OUT/clusters/; what the ledger
    /// (fuzzer/divergences/linux.yaml) lists is counted apart. Exit 1 when a
    /// divergence is not in the ledger, or a case could not be replayed (its
    /// script fails on the reference stack itself, or the kernel could not
    /// run it).
    #[command(after_help = EXIT_CODES)]
    Diff(fuzz::DiffArgs),
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
    /// Prints the shell completion script for SHELL: e.g.
    /// `source <(harness completions bash)`, or save it where your shell
    /// loads completions from.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Prints the man page (roff) of harness; with --out DIR, writes
    /// harness.1 and a page per command (harness-run.1, ...) there:
    /// `harness man | man -l -`.
    Man {
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

impl Cli {
    /// Runs the command; its printed output is the command's, and the
    /// result says how it ended ([`exit_code`]).
    pub fn exec(self) -> Result<Verdict, Error> {
        match self.command {
            Command::Run(a) => run::run(a),
            Command::Coverage(a) => run::coverage(a),
            Command::Import(a) => import::import(a),
            Command::Check(a) => run::check(a),
            Command::List(a) => run::list(a),
            Command::Bench(a) => bench::bench(a),
            Command::Fuzz(a) => fuzz::fuzz(a),
            Command::Diff(a) => fuzz::diff(a),
            Command::Seeds { paths, out } => fuzz::seeds(&paths, &out),
            Command::Grid { dir, check } => grid(&dir, check),
            Command::Loopback(a) => links::loopback(a),
            Command::Interop(a) => links::interop(a),
            Command::Completions { shell } => {
                use clap::CommandFactory;
                clap_complete::generate(shell, &mut Cli::command(), "harness", &mut std::io::stdout());
                Ok(Verdict::Passed)
            }
            Command::Man { out } => man(out.as_deref()),
        }
    }
}

/// The man pages, from the same definitions as `--help`.
fn man(out: Option<&Path>) -> Result<Verdict, Error> {
    use clap::CommandFactory;
    let cmd = Cli::command();
    let Some(dir) = out else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout()).map_err(|e| Error::Environment(e.to_string()))?;
        return Ok(Verdict::Passed);
    };
    let io = |p: &Path, e: std::io::Error| Error::Environment(format!("{}: {e}", p.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut pages = vec![("harness".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("harness-{}", sub.get_name());
        pages.push((name.clone(), sub.clone().name(name)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page).render(&mut buf).map_err(|e| io(&path, e))?;
        std::fs::write(&path, buf).map_err(|e| io(&path, e))?;
        println!("{}", path.display());
    }
    Ok(Verdict::Passed)
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

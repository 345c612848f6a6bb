//! `harness run`, `harness coverage` and `harness check`.

use super::common::{default_jobs, kinds, load, print_script_errors, Error, Format, TargetArg, Verdict};
use crate::engine::RunOptions;
use crate::report;
use crate::runner::{Partition, Plan, RunConfig, ScriptResult, Status};
use crate::script::TargetKind;
use crate::target::linux::TransportKind;
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct RunArgs {
    /// Script files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Target to run on. Repeatable.
    #[arg(long = "target", value_enum, default_value = "reference")]
    targets: Vec<TargetArg>,
    /// How the Linux target is reached.
    #[arg(long, value_enum, default_value = "tun")]
    transport: TransportKind,
    /// Multiplies every timing tolerance (slow or debug kernels).
    #[arg(long, default_value = "1.0", value_parser = super::common::scale)]
    tolerance_scale: f64,
    /// Scripts run at once.
    #[arg(short = 'j', long, default_value_t = default_jobs())]
    jobs: usize,
    /// Run only the K-th of N deterministic slices (e.g. 2/4), for CI matrices.
    #[arg(long)]
    partition: Option<Partition>,
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
    /// The `dut` target's program and its arguments (split at spaces): a
    /// stack behind the DUT protocol (docs/adding-a-stack.md).
    #[arg(long, value_name = "COMMAND")]
    dut: Option<String>,
    /// A ledger of known deviations to use instead of
    /// <suite>/expectations/<target>.yaml, for every target run.
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(super) struct CoverageArgs {
    /// Script files or directories (a suite root holds requirements.yaml).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Targets. Repeatable.
    #[arg(long = "target", value_enum, default_value = "all")]
    targets: Vec<TargetArg>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the table here instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// The requirement catalogue (default: requirements.yaml at the suite root).
    #[arg(long)]
    catalogue: Option<PathBuf>,
    /// How the Linux target is reached.
    #[arg(long, value_enum, default_value = "tun")]
    transport: TransportKind,
    /// Scripts run at once.
    #[arg(short = 'j', long, default_value_t = default_jobs())]
    jobs: usize,
}

/// Plans and runs the scripts under `paths` on `targets` with a progress
/// bar; returns the results (ledgers applied) and how many files were invalid.
fn execute(
    paths: &[PathBuf],
    targets: &[TargetArg],
    cfg: RunConfig,
    partition: Option<Partition>,
    ledger: Option<&std::path::Path>,
) -> Result<(Vec<ScriptResult>, usize), Error> {
    let mut plan = Plan::new(paths, kinds(targets), cfg, partition).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(file) = ledger {
        for k in plan.kinds.clone() {
            plan.ledgers.use_file(k, file).map_err(|e| Error::Invalid(e.to_string()))?;
        }
    }
    if let Some(why) = &plan.cfg.linux_unavailable {
        eprintln!("warning: the Linux target cannot run here: {why}");
    }
    let invalid = print_script_errors(std::mem::take(&mut plan.invalid));
    let progress = {
        use std::io::IsTerminal;
        let hidden = !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some();
        let pb = if hidden {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new((plan.scripts.len() * plan.kinds.len()) as u64)
        };
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    };
    let results = plan.run(&|r| {
        progress.inc(1);
        if let Status::Failed(_) | Status::Error(_) = r.status {
            progress.set_message(format!("{} failed", r.id()));
        }
    });
    progress.finish_and_clear();
    Ok((results, invalid))
}

pub(super) fn run(a: RunArgs) -> Result<Verdict, Error> {
    let started = std::time::Instant::now();
    let cfg = RunConfig {
        jobs: a.jobs,
        transport: a.transport,
        options: RunOptions { tolerance_scale: a.tolerance_scale, allow_shell: a.allow_shell },
        linux_unavailable: None,
        dut: a.dut.as_ref().map(|c| c.split_whitespace().map(String::from).collect()),
    };
    let (results, invalid) = execute(&a.paths, &a.targets, cfg, a.partition, a.ledger.as_deref())?;
    for r in &results {
        match &r.status {
            Status::Failed(_) => print!("{}", report::failure_text(r)),
            Status::Error(e) => println!("ERROR {} on {}: {e}", r.id(), r.target),
            _ => {}
        }
        if a.trace {
            println!("--- {} on {}", r.id(), r.target);
            print!("{}", report::trace_text(r));
        }
    }
    let io_failed = write_reports(&a, &results);
    print!("{}", report::deviations_text(&results));
    if a.verdicts {
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
        println!("wall time {:.1} s at -j {}", started.elapsed().as_secs_f64(), a.jobs);
    }
    let counts = report::counts(&results);
    if invalid > 0 {
        println!("{invalid} invalid script file(s)");
    }
    println!("{counts}");
    if invalid > 0 || io_failed {
        Err(Error::InvalidScripts(invalid))
    } else if counts.failed > 0 {
        Ok(Verdict::Failed)
    } else {
        Ok(Verdict::Passed)
    }
}

/// JSON, JUnit and pcaps, where asked; true when one could not be written.
fn write_reports(a: &RunArgs, results: &[ScriptResult]) -> bool {
    let mut io_failed = false;
    if let Some(p) = &a.json {
        if let Err(e) = report::write_json(p, results) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let Some(p) = &a.junit {
        if let Err(e) = report::write_junit(p, results) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let Some(dir) = &a.pcap_dir {
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
    io_failed
}

pub(super) fn coverage(a: CoverageArgs) -> Result<Verdict, Error> {
    use crate::suite::{root_of, Catalogue, CATALOGUE};
    let catalogue_path = match a.catalogue {
        Some(p) => p,
        None => match a.paths.iter().find_map(|p| root_of(p)) {
            Some(root) if root.join(CATALOGUE).is_file() => root.join(CATALOGUE),
            _ => {
                return Err(Error::Invalid(format!(
                    "no {CATALOGUE} at or above {}; pass --catalogue FILE",
                    a.paths[0].display()
                )))
            }
        },
    };
    let catalogue = Catalogue::load(&catalogue_path).map_err(|e| Error::Invalid(e.to_string()))?;
    let cfg = RunConfig { jobs: a.jobs, transport: a.transport, ..RunConfig::default() };
    let (results, invalid) = execute(&a.paths, &a.targets, cfg, None, None)?;
    let kinds: Vec<TargetKind> =
        TargetKind::ALL.into_iter().filter(|k| results.iter().any(|r| r.target == *k)).collect();
    for r in &results {
        if let Status::Failed(_) = r.status {
            eprint!("{}", report::failure_text(r));
        } else if let Status::Error(e) = &r.status {
            eprintln!("ERROR {} on {}: {e}", r.id(), r.target);
        }
    }
    let cov = crate::coverage::Coverage::build(&catalogue, &results, &kinds);
    let table = match a.format {
        Format::Markdown => cov.markdown(),
        Format::Html => cov.html(),
        Format::Text => cov.text(),
    };
    match &a.output {
        Some(p) => {
            std::fs::write(p, &table).map_err(|e| Error::Invalid(format!("writing {}: {e}", p.display())))?;
            println!("coverage table written to {}", p.display());
            if a.format != Format::Text {
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
        return Err(Error::InvalidScripts(invalid));
    }
    if cov.failed() || !uncovered.is_empty() || !cov.unknown_tags.is_empty() {
        Ok(Verdict::Failed)
    } else {
        Ok(Verdict::Passed)
    }
}

pub(super) fn check(paths: &[PathBuf]) -> Result<Verdict, Error> {
    let (scripts, invalid, files) = load(paths)?;
    println!("{files} file(s) checked: {} script(s) valid, {invalid} file(s) invalid", scripts.len());
    if invalid == 0 {
        Ok(Verdict::Passed)
    } else {
        Err(Error::InvalidScripts(invalid))
    }
}

//! `harness run`, `harness coverage` and `harness check`.

use super::common::{
    default_jobs, kinds, load, print_script_errors, Error, Format, ListFormat, MessageFormat, TargetArg, Verdict,
};
use crate::engine::RunOptions;
use crate::filter::{shell_quote, Filter};
use crate::report;
use crate::runner::{Partition, Plan, RunConfig, ScriptResult, Status};
use crate::script::{ScriptError, TargetKind};
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
    #[arg(short = 'j', long, default_value_t = default_jobs(), value_parser = super::common::jobs)]
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
    /// Write a pcapng capture per script into this directory: each packet
    /// with its direction and a comment (the step, file:line, the mismatch).
    #[arg(long)]
    pcap_dir: Option<PathBuf>,
    /// Write a static HTML report into this directory: an index (totals per
    /// target, the state diagram and grid heat map of each) and a page per
    /// run with its ladder diagram. Runs then record their states and timers.
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
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
    #[command(flatten)]
    select: Select,
    /// Start no new run after one failed (those not started are counted as
    /// not run).
    #[arg(long)]
    fail_fast: bool,
    /// Try a failed run on a real-time target (linux, lwip, dut) up to N
    /// more times; a pass after a failure is reported FLAKY (JUnit
    /// <flakyFailure>), a run failing every time as failed (<rerunFailure>).
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Try a failed run on a real-time target up to N more times when the
    /// harness itself was late or off the CPU around the failing step (its
    /// watchdog saw the gap: the machine's load, not the stack, may have
    /// spoilt the timing). Such a run that then passes is reported RERUN,
    /// not FLAKY; one failing every time says how long the harness was
    /// descheduled. A run the ledger lists that passes there is tried again
    /// as often before it fails as a stale entry. 0: never.
    #[arg(long, value_name = "N", default_value_t = crate::runner::DEFAULT_LOAD_RETRIES)]
    load_retries: u32,
    /// How script errors and failures are printed: `human` (positioned, with
    /// the source) or `short` (`file:line:col: message`, a line each, for
    /// editors).
    #[arg(long, value_enum, default_value = "human")]
    message_format: MessageFormat,
    /// Exit 0 when there is nothing to run (no script under the paths, or
    /// none the filters and partition take); without it that is exit 2.
    #[arg(long)]
    allow_empty: bool,
    /// The wrap dimension: run every script that exchanges segments again,
    /// with the numbers of this side placed to cross 2^32 halfway through:
    /// `peer`, the script's sequence numbers and TSvals (every target);
    /// `stack`, the stack's ISS and timestamp clock (the reference
    /// target). Variants are named `[wrap=peer]`. Repeatable, or `peer,stack`.
    #[arg(long, value_enum, value_delimiter = ',')]
    wrap: Vec<crate::script::wrap::WrapSide>,
}

/// `--filter`: which scripts, variants and targets a command takes.
#[derive(clap::Args, Clone, Default)]
pub(super) struct Select {
    /// Take only the (script, target) pairs this expression selects:
    /// `path:GLOB`, `name:TEXT`, `variant:'k=v, ...'`, `rfc:ID`,
    /// `target:NAME`, `tag:NAME`, a bare path, or `PATH [k=v, ...]`,
    /// combined with and, or, not and parentheses (docs/cli.md). Repeatable:
    /// a pair is taken when any filter takes it.
    #[arg(short = 'E', long = "filter", value_name = "EXPR", value_parser = parse_filter)]
    filters: Vec<Filter>,
}

fn parse_filter(s: &str) -> Result<Filter, String> {
    Filter::parse(s).map_err(|e| e.to_string())
}

#[derive(clap::Args)]
pub(super) struct ListArgs {
    /// Script files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Targets to list the runs of. Repeatable.
    #[arg(long = "target", value_enum, default_value = "all")]
    targets: Vec<TargetArg>,
    #[command(flatten)]
    select: Select,
    /// `text` (a line per script) or `json` (one document: an array).
    #[arg(long, value_enum, default_value = "text")]
    format: ListFormat,
    /// As `harness run --allow-shell`: scripts with shell steps are listed
    /// as runs, not skips.
    #[arg(long)]
    allow_shell: bool,
    /// As `harness run --wrap`: list the wrap variants too.
    #[arg(long, value_enum, value_delimiter = ',')]
    wrap: Vec<crate::script::wrap::WrapSide>,
}

#[derive(clap::Args)]
pub(super) struct CheckArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: Select,
    /// `human` (positioned, with the source) or `short` (`file:line:col:
    /// message`).
    #[arg(long, value_enum, default_value = "human")]
    message_format: MessageFormat,
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
    #[arg(short = 'j', long, default_value_t = default_jobs(), value_parser = super::common::jobs)]
    jobs: usize,
    #[command(flatten)]
    select: Select,
    /// Build the coverage from the records of an earlier `harness run
    /// --json FILE` instead of running the scripts (the paths still name
    /// the suite, for its catalogue). Its state diagrams need the run to
    /// have recorded states (run with `--report-dir`).
    #[arg(long, value_name = "FILE", conflicts_with = "filters")]
    from: Option<PathBuf>,
}

/// Plans and runs the scripts under `paths` on `targets` with a progress
/// bar; returns the results (ledgers applied) and how many files were invalid.
struct Executed {
    results: Vec<ScriptResult>,
    /// The files that did not check (already printed).
    invalid: Vec<ScriptError>,
    /// Runs planned and never started (`--fail-fast`).
    not_run: usize,
}

/// What a run takes and how it reports what it cannot: the options
/// `run` and `coverage` share.
struct Selection<'a> {
    partition: Option<Partition>,
    ledger: Option<&'a std::path::Path>,
    select: &'a Select,
    format: MessageFormat,
    allow_empty: bool,
}

fn execute(
    paths: &[PathBuf],
    targets: &[TargetArg],
    cfg: RunConfig,
    sel: Selection<'_>,
    report: Option<&crate::pictures::html::Report>,
) -> Result<Executed, Error> {
    let Selection { partition, ledger, select, format, allow_empty } = sel;
    let mut plan = Plan::new(paths, kinds(targets), cfg, select.filters.clone(), partition)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(file) = ledger {
        for k in plan.kinds.clone() {
            plan.ledgers.use_file(k, file).map_err(|e| Error::Invalid(e.to_string()))?;
        }
    }
    if let Some(why) = &plan.cfg.linux_unavailable {
        eprintln!("warning: the Linux target cannot run here: {why}");
    }
    let invalid = std::mem::take(&mut plan.invalid);
    print_script_errors(&invalid, format);
    let planned = plan.len();
    if planned == 0 && invalid.is_empty() && !allow_empty {
        let why = if select.filters.is_empty() {
            "no script under the paths given".to_string()
        } else {
            "the filter takes no run of the scripts under the paths given (`harness list` shows what it takes)"
                .to_string()
        };
        return Err(Error::Invalid(format!("nothing to run: {why}; --allow-empty makes that a success")));
    }
    let progress = {
        use std::io::IsTerminal;
        let hidden = !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some();
        let pb = if hidden { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(planned as u64) };
        pb.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb
    };
    let results = plan.run(&|r| {
        if let Some(report) = report {
            report.add(r);
        }
        progress.inc(1);
        if let Status::Failed(_) | Status::Error(_) = r.status {
            progress.set_message(format!("{} failed", r.id()));
        }
    });
    progress.finish_and_clear();
    let not_run = planned - results.len();
    Ok(Executed { results, invalid, not_run })
}

/// The options of this run a rerun line must repeat, quoted.
fn rerun_options(a: &RunArgs) -> String {
    let mut o = Vec::new();
    if a.transport != crate::target::linux::TransportKind::Tun {
        o.push("--transport raw".to_string());
    }
    if a.tolerance_scale != 1.0 {
        o.push(format!("--tolerance-scale {}", a.tolerance_scale));
    }
    if a.allow_shell {
        o.push("--allow-shell".into());
    }
    if let Some(d) = &a.dut {
        o.push(format!("--dut {}", shell_quote(d)));
    }
    if let Some(l) = &a.ledger {
        o.push(format!("--ledger {}", shell_quote(&l.to_string_lossy())));
    }
    o.join(" ")
}

/// An output path's parent must exist: checked before any script runs, so
/// a typo does not cost the whole run, and nothing but the last component
/// is ever created.
fn check_output(flag: &str, p: &std::path::Path) -> Result<(), Error> {
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "{flag} {}: the directory {} does not exist (create it first)",
            p.display(),
            parent.display()
        )));
    }
    if p.is_dir() && !flag.ends_with("-dir") {
        return Err(Error::Invalid(format!("{flag} {}: is a directory", p.display())));
    }
    Ok(())
}

pub(super) fn run(a: RunArgs) -> Result<Verdict, Error> {
    let started = std::time::Instant::now();
    for (flag, p) in
        [("--json", &a.json), ("--junit", &a.junit), ("--pcap-dir", &a.pcap_dir), ("--report-dir", &a.report_dir)]
    {
        if let Some(p) = p {
            check_output(flag, p)?;
        }
    }
    let cfg = RunConfig {
        jobs: a.jobs,
        transport: a.transport,
        options: RunOptions {
            tolerance_scale: a.tolerance_scale,
            allow_shell: a.allow_shell,
            marks: a.report_dir.is_some(),
        },
        linux_unavailable: None,
        dut: a.dut.as_ref().map(|c| c.split_whitespace().map(String::from).collect()),
        retries: a.retries,
        load_retries: a.load_retries,
        fail_fast: a.fail_fast,
        wrap: a.wrap.clone(),
    };
    let sel = Selection {
        partition: a.partition,
        ledger: a.ledger.as_deref(),
        select: &a.select,
        format: a.message_format,
        allow_empty: a.allow_empty,
    };
    let html = match &a.report_dir {
        Some(dir) => Some(
            crate::pictures::html::Report::new(dir, &super::common::kinds(&a.targets))
                .map_err(|e| Error::Invalid(format!("--report-dir {}: {e}", dir.display())))?,
        ),
        None => None,
    };
    let Executed { results, invalid, not_run } = execute(&a.paths, &a.targets, cfg, sel, html.as_ref())?;
    let again = rerun_options(&a);
    for r in &results {
        let short = a.message_format == MessageFormat::Short;
        match &r.status {
            Status::Failed(f) if short => {
                let (line, col) = f.pos.map_or((1, 1), |p| (p.line, p.column));
                let variant = r.script.variant.as_ref().map(|v| format!(" [{v}]")).unwrap_or_default();
                println!("{}:{line}:{col}: FAIL{variant} on {}: {}", r.script.path.display(), r.target, f.message);
            }
            Status::Failed(_) => {
                print!("{}", report::failure_text(r));
                println!("  rerun: {}", report::rerun_line(r, &again));
            }
            Status::Error(e) => {
                println!("ERROR {} on {}: {e}", r.id(), r.target);
                if !short {
                    println!("  rerun: {}", report::rerun_line(r, &again));
                }
            }
            _ => {}
        }
        if a.trace {
            println!("--- {} on {}", r.id(), r.target);
            print!("{}", report::trace_text(r));
        }
    }
    let io_failed = write_reports(&a, &results, &invalid, html);
    print!("{}", report::deviations_text(&results));
    print!("{}", report::unshown_text(&results));
    print!("{}", report::flaky_text(&results));
    print!("{}", report::skips_text(&results));
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
    let invalid = invalid.len();
    if invalid > 0 {
        println!("{invalid} invalid script file(s)");
    }
    if not_run > 0 {
        println!("{not_run} run(s) not started: --fail-fast stopped at the first failure");
    }
    // The failures again, a line each, next to the totals: what a CI log's
    // tail shows.
    print!("{}", report::failed_text(&results));
    println!("{counts}");
    if invalid > 0 || io_failed {
        Err(Error::InvalidScripts(invalid))
    } else if counts.failed > 0 {
        Ok(Verdict::Failed)
    } else {
        Ok(Verdict::Passed)
    }
}

/// The command line as typed, quoted for a shell.
fn command_line() -> String {
    std::env::args_os().map(|a| shell_quote(&a.to_string_lossy())).collect::<Vec<_>>().join(" ")
}

/// JSON, JUnit, pcaps and the HTML report, where asked; true when one could
/// not be written.
fn write_reports(
    a: &RunArgs,
    results: &[ScriptResult],
    invalid: &[ScriptError],
    html: Option<crate::pictures::html::Report>,
) -> bool {
    let mut io_failed = false;
    if let Some(p) = &a.json {
        if let Err(e) = report::write_json(p, results, invalid) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let Some(p) = &a.junit {
        if let Err(e) = report::write_junit(p, results, invalid) {
            eprintln!("error: writing {}: {e}", p.display());
            io_failed = true;
        }
    }
    if let (Some(dir), Some(html)) = (&a.report_dir, html) {
        let meta = crate::pictures::html::Meta { command: command_line(), date: crate::pictures::html::utc_now() };
        let t = std::time::Instant::now();
        match html.finish(results, invalid, &meta) {
            Ok(w) => println!(
                "report: {} ({} run pages in {} files, written in {} ms after the runs)",
                dir.join("index.html").display(),
                w.pages,
                w.files,
                t.elapsed().as_millis()
            ),
            Err(e) => {
                eprintln!("error: writing the report into {}: {e}", dir.display());
                io_failed = true;
            }
        }
    }
    if let Some(dir) = &a.pcap_dir {
        let res = (if dir.is_dir() { Ok(()) } else { std::fs::create_dir(dir) }).and_then(|_| {
            results
                .iter()
                .filter(|r| !r.trace.is_empty())
                .try_for_each(|r| report::write_pcapng(&dir.join(report::artefact_name(r, "pcapng")), r))
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
    let html = a.format == Format::Html;
    let (facts, invalid) = match &a.from {
        Some(file) => (crate::coverage::read_json_lines(file).map_err(Error::Invalid)?, 0),
        None => {
            let mut cfg = RunConfig { jobs: a.jobs, transport: a.transport, ..RunConfig::default() };
            // The state diagram is drawn from the runs' transitions.
            cfg.options.marks = html;
            let Executed { results, invalid, .. } = execute(
                &a.paths,
                &a.targets,
                cfg,
                Selection {
                    partition: None,
                    ledger: None,
                    select: &a.select,
                    format: MessageFormat::Human,
                    allow_empty: false,
                },
                None,
            )?;
            for r in &results {
                if let Status::Failed(_) = r.status {
                    eprint!("{}", report::failure_text(r));
                } else if let Status::Error(e) = &r.status {
                    eprintln!("ERROR {} on {}: {e}", r.id(), r.target);
                }
            }
            (results.iter().map(crate::coverage::RunFacts::of).collect::<Vec<_>>(), invalid.len())
        }
    };
    let kinds: Vec<TargetKind> = TargetKind::ALL.into_iter().filter(|k| facts.iter().any(|r| r.target == *k)).collect();
    let cov = crate::coverage::Coverage::build(&catalogue, &facts, &kinds);
    let table = match a.format {
        Format::Markdown => cov.markdown(),
        Format::Html => {
            let root = crate::suite::root_of(&catalogue_path).unwrap_or_default();
            let ledger = |t: TargetKind| {
                let p = root.join(crate::suite::EXPECTATIONS).join(format!("{t}.yaml"));
                p.is_file().then(|| crate::pictures::html::file_href(&p.to_string_lossy()))
            };
            let (pictures, _, _) = crate::pictures::html::pictures(&facts, &ledger);
            let mut kernels: Vec<String> = facts.iter().filter_map(|f| f.kernel.clone()).collect();
            kernels.dedup();
            let header = [
                ("command", command_line()),
                ("date", crate::pictures::html::utc_now()),
                ("kernel", if kernels.is_empty() { crate::pictures::html::uname() } else { kernels.join("; ") }),
                ("runs", a.from.as_ref().map_or("run now".into(), |f| format!("read from {}", f.display()))),
            ];
            cov.html_page(&header, &pictures)
        }
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

pub(super) fn check(a: CheckArgs) -> Result<Verdict, Error> {
    let (scripts, invalid, files) = load(&a.paths, a.message_format)?;
    let all = TargetKind::ALL;
    let taken =
        scripts.iter().filter(|s| all.iter().any(|k| crate::filter::any_matches(&a.select.filters, s, *k))).count();
    let selected = if a.select.filters.is_empty() { String::new() } else { format!(" ({taken} taken by the filter)") };
    println!("{files} file(s) checked: {} script(s) valid{selected}, {invalid} file(s) invalid", scripts.len());
    if invalid == 0 {
        Ok(Verdict::Passed)
    } else {
        Err(Error::InvalidScripts(invalid))
    }
}

pub(super) fn list(a: ListArgs) -> Result<Verdict, Error> {
    let kinds = kinds(&a.targets);
    let files = crate::runner::find_scripts(&a.paths).map_err(|e| Error::Invalid(e.to_string()))?;
    let (scripts, errors) = crate::runner::load_all(&files);
    let scripts = crate::script::wrap::expand(scripts, &a.wrap);
    print_script_errors(&errors, MessageFormat::Human);
    let cfg = RunConfig {
        options: RunOptions { allow_shell: a.allow_shell, ..RunOptions::default() },
        ..RunConfig::default()
    };
    let mut json = Vec::new();
    let mut runs = 0;
    let mut listed = 0;
    for s in &scripts {
        let taken: Vec<_> = kinds.iter().copied().filter(|k| crate::runner::takes(&a.select.filters, s, *k)).collect();
        if taken.is_empty() {
            continue;
        }
        listed += 1;
        let mut runs_on = Vec::new();
        let mut skips = Vec::new();
        for k in &taken {
            match crate::runner::skip_reason(s, *k, &cfg) {
                None => runs_on.push(*k),
                Some(why) => skips.push((*k, why)),
            }
        }
        runs += runs_on.len();
        match a.format {
            ListFormat::Text => {
                let mut line = s.id();
                let names = |ks: &[TargetKind]| ks.iter().map(|k| k.name()).collect::<Vec<_>>().join(",");
                line.push_str(&format!("  runs on: {}", if runs_on.is_empty() { "-".into() } else { names(&runs_on) }));
                if !skips.is_empty() {
                    let ks: Vec<TargetKind> = skips.iter().map(|s| s.0).collect();
                    line.push_str(&format!("  skipped on: {}", names(&ks)));
                }
                if !s.rfc.is_empty() {
                    line.push_str(&format!("  rfc: {}", s.rfc.join(",")));
                }
                if !s.tags.is_empty() {
                    line.push_str(&format!("  tags: {}", s.tags.join(",")));
                }
                println!("{line}");
            }
            ListFormat::Json => json.push(serde_json::json!({
                "id": s.id(),
                "path": s.path.display().to_string(),
                "variant": s.variant,
                "name": s.name,
                "rfc": s.rfc,
                "tags": s.tags,
                "runs_on": runs_on.iter().map(|k| k.name()).collect::<Vec<_>>(),
                "skipped_on": skips.iter().map(|(k, why)| (k.name().to_string(), serde_json::Value::String(why.clone()))).collect::<serde_json::Map<_, _>>(),
            })),
        }
    }
    match a.format {
        ListFormat::Json => println!("{}", serde_json::Value::Array(json)),
        ListFormat::Text => println!(
            "{listed} script(s), {runs} run(s) on {}",
            kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        ),
    }
    if errors.is_empty() {
        Ok(Verdict::Passed)
    } else {
        Err(Error::InvalidScripts(errors.len()))
    }
}

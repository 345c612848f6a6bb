//! `harness fuzz` (a campaign, then triage) and `harness seeds`.

use super::common::{Error, Verdict};
use crate::fuzz::{self, seeds, triage};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub(super) struct FuzzArgs {
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
    /// Differential: every case also runs on this stack linked in
    /// (`smoltcp`), beside the reference stack; where they part is a
    /// finding of kind `divergence` unless the stack's allowances or
    /// divergence ledger let it pass.
    #[arg(long, value_name = "STACK")]
    against: Option<String>,
    /// The other stack's allowances and divergence ledger (default:
    /// fuzzer/divergences/<STACK>.yaml as shipped).
    #[arg(long, value_name = "FILE", requires = "against")]
    allowances: Option<PathBuf>,
}

pub(super) fn fuzz(a: FuzzArgs) -> Result<Verdict, Error> {
    let against = match &a.against {
        None => None,
        Some(name) => {
            let text = match &a.allowances {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| Error::Invalid(format!("--allowances {}: {e}", p.display())))?,
                ),
                None => None,
            };
            let path = a.allowances.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            Some(triage::Against::new(name, text.as_deref().map(|t| (path.as_str(), t))).map_err(Error::Invalid)?)
        }
    };
    if a.time > 0 {
        let mut extra: Vec<std::ffi::OsString> = Vec::new();
        if let Some(name) = &a.against {
            extra.extend(["--against".into(), name.into()]);
        }
        if let Some(p) = &a.allowances {
            extra.extend(["--allowances".into(), p.into()]);
        }
        fuzz::campaign(a.fuzzer, &a.cores, a.time, &a.corpus, &a.out, &extra)
            .map_err(|e| Error::Environment(e.to_string()))?;
    }
    let t = triage::triage_campaign_against(&a.out, against.as_ref());
    println!(
        "{} solutions: {} distinct findings, {} not reproduced outside the campaign",
        t.solutions,
        t.findings.len(),
        t.unreproduced
    );
    for f in &t.findings {
        println!(
            "  {:>6} x {}: {}\n         {}\n         minimised to {} actions: {} ({})",
            f.count,
            f.kind,
            f.location,
            f.message,
            f.actions,
            f.script.display(),
            if f.replays { format!("replays: {}", f.how) } else { "DOES NOT REPLAY".into() }
        );
    }
    match fuzz::pictures::write_states(&a.out) {
        Ok(fuzz::pictures::Written { cases, transitions: taken, notices }) => {
            let reached: Vec<String> = notices.iter().map(|(n, c)| format!("{n} ({c})")).collect();
            println!(
                "events the queue's cases reach (cases): {}",
                if reached.is_empty() { "none".to_string() } else { reached.join(", ") }
            );
            let progress = a.out.join("progress.svg");
            println!(
                "pictures: {} (the {taken} transitions its {cases} queue cases take){}",
                a.out.join("states.svg").display(),
                if progress.is_file() {
                    format!(", {} (coverage over time)", progress.display())
                } else {
                    String::new()
                }
            );
        }
        Err(e) => eprintln!("warning: the campaign's state diagram: reading {}: {e}", a.out.join("queue").display()),
    }
    let not_replayed = t.findings.iter().filter(|f| !f.replays).count();
    if not_replayed > 0 {
        eprintln!("error: {not_replayed} finding(s) do not replay as scripts");
    }
    // A finding is a failure of the stack under test, like a failed script.
    Ok(if t.findings.is_empty() { Verdict::Passed } else { Verdict::Failed })
}

pub(super) fn seeds(paths: &[PathBuf], out: &Path) -> Result<Verdict, Error> {
    let files = crate::runner::find_scripts(paths).map_err(|e| Error::Invalid(e.to_string()))?;
    let d = seeds::distill(&files, &paths[0], out).map_err(|e| match e {
        seeds::DistillError::Script(e) => {
            eprintln!("{:?}", miette::Report::new(*e));
            Error::InvalidScripts(1)
        }
        io => Error::Environment(io.to_string()),
    })?;
    println!(
        "{} seeds written to {} ({} reaching nothing new and {} without segments left out; {} map slots reached)",
        d.written,
        out.display(),
        d.redundant,
        d.empty,
        d.slots
    );
    Ok(Verdict::Passed)
}

#[derive(clap::Args)]
pub(super) struct DiffArgs {
    /// Cases: `.case` files, or directories of them (corpus/, a campaign's
    /// queue/).
    #[arg(default_value = "corpus")]
    paths: Vec<PathBuf>,
    /// The target that replays them beside the reference stack.
    #[arg(long, value_enum, default_value = "linux")]
    against: DiffTarget,
    /// Where each case's script and each cluster's shortest case go.
    #[arg(long, default_value = "diff-out")]
    out: PathBuf,
    /// Cases run at once.
    #[arg(short = 'j', long, default_value_t = 16, value_parser = super::common::jobs)]
    jobs: usize,
    /// Cases with a step that waits longer than this after the one before
    /// it (a timer's) are skipped and counted: `1s`, `300ms`.
    #[arg(long, default_value = "1s", value_parser = super::common::duration)]
    max_wait: std::time::Duration,
    /// Cases whose script takes longer than this in all are skipped and
    /// counted (a replay lasts as long as its longest case).
    #[arg(long, default_value = "5s", value_parser = super::common::duration)]
    max_time: std::time::Duration,
    /// How the Linux target is reached.
    #[arg(long, value_enum, default_value = "tun")]
    transport: crate::target::linux::TransportKind,
    /// Multiplies every timing tolerance (slow or debug kernels).
    #[arg(long, default_value = "1.0", value_parser = super::common::scale)]
    tolerance_scale: f64,
    /// The target's allowances and divergence ledger (default:
    /// fuzzer/divergences/linux.yaml as shipped).
    #[arg(long, value_name = "FILE")]
    allowances: Option<PathBuf>,
    /// A namespace and device made and torn down for each case, as `harness
    /// run` does (by default each of the -j workers keeps one, cleaned
    /// between cases: every TCP socket destroyed, sysctls put back).
    #[arg(long)]
    fresh_namespaces: bool,
}

/// What `harness diff` replays cases on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum DiffTarget {
    /// The running kernel, each case in a private network namespace (root).
    Linux,
}

pub(super) fn diff(a: DiffArgs) -> Result<Verdict, Error> {
    use fuzz::replay;
    let inputs = replay::load(&a.paths).map_err(|e| Error::Invalid(e.to_string()))?;
    if inputs.is_empty() {
        return Err(Error::Invalid(format!(
            "no cases in {}",
            a.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )));
    }
    let mut run = crate::runner::RunConfig {
        jobs: a.jobs,
        transport: a.transport,
        options: crate::engine::RunOptions { tolerance_scale: a.tolerance_scale, ..Default::default() },
        retries: 0,
        ..Default::default()
    };
    let kind = match a.against {
        DiffTarget::Linux => {
            run.probe_linux();
            if let Some(why) = &run.linux_unavailable {
                return Err(Error::Environment(format!("the Linux target cannot run here: {why}")));
            }
            crate::script::TargetKind::Linux
        }
    };
    let allow = match &a.allowances {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| Error::Invalid(format!("--allowances {}: {e}", p.display())))?;
            fuzz::diff::Allowances::parse(&p.display().to_string(), &text)
        }
        None => fuzz::diff::Allowances::builtin("linux").expect("shipped"),
    }
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let opts = replay::Options { max_wait: a.max_wait, max_time: a.max_time, allow, reuse: !a.fresh_namespaces, run };
    let r = replay::replay(&inputs, kind, &opts, &a.out).map_err(|e| Error::Environment(e.to_string()))?;
    let alike = r.count(|v| matches!(v, replay::Verdict::Alike));
    let diverged = r.count(|v| matches!(v, replay::Verdict::Diverged { .. }));
    let known = r.count(|v| matches!(v, replay::Verdict::Known { .. }));
    let skipped = r.count(|v| matches!(v, replay::Verdict::Skipped(_)));
    let errors = r.count(|v| matches!(v, replay::Verdict::Error(_)));
    let ran = alike + diverged + known;
    let busy: f64 = r.cases.iter().map(|c| c.wall.as_secs_f64()).sum();
    println!(
        "{} cases: {ran} replayed on {kind} ({alike} alike, {known} parted as the ledger allows, {diverged} diverged in {} clusters), {skipped} skipped, {errors} errors\n{:.1} s ({:.1} s writing the scripts and checking them on the reference stack): {:.0} cases/s replayed ({:.0} ms per case on the kernel, -j {})",
        r.cases.len(),
        r.clusters.len(),
        r.wall.as_secs_f64(),
        r.prepare.as_secs_f64(),
        ran as f64 / r.wall.as_secs_f64().max(1e-9),
        if ran > 0 { 1000.0 * busy / ran as f64 } else { 0.0 },
        a.jobs
    );
    if let Some(long) = r.cases.iter().max_by_key(|c| c.wall) {
        println!("  the longest case: {:.2} s ({})", long.wall.as_secs_f64(), long.script.display());
    }
    let mut why: std::collections::BTreeMap<String, usize> = Default::default();
    for c in &r.cases {
        if let replay::Verdict::Skipped(w) = &c.verdict {
            let k = if w.starts_with("waits ") {
                "a wait over --max-wait".to_string()
            } else if w.starts_with("runs ") {
                "longer in all than --max-time".to_string()
            } else {
                w.clone()
            };
            *why.entry(k).or_default() += 1;
        }
    }
    for (w, n) in &why {
        println!("  skipped {n}: {w}");
    }
    let mut hits = vec![0usize; opts.allow.ledger.len()];
    for c in &r.cases {
        if let replay::Verdict::Known { entry, .. } = c.verdict {
            hits[entry] += 1;
        }
    }
    for (e, n) in opts.allow.ledger.iter().zip(&hits).filter(|(_, n)| **n > 0) {
        println!("  known {n}: {} ({})", e.cluster, e.kind);
    }
    for c in r.cases.iter().filter(|c| matches!(c.verdict, replay::Verdict::Error(_))).take(10) {
        if let replay::Verdict::Error(e) = &c.verdict {
            println!("  error: {}: {e}", c.input.display());
        }
    }
    for c in &r.clusters {
        let s = &r.cases[c.shortest];
        println!(
            "  {:>6} x {}\n         shortest ({} actions): {}",
            c.count,
            c.name,
            s.actions,
            a.out.join("clusters").join(triage::dir_name(&c.name)).join("case.yaml").display()
        );
    }
    if errors > 0 {
        eprintln!("error: {errors} case(s) could not be replayed");
    }
    // A divergence no ledger entry lists is a finding, as in `harness fuzz`.
    Ok(if errors > 0 || diverged > 0 { Verdict::Failed } else { Verdict::Passed })
}

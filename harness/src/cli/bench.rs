//! `harness bench`: scripts per second on the in-process targets (the
//! reference stack; smoltcp, against the reference on the same scripts);
//! the fixed cost per script and the suite's wall time on Linux and on the
//! lwIP DUT.

use super::common::{load, Error, Verdict};
use crate::report;
use crate::runner::{self, RunConfig, Status};
use crate::script::TargetKind;
use crate::target::linux::TransportKind;
use std::path::PathBuf;

/// The targets `harness bench` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum BenchTarget {
    Reference,
    Linux,
    Smoltcp,
    Lwip,
}

#[derive(clap::Args)]
pub(super) struct BenchArgs {
    #[arg(default_value = "suites")]
    paths: Vec<PathBuf>,
    /// Rounds over all the scripts (reference target).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    #[arg(short = 'j', long, default_value_t = 1, value_parser = super::common::jobs)]
    jobs: usize,
    #[arg(long, value_enum, default_value = "reference")]
    target: BenchTarget,
    /// How the Linux target is reached.
    #[arg(long, value_enum, default_value = "tun")]
    transport: TransportKind,
}

pub(super) fn bench(a: BenchArgs) -> Result<Verdict, Error> {
    match a.target {
        BenchTarget::Reference => reference(&a.paths, a.rounds, a.jobs),
        BenchTarget::Linux => linux(&a.paths, a.transport),
        BenchTarget::Smoltcp => smoltcp(&a.paths, a.rounds, a.jobs),
        BenchTarget::Lwip => lwip(&a.paths),
    }
}

/// The scripts that run on `kind`: meant for it and not refused by its
/// capabilities.
fn runnable(paths: &[PathBuf], kind: TargetKind) -> Result<Vec<crate::script::Script>, Error> {
    let (scripts, invalid, _) = load(paths, super::common::MessageFormat::Human)?;
    if invalid > 0 {
        return Err(Error::InvalidScripts(invalid));
    }
    let scripts: Vec<_> = scripts
        .into_iter()
        .filter(|s| s.runs_on(kind) && crate::target::capabilities::refusal(kind, s).is_none())
        .collect();
    if scripts.is_empty() {
        return Err(Error::Invalid(format!("no script runs on the {kind} target")));
    }
    Ok(scripts)
}

/// Failures (and errors) the ledgers do not list, printed; whether any.
fn unlisted_failures(
    paths: &[PathBuf],
    kind: TargetKind,
    mut results: Vec<crate::runner::ScriptResult>,
) -> Result<bool, Error> {
    let ledgers = crate::suite::Ledgers::load(paths, &[kind]).map_err(|e| Error::Invalid(e.to_string()))?;
    runner::apply_ledgers(&ledgers, &mut results);
    println!("  last round: {}", report::counts(&results));
    let mut any = false;
    for r in results.iter().filter(|r| matches!(r.status, Status::Failed(_) | Status::Error(_))) {
        print!("{}", report::failure_text(r));
        any = true;
    }
    Ok(any)
}

/// smoltcp in virtual time, and the reference stack over the same scripts
/// (the goal: smoltcp within 2x of the reference).
fn smoltcp(paths: &[PathBuf], rounds: usize, jobs: usize) -> Result<Verdict, Error> {
    let scripts: Vec<_> =
        runnable(paths, TargetKind::Smoltcp)?.into_iter().filter(|s| s.runs_on(TargetKind::Reference)).collect();
    let s = runner::bench_in_process(&scripts, TargetKind::Smoltcp, rounds, jobs);
    let r = runner::bench_in_process(&scripts, TargetKind::Reference, rounds, jobs);
    let rate = |b: &runner::InProcessBench| b.runs as f64 / b.wall.as_secs_f64();
    println!(
        "bench: {} scripts x {} rounds = {} runs on smoltcp and on the reference target, -j {jobs}",
        scripts.len(),
        rounds.max(1),
        s.runs
    );
    println!("  smoltcp          {:.3} s, {:.0} scripts/second", s.wall.as_secs_f64(), rate(&s));
    println!("  reference        {:.3} s, {:.0} scripts/second", r.wall.as_secs_f64(), rate(&r));
    println!("  smoltcp / reference: {:.2}x the time (goal: within 2x)", s.wall.as_secs_f64() / r.wall.as_secs_f64());
    let failed = unlisted_failures(paths, TargetKind::Smoltcp, s.last)?;
    Ok(if failed { Verdict::Failed } else { Verdict::Passed })
}

/// The lwIP DUT: the fixed cost per script (start the program in a fresh
/// namespace, hello, setup, one call, quit), then the suite's wall time.
fn lwip(paths: &[PathBuf]) -> Result<Verdict, Error> {
    let mut cfg = RunConfig::default();
    cfg.probe_linux();
    if let Some(why) = &cfg.linux_unavailable {
        return Err(Error::Environment(format!("the lwIP DUT cannot run here: {why}")));
    }
    crate::target::dut::lwip_program().map_err(Error::Environment)?;
    let n = 100;
    let c = runner::bench_fixed_cost(TargetKind::Lwip, &cfg, n).map_err(Error::Failed)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("bench lwip (DUT): fixed cost per script over {n} runs of a trivial script (goal: under 20 ms)");
    println!(
        "  per script: median {:.2} ms, p90 {:.2} ms, max {:.2} ms (thread, namespace, socket pair, DUT start, hello, setup, one call, quit)",
        ms(c.costs[n / 2]),
        ms(c.costs[n * 9 / 10]),
        ms(c.costs[n - 1])
    );
    let scripts = runnable(paths, TargetKind::Lwip)?;
    let mut any_failed = false;
    for jobs in [1, 2] {
        cfg.jobs = jobs;
        let t = std::time::Instant::now();
        let results = runner::run_all_with(&scripts, TargetKind::Lwip, &cfg, &|_| {});
        println!("  suite: {} scripts at -j {jobs} in {:.2} s", scripts.len(), t.elapsed().as_secs_f64());
        any_failed |= unlisted_failures(paths, TargetKind::Lwip, results)?;
    }
    Ok(if any_failed { Verdict::Failed } else { Verdict::Passed })
}

fn reference(paths: &[PathBuf], rounds: usize, jobs: usize) -> Result<Verdict, Error> {
    let (scripts, invalid, _) = load(paths, super::common::MessageFormat::Human)?;
    if invalid > 0 {
        return Err(Error::InvalidScripts(invalid));
    }
    let scripts: Vec<_> = scripts.into_iter().filter(|s| s.runs_on(TargetKind::Reference)).collect();
    if scripts.is_empty() {
        return Err(Error::Invalid("no script runs on the reference target".into()));
    }
    let b = runner::bench_in_process(&scripts, TargetKind::Reference, rounds, jobs);
    let wall = b.wall.as_secs_f64();
    println!(
        "bench: {} scripts x {} rounds = {} runs on the reference target, -j {jobs}",
        scripts.len(),
        rounds.max(1),
        b.runs
    );
    println!("  wall time        {wall:.3} s");
    println!("  scripts/second   {:.0}", b.runs as f64 / wall);
    println!(
        "  script time      {:.1} s covered ({:.0}x faster than real time)",
        b.script_time.as_secs_f64(),
        b.script_time.as_secs_f64() / wall
    );
    let failed = b.last.iter().filter(|r| !matches!(r.status, Status::Passed)).count();
    if failed > 0 {
        println!("  {failed} runs of the last round did not pass");
        return Ok(Verdict::Failed);
    }
    Ok(Verdict::Passed)
}

fn linux(paths: &[PathBuf], transport: TransportKind) -> Result<Verdict, Error> {
    let mut cfg = RunConfig { transport, ..RunConfig::default() };
    cfg.probe_linux();
    if let Some(why) = &cfg.linux_unavailable {
        return Err(Error::Environment(format!("the Linux target cannot run here: {why}")));
    }
    let n = 100;
    let c = runner::bench_linux_fixed_cost(&cfg, n).map_err(Error::Failed)?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("bench linux ({transport:?}): fixed cost per script over {n} runs of a trivial script");
    println!(
        "  per script: median {:.2} ms, p90 {:.2} ms, max {:.2} ms (thread, namespace, device, addresses, readiness probe, run)",
        ms(c.costs[n / 2]),
        ms(c.costs[n * 9 / 10]),
        ms(c.costs[n - 1])
    );
    println!(
        "  {n} runs back to back: {:.0} ms; with every namespace and device torn down: {:.0} ms ({:.2} ms per script)",
        ms(c.runs),
        ms(c.with_teardown),
        ms(c.with_teardown) / n as f64
    );
    let (scripts, invalid, _) = load(paths, super::common::MessageFormat::Human)?;
    if invalid > 0 {
        return Err(Error::InvalidScripts(invalid));
    }
    let scripts: Vec<_> = scripts.into_iter().filter(|s| s.runs_on(TargetKind::Linux)).collect();
    let ledgers =
        crate::suite::Ledgers::load(paths, &[TargetKind::Linux]).map_err(|e| Error::Invalid(e.to_string()))?;
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
    Ok(if any_failed { Verdict::Failed } else { Verdict::Passed })
}

//! `harness bench`: scripts per second on the reference target; the fixed
//! cost per script and the suite's wall time on Linux.

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
}

#[derive(clap::Args)]
pub(super) struct BenchArgs {
    #[arg(default_value = "suites")]
    paths: Vec<PathBuf>,
    /// Rounds over all the scripts (reference target).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    #[arg(short = 'j', long, default_value_t = 1)]
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
    }
}

fn reference(paths: &[PathBuf], rounds: usize, jobs: usize) -> Result<Verdict, Error> {
    let (scripts, invalid, _) = load(paths)?;
    if invalid > 0 {
        return Err(Error::InvalidScripts(invalid));
    }
    let scripts: Vec<_> = scripts.into_iter().filter(|s| s.runs_on(TargetKind::Reference)).collect();
    if scripts.is_empty() {
        return Err(Error::Invalid("no script runs on the reference target".into()));
    }
    let b = runner::bench_reference(&scripts, rounds, jobs);
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
    if b.failed > 0 {
        println!("  {} runs did not pass", b.failed);
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
    let (scripts, invalid, _) = load(paths)?;
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

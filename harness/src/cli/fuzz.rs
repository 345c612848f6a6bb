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

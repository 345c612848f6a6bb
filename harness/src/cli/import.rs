//! `harness import`: packetdrill scripts in, the language out.

use super::common::{congestion, define, Congestion, Error, Verdict};
use crate::import::{
    self,
    convert::{HelperCongestion, ImportOptions},
};
use std::path::PathBuf;

#[derive(clap::Args)]
pub(super) struct ImportArgs {
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
    /// What a helper's `net.ipv4.tcp_congestion_control` becomes (a
    /// namespace cannot change the host's default, so it is set on every
    /// socket: `congestion: NAME`): by default the helper's value; NAME
    /// instead; or `host` to leave the host's default, as packetdrill
    /// itself gets inside a namespace.
    #[arg(long, value_parser = congestion)]
    congestion: Option<Congestion>,
    /// packetdrill's -D NAME=VALUE: replace NAME (a whole word) by VALUE.
    #[arg(short = 'D', long = "define", value_name = "NAME=VALUE", value_parser = define)]
    defines: Vec<(String, String)>,
    /// A directory holding helpers the tree runs but does not hold (looked
    /// up by file name when `../common/defaults.sh` or the like is not
    /// beside the script). Repeatable; the script's own tree comes first.
    #[arg(long = "helpers", value_name = "DIR")]
    helper_dirs: Vec<PathBuf>,
    /// After `--`: packetdrill's own command line for every script, as a
    /// tree's runner passes it (`-- --ip_version=ipv4 --local_ip=192.168.0.1
    /// -D CMSG_LEVEL_IP=SOL_IP`); it overrides the scripts' options, as in
    /// packetdrill.
    #[arg(last = true, value_name = "PACKETDRILL_ARGS", allow_hyphen_values = true)]
    packetdrill: Vec<String>,
}

pub(super) fn import(a: ImportArgs) -> Result<Verdict, Error> {
    let congestion = match a.congestion {
        None => HelperCongestion::AsSet,
        Some(Congestion::Host) => HelperCongestion::Host,
        Some(Congestion::Algo(c)) => HelperCongestion::Algo(c),
    };
    let (args, pd_defines) =
        import::packetdrill_args(&a.packetdrill).map_err(|e| Error::Invalid(format!("after `--`: {e}")))?;
    // A name defined both ways: harness import's own -D wins.
    let mut defines = a.defines;
    for (n, v) in pd_defines {
        if !defines.iter().any(|(d, _)| *d == n) {
            defines.push((n, v));
        }
    }
    for d in &a.helper_dirs {
        if !d.is_dir() {
            return Err(Error::Invalid(format!("--helpers {}: not a directory", d.display())));
        }
    }
    let opts = ImportOptions { congestion, allow_shell: a.allow_shell, defines, helper_dirs: a.helper_dirs, args };
    let files = import::find_pkt(&a.paths).map_err(|e| Error::Invalid(e.to_string()))?;
    let results = import::import(&files, a.output.as_deref(), &opts).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut converted = 0;
    for r in &results {
        match (&r.written, r.problems.first()) {
            (Some(w), None) => {
                converted += 1;
                if a.verbose {
                    println!("converted {} -> {} ({} steps)", r.source.display(), w.display(), r.steps);
                }
            }
            _ => {
                for p in if a.verbose { &r.problems[..] } else { &r.problems[..1] } {
                    println!("refused   {}:{}: {}: {}", r.source.display(), p.line, p.construct, p.reason);
                }
                if !a.verbose && r.problems.len() > 1 {
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
        a.output
            .map(|o| format!("; written under {}", o.display()))
            .unwrap_or_else(|| " (dry run: -o DIR writes them)".into())
    );
    Ok(Verdict::Passed)
}

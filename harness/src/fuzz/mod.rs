//! The fuzzer's model, independent of LibAFL: the case format, running a
//! case on a fresh reference stack under the oracles, minimising a finding,
//! and writing it as a script `harness run` replays. The LibAFL campaign
//! (`fuzzer/`) drives [`exec::run_case`]; `harness fuzz` triages what it finds.
//!
//! A case is bytes: a 2-byte header (role, profile) then 16-byte records, one
//! action each: a segment whose sequence and acknowledgment numbers are
//! chosen relative to the connection's current state (so mutations stay
//! meaningful), a socket call, or a time step. Havoc works on the bytes; the
//! structure-aware mutators work on whole records.

pub mod case;
pub mod diff;
pub mod exec;
pub mod pictures;
pub mod replay;
pub mod seeds;
pub mod triage;

/// Why a campaign could not run.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    #[error(
        "the tcp-fuzz binary is not built: run `make fuzz-build` in the harness's source tree (it builds with the coverage wrapper: RUSTC_WORKSPACE_WRAPPER=fuzzer/sancov-rustc cargo build --profile fuzz -p fuzzer; a plain cargo build gives a fuzzer without coverage), or pass --fuzzer PATH"
    )]
    NotBuilt,
    #[error("running {}: {error}", bin.display())]
    Start { bin: std::path::PathBuf, error: std::io::Error },
    #[error("{} exited with {status}", bin.display())]
    Failed { bin: std::path::PathBuf, status: std::process::ExitStatus },
}

/// Runs a LibAFL campaign: the `tcp-fuzz` binary (`bin`, or the one next to
/// this executable, or `target/fuzz/tcp-fuzz`) for `secs` seconds on `cores`,
/// from `corpus`, writing its queue and solutions under `out`.
pub fn campaign(
    bin: Option<std::path::PathBuf>,
    cores: &str,
    secs: u64,
    corpus: &std::path::Path,
    out: &std::path::Path,
    extra: &[std::ffi::OsString],
) -> Result<(), CampaignError> {
    let bin = bin
        .or_else(|| {
            let here = std::env::current_exe().ok()?.with_file_name("tcp-fuzz");
            [here, std::path::PathBuf::from("target/fuzz/tcp-fuzz")].into_iter().find(|p| p.is_file())
        })
        .ok_or(CampaignError::NotBuilt)?;
    let mut child = std::process::Command::new(&bin)
        .args(["--cores", cores, "--time", &secs.to_string()])
        .arg("--corpus")
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|error| CampaignError::Start { bin: bin.clone(), error })?;
    // The campaign's own lines pass through; its global figures are kept
    // for the plot of its progress.
    let mut progress = pictures::Progress::default();
    if let Some(stdout) = child.stdout.take() {
        use std::io::BufRead;
        let started = std::time::Instant::now();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            progress.line(started.elapsed().as_secs_f64(), &line);
        }
    }
    let status = child.wait().map_err(|error| CampaignError::Start { bin: bin.clone(), error })?;
    if let Err(e) = progress.write(out) {
        eprintln!("warning: writing the campaign's progress into {}: {e}", out.display());
    }
    if status.success() {
        Ok(())
    } else {
        Err(CampaignError::Failed { bin, status })
    }
}

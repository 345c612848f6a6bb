//! What the commands share: how they end ([`Verdict`], [`Error`] and the
//! exit code), option values, and loading scripts.

use crate::script::{ScriptError, TargetKind};
use clap::ValueEnum;
use std::path::PathBuf;

pub(super) const EXIT_CODES: &str = "Exit codes:
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

pub(super) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `--target`: a target, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// The bundled reference stack, in virtual time.
    Reference,
    /// The running Linux kernel, in a private namespace per script (root).
    Linux,
    /// smoltcp, linked in, in virtual time.
    Smoltcp,
    /// lwIP, a device-under-test program in a private namespace per script (root).
    Lwip,
    /// Any stack behind the DUT protocol: the program --dut names, in a private namespace per script (root).
    Dut,
    /// Every bundled target (reference, linux, smoltcp, lwip).
    All,
}

/// The targets named, each once, in the order given.
pub(super) fn kinds(targets: &[TargetArg]) -> Vec<TargetKind> {
    let mut out = Vec::new();
    for t in targets {
        let add: &[TargetKind] = match t {
            TargetArg::Reference => &[TargetKind::Reference],
            TargetArg::Linux => &[TargetKind::Linux],
            TargetArg::Smoltcp => &[TargetKind::Smoltcp],
            TargetArg::Lwip => &[TargetKind::Lwip],
            TargetArg::Dut => &[TargetKind::Dut],
            TargetArg::All => &TargetKind::BUNDLED,
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
    pub(super) fn profile(self) -> reference_stack::Profile {
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
pub(super) fn loss(s: &str) -> Result<u32, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if !(0.0..100.0).contains(&v) {
        return Err(format!("{v} is not a percentage in [0, 100)"));
    }
    Ok((v * 10_000.0).round() as u32)
}

/// `-j`: at least one at a time.
pub(super) fn jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a number of jobs (1 or more)")),
    }
}

/// A positive, finite multiplier.
pub(super) fn scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

/// A duration as scripts write it (`1s`, `300ms`, `250us`).
pub(super) fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::script::time::parse_duration(s)
}

/// What the importer makes of defaults.sh's congestion control.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Congestion {
    /// Set on every socket the script makes.
    Algo(String),
    /// Leave the host's default.
    Host,
}

pub(super) fn congestion(s: &str) -> Result<Congestion, String> {
    match s {
        "host" => Ok(Congestion::Host),
        c if !c.is_empty() && c.len() < 16 && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '_') => {
            Ok(Congestion::Algo(c.to_string()))
        }
        _ => Err("a congestion control name (cubic, reno, bbr) or host".into()),
    }
}

/// packetdrill's `-D NAME=VALUE`.
pub(super) fn define(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok((n.to_string(), v.to_string()))
        }
        _ => Err("expected NAME=VALUE (NAME of letters, digits and _)".into()),
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

/// `--message-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    /// Positioned diagnostics with the source around them.
    Human,
    /// `file:line:col: message`, a line each (editors, grep).
    Short,
}

/// `--format` of `harness list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

/// Prints every error of each file (to standard error), as positioned
/// diagnostics or a line each.
pub(super) fn print_script_errors(errors: &[ScriptError], format: MessageFormat) {
    for e in errors {
        match format {
            MessageFormat::Human => eprintln!("{:?}", miette::Report::new_boxed(Box::new(e.clone()))),
            MessageFormat::Short => {
                for x in e.all() {
                    eprintln!("{}:{}:{}: error: {}", x.path, x.line, x.column, x.message);
                }
            }
        }
    }
}

/// Finds and loads the scripts under `paths`; every invalid one is printed
/// with its position. The scripts, how many files were invalid, and how
/// many files were read.
pub(super) fn load(
    paths: &[PathBuf],
    format: MessageFormat,
) -> Result<(Vec<crate::script::Script>, usize, usize), Error> {
    let files = crate::runner::find_scripts(paths).map_err(|e| Error::Invalid(e.to_string()))?;
    let (scripts, errors) = crate::runner::load_all(&files);
    print_script_errors(&errors, format);
    Ok((scripts, errors.len(), files.len()))
}

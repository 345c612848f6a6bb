//! `harness import`: packetdrill scripts -> the YAML language.
//!
//! [`pkt`] reads packetdrill's grammar into items with line numbers;
//! [`convert`] writes a script whose steps each carry `from: LINE`, or
//! refuses the file with one [`convert::Problem`] per construct the language
//! cannot say.

pub mod convert;
pub mod helpers;
pub mod pkt;

use convert::{ImportOptions, Problem};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// packetdrill's command-line options (config.c's table at the upstream
/// commit): name and whether it takes a value.
pub const PACKETDRILL_OPTIONS: &[(&str, bool)] = &[
    ("ip_version", true),
    ("bind_port", true),
    ("code_command", true),
    ("code_format", true),
    ("code_sockopt", true),
    ("connect_port", true),
    ("remote_ip", true),
    ("local_ip", true),
    ("gateway_ip", true),
    ("netmask_ip", true),
    ("speed", true),
    ("mss", true),
    ("mtu", true),
    ("init_scripts", true),
    ("tolerance_usecs", true),
    ("tolerance_percent", true),
    ("wire_client", false),
    ("wire_server", false),
    ("wire_server_ip", true),
    ("wire_server_at", true),
    ("wire_server_port", true),
    ("wire_client_dev", true),
    ("wire_server_dev", true),
    ("so_filename", true),
    ("so_flags", true),
    ("tcp_ts_ecr_scaled", false),
    ("tcp_ts_tick_usecs", true),
    ("strict_segments", false),
    ("non_fatal", true),
    ("dry_run", false),
    ("is_anyip", false),
    ("send_omit_free", false),
    ("psp_udp_port", true),
    ("debug", false),
    ("define", true),
    ("verbose", false),
];

/// packetdrill's own command line (as a tree's runner passes it: `--ip_version=ipv4
/// --local_ip=192.168.0.1 -D CMSG_LEVEL_IP=SOL_IP ...`), read as its getopt_long
/// does: `--NAME=VALUE`, `--NAME VALUE`, `-D NAME=VALUE`, `-DNAME=VALUE`, `-v`.
/// Returns the options (without -D) and the defines; script paths are not
/// taken here (give them to `harness import` before `--`).
#[allow(clippy::type_complexity)]
pub fn packetdrill_args(args: &[String]) -> Result<(Vec<(String, Option<String>)>, Vec<(String, String)>), String> {
    let mut opts = Vec::new();
    let mut defines = Vec::new();
    let mut it = args.iter();
    let define = |d: &str, defines: &mut Vec<(String, String)>| match d.split_once('=') {
        Some((n, v)) if !n.is_empty() => {
            defines.push((n.to_string(), v.to_string()));
            Ok(())
        }
        // packetdrill's -D NAME alone defines NAME as nothing.
        None if !d.is_empty() => {
            defines.push((d.to_string(), String::new()));
            Ok(())
        }
        _ => Err(format!("`-D {d}`: expected NAME=VALUE")),
    };
    while let Some(a) = it.next() {
        if a == "-v" {
            continue;
        }
        if let Some(d) = a.strip_prefix("-D") {
            let d = if d.is_empty() { it.next().ok_or("`-D` needs NAME=VALUE")?.as_str() } else { d };
            define(d, &mut defines)?;
            continue;
        }
        let Some(body) = a.strip_prefix("--") else {
            return Err(format!(
                "`{a}` is not one of packetdrill's options (scripts to import go before `--`, not after)"
            ));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        // getopt_long takes any unambiguous prefix; packetdrill's runners
        // write names in full, and so must these.
        let Some(&(_, has_arg)) = PACKETDRILL_OPTIONS.iter().find(|(n, _)| *n == name) else {
            let near = crate::script::did_you_mean(name, PACKETDRILL_OPTIONS.iter().map(|(n, _)| *n));
            return Err(format!(
                "`--{name}` is not one of packetdrill's options{}",
                near.first().map(|n| format!(" (did you mean `--{n}`?)")).unwrap_or_default()
            ));
        };
        let value = match (has_arg, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => Some(it.next().ok_or_else(|| format!("`--{name}` needs a value"))?.clone()),
            (false, Some(_)) => return Err(format!("`--{name}` takes no value")),
            (false, None) => None,
        };
        match (name, value) {
            ("define", Some(d)) => define(&d, &mut defines)?,
            ("verbose" | "debug", _) => {}
            (n, v) => opts.push((n.to_string(), v)),
        }
    }
    Ok((opts, defines))
}

/// The outcome for one file.
#[derive(Debug)]
pub struct FileResult {
    /// The .pkt file as given (or found under a directory).
    pub source: PathBuf,
    /// Where the YAML went, when it converted.
    pub written: Option<PathBuf>,
    pub steps: usize,
    pub problems: Vec<Problem>,
}

/// .pkt files under `paths` (files as given, directories walked in order),
/// each with the path it keeps under the output directory.
pub fn find_pkt(paths: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, PathBuf)>> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if e.file_type()?.is_dir() {
                walk(&p, root, out)?;
            } else if p.extension().is_some_and(|x| x == "pkt") {
                let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
                out.push((p, rel));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, p, &mut out)?;
        } else {
            std::fs::metadata(p).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            let rel = PathBuf::from(p.file_name().unwrap_or(p.as_os_str()));
            out.push((p.clone(), rel));
        }
    }
    Ok(out)
}

/// Converts each file; writes converted ones under `out` (or nowhere).
pub fn import(
    files: &[(PathBuf, PathBuf)],
    out: Option<&Path>,
    opts: &ImportOptions,
) -> std::io::Result<Vec<FileResult>> {
    let mut results = Vec::new();
    for (src, rel) in files {
        let bytes = crate::os::files::read_input(src).map_err(|e| {
            let kind = match &e {
                crate::os::files::InputError::Io(io) => io.kind(),
                _ => std::io::ErrorKind::InvalidInput,
            };
            std::io::Error::new(kind, format!("{}: {e}", src.display()))
        })?;
        let text = String::from_utf8_lossy(&bytes);
        let name = rel.display().to_string();
        let c = convert::convert_file(&name, &text, Some(src), opts);
        let mut problems = c.problems;
        let mut written = None;
        if let Some(yaml) = c.yaml {
            // The converted script must be one the language accepts; if not,
            // that is a gap in the converter, reported against the .pkt line.
            let yname = convert::yaml_name(rel);
            if let Err(e) = crate::script::parse(&yname, &yaml) {
                let pkt_line = yaml
                    .lines()
                    .nth(e.line.saturating_sub(1))
                    .and_then(|l| l.rsplit_once("from: "))
                    .and_then(|(_, n)| n.trim_end_matches('}').trim().parse().ok())
                    .unwrap_or(0);
                problems.push(Problem { line: pkt_line, construct: "language".into(), reason: e.message });
            } else if let Some(dir) = out {
                let dest = dir.join(&yname);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&dest, yaml)?;
                written = Some(dest);
            } else {
                written = Some(yname);
            }
        }
        results.push(FileResult { source: src.clone(), written, steps: c.steps, problems });
    }
    Ok(results)
}

/// Refused files grouped by the first construct that stopped them:
/// construct -> files.
pub fn group_reasons(results: &[FileResult]) -> BTreeMap<String, Vec<String>> {
    let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in results {
        let mut seen = Vec::new();
        for p in &r.problems {
            if !seen.contains(&p.construct) {
                seen.push(p.construct.clone());
                g.entry(p.construct.clone()).or_default().push(r.source.display().to_string());
            }
        }
    }
    g
}

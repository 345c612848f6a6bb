//! `harness import`: packetdrill scripts -> the YAML language.
//!
//! [`pkt`] reads packetdrill's grammar into items with line numbers;
//! [`convert`] writes a script whose steps each carry `from: LINE`, or
//! refuses the file with one [`convert::Problem`] per construct the language
//! cannot say.

pub mod convert;
pub mod pkt;

use convert::{ImportOptions, Problem};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
        let c = convert::convert(&name, &text, opts);
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

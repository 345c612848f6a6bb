//! What a suite directory holds besides scripts, kept as data: the catalogue
//! of RFC 9293 requirement IDs (`requirements.yaml`) and, per target, the
//! ledger of known deviations (`expectations/<target>.yaml`: script glob ->
//! reason, RFC clause, kernel version seen), in the manner of rustls' BoGo
//! configuration. Neither is a script: [`crate::runner::find_scripts`] skips
//! both.

use crate::script::TargetKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A suite file that cannot be used: which, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SuiteError {
    pub path: PathBuf,
    pub message: String,
}

fn suite_error(path: &Path, message: impl ToString) -> SuiteError {
    SuiteError { path: path.to_path_buf(), message: message.to_string() }
}

/// The catalogue's file name, at a suite's root.
pub const CATALOGUE: &str = "requirements.yaml";
/// The ledgers' directory, at a suite's root.
pub const EXPECTATIONS: &str = "expectations";

/// One requirement of RFC 9293 Appendix B.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub level: String,
    pub text: String,
    pub section: String,
    #[serde(default = "yes")]
    pub observable: bool,
    /// Why it cannot be observed, when it cannot (anywhere, or on the
    /// targets `not_on` names).
    #[serde(default)]
    pub why: Option<String>,
    /// Targets on which it cannot be observed though it can elsewhere (the
    /// reference stack has no ICMP input, say); `why` says why.
    #[serde(default)]
    pub not_on: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    requirements: Vec<Requirement>,
}

/// The requirement IDs, in the RFC's order.
#[derive(Clone, Debug)]
pub struct Catalogue {
    pub requirements: Vec<Requirement>,
}

impl Catalogue {
    pub fn load(path: &Path) -> Result<Catalogue, SuiteError> {
        let text = crate::os::files::read_text(path).map_err(|(e, _)| suite_error(path, e))?;
        let f: CatalogueFile = serde_saphyr::from_str(&text).map_err(|e| suite_error(path, e))?;
        let mut seen = std::collections::BTreeSet::new();
        for r in &f.requirements {
            if !seen.insert(r.id.clone()) {
                return Err(suite_error(path, format!("requirement {} is listed twice", r.id)));
            }
            if !r.observable && r.why.is_none() {
                return Err(suite_error(path, format!("{} is not observable but says no `why`", r.id)));
            }
        }
        Ok(Catalogue { requirements: f.requirements })
    }

    /// The level word used for grouping: MUST, SHOULD, MAY (REC-1 counts as
    /// SHOULD, as Table 8 ticks it).
    pub fn group(r: &Requirement) -> &'static str {
        if r.id.starts_with("MUST") {
            "MUST"
        } else if r.id.starts_with("SHLD") || r.id.starts_with("REC") {
            "SHOULD"
        } else {
            "MAY"
        }
    }
}

/// One known deviation of a target.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// A path glob relative to the suite root (`*` within a name, `**`
    /// across directories).
    #[serde(default)]
    pub script: Option<String>,
    /// Several path globs; the entry covers a script any of them matches.
    #[serde(default)]
    pub scripts: Vec<String>,
    /// For `matrix:` scripts: a glob over the variant (`kind=SYN, pos=*`).
    #[serde(default)]
    pub variant: Option<String>,
    /// Several variant globs; the entry covers a variant any of them matches.
    #[serde(default)]
    pub variants: Vec<String>,
    /// What the target does instead, and why.
    pub reason: String,
    /// The clause or requirement it departs from.
    pub rfc: String,
    /// The kernel (or stack) version it was seen on (`version:` reads the
    /// same).
    #[serde(alias = "version")]
    pub kernel: String,
    /// Set when the difference is a finding, a bug of the stack rather than
    /// a choice it documents (in its README, docs or code): what its public
    /// tracker knows of it (an issue, or that none was found, and when).
    #[serde(default)]
    pub finding: Option<String>,
    /// Set when the difference shows on some runs only, with why: a
    /// real-time stack whose timer fires at a phase the script does not
    /// control (lwIP's 250 ms delayed-ACK timer may happen to fire within
    /// the step's tolerance). A pass is then a pass, reported with the
    /// entry (`UNSHOWN`), not a failure asking to remove it.
    #[serde(default)]
    pub intermittent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    deviations: Vec<Deviation>,
}

/// A target's known deviations.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    pub root: PathBuf,
    pub file: Option<PathBuf>,
    pub deviations: Vec<Deviation>,
}

impl Ledger {
    /// `<root>/expectations/<target>.yaml`, or an empty ledger if absent.
    pub fn load(root: &Path, target: TargetKind) -> Result<Ledger, SuiteError> {
        let path = root.join(EXPECTATIONS).join(format!("{target}.yaml"));
        if !path.exists() {
            return Ok(Ledger { root: root.to_path_buf(), file: None, deviations: Vec::new() });
        }
        Ledger::from_file(root, &path)
    }

    /// The ledger in `path`, its script globs relative to the suite `root`.
    pub fn from_file(root: &Path, path: &Path) -> Result<Ledger, SuiteError> {
        let path = path.to_path_buf();
        let text = crate::os::files::read_text(&path).map_err(|(e, _)| suite_error(&path, e))?;
        let f: LedgerFile = serde_saphyr::from_str(&text).map_err(|e| suite_error(&path, e))?;
        for (i, d) in f.deviations.iter().enumerate() {
            if d.script.is_none() && d.scripts.is_empty() {
                return Err(suite_error(&path, format!("deviation {} names no `script` or `scripts`", i + 1)));
            }
        }
        Ok(Ledger { root: root.to_path_buf(), file: Some(path), deviations: f.deviations })
    }

    /// The entry covering a script (path as run, variant if any). A wrap
    /// variant (`..., wrap=peer`) is covered by an entry for it, else by
    /// the entry for the script it was made from: moving the numbers does
    /// not change what a target does.
    pub fn lookup(&self, script: &Path, variant: Option<&str>) -> Option<&Deviation> {
        let rel = relative(script, &self.root)?;
        self.find(&rel, variant).or_else(|| {
            let v = variant?;
            let base = match v.rsplit_once(", wrap=") {
                Some((base, _)) => Some(base),
                None if v.starts_with("wrap=") => None,
                None => return None,
            };
            self.find(&rel, base)
        })
    }

    fn find(&self, rel: &str, variant: Option<&str>) -> Option<&Deviation> {
        self.deviations.iter().find(|d| {
            let script = d.script.iter().chain(&d.scripts).any(|g| glob(g, rel));
            let globs: Vec<&String> = d.variant.iter().chain(&d.variants).collect();
            let variant = globs.is_empty() || variant.is_some_and(|v| globs.iter().any(|g| glob(g, v)));
            script && variant
        })
    }
}

/// `script` relative to `root`, with `/` separators.
fn relative(script: &Path, root: &Path) -> Option<String> {
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (s, r) = (abs(script), abs(root));
    let rel = s.strip_prefix(&r).ok()?;
    Some(rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/"))
}

/// `*` matches within a path segment, `**` across segments, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                let rest = &p[2..];
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            Some(b'*') => {
                let rest = &p[1..];
                let mut i = 0;
                loop {
                    if go(rest, &t[i..]) {
                        return true;
                    }
                    if i == t.len() || t[i] == b'/' {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(b'?') => !t.is_empty() && t[0] != b'/' && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    // What follows the last `*` matches the text's end, one character
    // each: checked first, as most patterns that fail (a divergence ledger
    // of a hundred `* in * -> * field` entries) fail there.
    if let Some(i) = p.iter().rposition(|&c| c == b'*') {
        let tail = &p[i + 1..];
        let Some(end) = t.len().checked_sub(tail.len()).map(|k| &t[k..]) else { return false };
        if !tail.iter().zip(end).all(|(&a, &b)| a == b || (a == b'?' && b != b'/')) {
            return false;
        }
    }
    go(p, t)
}

/// The suite root above a path: the nearest directory (the path itself or
/// an ancestor) holding `requirements.yaml` or `expectations/`.
pub fn root_of(path: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(path).ok()?;
    let mut dir = if start.is_dir() { Some(start.as_path()) } else { start.parent() };
    while let Some(d) = dir {
        if d.join(CATALOGUE).is_file() || d.join(EXPECTATIONS).is_dir() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}

/// The ledgers for the given targets, per suite root, loaded once.
#[derive(Debug, Default)]
pub struct Ledgers {
    by_root: BTreeMap<(PathBuf, String), Ledger>,
}

impl Ledgers {
    /// Loads the ledgers of every suite root above `paths` for `targets`.
    pub fn load(paths: &[PathBuf], targets: &[TargetKind]) -> Result<Ledgers, SuiteError> {
        let mut by_root = BTreeMap::new();
        for p in paths {
            let Some(root) = root_of(p) else { continue };
            for t in targets {
                let key = (root.clone(), t.to_string());
                if let std::collections::btree_map::Entry::Vacant(e) = by_root.entry(key) {
                    e.insert(Ledger::load(&root, *t)?);
                }
            }
        }
        Ok(Ledgers { by_root })
    }

    /// `--ledger FILE`: `path` replaces the ledger of `target` under every
    /// suite root.
    pub fn use_file(&mut self, target: TargetKind, path: &Path) -> Result<(), SuiteError> {
        for ((root, t), l) in self.by_root.iter_mut() {
            if *t == target.to_string() {
                *l = Ledger::from_file(root, path)?;
            }
        }
        Ok(())
    }

    /// How many entries, over every ledger loaded.
    pub fn len(&self) -> usize {
        self.by_root.values().map(|l| l.deviations.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entry covering a script on `target` (its path as run, its
    /// variant if any), with the ledger file it is in.
    pub fn lookup(&self, target: TargetKind, script: &Path, variant: Option<&str>) -> Option<(&Deviation, &Ledger)> {
        let target = target.to_string();
        self.by_root
            .iter()
            .filter(|((_, t), _)| *t == target)
            .find_map(|(_, l)| l.lookup(script, variant).map(|d| (d, l)))
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("timers/*.yaml", "timers/keepalive.yaml"));
        assert!(!glob("timers/*.yaml", "timers/sub/keepalive.yaml"));
        assert!(glob("**/keepalive.yaml", "timers/sub/keepalive.yaml"));
        assert!(glob("grid/established.yaml", "grid/established.yaml"));
        assert!(!glob("grid/established.yaml", "grid/established.yml"));
        assert!(glob("seg=S*, pos=*", "seg=SYN, pos=left"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "a/c"));
        // What follows the last star is checked against the end first.
        assert!(glob("* in * [*, ack unsent] -> * extra", "LAST-ACK in . [seq next, ack unsent] -> F. extra"));
        assert!(!glob("* in * [*, ack unsent] -> * extra", "LAST-ACK in . [seq next, ack unsent] -> F. flags"));
        assert!(!glob("*xyz", "yz"));
        assert!(glob("**", ""));
        assert!(!glob("a*?c", "ab/c"));
        assert!(glob("a*?c", "abbc"));
    }
}

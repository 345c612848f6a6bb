//! `harness coverage`: requirement IDs -> the scripts tagged with them -> the
//! verdict on each target, built from the same results `harness run` reports,
//! printed as text, Markdown or HTML.

use crate::pictures::esc;
use crate::runner::{ScriptResult, Status};
use crate::script::TargetKind;
use crate::suite::{Catalogue, Requirement};
use reference_stack::State;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What a target did for one requirement, over every script (and matrix
/// variant) tagged with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every run passed.
    Pass,
    /// At least one run failed or could not run.
    Fail,
    /// No failure, and at least one known deviation.
    Deviation,
    /// Tagged scripts exist but none ran on this target.
    NotRun,
    /// The catalogue says no script can observe it.
    NotObservable,
    /// Observable, and no script is tagged with it.
    Uncovered,
}

impl Verdict {
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Deviation => "known deviation",
            Verdict::NotRun => "not run",
            Verdict::NotObservable => "not observable",
            Verdict::Uncovered => "UNCOVERED",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub req: Requirement,
    /// Script paths (one per file, whatever its variants).
    pub scripts: Vec<String>,
    pub verdicts: Vec<Verdict>,
}

#[derive(Clone, Debug)]
pub struct Coverage {
    pub targets: Vec<TargetKind>,
    pub rows: Vec<Row>,
    /// Tags shaped like requirement IDs that the catalogue does not have.
    pub unknown_tags: Vec<(String, String)>,
    pub scripts: usize,
    pub runs: usize,
    /// Beyond RFC 9293's requirements: each other RFC clause (`"4987
    /// 3.6"`) and each `tags:` entry (a Linux sysctl, a behaviour) the
    /// scripts name, with their scripts and verdict per target.
    pub others: Vec<OtherRow>,
}

/// A row of [`Coverage::others`].
#[derive(Clone, Debug)]
pub struct OtherRow {
    /// `rfc 4987 3.6` or `tag tcp_syncookies`.
    pub what: String,
    pub scripts: Vec<String>,
    pub verdicts: Vec<Verdict>,
}

/// Level, then: total, observable, covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelCount {
    pub total: usize,
    pub observable: usize,
    pub covered: usize,
}

fn looks_like_id(tag: &str) -> bool {
    let Some((prefix, n)) = tag.split_once('-') else { return false };
    matches!(prefix, "MUST" | "SHLD" | "MAY" | "REC") && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

/// How one run ended, as coverage and the pictures count it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunVerdict {
    Passed,
    Failed,
    /// The target could not run it.
    Error,
    Skipped,
    /// Failed as the target's ledger says, with the ledger's reason and clause.
    Deviation {
        reason: String,
        rfc: String,
    },
}

impl RunVerdict {
    pub fn of(status: &Status) -> RunVerdict {
        match status {
            Status::Passed => RunVerdict::Passed,
            Status::Failed(_) => RunVerdict::Failed,
            Status::Error(_) => RunVerdict::Error,
            Status::Skipped(_) => RunVerdict::Skipped,
            Status::Deviation { deviation, .. } => {
                RunVerdict::Deviation { reason: deviation.reason.clone(), rfc: deviation.rfc.clone() }
            }
        }
    }
}

/// What coverage needs of one run: taken from a [`ScriptResult`] or read
/// back from a `--json` record (`harness coverage --from`).
#[derive(Clone, Debug)]
pub struct RunFacts {
    pub path: String,
    /// `var=value, ...` for a matrix variant.
    pub variant: Option<String>,
    pub rfc: Vec<String>,
    /// The script's `tags:` (a Linux sysctl, a behaviour's name).
    pub tags: Vec<String>,
    pub target: TargetKind,
    pub verdict: RunVerdict,
    /// The connection's state changes, in order (recorded when the run was
    /// asked for them: `--report-dir`, `coverage --format html`).
    pub transitions: Vec<(State, State)>,
    /// The run's page, when a report directory has one.
    pub page: Option<String>,
    /// The kernel the target reported (Linux).
    pub kernel: Option<String>,
}

impl RunFacts {
    pub fn of(r: &ScriptResult) -> RunFacts {
        RunFacts {
            path: r.script.path.display().to_string(),
            variant: r.script.variant.clone(),
            rfc: r.script.rfc.clone(),
            tags: r.script.tags.clone(),
            target: r.target,
            verdict: RunVerdict::of(&r.status),
            transitions: crate::pictures::states::transitions(&r.trace),
            page: None,
            kernel: r.info.iter().find(|(k, _)| k == "kernel").map(|(_, v)| v.clone()),
        }
    }

    /// A record `harness run --json` wrote; `None` for an invalid file's.
    pub fn from_json(v: &serde_json::Value) -> Result<Option<RunFacts>, String> {
        let text = |k: &str| v.get(k).and_then(|x| x.as_str());
        let status = text("status").ok_or("no \"status\"")?;
        if status == "invalid" {
            return Ok(None);
        }
        let path = text("path").ok_or("no \"path\"")?.to_string();
        let target = text("target").ok_or("no \"target\"")?;
        let target = TargetKind::from_name(target).ok_or_else(|| format!("unknown target {target:?}"))?;
        let verdict = match status {
            "passed" => RunVerdict::Passed,
            "failed" => RunVerdict::Failed,
            "error" => RunVerdict::Error,
            "skipped" => RunVerdict::Skipped,
            "known-deviation" => {
                let d = v.pointer("/failure/deviation");
                let field = |k: &str| d.and_then(|d| d.get(k)).and_then(|x| x.as_str()).unwrap_or_default().to_string();
                RunVerdict::Deviation { reason: field("reason"), rfc: field("rfc") }
            }
            other => return Err(format!("unknown status {other:?}")),
        };
        let rfc = match v.get("rfc") {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        };
        let mut transitions = Vec::new();
        if let Some(serde_json::Value::Array(a)) = v.get("transitions") {
            for t in a {
                let pair = t.as_array().filter(|p| p.len() == 2).ok_or("a transition is not a [from, to] pair")?;
                let state = |x: &serde_json::Value| -> Result<State, String> {
                    x.as_str().ok_or("a state is not a string")?.parse::<State>()
                };
                transitions.push((state(&pair[0])?, state(&pair[1])?));
            }
        }
        let tags = match v.get("tags") {
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        };
        Ok(Some(RunFacts {
            path,
            variant: text("variant").map(String::from),
            rfc,
            tags,
            target,
            verdict,
            transitions,
            page: text("page").map(String::from),
            kernel: v.pointer("/target_info/kernel").and_then(|x| x.as_str()).map(String::from),
        }))
    }

    /// The variant's value of `var`.
    pub fn var(&self, var: &str) -> Option<&str> {
        self.variant.as_deref()?.split(", ").find_map(|kv| kv.strip_prefix(var)?.strip_prefix('='))
    }
}

/// Reads the records of a `harness run --json` file.
pub fn read_json_lines(path: &std::path::Path) -> Result<Vec<RunFacts>, String> {
    let text = crate::os::files::read_text(path).map_err(|(e, _)| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}:{}: not a JSON record: {e}", path.display(), i + 1))?;
        if let Some(r) = RunFacts::from_json(&v).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))? {
            out.push(r);
        }
    }
    Ok(out)
}

impl Coverage {
    pub fn build(catalogue: &Catalogue, results: &[RunFacts], targets: &[TargetKind]) -> Coverage {
        let known: BTreeSet<&str> = catalogue.requirements.iter().map(|r| r.id.as_str()).collect();
        let mut by_tag: BTreeMap<&str, Vec<&RunFacts>> = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        let mut files = BTreeSet::new();
        for r in results {
            files.insert(r.path.clone());
            for t in &r.rfc {
                if known.contains(t.as_str()) {
                    by_tag.entry(t.as_str()).or_default().push(r);
                } else if looks_like_id(t) {
                    unknown.insert((r.path.clone(), t.clone()));
                }
            }
        }
        let rows = catalogue
            .requirements
            .iter()
            .map(|req| {
                let rs = by_tag.get(req.id.as_str()).cloned().unwrap_or_default();
                let scripts: BTreeSet<String> = rs.iter().map(|r| r.path.clone()).collect();
                let verdicts = targets
                    .iter()
                    .map(|t| {
                        let on: Vec<&&RunFacts> = rs.iter().filter(|r| r.target == *t).collect();
                        if on.is_empty() {
                            if req.observable && !req.not_on.iter().any(|n| n == t.name()) {
                                Verdict::Uncovered
                            } else {
                                Verdict::NotObservable
                            }
                        } else if let Some(v) = judged(&on) {
                            v
                        } else if req.not_on.iter().any(|n| n == t.name()) {
                            // Skipped where it cannot be observed.
                            Verdict::NotObservable
                        } else {
                            Verdict::NotRun
                        }
                    })
                    .collect();
                Row { req: req.clone(), scripts: scripts.into_iter().collect(), verdicts }
            })
            .collect();
        let mut by_other: BTreeMap<String, Vec<&RunFacts>> = BTreeMap::new();
        for r in results {
            for t in r.rfc.iter().filter(|t| !known.contains(t.as_str()) && !looks_like_id(t)) {
                by_other.entry(format!("rfc {t}")).or_default().push(r);
            }
            for t in &r.tags {
                by_other.entry(format!("tag {t}")).or_default().push(r);
            }
        }
        let others = by_other
            .into_iter()
            .map(|(what, rs)| {
                let scripts: BTreeSet<String> = rs.iter().map(|r| r.path.clone()).collect();
                let verdicts = targets
                    .iter()
                    .map(|t| {
                        let on: Vec<&&RunFacts> = rs.iter().filter(|r| r.target == *t).collect();
                        judged(&on).unwrap_or(Verdict::NotRun)
                    })
                    .collect();
                OtherRow { what, scripts: scripts.into_iter().collect(), verdicts }
            })
            .collect();
        Coverage {
            others,
            targets: targets.to_vec(),
            rows,
            unknown_tags: unknown.into_iter().collect(),
            scripts: files.len(),
            runs: results.len(),
        }
    }

    /// Per level (MUST, SHOULD, MAY): how many IDs, how many observable, how
    /// many observable ones have at least one script.
    pub fn levels(&self) -> Vec<(&'static str, LevelCount)> {
        let mut out: Vec<(&'static str, LevelCount)> =
            vec![("MUST", LevelCount::default()), ("SHOULD", LevelCount::default()), ("MAY", LevelCount::default())];
        for row in &self.rows {
            let g = Catalogue::group(&row.req);
            let c = &mut out.iter_mut().find(|(l, _)| *l == g).expect("three levels").1;
            c.total += 1;
            if row.req.observable {
                c.observable += 1;
                if !row.scripts.is_empty() {
                    c.covered += 1;
                }
            }
        }
        out
    }

    /// Observable MUSTs without a script.
    pub fn uncovered_musts(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|r| Catalogue::group(&r.req) == "MUST" && r.req.observable && r.scripts.is_empty())
            .map(|r| r.req.id.as_str())
            .collect()
    }

    /// (target, verdict) -> number of requirement IDs.
    pub fn verdict_counts(&self, t: usize) -> BTreeMap<&'static str, usize> {
        let mut m = BTreeMap::new();
        for r in &self.rows {
            *m.entry(r.verdicts[t].word()).or_insert(0) += 1;
        }
        m
    }

    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.verdicts.contains(&Verdict::Fail))
    }

    fn summary_lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.push(format!("{} scripts, {} runs", self.scripts, self.runs));
        for (level, c) in self.levels() {
            v.push(format!(
                "{level}: {} IDs, {} observable, {} of those covered ({} uncovered), {} not observable",
                c.total,
                c.observable,
                c.covered,
                c.observable - c.covered,
                c.total - c.observable
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            let counts = self.verdict_counts(i);
            let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
            v.push(format!("{t}: {}", parts.join(", ")));
        }
        for (path, tag) in &self.unknown_tags {
            v.push(format!("unknown requirement ID {tag} in {path}"));
        }
        v
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let tw = 17;
        let _ = write!(s, "{:<8} {:<7} ", "ID", "LEVEL");
        for t in &self.targets {
            let _ = write!(s, "{:<tw$} ", t.name());
        }
        let _ = writeln!(s, "SCRIPTS / WHY NOT OBSERVABLE");
        for r in &self.rows {
            let _ = write!(s, "{:<8} {:<7} ", r.req.id, Catalogue::group(&r.req));
            for v in &r.verdicts {
                let _ = write!(s, "{:<tw$} ", v.word());
            }
            if r.req.observable {
                let _ = write!(s, "{}", r.scripts.join(", "));
                if !r.req.not_on.is_empty() {
                    let _ = write!(
                        s,
                        " (not observable on {}: {})",
                        r.req.not_on.join(", "),
                        r.req.why.as_deref().unwrap_or_default()
                    );
                }
                let _ = writeln!(s);
            } else {
                let _ = writeln!(s, "({})", r.req.why.as_deref().unwrap_or_default());
            }
        }
        if !self.others.is_empty() {
            let _ = writeln!(s, "\nBEYOND RFC 9293'S REQUIREMENTS");
            for o in &self.others {
                let _ = write!(s, "{:<32} ", o.what);
                for v in &o.verdicts {
                    let _ = write!(s, "{:<tw$} ", v.word());
                }
                let _ = writeln!(s, "{}", o.scripts.join(", "));
            }
        }
        s.push('\n');
        for l in self.summary_lines() {
            let _ = writeln!(s, "{l}");
        }
        s
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from("# RFC 9293 requirement coverage\n\n");
        for l in self.summary_lines() {
            let _ = writeln!(s, "- {}", md_escape(&l));
        }
        s.push_str("\n| ID | Level | Requirement |");
        for t in &self.targets {
            let _ = write!(s, " {} |", t.name());
        }
        s.push_str(" Scripts |\n|---|---|---|");
        for _ in &self.targets {
            s.push_str("---|");
        }
        s.push_str("---|\n");
        for r in &self.rows {
            let _ = write!(s, "| {} | {} | {} (§{}) |", r.req.id, r.req.level, md_escape(&r.req.text), r.req.section);
            for v in &r.verdicts {
                let _ = write!(s, " {} |", v.word());
            }
            let scripts = if r.req.observable {
                r.scripts.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join("<br>")
            } else {
                format!("not observable: {}", md_escape(r.req.why.as_deref().unwrap_or_default()))
            };
            let _ = writeln!(s, " {scripts} |");
        }
        if !self.others.is_empty() {
            s.push_str("\n## Beyond RFC 9293's requirements\n\n| Clause or tag |");
            for t in &self.targets {
                let _ = write!(s, " {} |", t.name());
            }
            s.push_str(" Scripts |\n|---|");
            for _ in &self.targets {
                s.push_str("---|");
            }
            s.push_str("---|\n");
            for o in &self.others {
                let _ = write!(s, "| {} |", md_escape(&o.what));
                for v in &o.verdicts {
                    let _ = write!(s, " {} |", v.word());
                }
                let scripts = o.scripts.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join("<br>");
                let _ = writeln!(s, " {scripts} |");
            }
        }
        s
    }

    pub fn html(&self) -> String {
        self.html_page(&[], "")
    }

    /// The HTML page: `header` (kernel, date, command) in a table at the
    /// top, then `pictures` (the state diagrams and grid heat maps), then
    /// the requirement table.
    pub fn html_page(&self, header: &[(&str, String)], pictures: &str) -> String {
        let mut s = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>RFC 9293 requirement coverage</title>\n\
             <style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
             padding:2px 6px;vertical-align:top}.pass{background:#dfd}.FAIL,.UNCOVERED{background:#fcc}\
             .known{background:#ffd}.not{color:#777}.pic{overflow-x:auto;border:1px solid #ccc;margin:8px 0}\
             </style></head><body>\n<h1>RFC 9293 requirement coverage</h1>\n",
        );
        if !header.is_empty() {
            s.push_str("<table>\n");
            for (k, v) in header {
                let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
            }
            s.push_str("</table>\n");
        }
        s.push_str("<ul>\n");
        for l in self.summary_lines() {
            let _ = writeln!(s, "<li>{}</li>", esc(&l));
        }
        s.push_str("</ul>\n");
        s.push_str(pictures);
        s.push_str("<h2>Requirements</h2>\n<table>\n<tr><th>ID</th><th>Level</th><th>Requirement</th>");
        for t in &self.targets {
            let _ = write!(s, "<th>{}</th>", t.name());
        }
        s.push_str("<th>Scripts</th></tr>\n");
        for r in &self.rows {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{} (§{})</td>",
                r.req.id,
                esc(&r.req.level),
                esc(&r.req.text),
                esc(&r.req.section)
            );
            for v in &r.verdicts {
                let class = v.word().split(' ').next().unwrap_or_default();
                let _ = write!(s, "<td class=\"{class}\">{}</td>", v.word());
            }
            let scripts = if r.req.observable {
                r.scripts.iter().map(|p| esc(p)).collect::<Vec<_>>().join("<br>")
            } else {
                format!("not observable: {}", esc(r.req.why.as_deref().unwrap_or_default()))
            };
            let _ = writeln!(s, "<td>{scripts}</td></tr>");
        }
        s.push_str("</table>\n");
        if !self.others.is_empty() {
            s.push_str("<h2>Beyond RFC 9293's requirements</h2>\n<table>\n<tr><th>Clause or tag</th>");
            for t in &self.targets {
                let _ = write!(s, "<th>{}</th>", t.name());
            }
            s.push_str("<th>Scripts</th></tr>\n");
            for o in &self.others {
                let _ = write!(s, "<tr><td>{}</td>", esc(&o.what));
                for v in &o.verdicts {
                    let class = v.word().split(' ').next().unwrap_or_default();
                    let _ = write!(s, "<td class=\"{class}\">{}</td>", v.word());
                }
                let scripts = o.scripts.iter().map(|p| esc(p)).collect::<Vec<_>>().join("<br>");
                let _ = writeln!(s, "<td>{scripts}</td></tr>");
            }
            s.push_str("</table>\n");
        }
        s.push_str("</body></html>\n");
        s
    }
}

/// What a target's runs of a row's scripts add up to: a failure over a
/// known deviation over a pass; `None` when none of them ran.
fn judged(on: &[&&RunFacts]) -> Option<Verdict> {
    if on.iter().any(|r| matches!(r.verdict, RunVerdict::Failed | RunVerdict::Error)) {
        Some(Verdict::Fail)
    } else if on.iter().any(|r| matches!(r.verdict, RunVerdict::Deviation { .. })) {
        Some(Verdict::Deviation)
    } else if on.iter().any(|r| r.verdict == RunVerdict::Passed) {
        Some(Verdict::Pass)
    } else {
        None
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_and_tags_beyond_the_requirements_have_rows() {
        let facts = |path: &str, rfc: &[&str], tags: &[&str], target, verdict| RunFacts {
            path: path.into(),
            variant: None,
            rfc: rfc.iter().map(|x| x.to_string()).collect(),
            tags: tags.iter().map(|x| x.to_string()).collect(),
            target,
            verdict,
            transitions: Vec::new(),
            page: None,
            kernel: None,
        };
        let cat = Catalogue { requirements: Vec::new() };
        let runs = [
            facts("q/a.yaml", &["4987 3.6"], &["tcp_syncookies"], TargetKind::Linux, RunVerdict::Passed),
            facts("q/a.yaml", &["4987 3.6"], &["tcp_syncookies"], TargetKind::Reference, RunVerdict::Skipped),
            facts("q/b.yaml", &["MUST-99"], &["tcp_syncookies"], TargetKind::Linux, RunVerdict::Failed),
        ];
        let c = Coverage::build(&cat, &runs, &[TargetKind::Reference, TargetKind::Linux]);
        let rows: Vec<(&str, Vec<&str>)> =
            c.others.iter().map(|o| (o.what.as_str(), o.verdicts.iter().map(|v| v.word()).collect())).collect();
        assert_eq!(
            rows,
            vec![("rfc 4987 3.6", vec!["not run", "pass"]), ("tag tcp_syncookies", vec!["not run", "FAIL"])]
        );
        assert_eq!(c.others[1].scripts, vec!["q/a.yaml", "q/b.yaml"]);
        assert!(c.text().contains("BEYOND RFC 9293'S REQUIREMENTS"));
        assert!(c.markdown().contains("| tag tcp_syncookies | not run | FAIL |"));
        assert!(c.html().contains("<td>rfc 4987 3.6</td>"));
    }

    #[test]
    fn id_shapes() {
        assert!(looks_like_id("MUST-12"));
        assert!(looks_like_id("SHLD-3"));
        assert!(!looks_like_id("9293 3.5"));
        assert!(!looks_like_id("MUST-"));
        assert!(!looks_like_id("MUSTY-1"));
    }
}

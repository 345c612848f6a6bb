//! `harness coverage`: requirement IDs -> the scripts tagged with them -> the
//! verdict on each target, built from the same results `harness run` reports,
//! printed as text, Markdown or HTML.

use crate::runner::{ScriptResult, Status};
use crate::script::TargetKind;
use crate::suite::{Catalogue, Requirement};
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

impl Coverage {
    pub fn build(catalogue: &Catalogue, results: &[ScriptResult], targets: &[TargetKind]) -> Coverage {
        let known: BTreeSet<&str> = catalogue.requirements.iter().map(|r| r.id.as_str()).collect();
        let mut by_tag: BTreeMap<&str, Vec<&ScriptResult>> = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        let mut files = BTreeSet::new();
        for r in results {
            files.insert(r.script.path.display().to_string());
            for t in &r.script.rfc {
                if known.contains(t.as_str()) {
                    by_tag.entry(t.as_str()).or_default().push(r);
                } else if looks_like_id(t) {
                    unknown.insert((r.script.path.display().to_string(), t.clone()));
                }
            }
        }
        let rows = catalogue
            .requirements
            .iter()
            .map(|req| {
                let rs = by_tag.get(req.id.as_str()).cloned().unwrap_or_default();
                let scripts: BTreeSet<String> = rs.iter().map(|r| r.script.path.display().to_string()).collect();
                let verdicts = targets
                    .iter()
                    .map(|t| {
                        let on: Vec<&&ScriptResult> = rs.iter().filter(|r| r.target == *t).collect();
                        if on.is_empty() {
                            if req.observable && !req.not_on.iter().any(|n| n == t.name()) {
                                Verdict::Uncovered
                            } else {
                                Verdict::NotObservable
                            }
                        } else if on.iter().any(|r| matches!(r.status, Status::Failed(_) | Status::Error(_))) {
                            Verdict::Fail
                        } else if on.iter().any(|r| matches!(r.status, Status::Deviation { .. })) {
                            Verdict::Deviation
                        } else if on.iter().any(|r| matches!(r.status, Status::Passed)) {
                            Verdict::Pass
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
        Coverage {
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
        s
    }

    pub fn html(&self) -> String {
        let mut s = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>RFC 9293 requirement coverage</title>\n\
             <style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
             padding:2px 6px;vertical-align:top}.pass{background:#dfd}.FAIL,.UNCOVERED{background:#fcc}\
             .known{background:#ffd}.not{color:#777}</style></head><body>\n<h1>RFC 9293 requirement coverage</h1>\n<ul>\n",
        );
        for l in self.summary_lines() {
            let _ = writeln!(s, "<li>{}</li>", html_escape(&l));
        }
        s.push_str("</ul>\n<table>\n<tr><th>ID</th><th>Level</th><th>Requirement</th>");
        for t in &self.targets {
            let _ = write!(s, "<th>{}</th>", t.name());
        }
        s.push_str("<th>Scripts</th></tr>\n");
        for r in &self.rows {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{} (§{})</td>",
                r.req.id,
                html_escape(&r.req.level),
                html_escape(&r.req.text),
                html_escape(&r.req.section)
            );
            for v in &r.verdicts {
                let class = v.word().split(' ').next().unwrap_or_default();
                let _ = write!(s, "<td class=\"{class}\">{}</td>", v.word());
            }
            let scripts = if r.req.observable {
                r.scripts.iter().map(|p| html_escape(p)).collect::<Vec<_>>().join("<br>")
            } else {
                format!("not observable: {}", html_escape(r.req.why.as_deref().unwrap_or_default()))
            };
            let _ = writeln!(s, "<td>{scripts}</td></tr>");
        }
        s.push_str("</table>\n</body></html>\n");
        s
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        assert!(looks_like_id("MUST-12"));
        assert!(looks_like_id("SHLD-3"));
        assert!(!looks_like_id("9293 3.5"));
        assert!(!looks_like_id("MUST-"));
        assert!(!looks_like_id("MUSTY-1"));
    }
}

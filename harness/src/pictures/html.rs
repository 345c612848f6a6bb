//! The static HTML report of a run (`harness run --report-dir DIR`): an
//! index with the totals per target, the command, the kernel and the date,
//! the state diagram and the grid heat map of each target, and a table of
//! every run; then one page per run with its ladder diagram. No script and
//! no server: the pages open from disk.

use super::heatmap::{heatmap, Cell, CellVerdict};
use super::ladder::ladder;
use super::states::{diagram, EdgeStat};
use super::svg::esc;
use crate::coverage::{RunFacts, RunVerdict};
use crate::report;
use crate::runner::{ScriptResult, Status};
use crate::script::{ScriptError, TargetKind};
use reference_stack::State;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The page's look: one short style sheet, shared.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#1f2328}\
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;font-size:14px;white-space:nowrap}\
th{background:#f6f8fa}.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}.dev{color:#9a6700}.skip{color:#57606a}\
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px}svg{max-width:none}.pic{overflow-x:auto;border:1px solid #d0d7de;margin:8px 0}\
h2{margin-top:28px}code{background:#f6f8fa;padding:1px 4px}";

/// What the report is about: written in the index's header.
pub struct Meta {
    pub command: String,
    /// `2026-12-05 20:40:11 UTC`.
    pub date: String,
}

/// The time now as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    )
}

fn verdict_class(v: &RunVerdict) -> (&'static str, &'static str) {
    match v {
        RunVerdict::Passed => ("pass", "pass"),
        RunVerdict::Failed => ("fail", "FAIL"),
        RunVerdict::Error => ("fail", "ERROR"),
        RunVerdict::Skipped => ("skip", "skipped"),
        RunVerdict::Deviation { .. } => ("dev", "known deviation"),
    }
}

/// Each target's transitions, with what the runs that took them said.
pub fn edges_by_target(runs: &[RunFacts]) -> BTreeMap<TargetKind, BTreeMap<(State, State), EdgeStat>> {
    let mut m: BTreeMap<TargetKind, BTreeMap<(State, State), EdgeStat>> = BTreeMap::new();
    for r in runs {
        let edges = m.entry(r.target).or_default();
        for t in &r.transitions {
            let e = edges.entry(*t).or_default();
            match r.verdict {
                RunVerdict::Passed => e.passed += 1,
                RunVerdict::Failed | RunVerdict::Error => e.failed += 1,
                RunVerdict::Deviation { .. } => e.deviation += 1,
                RunVerdict::Skipped => {}
            }
        }
    }
    m
}

/// The grid's cells of one target's runs: those of files under a `grid/`
/// directory whose variants say `kind` and `pos`.
pub fn grid_cells(
    runs: &[RunFacts],
    target: TargetKind,
    ledger_href: &dyn Fn(TargetKind) -> Option<String>,
) -> Vec<Cell> {
    runs.iter()
        .filter(|r| r.target == target)
        .filter(|r| Path::new(&r.path).parent().and_then(|p| p.file_name()).is_some_and(|n| n == "grid"))
        .filter_map(|r| {
            let (kind, pos) = (r.var("kind")?, r.var("pos")?);
            let row = Path::new(&r.path).file_stem()?.to_string_lossy().into_owned();
            let (verdict, title, href) = match &r.verdict {
                RunVerdict::Passed => (CellVerdict::Pass, format!("{} passed", r.path), r.page.clone()),
                RunVerdict::Failed | RunVerdict::Error => {
                    (CellVerdict::Fail, format!("{} failed", r.path), r.page.clone())
                }
                RunVerdict::Skipped => (CellVerdict::Skipped, format!("{} not run", r.path), r.page.clone()),
                RunVerdict::Deviation { reason, rfc } => (
                    CellVerdict::Deviation,
                    format!("the ledger: {reason} ({rfc})"),
                    r.page.clone().or_else(|| ledger_href(target)),
                ),
            };
            let href = href.or_else(|| Some(file_href(&r.path)));
            Some(Cell { row, kind: kind.into(), pos: pos.into(), verdict, href, title })
        })
        .collect()
}

/// A link to a local file.
pub fn file_href(path: &str) -> String {
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| Path::new(path).to_path_buf());
    format!("file://{}", abs.display())
}

/// The pictures of a set of runs, per target present: the state diagram
/// and, when grid cells ran, the heat map. Returns the HTML and how many
/// of each it drew (state diagrams, heat maps).
pub fn pictures(runs: &[RunFacts], ledger_href: &dyn Fn(TargetKind) -> Option<String>) -> (String, usize, usize) {
    let mut s = String::new();
    let edges = edges_by_target(runs);
    let targets: Vec<TargetKind> = TargetKind::ALL
        .into_iter()
        .filter(|k| runs.iter().any(|r| r.target == *k && r.verdict != RunVerdict::Skipped))
        .collect();
    let (mut diagrams, mut maps) = (0, 0);
    for t in &targets {
        let e = edges.get(t).cloned().unwrap_or_default();
        let (svg, d) = diagram(&format!("RFC 9293 Figure 5 on {t}: the transitions the runs took"), &e);
        let _ = writeln!(
            s,
            "<h2 id=\"states-{t}\">State diagram: {t}</h2>\n<p>{} of the figure's {} transitions exercised; {} transitions drawn in all.{}</p>\n<div class=\"pic\">{svg}</div>",
            super::states::FIGURE_5.iter().filter(|(a, b, _)| e.get(&(*a, *b)).is_some_and(|x| x.total() > 0)).count(),
            super::states::FIGURE_5.len(),
            d.transitions,
            if e.is_empty() { " No run recorded its states (runs record them with --report-dir or coverage --format html)." } else { "" }
        );
        diagrams += 1;
        let cells = grid_cells(runs, *t, ledger_href);
        if !cells.is_empty() {
            let (svg, d) = heatmap(&format!("The state x segment grid on {t}"), &cells);
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for c in &cells {
                *counts.entry(c.verdict.word()).or_default() += 1;
            }
            let parts: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {w}")).collect();
            let _ = writeln!(
                s,
                "<h2 id=\"grid-{t}\">Grid: {t}</h2>\n<p>{} cells in {} rows: {}. Each cell links to its run.</p>\n<div class=\"pic\">{svg}</div>",
                d.cells,
                d.rows,
                parts.join(", ")
            );
            maps += 1;
        }
    }
    (s, diagrams, maps)
}

/// What [`write_report_dir`] wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    pub pages: usize,
}

/// Writes `dir/index.html` and a page per run that ran.
pub fn write_report_dir(
    dir: &Path,
    results: &[ScriptResult],
    invalid: &[ScriptError],
    meta: &Meta,
) -> std::io::Result<Written> {
    if !dir.is_dir() {
        std::fs::create_dir(dir)?;
    }
    let runs_dir = dir.join("runs");
    if !runs_dir.is_dir() {
        std::fs::create_dir(&runs_dir)?;
    }
    let mut facts = Vec::with_capacity(results.len());
    let mut written = Written::default();
    for r in results {
        let mut f = RunFacts::of(r);
        if !matches!(r.status, Status::Skipped(_)) {
            let name = report::artefact_name(r, "html");
            std::fs::write(runs_dir.join(&name), run_page(r))?;
            f.page = Some(format!("runs/{name}"));
            written.pages += 1;
        }
        facts.push(f);
    }
    std::fs::write(dir.join("index.html"), index_page(results, &facts, invalid, meta))?;
    Ok(written)
}

fn index_page(results: &[ScriptResult], facts: &[RunFacts], invalid: &[ScriptError], meta: &Meta) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<h1>harness run: report</h1>");
    let _ = writeln!(b, "<table><tr><th>command</th><td><code>{}</code></td></tr>", esc(&meta.command));
    let _ = writeln!(b, "<tr><th>date</th><td>{}</td></tr>", esc(&meta.date));
    let mut seen = Vec::new();
    for r in results {
        for (k, v) in &r.info {
            if k == "kernel" && !seen.contains(v) {
                seen.push(v.clone());
            }
        }
    }
    let kernel = if seen.is_empty() { uname() } else { seen.join("; ") };
    let _ = writeln!(b, "<tr><th>kernel</th><td>{}</td></tr></table>", esc(&kernel));
    // Totals per target.
    let _ = writeln!(b, "<h2>Totals</h2><table><tr><th>target</th><th>passed</th><th>failed</th><th>known deviations</th><th>errors</th><th>skipped</th></tr>");
    for t in TargetKind::ALL {
        let on: Vec<&RunFacts> = facts.iter().filter(|f| f.target == t).collect();
        if on.is_empty() {
            continue;
        }
        let n = |p: &dyn Fn(&RunVerdict) -> bool| on.iter().filter(|f| p(&f.verdict)).count();
        let _ = writeln!(
            b,
            "<tr><td>{t}</td><td class=\"pass\">{}</td><td class=\"fail\">{}</td><td class=\"dev\">{}</td><td>{}</td><td class=\"skip\">{}</td></tr>",
            n(&|v| *v == RunVerdict::Passed),
            n(&|v| *v == RunVerdict::Failed),
            n(&|v| matches!(v, RunVerdict::Deviation { .. })),
            n(&|v| *v == RunVerdict::Error),
            n(&|v| *v == RunVerdict::Skipped),
        );
    }
    b.push_str("</table>\n");
    if !invalid.is_empty() {
        let _ = writeln!(b, "<h2>Invalid script files</h2><pre>");
        for e in invalid {
            let _ = writeln!(b, "{}", esc(&e.one_line()));
        }
        b.push_str("</pre>\n");
    }
    let ledger = |t: TargetKind| {
        let root = results.iter().find_map(|r| crate::suite::root_of(&r.script.path))?;
        let p = root.join(crate::suite::EXPECTATIONS).join(format!("{t}.yaml"));
        p.is_file().then(|| file_href(&p.to_string_lossy()))
    };
    let (pics, _, _) = pictures(facts, &ledger);
    b.push_str(&pics);
    // Every run, failures first.
    let _ = writeln!(
        b,
        "<h2>Runs</h2><table><tr><th>verdict</th><th>script</th><th>target</th><th>wall</th><th>message</th></tr>"
    );
    let mut order: Vec<usize> = (0..results.len()).collect();
    order.sort_by_key(|i| match facts[*i].verdict {
        RunVerdict::Failed | RunVerdict::Error => 0,
        RunVerdict::Deviation { .. } => 1,
        RunVerdict::Passed => 2,
        RunVerdict::Skipped => 3,
    });
    for i in order {
        let (r, f) = (&results[i], &facts[i]);
        let (class, word) = verdict_class(&f.verdict);
        let name = match &f.page {
            Some(p) => format!("<a href=\"{}\">{}</a>", esc(p), esc(&r.id())),
            None => esc(&r.id()),
        };
        let msg = match &r.status {
            Status::Failed(x) => x.message.clone(),
            Status::Deviation { deviation, .. } => deviation.reason.clone(),
            Status::Error(e) | Status::Skipped(e) => e.clone(),
            Status::Passed => String::new(),
        };
        let _ = writeln!(
            b,
            "<tr><td class=\"{class}\">{word}</td><td>{name}</td><td>{}</td><td>{:.3} s</td><td>{}</td></tr>",
            r.target,
            r.wall.as_secs_f64(),
            esc(&msg)
        );
    }
    b.push_str("</table>\n");
    page("harness run: report", &b)
}

/// The running kernel, as `uname -sr` says.
pub fn uname() -> String {
    nix::sys::utsname::uname()
        .map(|u| format!("{} {}", u.sysname().to_string_lossy(), u.release().to_string_lossy()))
        .unwrap_or_else(|_| "unknown".into())
}

/// One run's page: what ran, the verdict, the failure, the ladder, the trace.
pub fn run_page(r: &ScriptResult) -> String {
    let f = RunFacts::of(r);
    let (class, word) = verdict_class(&f.verdict);
    let mut b = String::new();
    let _ = writeln!(b, "<p><a href=\"../index.html\">all runs</a></p>");
    let _ = writeln!(b, "<h1>{} <span class=\"{class}\">{word}</span></h1>", esc(&r.script.name));
    let _ = writeln!(b, "<table><tr><th>script</th><td>{}</td></tr>", esc(&r.id()));
    let _ = writeln!(b, "<tr><th>target</th><td>{}</td></tr>", r.target);
    for (k, v) in &r.info {
        let _ = writeln!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    let _ = writeln!(
        b,
        "<tr><th>time</th><td>{:.6} s of script time, {:.3} s wall</td></tr>",
        r.script_time.as_secs_f64(),
        r.wall.as_secs_f64()
    );
    if !r.script.rfc.is_empty() {
        let _ = writeln!(b, "<tr><th>rfc</th><td>{}</td></tr>", esc(&r.script.rfc.join(", ")));
    }
    b.push_str("</table>\n");
    match &r.status {
        Status::Failed(_) => {
            let _ = writeln!(b, "<h2 class=\"fail\">Failure</h2><pre>{}</pre>", esc(&report::failure_text(r)));
        }
        Status::Deviation { deviation, failure } => {
            let _ = writeln!(
                b,
                "<h2 class=\"dev\">Known deviation</h2><p>{} ({}; seen on {})</p><pre>{}</pre>",
                esc(&deviation.reason),
                esc(&deviation.rfc),
                esc(&deviation.kernel),
                esc(&failure.message)
            );
        }
        Status::Error(e) => {
            let _ = writeln!(b, "<h2 class=\"fail\">The target could not run it</h2><pre>{}</pre>", esc(e));
        }
        _ => {}
    }
    let (svg, d) = ladder(r);
    let _ = writeln!(
        b,
        "<h2>Ladder</h2><p>{} segments, {} calls, {} state changes, {} timer firings. Sequence numbers are relative to each side's ISN.</p>\n<div class=\"pic\">{svg}</div>",
        d.arrows,
        d.calls,
        d.states,
        d.timers
    );
    let _ = writeln!(b, "<h2>Trace</h2><pre>{}</pre>", esc(&report::trace_text(r)));
    page(&format!("{} on {}", r.id(), r.target), &b)
}

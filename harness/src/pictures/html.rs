//! The static HTML report of a run (`harness run --report-dir DIR`): an
//! index with the totals per target, the command, the kernel and the date,
//! the state diagram and the grid heat map of each target, and a table of
//! every run; then one page per run with its ladder diagram. No script and
//! no server: the pages open from disk.
//!
//! The run pages of a target share one file, `runs-<target>.html`, each
//! page a section that CSS shows alone when the address names it
//! (`runs-linux.html#<run>`, the `:target` rule): a suite's runs on the
//! reference target take microseconds each, and a file per run cost more
//! than the runs themselves (about 50 us per file created on ext4 here).
//! Each section is rendered by the worker that ran it, as it ends
//! ([`Report::add`]).

use super::heatmap::{heatmap, Cell, CellVerdict};
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
h2{margin-top:28px}code{background:#f6f8fa;padding:1px 4px}\
.run{display:none}.run:target{display:block}body:has(.run:target) .hint{display:none}";

/// The report's style sheet, beside index.html: the pages' look and the
/// ladders'.
pub const CSS_FILE: &str = "report.css";

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

/// What [`Report::finish`] wrote.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    /// Run pages (sections).
    pub pages: usize,
    /// Files.
    pub files: usize,
}

/// A report being written: each run's page is rendered by the worker that
/// ran it, as it ends, and appended to its target's runs file at once (so
/// a suite's pages never sit in memory together).
pub struct Report {
    dir: std::path::PathBuf,
    /// Per target, made before the runs: its runs file, where the next
    /// page goes in it, and how many it holds. Workers reserve a page's
    /// place with one atomic add and write it there without a lock.
    files: BTreeMap<TargetKind, RunsFile>,
    /// The first error met while writing a page, reported by `finish`.
    error: std::sync::Mutex<Option<std::io::Error>>,
    /// Pages rendered and not written yet, a batch per worker at a time:
    /// written in pieces of [`BATCH`] octets (a write per page cost more
    /// than rendering it).
    batches: std::sync::Mutex<Vec<Batch>>,
}

/// Octets of pages gathered before they are written.
const BATCH: usize = 256 << 10;

struct Batch {
    target: TargetKind,
    text: String,
    pages: usize,
}

struct RunsFile {
    file: std::fs::File,
    end: std::sync::atomic::AtomicU64,
    pages: std::sync::atomic::AtomicUsize,
}

/// Creates `path` anew: an old file is removed first, not truncated (ext4
/// writes a truncated file's data out when it is closed, which cost a
/// millisecond a file here).
fn create(path: &Path) -> std::io::Result<std::fs::File> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::fs::File::create(path)
}

fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    create(path)?.write_all(text.as_bytes())
}

/// The file holding a target's run pages.
pub fn runs_file(t: TargetKind) -> String {
    format!("runs-{t}.html")
}

/// A run's page, as an address relative to the report's directory.
pub fn page_href(r: &ScriptResult) -> String {
    format!("{}#{}", runs_file(r.target), anchor(r))
}

fn anchor(r: &ScriptResult) -> String {
    let name = report::artefact_name(r, "");
    name.trim_end_matches('.').to_string()
}

impl Report {
    /// A report into `dir` (created if absent; its parent must exist) of
    /// runs on `targets`.
    pub fn new(dir: &Path, targets: &[TargetKind]) -> std::io::Result<Report> {
        use std::os::unix::fs::FileExt as _;
        if !dir.is_dir() {
            std::fs::create_dir(dir)?;
        }
        let mut files = BTreeMap::new();
        for t in targets {
            let file = create(&dir.join(runs_file(*t)))?;
            let head = format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>harness: runs on {t}</title>\
                 <link rel=\"stylesheet\" href=\"{CSS_FILE}\"></head>\n<body>\n<p class=\"hint\">The runs on {t}: \
                 open one from <a href=\"index.html\">the index</a> (each is a section of this file that shows \
                 alone when the address names it).</p>\n"
            );
            file.write_all_at(head.as_bytes(), 0)?;
            let end = std::sync::atomic::AtomicU64::new(head.len() as u64);
            files.insert(*t, RunsFile { file, end, pages: Default::default() });
        }
        Ok(Report { dir: dir.to_path_buf(), files, error: Default::default(), batches: Default::default() })
    }

    /// Renders `r`'s page (a run that was skipped has none) into a batch
    /// of its target's pages, written into the target's runs file when it
    /// is large enough. Called from the runner's workers.
    pub fn add(&self, r: &ScriptResult) {
        if matches!(r.status, Status::Skipped(_)) {
            return;
        }
        let taken = self.batches.lock().ok().and_then(|mut b| {
            let i = b.iter().position(|x| x.target == r.target)?;
            Some(b.swap_remove(i))
        });
        let mut batch = taken.unwrap_or_else(|| Batch {
            target: r.target,
            text: String::with_capacity(BATCH + (64 << 10)),
            pages: 0,
        });
        run_page_into(&mut batch.text, r);
        batch.pages += 1;
        if batch.text.len() >= BATCH {
            self.write(&mut batch);
        }
        if let Ok(mut b) = self.batches.lock() {
            b.push(batch);
        }
    }

    /// Writes a batch at the end of its target's runs file (the place is
    /// reserved with one atomic add: no lock while writing).
    fn write(&self, batch: &mut Batch) {
        use std::os::unix::fs::FileExt as _;
        use std::sync::atomic::Ordering;
        let Some(f) = self.files.get(&batch.target) else {
            self.fail(std::io::Error::other(format!("the report was not made for runs on {}", batch.target)));
            return;
        };
        let at = f.end.fetch_add(batch.text.len() as u64, Ordering::Relaxed);
        match f.file.write_all_at(batch.text.as_bytes(), at) {
            Ok(()) => {
                f.pages.fetch_add(batch.pages, Ordering::Relaxed);
            }
            Err(e) => self.fail(e),
        }
        batch.text.clear();
        batch.pages = 0;
    }

    fn fail(&self, e: std::io::Error) {
        if let Ok(mut first) = self.error.lock() {
            first.get_or_insert(e);
        }
    }

    /// Ends each target's runs file, writes the style sheet and
    /// `index.html`; `results` are the same runs, for the index.
    pub fn finish(self, results: &[ScriptResult], invalid: &[ScriptError], meta: &Meta) -> std::io::Result<Written> {
        use std::os::unix::fs::FileExt as _;
        for mut batch in
            std::mem::take(&mut *self.batches.lock().map_err(|_| std::io::Error::other("a page writer panicked"))?)
        {
            self.write(&mut batch);
        }
        if let Some(e) = self.error.into_inner().ok().flatten() {
            return Err(e);
        }
        let dir = self.dir;
        let mut written = Written::default();
        for f in self.files.into_values() {
            f.file.write_all_at(b"</body></html>\n", f.end.into_inner())?;
            written.pages += f.pages.into_inner();
            written.files += 1;
        }
        write_new(&dir.join(CSS_FILE), &format!("{STYLE}\n{}\n", super::ladder::css()))?;
        let fact = |r: &ScriptResult| {
            let mut f = RunFacts::of(r);
            if !matches!(r.status, Status::Skipped(_)) {
                f.page = Some(page_href(r));
            }
            f
        };
        // Half on another core.
        let (first, second) = results.split_at(results.len() / 2);
        let facts: Vec<RunFacts> = std::thread::scope(|sc| {
            let a = sc.spawn(|| first.iter().map(fact).collect::<Vec<_>>());
            let b: Vec<RunFacts> = second.iter().map(fact).collect();
            let mut a = a.join().unwrap_or_else(|_| first.iter().map(fact).collect());
            a.extend(b);
            a
        });
        write_new(&dir.join("index.html"), &index_page(results, &facts, invalid, meta))?;
        written.files += 2;
        Ok(written)
    }
}

/// Runs `results` into a report in `dir` (for callers that have the
/// results already; `harness run` renders pages as runs end).
pub fn write_report_dir(
    dir: &Path,
    results: &[ScriptResult],
    invalid: &[ScriptError],
    meta: &Meta,
) -> std::io::Result<Written> {
    let mut targets: Vec<TargetKind> = results.iter().map(|r| r.target).collect();
    targets.sort();
    targets.dedup();
    let report = Report::new(dir, &targets)?;
    for r in results {
        report.add(r);
    }
    report.finish(results, invalid, meta)
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
    // The ledger of each target, found once (deviation cells link to it).
    let root = results.iter().find_map(|r| crate::suite::root_of(&r.script.path));
    let ledgers: BTreeMap<TargetKind, String> = TargetKind::ALL
        .into_iter()
        .filter_map(|t| {
            let p = root.as_ref()?.join(crate::suite::EXPECTATIONS).join(format!("{t}.yaml"));
            p.is_file().then(|| (t, file_href(&p.to_string_lossy())))
        })
        .collect();
    let ledger = |t: TargetKind| ledgers.get(&t).cloned();
    // The pictures on one core, the table of runs on another.
    let (pics, table) = std::thread::scope(|sc| {
        let pics = sc.spawn(|| pictures(facts, &ledger).0);
        let table = runs_table(results, facts);
        (pics.join().unwrap_or_else(|_| "<p>the pictures could not be drawn</p>".into()), table)
    });
    b.push_str(&pics);
    b.push_str(&table);
    page("harness run: report", &b)
}

/// The index's table of every run, failures first.
fn runs_table(results: &[ScriptResult], facts: &[RunFacts]) -> String {
    let mut b = String::with_capacity(results.len() * 200);
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
            "<tr><td class=\"{class}\">{word}</td><td>{name}</td><td>{}</td><td>{}.{:03} s</td><td>{}</td></tr>",
            r.target,
            r.wall.as_secs(),
            r.wall.subsec_millis(),
            esc(&msg)
        );
    }
    b.push_str("</table>\n");
    b
}

/// The running kernel, as `uname -sr` says.
pub fn uname() -> String {
    nix::sys::utsname::uname()
        .map(|u| format!("{} {}", u.sysname().to_string_lossy(), u.release().to_string_lossy()))
        .unwrap_or_else(|_| "unknown".into())
}

/// One run's page (a section of its target's runs file): what ran, the verdict, the failure, the ladder, and for
/// a run that did not pass, the trace as text (a passing run's ladder holds
/// every entry's text, whole, in its arrows' titles).
/// Appended to `b`.
pub fn run_page_into(b: &mut String, r: &ScriptResult) {
    let (class, word) = verdict_class(&RunVerdict::of(&r.status));
    let id = r.id();
    let _ = writeln!(b, "<section class=\"run\" id=\"{}\">\n<p><a href=\"index.html\">all runs</a></p>", anchor(r));
    let _ = writeln!(b, "<h1>{} <span class=\"{class}\">{word}</span></h1>", esc(&r.script.name));
    let _ = writeln!(b, "<table><tr><th>script</th><td>{}</td></tr>", esc(&id));
    let _ = writeln!(b, "<tr><th>target</th><td>{}</td></tr>", r.target);
    // The target's own facts; its sysctls (a hundred on Linux) folded away.
    let (sysctls, facts): (Vec<_>, Vec<_>) = r.info.iter().partition(|(k, _)| k.starts_with("net."));
    for (k, v) in facts {
        let _ = writeln!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
    }
    let _ = writeln!(
        b,
        "<tr><th>time</th><td>{} s of script time, {}.{:03} s wall</td></tr>",
        super::svg::secs(r.script_time),
        r.wall.as_secs(),
        r.wall.subsec_millis()
    );
    if !r.script.rfc.is_empty() {
        let _ = writeln!(b, "<tr><th>rfc</th><td>{}</td></tr>", esc(&r.script.rfc.join(", ")));
    }
    b.push_str("</table>\n");
    if !sysctls.is_empty() {
        let _ = write!(b, "<details><summary>{} sysctls of the run</summary><table>", sysctls.len());
        for (k, v) in sysctls {
            let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v));
        }
        b.push_str("</table></details>\n");
    }
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
    b.push_str("<h2>Ladder</h2>\n<div class=\"pic\">");
    let d = super::ladder::ladder_into(b, r, false);
    let _ = writeln!(
        b,
        "</div>\n<p>{} segments, {} calls, {} state changes, {} timer firings. Sequence numbers are relative to each side's ISN.</p>",
        d.arrows, d.calls, d.states, d.timers
    );
    if !matches!(r.status, Status::Passed) {
        b.push_str("<h2>Trace</h2><pre>");
        for e in &r.trace {
            super::svg::esc_into(b, &e.to_string());
            b.push('\n');
        }
        b.push_str("</pre>\n");
    }
    b.push_str("</section>\n");
}

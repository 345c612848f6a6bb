//! Reporters, all fed from the same [`ScriptResult`]s: the human one, JSON
//! lines, JUnit XML, pcapng captures with a comment per packet and the
//! normalised trace. (The HTML report's pages are `crate::pictures`'.)

use crate::engine::{Dir, TraceEntry};
use crate::runner::{ScriptResult, Status};
use crate::script::ScriptError;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The human report of one failure: where, what differs, the packets so far,
/// the connection's state.
pub fn failure_text(r: &ScriptResult) -> String {
    let mut s = String::new();
    let Status::Failed(f) = &r.status else { return s };
    let loc = match f.pos {
        Some(p) => format!("{}:{}:{}", r.script.path.display(), p.line, p.column),
        None => r.script.path.display().to_string(),
    };
    let variant = r.script.variant.as_ref().map(|v| format!(" [{v}]")).unwrap_or_default();
    let _ = writeln!(s, "FAIL {loc}{variant} on {}: {}", r.target, r.script.name);
    if let Some(origin) = origin(r) {
        let _ = writeln!(s, "  from: {origin}");
    }
    if !f.step_text.is_empty() {
        let _ = writeln!(s, "  step: {}", f.step_text);
    }
    let _ = writeln!(s, "  {}", f.message);
    if !f.diffs.is_empty() {
        let w = f.diffs.iter().map(|d| d.field.len()).max().unwrap_or(0);
        let _ = writeln!(s, "  differences:");
        for d in &f.diffs {
            let _ = writeln!(s, "    {:w$}  expected {}", d.field, d.expected, w = w);
            let _ = writeln!(s, "    {:w$}       got {}", "", d.actual, w = w);
        }
    }
    if !r.trace.is_empty() {
        let _ = writeln!(s, "  trace (seconds from the start; sequence numbers relative to each side's ISN):");
        let skip = r.trace.len().saturating_sub(30);
        if skip > 0 {
            let _ = writeln!(s, "    ... {skip} earlier lines");
        }
        for e in &r.trace[skip..] {
            let _ = writeln!(s, "    {e}");
        }
    }
    if let Some(st) = &f.state {
        let _ = writeln!(s, "  connection: {st}");
    }
    if let Some(d) = f.descheduled {
        let _ = writeln!(s, "  note: {}", descheduled_text(d, r.earlier.len() + 1));
    }
    s
}

/// What a failure with the harness descheduled around it says.
fn descheduled_text(d: Duration, attempts: usize) -> String {
    let tries = if attempts > 1 { format!(" (in each of {attempts} attempts)") } else { String::new() };
    format!(
        "the harness itself was late or off the CPU for {:.1} ms around this step{tries}: the machine's load, not the \
         stack, may have spoilt its timing (see --load-retries)",
        d.as_secs_f64() * 1e3
    )
}

/// For an imported script's failure, the line of the original it came from
/// (`tcp/blocking/blocking-read.pkt:17`).
pub fn origin(r: &ScriptResult) -> Option<String> {
    let Status::Failed(f) = &r.status else { return None };
    let file = r.script.from.as_ref()?;
    let line = f.step.and_then(|i| r.script.steps.get(i)).and_then(|st| st.from)?;
    Some(format!("{file}:{line}"))
}

/// The normalised trace: what snapshots keep.
pub fn trace_text(r: &ScriptResult) -> String {
    let mut s = String::new();
    for e in &r.trace {
        let _ = writeln!(s, "{e}");
    }
    match &r.status {
        Status::Passed => s.push_str("passed\n"),
        Status::Failed(f) => {
            let _ = writeln!(s, "failed: {}", f.message);
        }
        Status::Skipped(why) => {
            let _ = writeln!(s, "skipped: {why}");
        }
        Status::Error(e) => {
            let _ = writeln!(s, "error: {e}");
        }
        Status::Deviation { deviation, failure } => {
            let _ =
                writeln!(s, "known deviation: {} ({}); failed: {}", deviation.reason, deviation.rfc, failure.message);
        }
    }
    s
}

fn status_word(st: &Status) -> &'static str {
    match st {
        Status::Passed => "passed",
        Status::Failed(_) => "failed",
        Status::Skipped(_) => "skipped",
        Status::Error(_) => "error",
        Status::Deviation { .. } => "known-deviation",
    }
}

/// The command line that runs exactly this script (its variant) on its
/// target again; `options` are the run's options that change how it runs
/// (`--transport raw`, `--allow-shell`...), already quoted.
pub fn rerun_line(r: &ScriptResult, options: &str) -> String {
    use crate::filter::{shell_quote, variant_filter};
    let mut line = format!("harness run {} --target {}", shell_quote(&r.script.path.to_string_lossy()), r.target);
    if let Some(f) = variant_filter(&r.script) {
        line.push_str(&format!(" --filter {}", shell_quote(&f)));
    }
    if let Some(w) = r.script.wrap {
        line.push_str(&format!(" --wrap {}", w.side.name()));
    }
    if !options.is_empty() {
        line.push(' ');
        line.push_str(options);
    }
    line
}

/// One JSON object per invalid script file: where each error is.
fn invalid_record(e: &ScriptError) -> serde_json::Value {
    serde_json::json!({
        "path": e.path,
        "status": "invalid",
        "errors": e.all().map(|x| serde_json::json!({
            "line": x.line, "column": x.column, "message": x.message, "help": x.help,
        })).collect::<Vec<_>>(),
    })
}

/// The earlier failed attempts of a retried run, for JSON.
fn attempts_json(r: &ScriptResult) -> serde_json::Value {
    r.earlier
        .iter()
        .map(|a| {
            serde_json::json!({
                "message": a.message,
                "wall_seconds": a.wall.as_secs_f64(),
                "descheduled_ms": a.descheduled.map(|d| d.as_secs_f64() * 1e3),
            })
        })
        .collect::<Vec<_>>()
        .into()
}

/// One JSON object per script and target, one per line; then one per
/// script file that did not check (`"status": "invalid"`).
pub fn write_json(path: &Path, results: &[ScriptResult], invalid: &[ScriptError]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in results {
        let failure = match &r.status {
            Status::Failed(fl) => serde_json::json!({
                "line": fl.pos.map(|p| p.line),
                "column": fl.pos.map(|p| p.column),
                "step": fl.step_text,
                "from": origin(r),
                "message": fl.message,
                "differences": fl.diffs.iter().map(|d| serde_json::json!({"field": d.field, "expected": d.expected, "actual": d.actual})).collect::<Vec<_>>(),
                "state": fl.state,
                "descheduled_ms": fl.descheduled.map(|d| d.as_secs_f64() * 1e3),
            }),
            Status::Skipped(why) | Status::Error(why) => serde_json::json!({ "message": why }),
            Status::Deviation { deviation, failure } => serde_json::json!({
                "message": failure.message,
                "line": failure.pos.map(|p| p.line),
                "deviation": {"reason": deviation.reason, "rfc": deviation.rfc, "kernel": deviation.kernel, "finding": deviation.finding},
            }),
            Status::Passed => serde_json::Value::Null,
        };
        let mut rec = serde_json::json!({
            "path": r.script.path.display().to_string(),
            "name": r.script.name,
            "variant": r.script.variant,
            "target": r.target.name(),
            "status": status_word(&r.status),
            "rfc": r.script.rfc,
            "tags": r.script.tags,
            "wall_seconds": r.wall.as_secs_f64(),
            "script_seconds": r.script_time.as_secs_f64(),
            "failure": failure,
            "target_info": r.info.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect::<serde_json::Map<_, _>>(),
        });
        let transitions = crate::pictures::states::transitions(&r.trace);
        if !transitions.is_empty() {
            rec["transitions"] =
                transitions.iter().map(|(a, b)| serde_json::json!([a.to_string(), b.to_string()])).collect();
        }
        if let Some(d) = &r.unshown {
            rec["unshown_deviation"] = serde_json::json!({"reason": d.reason, "rfc": d.rfc, "kernel": d.kernel, "finding": d.finding, "intermittent": d.intermittent});
        }
        if !r.earlier.is_empty() {
            rec["flaky"] = r.flaky().into();
            rec["rerun_for_load"] = r.rerun_for_load().into();
            rec["earlier_attempts"] = attempts_json(r);
        }
        writeln!(f, "{rec}")?;
    }
    for e in invalid {
        writeln!(f, "{}", invalid_record(e))?;
    }
    f.flush()
}

/// JUnit XML: one test suite per target, one test case per script; a
/// suite `invalid` with an `<error>` test case per script file that did
/// not check; a run that passed after failed attempts (`--retries`) is a
/// success with `<flakyFailure>`s, one that never passed a failure with
/// `<rerunFailure>`s, as nextest writes them.
pub fn write_junit(path: &Path, results: &[ScriptResult], invalid: &[ScriptError]) -> std::io::Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};
    let mut report = Report::new("harness");
    for target in crate::script::TargetKind::ALL {
        let rs: Vec<&ScriptResult> = results.iter().filter(|r| r.target == target).collect();
        if rs.is_empty() {
            continue;
        }
        let mut suite = TestSuite::new(target.name());
        for r in rs {
            let status = match &r.status {
                Status::Passed => TestCaseStatus::success(),
                Status::Failed(f) => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(f.message.clone());
                    st.set_description(failure_text(r));
                    st
                }
                Status::Error(e) => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
                    st.set_message(e.clone());
                    st
                }
                Status::Skipped(why) => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(why.clone());
                    st
                }
                // Expected: a success whose output says what the target does.
                Status::Deviation { .. } => TestCaseStatus::success(),
            };
            let mut status = status;
            if !matches!(status, TestCaseStatus::Skipped { .. }) {
                if let TestCaseStatus::NonSuccess { .. } = status {
                    status.set_rerun_kind(quick_junit::FlakyOrRerun::Rerun);
                }
                status.add_reruns(r.earlier.iter().map(|a| {
                    let mut rr = TestRerun::new(NonSuccessKind::Failure);
                    rr.set_message(a.message.clone());
                    rr.set_description(a.text.clone());
                    rr.set_time(a.wall);
                    rr
                }));
            }
            let mut case = TestCase::new(r.id(), status);
            if let Status::Deviation { deviation, failure } = &r.status {
                case.set_system_out(format!(
                    "known {}: {} ({}; seen on {}{})\n{}",
                    if deviation.finding.is_some() { "finding" } else { "deviation" },
                    deviation.reason,
                    deviation.rfc,
                    deviation.kernel,
                    deviation.finding.as_deref().map(|f| format!("; upstream: {f}")).unwrap_or_default(),
                    failure.message
                ));
            }
            case.set_classname(r.script.path.display().to_string());
            case.set_time(r.wall);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if !invalid.is_empty() {
        let mut suite = TestSuite::new("invalid");
        for e in invalid {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(e.one_line());
            st.set_type("invalid script");
            st.set_description(e.all().map(|x| x.one_line()).collect::<Vec<_>>().join("\n"));
            let mut case = TestCase::new(e.path.clone(), st);
            case.set_classname(e.path.clone());
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let f = std::fs::File::create(path)?;
    report.serialize(f).map_err(|e| std::io::Error::other(e.to_string()))
}

/// A pcapng capture of a run (LINKTYPE_RAW: IP packets), stamped with
/// script time: each packet with its direction as the stack saw it
/// (`epb_flags`: inbound for the script's, outbound for the stack's) and a
/// comment naming its step (`step 3, file:line: the step`) and, for the
/// segment a failing `out` step got, what differed. Wireshark shows the
/// comments (`frame.comment`), as does `tshark -V`.
pub fn write_pcapng(path: &Path, r: &ScriptResult) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(&pcapng_bytes(r))?;
    f.flush()
}

/// One pcapng block: type, length, body (padded to 32 bits), length.
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (12 + body.len()) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&len.to_le_bytes());
}

/// An option: code, length, value padded to 32 bits.
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out.resize(out.len().next_multiple_of(4), 0);
}

/// The comment of the `i`-th trace entry, a packet of `step`.
fn packet_comment(r: &ScriptResult, i: usize, step: Option<usize>, got: Option<usize>) -> String {
    let mut c = match step.and_then(|s| r.script.steps.get(s).map(|st| (s, st))) {
        Some((s, st)) => format!("step {}, {}:{}: {}", s + 1, r.script.path.display(), st.pos.line, st.text.trim()),
        None => format!("before the first step of {}", r.script.path.display()),
    };
    if got == Some(i) {
        if let Status::Failed(f) | Status::Deviation { failure: f, .. } = &r.status {
            c.push_str(&format!("\nMISMATCH: {}", f.message));
            for d in &f.diffs {
                c.push_str(&format!("\n  {}: expected {}, got {}", d.field, d.expected, d.actual));
            }
            if let Status::Deviation { deviation, .. } = &r.status {
                c.push_str(&format!("\nknown deviation: {} ({})", deviation.reason, deviation.rfc));
            }
        }
    }
    c
}

/// The bytes of [`write_pcapng`]'s file.
pub fn pcapng_bytes(r: &ScriptResult) -> Vec<u8> {
    let mut out = Vec::new();
    // Section header: byte-order magic, version 1.0, section length unknown.
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    option(&mut shb, 4, b"harness"); // shb_userappl
    option(&mut shb, 0, &[]);
    block(&mut out, 0x0A0D_0D0A, &shb);
    // One interface: raw IP, microsecond stamps (the default resolution).
    let mut idb = Vec::new();
    idb.extend_from_slice(&101u16.to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&65535u32.to_le_bytes());
    option(&mut idb, 2, format!("{} on {}", r.id(), r.target).as_bytes()); // if_name
    option(&mut idb, 0, &[]);
    block(&mut out, 1, &idb);
    // The packet a failing `out` step got, if one came.
    let got = match &r.status {
        Status::Failed(f) | Status::Deviation { failure: f, .. } if !f.diffs.is_empty() => {
            r.trace.iter().rposition(|e| matches!(e, TraceEntry::Packet { dir: Dir::Out, .. }))
        }
        _ => None,
    };
    for (i, e) in r.trace.iter().enumerate() {
        let TraceEntry::Packet { at, bytes, dir, step, .. } = e else { continue };
        let us = at.as_micros() as u64;
        let mut epb = Vec::with_capacity(bytes.len() + 120);
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(us as u32).to_le_bytes());
        epb.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        epb.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        epb.extend_from_slice(bytes);
        epb.resize(epb.len().next_multiple_of(4), 0);
        let comment = packet_comment(r, i, *step, got);
        option(&mut epb, 1, comment.as_bytes()); // opt_comment
        let flags: u32 = match dir {
            Dir::In => 1,
            Dir::Out => 2,
        };
        option(&mut epb, 2, &flags.to_le_bytes()); // epb_flags: direction
        option(&mut epb, 0, &[]);
        block(&mut out, 6, &epb);
    }
    out
}

/// A file name for a script's per-run artefacts.
pub fn artefact_name(r: &ScriptResult, ext: &str) -> String {
    // The run's id (`path [variant]`) with every character but letters,
    // digits, `-` and `.` made `_`, and no `_` at either end; built in one
    // string (a report names every run of a suite).
    let mut s = String::with_capacity(128);
    let mut push = |t: &str| {
        for c in t.chars() {
            s.push(if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' });
        }
    };
    push(&r.script.path.to_string_lossy());
    if let Some(v) = &r.script.variant {
        push(" [");
        push(v);
        push("]");
    }
    let trimmed = s.trim_matches('_');
    let mut name = String::with_capacity(trimmed.len() + ext.len() + 12);
    name.push_str(trimmed);
    name.push('.');
    name.push_str(r.target.name());
    name.push('.');
    name.push_str(ext);
    name
}

/// Counts for the closing line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    /// Failures the target's ledger lists: expected.
    pub deviations: usize,
    /// Of those, the ones the ledger calls findings (bugs of the stack).
    pub findings: usize,
    pub skipped: usize,
    /// Passes after a failed attempt (`--retries`), among `passed`.
    pub flaky: usize,
    /// Passes after attempts that failed with the harness descheduled
    /// (`--load-retries`), among `passed`.
    pub rerun: usize,
    /// Failures with the harness descheduled around them, among `failed`.
    pub descheduled: usize,
    /// Passes of scripts the ledger lists as intermittent deviations (the
    /// deviation did not show), among `passed`.
    pub unshown: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let findings = if self.findings > 0 { format!(" ({} of them findings)", self.findings) } else { String::new() };
        let mut notes = Vec::new();
        if self.flaky > 0 {
            notes.push(format!("{} flaky", self.flaky));
        }
        if self.rerun > 0 {
            notes.push(format!("{} after a rerun for the machine's load", self.rerun));
        }
        if self.unshown > 0 {
            notes.push(format!("{} with an intermittent deviation not shown", self.unshown));
        }
        let passed = if notes.is_empty() { String::new() } else { format!(" ({})", notes.join(", ")) };
        let desch = if self.descheduled > 0 {
            format!(" ({} with the harness descheduled)", self.descheduled)
        } else {
            String::new()
        };
        write!(
            f,
            "{} passed{passed}, {} failed{desch}, {} known deviations{findings}, {} skipped",
            self.passed, self.failed, self.deviations, self.skipped
        )
    }
}

pub fn counts(results: &[ScriptResult]) -> Counts {
    let mut c = Counts::default();
    for r in results {
        c.flaky += usize::from(r.flaky() && matches!(r.status, Status::Passed));
        c.rerun += usize::from(r.rerun_for_load() && matches!(r.status, Status::Passed));
        c.descheduled += usize::from(r.descheduled().is_some());
        c.unshown += usize::from(r.unshown.is_some() && matches!(r.status, Status::Passed));
        match r.status {
            Status::Passed => c.passed += 1,
            Status::Failed(_) | Status::Error(_) => c.failed += 1,
            Status::Deviation { ref deviation, .. } => {
                c.deviations += 1;
                c.findings += usize::from(deviation.finding.is_some());
            }
            Status::Skipped(_) => c.skipped += 1,
        }
    }
    c
}

/// One line per known deviation seen, for the end of a run.
pub fn deviations_text(results: &[ScriptResult]) -> String {
    let mut s = String::new();
    for r in results {
        if let Status::Deviation { deviation, failure } = &r.status {
            let line = failure.pos.map(|p| format!(":{}", p.line)).unwrap_or_default();
            let (word, upstream) = match &deviation.finding {
                Some(f) => ("FINDING", format!("; upstream: {f}")),
                None => ("DEVIATION", String::new()),
            };
            let _ = writeln!(
                s,
                "{word} {}{line} on {}: {} [{}; seen on {}{upstream}]",
                r.id(),
                r.target,
                deviation.reason,
                deviation.rfc,
                deviation.kernel
            );
        }
    }
    s
}

/// The runs that failed or could not run, a line each (the first 20, then
/// how many more), for the end of a run's output.
pub fn failed_text(results: &[ScriptResult]) -> String {
    const SHOWN: usize = 20;
    let failed: Vec<&ScriptResult> =
        results.iter().filter(|r| matches!(r.status, Status::Failed(_) | Status::Error(_))).collect();
    let mut s = String::new();
    for r in failed.iter().take(SHOWN) {
        let (word, line, message) = match &r.status {
            Status::Failed(f) => {
                ("FAILED", f.pos.map(|p| format!(":{}", p.line)).unwrap_or_default(), f.message.as_str())
            }
            Status::Error(e) => ("ERROR", String::new(), e.as_str()),
            _ => continue,
        };
        let message = message.lines().next().unwrap_or_default();
        let _ = writeln!(s, "{word} {}{line} on {}: {message}", r.id(), r.target);
    }
    if failed.len() > SHOWN {
        let _ = writeln!(s, "FAILED ... and {} more (above, each with its report)", failed.len() - SHOWN);
    }
    s
}

/// Passes of scripts the target's ledger lists as intermittent deviations:
/// a line each, with the entry and why it shows on some runs only.
pub fn unshown_text(results: &[ScriptResult]) -> String {
    let mut s = String::new();
    for r in results {
        let (Some(d), Status::Passed) = (&r.unshown, &r.status) else { continue };
        let _ = writeln!(
            s,
            "UNSHOWN {} on {}: passed; the ledger's intermittent deviation did not show ({}): {} [{}; seen on {}]",
            r.id(),
            r.target,
            d.intermittent.as_deref().unwrap_or_default(),
            d.reason,
            d.rfc,
            d.kernel
        );
    }
    s
}

/// Runs that passed only after failing (`--retries`): a line each, with
/// what the first failed attempt said.
pub fn flaky_text(results: &[ScriptResult]) -> String {
    let mut s = String::new();
    for r in results.iter().filter(|r| r.flaky() || r.rerun_for_load()) {
        let first = r.earlier.first();
        let message = first.map(|a| a.message.as_str()).unwrap_or_default();
        let (word, why) = match first.and_then(|a| a.descheduled) {
            Some(d) if !r.flaky() => (
                "RERUN",
                format!(", the harness descheduled for {:.1} ms around the failing step", d.as_secs_f64() * 1e3),
            ),
            _ => ("FLAKY", String::new()),
        };
        let what = match r.status {
            Status::Deviation { .. } => "showed its known deviation",
            _ => "passed",
        };
        let _ = writeln!(
            s,
            "{word} {} on {}: {what} on attempt {} (attempt 1{why}: {message})",
            r.id(),
            r.target,
            r.earlier.len() + 1
        );
    }
    s
}

/// Why runs were skipped, grouped: a line per target and reason with how
/// many runs it covers and the first of them (`--verdicts` lists all).
pub fn skips_text(results: &[ScriptResult]) -> String {
    let mut groups: Vec<(crate::script::TargetKind, String, usize, String)> = Vec::new();
    for r in results {
        let Status::Skipped(why) = &r.status else { continue };
        // "line 12 runs a shell command..." is one reason, whatever the line.
        let reason = match why.split_once(" runs a shell command") {
            Some((l, rest)) if l.starts_with("line ") => format!("a line runs a shell command{rest}"),
            _ => why.clone(),
        };
        match groups.iter_mut().find(|g| g.0 == r.target && g.1 == reason) {
            Some(g) => g.2 += 1,
            None => groups.push((r.target, reason, 1, r.id())),
        }
    }
    let mut s = String::new();
    const SHOWN: usize = 20;
    for (target, reason, n, first) in groups.iter().take(SHOWN) {
        let example = if *n == 1 { first.clone() } else { format!("{first} and {} more", n - 1) };
        let _ = writeln!(s, "SKIP {n} on {target}: {reason} ({example})");
    }
    if groups.len() > SHOWN {
        let _ = writeln!(s, "SKIP ... and {} more reasons (--verdicts lists every run)", groups.len() - SHOWN);
    }
    s
}

/// Whether a trace entry is inbound, for filters.
pub fn is_inbound(e: &TraceEntry) -> bool {
    matches!(e, TraceEntry::Packet { dir: Dir::In, .. })
}

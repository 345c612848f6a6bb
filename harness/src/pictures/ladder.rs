//! The ladder diagram of one run, as Wireshark's flow graph and TCP
//! textbooks draw it: the script's peer and the stack as two lifelines, a
//! row per segment (an arrow at its time, labelled with flags, relative
//! sequence and acknowledgment numbers, window and length, as the trace
//! writes them), the connection's states on the stack's lifeline, socket
//! calls and their results in boxes beside it, timers as marks. Where the
//! run failed, the segment the script expected is drawn beside the one that
//! came (or where the one that never came should have been), with the
//! fields that differ; a known deviation says the ledger's reason.

use super::svg::{esc, text_width, Svg};
use crate::engine::{Dir, Failure, Mark, TraceEntry};
use crate::runner::{ScriptResult, Status};
use crate::script::StepKind;
use std::fmt::Write as _;

const ROW: f64 = 26.0;
const TOP: f64 = 64.0;
const PEER_X: f64 = 250.0;
const STACK_X: f64 = 850.0;
const SIDE_X: f64 = 870.0;
const WIDTH: f64 = 1320.0;
/// Characters of a label that fit between the lifelines.
const LABEL_CHARS: usize = 96;

pub const IN: &str = "#0b5cad";
pub const OUT: &str = "#1a7f37";
pub const FAIL: &str = "#cf222e";
pub const DEVIATION: &str = "#b35900";

/// What the picture holds, for tests and for the page's caption.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    /// Segment arrows, the expected one of a failure included.
    pub arrows: usize,
    /// State changes drawn on the stack's lifeline.
    pub states: usize,
    pub calls: usize,
    pub timers: usize,
    /// 1 when a failing (or deviating) step is drawn.
    pub failures: usize,
}

fn cut(t: &str, n: usize) -> String {
    if t.chars().count() <= n {
        t.to_string()
    } else {
        let mut s: String = t.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The failure the picture marks, and whether it is a known deviation
/// (with the ledger's words).
fn failure_of(r: &ScriptResult) -> Option<(&Failure, Option<String>)> {
    match &r.status {
        Status::Failed(f) => Some((f, None)),
        Status::Deviation { deviation, failure } => {
            Some((failure, Some(format!("known deviation: {} ({})", deviation.reason, deviation.rfc))))
        }
        _ => None,
    }
}

/// The ladder of `r`'s trace as an SVG document, and what it drew.
pub fn ladder(r: &ScriptResult) -> (String, Drawn) {
    let fail = failure_of(r);
    let expected_out = fail
        .as_ref()
        .and_then(|(f, _)| f.step)
        .and_then(|i| r.script.steps.get(i))
        .is_some_and(|s| matches!(s.kind, StepKind::Out(_)));
    let got_index = match &fail {
        Some((f, _)) if expected_out && !f.diffs.is_empty() => {
            r.trace.iter().rposition(|e| matches!(e, TraceEntry::Packet { dir: Dir::Out, .. }))
        }
        _ => None,
    };
    let fail_rows = match &fail {
        None => 0.0,
        Some((f, dev)) => 2.0 + f.diffs.len() as f64 + f64::from(dev.is_some()),
    };
    let h = TOP + (r.trace.len() as f64 + 1.0 + fail_rows) * ROW + 20.0;
    let label = format!("ladder diagram of {} on {}", r.id(), r.target);
    let mut svg = Svg::new(WIDTH, h, &label, &[("in", IN), ("out", OUT), ("fail", FAIL), ("dev", DEVIATION)]);
    let mut d = Drawn::default();
    // The lifelines and their heads.
    let stack_name = match r.info.iter().find(|(k, _)| k == "kernel") {
        Some((_, v)) => format!("{} ({})", r.target, cut(v, 40)),
        None => format!("{}", r.target),
    };
    svg.text(14.0, 20.0, "start", "font-weight=\"bold\"", "time (s)");
    for (x, name) in [(PEER_X, "the script's peer".to_string()), (STACK_X, format!("stack: {stack_name}"))] {
        svg.rect(x - 130.0, 8.0, 260.0, 24.0, "rx=\"4\" fill=\"#f6f8fa\" stroke=\"#57606a\"");
        svg.text(x, 25.0, "middle", "font-weight=\"bold\"", &name);
        svg.line((x, 32.0), (x, h - 10.0), "stroke=\"#57606a\" stroke-width=\"2\"");
    }
    let mut y = TOP;
    for (i, e) in r.trace.iter().enumerate() {
        let at = e.at().as_secs_f64();
        match e {
            TraceEntry::Packet { dir, text, bytes, .. } => {
                let got = got_index == Some(i);
                let (from, to, colour, marker, class) = match dir {
                    Dir::In => (PEER_X, STACK_X, IN, "in", "arrow in"),
                    Dir::Out if got => (STACK_X, PEER_X, FAIL, "fail", "arrow out got"),
                    Dir::Out => (STACK_X, PEER_X, OUT, "out", "arrow out"),
                };
                svg.text(14.0, y + 8.0, "start", "fill=\"#57606a\"", &format!("{at:.6}"));
                let _ = write!(
                    svg.s,
                    "<g class=\"{class}\"><title>{} ({} octets on the wire)</title>",
                    esc(text),
                    bytes.len()
                );
                svg.line(
                    (from, y),
                    (to, y + 8.0),
                    &format!("stroke=\"{colour}\" stroke-width=\"1.6\" marker-end=\"url(#arrow-{marker})\""),
                );
                let lbl = if got { format!("got: {text}") } else { text.clone() };
                svg.text(
                    (PEER_X + STACK_X) / 2.0,
                    y - 3.0,
                    "middle",
                    &format!("fill=\"{colour}\""),
                    &cut(&lbl, LABEL_CHARS),
                );
                svg.raw("</g>\n");
                d.arrows += 1;
            }
            TraceEntry::Call { text, ret, .. } => {
                svg.text(14.0, y + 8.0, "start", "fill=\"#57606a\"", &format!("{at:.6}"));
                let t = if ret.is_empty() { text.clone() } else { format!("{text} = {ret}") };
                let t = cut(&t, 70);
                let w = text_width(&t, 12.0) + 12.0;
                let _ = write!(svg.s, "<g class=\"call\"><title>{}</title>", esc(text));
                svg.line((STACK_X, y + 4.0), (SIDE_X, y + 4.0), "stroke=\"#6e7781\"");
                svg.rect(SIDE_X, y - 8.0, w, 20.0, "rx=\"3\" fill=\"#eef1f4\" stroke=\"#6e7781\"");
                svg.text(SIDE_X + 6.0, y + 6.0, "start", "", &t);
                svg.raw("</g>\n");
                d.calls += 1;
            }
            TraceEntry::Mark { mark: Mark::State { to, cause, .. }, .. } => {
                svg.text(14.0, y + 8.0, "start", "fill=\"#57606a\"", &format!("{at:.6}"));
                let name = to.to_string();
                let w = text_width(&name, 12.0) + 16.0;
                let why = cause.as_deref().unwrap_or("seen after the step");
                let _ = write!(svg.s, "<g class=\"state\"><title>{} on {}</title>", esc(&name), esc(why));
                svg.rect(STACK_X - w / 2.0, y - 8.0, w, 20.0, "rx=\"10\" fill=\"#fff8c5\" stroke=\"#9a6700\"");
                svg.text(STACK_X, y + 6.0, "middle", "font-weight=\"bold\"", &name);
                svg.raw("</g>\n");
                d.states += 1;
            }
            TraceEntry::Mark { mark: Mark::Timer { kind }, .. } => {
                svg.text(14.0, y + 8.0, "start", "fill=\"#57606a\"", &format!("{at:.6}"));
                let _ = write!(svg.s, "<g class=\"timer\"><title>the {} timer fired</title>", esc(kind));
                svg.raw(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"7\" fill=\"#ffffff\" stroke=\"#bc4c00\" stroke-width=\"2\"/>",
                    STACK_X, y + 2.0
                ));
                svg.line((STACK_X, y + 2.0), (STACK_X, y - 3.0), "stroke=\"#bc4c00\" stroke-width=\"2\"");
                svg.line((STACK_X, y + 2.0), (STACK_X + 4.0, y + 2.0), "stroke=\"#bc4c00\" stroke-width=\"2\"");
                svg.text(SIDE_X, y + 6.0, "start", "fill=\"#bc4c00\"", &format!("{kind} timer fires"));
                svg.raw("</g>\n");
                d.timers += 1;
            }
        }
        y += ROW;
    }
    if let Some((f, dev)) = fail {
        y += ROW / 2.0;
        let (colour, marker) = if dev.is_some() { (DEVIATION, "dev") } else { (FAIL, "fail") };
        let step = f.step.map(|i| format!("step {}: ", i + 1)).unwrap_or_default();
        let pos = f.pos.map(|p| format!("line {}: ", p.line)).unwrap_or_default();
        svg.raw("<g class=\"failure\">");
        if expected_out {
            let text = f.step_text.trim();
            let text = text.strip_prefix("out:").map_or(text, str::trim);
            svg.raw(&format!("<g class=\"arrow expected\"><title>expected: {}</title>", esc(text)));
            svg.line(
                (STACK_X, y),
                (PEER_X, y + 8.0),
                &format!(
                    "stroke=\"{colour}\" stroke-width=\"1.6\" stroke-dasharray=\"6 4\" marker-end=\"url(#arrow-{marker})\""
                ),
            );
            let what = if got_index.is_some() { "expected" } else { "expected, never came" };
            svg.text(
                (PEER_X + STACK_X) / 2.0,
                y - 3.0,
                "middle",
                &format!("fill=\"{colour}\" font-weight=\"bold\""),
                &cut(&format!("{what}: {text}"), LABEL_CHARS),
            );
            svg.raw("</g>");
            d.arrows += 1;
        } else {
            let t = cut(&format!("{pos}{step}{}", f.step_text.trim()), 70);
            svg.rect(
                SIDE_X,
                y - 10.0,
                text_width(&t, 12.0) + 12.0,
                20.0,
                &format!("rx=\"3\" fill=\"#ffebe9\" stroke=\"{colour}\""),
            );
            svg.text(SIDE_X + 6.0, y + 4.0, "start", &format!("fill=\"{colour}\""), &t);
        }
        y += ROW;
        let lines = 1.0 + f.diffs.len() as f64 + f64::from(dev.is_some());
        svg.rect(8.0, y - 16.0, WIDTH - 16.0, lines * ROW, &format!("rx=\"4\" fill=\"#fff5f5\" stroke=\"{colour}\""));
        svg.text(
            14.0,
            y,
            "start",
            &format!("fill=\"{colour}\" font-weight=\"bold\""),
            &cut(&format!("{pos}{step}{}", f.message), 170),
        );
        for df in &f.diffs {
            y += ROW;
            svg.text(
                40.0,
                y,
                "start",
                &format!("fill=\"{colour}\""),
                &cut(&format!("{}: expected {}, got {}", df.field, df.expected, df.actual), 160),
            );
        }
        if let Some(dev) = &dev {
            y += ROW;
            svg.text(14.0, y, "start", &format!("fill=\"{colour}\""), &cut(dev, 170));
        }
        svg.raw("</g>\n");
        d.failures = 1;
    }
    (svg.finish(), d)
}

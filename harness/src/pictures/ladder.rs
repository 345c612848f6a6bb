//! The ladder diagram of one run, as Wireshark's flow graph and TCP
//! textbooks draw it: the script's peer and the stack as two lifelines, a
//! row per segment (an arrow at its time, labelled with flags, relative
//! sequence and acknowledgment numbers, window and length, as the trace
//! writes them), the connection's states on the stack's lifeline, socket
//! calls and their results in boxes beside it, timers as marks. Where the
//! run failed, the segment the script expected is drawn beside the one that
//! came (or where the one that never came should have been), with the
//! fields that differ; a known deviation says the ledger's reason.

use super::svg::{esc, esc_into, num, secs_into, text_width, Svg};
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

/// ` name="value"` for each pair.
fn attrs(o: &mut String, pairs: &[(&str, i64)]) {
    for (k, v) in pairs {
        o.push(' ');
        o.push_str(k);
        o.push_str("=\"");
        num(o, *v);
        o.push('"');
    }
}

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

fn cut(t: &str, n: usize) -> std::borrow::Cow<'_, str> {
    match t.char_indices().nth(n) {
        None => std::borrow::Cow::Borrowed(t),
        Some(_) => {
            let mut s: String = t.chars().take(n.saturating_sub(1)).collect();
            s.push('…');
            std::borrow::Cow::Owned(s)
        }
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

/// How the ladder's rows look, by class: for a page's style sheet.
pub fn css() -> String {
    format!(
        ".t{{fill:#57606a}}.arrow line{{stroke-width:1.6}}.arrow text{{text-anchor:middle}}\
         .in line{{stroke:{IN};marker-end:url(#arrow-in)}}.in text{{fill:{IN}}}\
         .out line{{stroke:{OUT};marker-end:url(#arrow-out)}}.out text{{fill:{OUT}}}\
         .got line{{stroke:{FAIL};marker-end:url(#arrow-fail)}}.got text{{fill:{FAIL}}}\
         .call line{{stroke:#6e7781}}.call rect{{fill:#eef1f4;stroke:#6e7781}}\
         .state rect{{fill:#fff8c5;stroke:#9a6700}}.state text{{font-weight:bold;text-anchor:middle}}\
         .timer circle{{fill:#ffffff;stroke:#bc4c00;stroke-width:2}}.timer line{{stroke:#bc4c00;stroke-width:2}}.timer text{{fill:#bc4c00}}"
    )
}

/// The ladder of `r`'s trace as an SVG document (with its style sheet),
/// and what it drew.
pub fn ladder(r: &ScriptResult) -> (String, Drawn) {
    let mut s = String::new();
    let d = ladder_into(&mut s, r, true);
    (s, d)
}

/// [`ladder`], written at the end of `page`; without its style sheet
/// unless `standalone` (the page links [`css`]).
pub fn ladder_into(page: &mut String, r: &ScriptResult, standalone: bool) -> Drawn {
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
    let markers: &[(&str, &str)] = match &fail {
        None => &[("in", IN), ("out", OUT)],
        Some(_) => &[("in", IN), ("out", OUT), ("fail", FAIL), ("dev", DEVIATION)],
    };
    let mut svg = Svg::into(page, WIDTH, h, &label, markers);
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
    // The rows are most of a report's bytes: their look is in a style
    // sheet ([`css`]), each row only positions and text. A report's pages
    // share one sheet; a picture on its own carries it.
    if standalone {
        let _ = writeln!(svg.s, "<style>{}</style>", css());
    }
    let mid = ((PEER_X + STACK_X) / 2.0) as i64;
    let (peer, stack, side) = (PEER_X as i64, STACK_X as i64, SIDE_X as i64);
    let mut y = TOP;
    for (i, e) in r.trace.iter().enumerate() {
        let yi = y as i64;
        let o = &mut *svg.s;
        o.push_str("<text class=\"t\" x=\"14\" y=\"");
        num(o, yi + 8);
        o.push_str("\">");
        secs_into(o, e.at());
        o.push_str("</text>");
        match e {
            TraceEntry::Packet { dir, text, .. } => {
                let got = got_index == Some(i);
                let (from, to, class) = match dir {
                    Dir::In => (peer, stack, "arrow in"),
                    Dir::Out if got => (stack, peer, "arrow out got"),
                    Dir::Out => (stack, peer, "arrow out"),
                };
                o.push_str("<g class=\"");
                o.push_str(class);
                o.push_str("\"><line x1=\"");
                num(o, from);
                o.push_str("\" y1=\"");
                num(o, yi);
                o.push_str("\" x2=\"");
                num(o, to);
                o.push_str("\" y2=\"");
                num(o, yi + 8);
                o.push_str("\"/><text x=\"");
                num(o, mid);
                o.push_str("\" y=\"");
                num(o, yi - 3);
                o.push_str("\">");
                if got {
                    o.push_str("got: ");
                }
                let shown = cut(text, LABEL_CHARS - if got { 5 } else { 0 });
                esc_into(o, &shown);
                o.push_str("</text>");
                // The whole text where the label is cut.
                if shown.len() != text.len() {
                    o.push_str("<title>");
                    esc_into(o, text);
                    o.push_str("</title>");
                }
                o.push_str("</g>\n");
                d.arrows += 1;
            }
            TraceEntry::Call { text, ret, .. } => {
                let t: std::borrow::Cow<'_, str> =
                    if ret.is_empty() { text.into() } else { format!("{text} = {ret}").into() };
                let shown = cut(&t, 70);
                let w = text_width(&shown, 12.0) as i64 + 12;
                o.push_str("<g class=\"call\"><line");
                attrs(o, &[("x1", stack), ("y1", yi + 4), ("x2", side), ("y2", yi + 4)]);
                o.push_str("/><rect");
                attrs(o, &[("x", side), ("y", yi - 8), ("width", w), ("height", 20), ("rx", 3)]);
                o.push_str("/><text");
                attrs(o, &[("x", side + 6), ("y", yi + 6)]);
                o.push('>');
                esc_into(o, &shown);
                o.push_str("</text>");
                if shown.len() != t.len() {
                    o.push_str("<title>");
                    esc_into(o, &t);
                    o.push_str("</title>");
                }
                o.push_str("</g>\n");
                d.calls += 1;
            }
            TraceEntry::Mark { mark: Mark::State { to, cause, .. }, .. } => {
                let name = to.rfc_name();
                let w = text_width(name, 12.0) as i64 + 16;
                o.push_str("<g class=\"state\"><title>");
                o.push_str(name);
                o.push_str(" on ");
                match cause {
                    Some(c) => esc_into(o, &crate::engine::cause_text(c)),
                    None => o.push_str("seen after the step"),
                }
                o.push_str("</title><rect");
                attrs(o, &[("x", stack - w / 2), ("y", yi - 8), ("width", w), ("height", 20), ("rx", 10)]);
                o.push_str("/><text");
                attrs(o, &[("x", stack), ("y", yi + 6)]);
                o.push('>');
                o.push_str(name);
                o.push_str("</text></g>\n");
                d.states += 1;
            }
            TraceEntry::Mark { mark: Mark::Timer { kind }, .. } => {
                let _ = writeln!(
                    o,
                    "<g class=\"timer\"><title>the {kind} timer fired</title><circle cx=\"{stack}\" cy=\"{}\" r=\"7\"/>\
                     <line x1=\"{stack}\" y1=\"{}\" x2=\"{stack}\" y2=\"{}\"/><line x1=\"{stack}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
                     <text x=\"{side}\" y=\"{}\">{kind} timer fires</text></g>",
                    yi + 2,
                    yi + 2,
                    yi - 3,
                    yi + 2,
                    stack + 4,
                    yi + 2,
                    yi + 6
                );
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
            let t = format!("{pos}{step}{}", f.step_text.trim());
            let t = cut(&t, 70);
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
    svg.finish();
    d
}

//! RFC 9293 Figure 5, the TCP connection state diagram, drawn with what a
//! set of runs (or a fuzz campaign) did on each transition: exercised and
//! passed, exercised by a failing run, exercised only by runs the ledger
//! expects to fail, or never. The figure's own transitions are always
//! drawn, with its words; transitions outside the figure that runs took
//! (a reset to CLOSED, FIN-WAIT-1 straight to TIME-WAIT on a FIN that
//! acknowledges ours) are drawn too, thinner.

use super::svg::{esc, Svg};
use reference_stack::State;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// What the runs that took one transition said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeStat {
    pub passed: usize,
    pub failed: usize,
    /// Runs that failed as their target's ledger says they do.
    pub deviation: usize,
    /// Times taken where no verdict applies (a fuzz campaign's cases).
    pub seen: usize,
}

impl EdgeStat {
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.deviation + self.seen
    }
}

/// Transitions and what the runs that took each said.
pub type Edges = BTreeMap<(State, State), EdgeStat>;

/// The transitions of the figure, with its words.
pub const FIGURE_5: [(State, State, &str); 20] = [
    (State::Closed, State::Listen, "passive OPEN"),
    (State::Closed, State::SynSent, "active OPEN / snd SYN"),
    (State::Listen, State::SynReceived, "rcv SYN / snd SYN,ACK"),
    (State::Listen, State::SynSent, "SEND / snd SYN"),
    (State::Listen, State::Closed, "CLOSE"),
    (State::SynSent, State::SynReceived, "rcv SYN / snd SYN,ACK"),
    (State::SynSent, State::Established, "rcv SYN,ACK / snd ACK"),
    (State::SynSent, State::Closed, "CLOSE"),
    (State::SynReceived, State::Established, "rcv ACK of SYN"),
    (State::SynReceived, State::FinWait1, "CLOSE / snd FIN"),
    (State::SynReceived, State::Listen, "rcv RST"),
    (State::Established, State::FinWait1, "CLOSE / snd FIN"),
    (State::Established, State::CloseWait, "rcv FIN / snd ACK"),
    (State::FinWait1, State::FinWait2, "rcv ACK of FIN"),
    (State::FinWait1, State::Closing, "rcv FIN / snd ACK"),
    (State::FinWait2, State::TimeWait, "rcv FIN / snd ACK"),
    (State::Closing, State::TimeWait, "rcv ACK of FIN"),
    (State::TimeWait, State::Closed, "Timeout=2MSL"),
    (State::CloseWait, State::LastAck, "CLOSE / snd FIN"),
    (State::LastAck, State::Closed, "rcv ACK of FIN"),
];

/// Where a state sits. CLOSED is drawn twice, as in the figure: at the top
/// (where connections start, and where a reset before ESTABLISHED's row
/// ends one) and at the bottom (where closing ends).
fn place(s: State, bottom: bool) -> (f64, f64) {
    match s {
        State::Closed if bottom => (760.0, 720.0),
        State::Closed => (470.0, 40.0),
        State::Listen => (470.0, 150.0),
        State::SynReceived => (190.0, 265.0),
        State::SynSent => (750.0, 265.0),
        State::Established => (470.0, 380.0),
        State::FinWait1 => (190.0, 495.0),
        State::CloseWait => (750.0, 495.0),
        State::FinWait2 => (190.0, 610.0),
        State::Closing => (470.0, 610.0),
        State::LastAck => (750.0, 610.0),
        State::TimeWait => (470.0, 720.0),
    }
}

fn row(s: State) -> f64 {
    place(s, false).1
}

/// The end of an edge into `to`: the lower CLOSED for states from
/// ESTABLISHED's row down.
fn ends(from: State, to: State) -> ((f64, f64), (f64, f64)) {
    let bottom = to == State::Closed && row(from) >= row(State::Established);
    (place(from, false), place(to, bottom))
}

const NODE_W: f64 = 150.0;
const NODE_H: f64 = 34.0;

/// Where the segment from the centre of one box to another's leaves the
/// first box.
fn border((x1, y1): (f64, f64), (x2, y2): (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (x2 - x1, y2 - y1);
    if dx == 0.0 && dy == 0.0 {
        return (x1, y1);
    }
    let tx = if dx != 0.0 { (NODE_W / 2.0 + 4.0) / dx.abs() } else { f64::INFINITY };
    let ty = if dy != 0.0 { (NODE_H / 2.0 + 4.0) / dy.abs() } else { f64::INFINITY };
    let t = tx.min(ty);
    (x1 + dx * t, y1 + dy * t)
}

pub const PASS: &str = "#1a7f37";
pub const FAIL: &str = "#cf222e";
pub const DEVIATION: &str = "#bf8700";
pub const SEEN: &str = "#0b5cad";
pub const NONE: &str = "#b1b8c0";

fn colour(e: Option<&EdgeStat>) -> (&'static str, &'static str) {
    match e {
        None => (NONE, "none"),
        Some(e) if e.total() == 0 => (NONE, "none"),
        Some(e) if e.failed > 0 => (FAIL, "fail"),
        Some(e) if e.seen > 0 && e.passed == 0 && e.deviation == 0 => (SEEN, "seen"),
        Some(e) if e.passed == 0 => (DEVIATION, "dev"),
        Some(_) => (PASS, "pass"),
    }
}

/// What the diagram holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    pub states: usize,
    /// Transitions drawn (the figure's and any other taken).
    pub transitions: usize,
    /// Of those, the ones taken.
    pub exercised: usize,
}

/// The diagram for one target (named in `title`) from its transition
/// counts.
pub fn diagram(title: &str, edges: &BTreeMap<(State, State), EdgeStat>) -> (String, Drawn) {
    let (w, h) = (960.0, 790.0);
    let mut out = String::with_capacity(32 * 1024);
    let mut svg = Svg::into(
        &mut out,
        w,
        h,
        title,
        &[("pass", PASS), ("fail", FAIL), ("dev", DEVIATION), ("seen", SEEN), ("none", NONE)],
    );
    let mut d = Drawn::default();
    svg.text(14.0, 22.0, "start", "font-weight=\"bold\" font-size=\"14\"", title);
    let figure: BTreeSet<(State, State)> = FIGURE_5.iter().map(|(a, b, _)| (*a, *b)).collect();
    let words: BTreeMap<(State, State), &str> = FIGURE_5.iter().map(|(a, b, t)| ((*a, *b), *t)).collect();
    let mut labels = Vec::new();
    let mut all: Vec<(State, State)> = FIGURE_5.iter().map(|(a, b, _)| (*a, *b)).collect();
    all.extend(edges.iter().filter(|(k, v)| !figure.contains(k) && v.total() > 0).map(|(k, _)| *k));
    for (from, to) in all {
        let e = edges.get(&(from, to));
        let (col, marker) = colour(e);
        let in_figure = figure.contains(&(from, to));
        let (a, b) = ends(from, to);
        // A pair drawn both ways: each keeps to its own side; labels go
        // on that side too, a third of the way from the source, so the two
        // of a pair (and edges leaving one state) do not overprint.
        let (mut p, mut q) = (border(a, b), border(b, a));
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (nx, ny) = (-dy / len, dx / len);
        if edges.contains_key(&(to, from)) || figure.contains(&(to, from)) {
            p = (p.0 + nx * 6.0, p.1 + ny * 6.0);
            q = (q.0 + nx * 6.0, q.1 + ny * 6.0);
        }
        let width = if in_figure { 2.0 } else { 1.2 };
        let dash = if e.is_none_or(|e| e.total() == 0) { " stroke-dasharray=\"5 4\"" } else { "" };
        let taken = e.map_or(0, |e| e.total());
        let what = match e {
            Some(e) if taken > 0 => format!(
                "{from} -> {to}: {} passed, {} failed, {} known deviations{}",
                e.passed,
                e.failed,
                e.deviation,
                if e.seen > 0 { format!(", taken {} times", e.seen) } else { String::new() }
            ),
            _ => format!("{from} -> {to}: not exercised"),
        };
        let _ = write!(svg.s, "<g class=\"transition {marker}\"><title>{}</title>", esc(&what));
        svg.line(p, q, &format!("stroke=\"{col}\" stroke-width=\"{width}\"{dash} marker-end=\"url(#arrow-{marker})\""));
        let (mx, my) = (p.0 + (q.0 - p.0) * 0.38 + nx * 10.0, p.1 + (q.1 - p.1) * 0.38 + ny * 10.0);
        let anchor = if nx < -0.2 {
            "end"
        } else if nx > 0.2 {
            "start"
        } else {
            "middle"
        };
        let label = match (words.get(&(from, to)), taken) {
            (Some(t), 0) => t.to_string(),
            (Some(t), n) => format!("{t} ×{n}"),
            (None, n) => format!("×{n}"),
        };
        svg.raw("</g>\n");
        labels.push((mx, my + 4.0, anchor, col, label));
        d.transitions += 1;
        d.exercised += usize::from(taken > 0);
    }
    let visited: BTreeSet<State> =
        edges.iter().filter(|(_, v)| v.total() > 0).flat_map(|((a, b), _)| [*a, *b]).collect();
    for (s, bottom) in State::ALL.iter().map(|s| (*s, false)).chain([(State::Closed, true)]) {
        let (x, y) = place(s, bottom);
        let (fill, stroke) = if visited.contains(&s) { ("#fff8c5", "#9a6700") } else { ("#f6f8fa", "#8c959f") };
        let _ = write!(svg.s, "<g class=\"state-node\"><title>{s}</title>");
        svg.rect(
            x - NODE_W / 2.0,
            y - NODE_H / 2.0,
            NODE_W,
            NODE_H,
            &format!("rx=\"8\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\""),
        );
        svg.text(x, y + 5.0, "middle", "font-weight=\"bold\"", &s.to_string());
        svg.raw("</g>\n");
        d.states += 1;
    }
    // Labels last, on a white halo, so neither lines nor boxes hide them.
    svg.raw("<g class=\"labels\">");
    for (x, y, anchor, col, label) in labels {
        svg.text(
            x,
            y,
            anchor,
            &format!("fill=\"{col}\" font-size=\"11\" stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\""),
            &label,
        );
    }
    svg.raw("</g>\n");
    // The key.
    let mut kx = 14.0;
    for (col, t) in [
        (PASS, "exercised, passed"),
        (FAIL, "exercised by a failing run"),
        (DEVIATION, "known deviation only"),
        (SEEN, "taken (fuzz)"),
        (NONE, "not exercised"),
    ] {
        svg.rect(kx, h - 26.0, 14.0, 14.0, &format!("fill=\"{col}\""));
        svg.text(kx + 20.0, h - 14.0, "start", "font-size=\"11\"", t);
        kx += 26.0 + t.len() as f64 * 6.7;
    }
    svg.finish();
    (out, d)
}

/// The transitions a trace's marks record, in order.
pub fn transitions(trace: &[crate::engine::TraceEntry]) -> Vec<(State, State)> {
    trace
        .iter()
        .filter_map(|e| match e {
            crate::engine::TraceEntry::Mark { mark: crate::engine::Mark::State { from, to, .. }, .. } => {
                Some((*from, *to))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figure_is_always_drawn_and_runs_colour_it() {
        let (svg, d) = diagram("none", &Edges::new());
        assert_eq!((d.states, d.transitions, d.exercised), (12, 20, 0));
        assert_eq!(svg.matches("class=\"transition none\"").count(), 20);
        let mut e = Edges::new();
        e.insert((State::Listen, State::SynReceived), EdgeStat { passed: 3, ..EdgeStat::default() });
        e.insert((State::SynReceived, State::Established), EdgeStat { passed: 2, failed: 1, ..EdgeStat::default() });
        e.insert((State::FinWait1, State::FinWait2), EdgeStat { deviation: 1, ..EdgeStat::default() });
        // Outside the figure: drawn too, thinner.
        e.insert((State::Established, State::Closed), EdgeStat { seen: 4, ..EdgeStat::default() });
        let (svg, d) = diagram("some", &e);
        assert_eq!((d.transitions, d.exercised), (21, 4));
        for (class, n) in [("pass", 1), ("fail", 1), ("dev", 1), ("seen", 1), ("none", 17)] {
            assert_eq!(svg.matches(&format!("class=\"transition {class}\"")).count(), n, "{class}");
        }
        assert!(svg.contains("rcv SYN / snd SYN,ACK ×3"), "the figure's words and the count");
        assert!(
            svg.contains("SYN-RECEIVED -&gt; ESTABLISHED: 2 passed, 1 failed"),
            "the title says what the runs said"
        );
    }
}

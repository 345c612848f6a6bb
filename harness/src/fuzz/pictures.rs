//! A campaign's pictures, written into its `--out` directory: its progress
//! over time (`progress.svg`, from the global figures tcp-fuzz prints, kept
//! in `progress.tsv`) and RFC 9293 Figure 5 with the transitions its queue
//! reaches (`states.svg`, each case of the queue run again on the
//! reference stack).

use crate::pictures::plot::{plot, Series};
use crate::pictures::states::{diagram, Edges};
use std::io::Write as _;
use std::path::Path;

/// One global line of the campaign's monitor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the campaign started.
    pub t: f64,
    /// Percent of the reference stack's edges reached.
    pub edges: f64,
    /// Percent of the transitions map reached.
    pub transitions: f64,
    pub corpus: u64,
    pub executions: u64,
    pub objectives: u64,
}

/// The samples seen so far.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    pub samples: Vec<Sample>,
}

impl Progress {
    /// Reads one line of tcp-fuzz's output: LibAFL's `(GLOBAL)` lines carry
    /// `key: value` pairs (`edges: 14.348%`, `corpus: 12`); others are not
    /// figures.
    pub fn line(&mut self, t: f64, line: &str) {
        let Some((_, figures)) = line.split_once("(GLOBAL)") else { return };
        let mut s = Sample { t, ..self.samples.last().copied().unwrap_or_default() };
        s.t = t;
        for part in figures.split(", ") {
            let Some((k, v)) = part.trim().split_once(": ") else { continue };
            let pct = || v.trim_end_matches('%').parse::<f64>().ok();
            match k {
                "edges" => s.edges = pct().unwrap_or(s.edges),
                "transitions" => s.transitions = pct().unwrap_or(s.transitions),
                "corpus" => s.corpus = v.parse().unwrap_or(s.corpus),
                "executions" => s.executions = v.parse().unwrap_or(s.executions),
                "objectives" => s.objectives = v.parse().unwrap_or(s.objectives),
                _ => {}
            }
        }
        // One sample per tenth of a second is plenty for a plot.
        match self.samples.last_mut() {
            Some(last) if t - last.t < 0.1 => *last = s,
            _ => self.samples.push(s),
        }
    }

    /// `progress.tsv` and `progress.svg` in `out`.
    pub fn write(&self, out: &Path) -> std::io::Result<()> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("progress.tsv"))?);
        writeln!(f, "seconds\tedges_percent\ttransitions_percent\tcorpus\texecutions\tobjectives")?;
        for s in &self.samples {
            writeln!(
                f,
                "{:.1}\t{}\t{}\t{}\t{}\t{}",
                s.t, s.edges, s.transitions, s.corpus, s.executions, s.objectives
            )?;
        }
        f.flush()?;
        std::fs::write(out.join("progress.svg"), self.svg())
    }

    pub fn svg(&self) -> String {
        let pts = |f: fn(&Sample) -> f64| self.samples.iter().map(|s| (s.t, f(s))).collect::<Vec<_>>();
        let (e, t, c) = (pts(|s| s.edges), pts(|s| s.transitions), pts(|s| s.corpus as f64));
        plot(
            "tcp-fuzz: coverage over the campaign",
            &[
                Series { name: "edges of the reference stack reached (%)", colour: "#0b5cad", points: &e },
                Series { name: "transitions map reached (%)", colour: "#1a7f37", points: &t },
                Series { name: "cases in the queue", colour: "#8250df", points: &c },
            ],
        )
    }
}

/// The state transitions the cases of `out/queue` take, each counted once
/// per case that takes it.
pub fn queue_transitions(out: &Path) -> std::io::Result<(usize, Edges)> {
    queue_coverage(out).map(|q| (q.cases, q.edges))
}

/// What the cases of a campaign's queue reach, each counted once per case.
#[derive(Debug, Default)]
pub struct QueueCoverage {
    pub cases: usize,
    pub edges: Edges,
    /// The stack's notices (listen queues, cookies, TIME-WAIT reuse, ...)
    /// by name (see `exec::NOTICE_NAMES`): how many cases reach each.
    pub notices: std::collections::BTreeMap<&'static str, usize>,
}

pub fn queue_coverage(out: &Path) -> std::io::Result<QueueCoverage> {
    let mut edges = Edges::new();
    let mut notices = std::collections::BTreeMap::new();
    let mut cases = 0;
    let mut map = vec![0u8; super::exec::MAP_SIZE];
    for entry in std::fs::read_dir(out.join("queue"))? {
        let path = entry?.path();
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden || !path.is_file() {
            continue;
        }
        let Ok(bytes) = crate::os::files::read_input(&path) else { continue };
        map.fill(0);
        // A queue case ran cleanly in the campaign; one that now panics is
        // left out here (triage reports solutions, not this picture).
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = super::exec::run_case(&bytes, &mut map, None);
        }));
        if ran.is_err() {
            continue;
        }
        cases += 1;
        for t in super::exec::transitions_hit(&map) {
            edges.entry(t).or_default().seen += 1;
        }
        for n in super::exec::notices_hit(&map) {
            *notices.entry(n).or_default() += 1;
        }
    }
    Ok(QueueCoverage { cases, edges, notices })
}

/// What [`write_states`] found.
#[derive(Debug)]
pub struct Written {
    pub cases: usize,
    pub transitions: usize,
    pub notices: Vec<(&'static str, usize)>,
}

/// Writes `out/states.svg`; returns how many queue cases it ran and how
/// many transitions they took, and the notices they reach (also written
/// to `out/notices.tsv`: name, then cases).
pub fn write_states(out: &Path) -> std::io::Result<Written> {
    let QueueCoverage { cases, edges, notices } = queue_coverage(out)?;
    let mut tsv = String::from("notice\tcases\n");
    for (_, n) in super::exec::NOTICE_NAMES.iter() {
        tsv.push_str(&format!("{n}\t{}\n", notices.get(n).copied().unwrap_or(0)));
    }
    let syn = "SYN dropped, listen queue full";
    tsv.push_str(&format!("{syn}\t{}\n", notices.get(syn).copied().unwrap_or(0)));
    std::fs::write(out.join("notices.tsv"), tsv)?;
    let (svg, d) =
        diagram(&format!("RFC 9293 Figure 5: the transitions the campaign's {cases} queue cases take"), &edges);
    std::fs::write(out.join("states.svg"), svg)?;
    Ok(Written { cases, transitions: d.exercised, notices: notices.into_iter().collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference_stack::State;

    #[test]
    fn global_lines_become_samples() {
        let mut p = Progress::default();
        p.line(0.0, "      (CLIENT) corpus: 0, objectives: 0, executions: 1, exec/sec: 0.000, edges: 497/3464 (14%)");
        assert!(p.samples.is_empty(), "a client's line is not the campaign's");
        p.line(1.0, "[UserStats   #1]  (GLOBAL) run time: 0s, clients: 1, corpus: 3, objectives: 0, executions: 12, exec/sec: 0.000, transitions: 0.155%, edges: 14.348%");
        p.line(2.5, "[Testcase    #1]  (GLOBAL) run time: 1s, clients: 1, corpus: 9, objectives: 1, executions: 99, exec/sec: 98.000, edges: 20.5%");
        assert_eq!(p.samples.len(), 2);
        assert_eq!(
            p.samples[0],
            Sample { t: 1.0, edges: 14.348, transitions: 0.155, corpus: 3, executions: 12, objectives: 0 }
        );
        // A line without a figure keeps the last value of it.
        assert_eq!(p.samples[1].transitions, 0.155);
        assert_eq!((p.samples[1].edges, p.samples[1].corpus, p.samples[1].objectives), (20.5, 9, 1));
        let svg = p.svg();
        assert_eq!(svg.matches("class=\"series\"").count(), 3, "{svg}");
    }

    #[test]
    fn the_queue_s_transitions_are_counted_per_case() {
        let dir = std::env::temp_dir().join(format!("harness-fuzz-pictures-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("queue")).unwrap();
        // The seeds: each a case that opens a connection at least.
        let mut n = 0;
        for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus")).unwrap().take(20) {
            let p = e.unwrap().path();
            std::fs::copy(&p, dir.join("queue").join(p.file_name().unwrap())).unwrap();
            n += 1;
        }
        std::fs::write(dir.join("queue").join(".hidden"), b"x").unwrap();
        let (cases, edges) = queue_transitions(&dir).unwrap();
        assert_eq!(cases, n);
        let opened = edges.get(&(State::Closed, State::Listen)).map_or(0, |e| e.seen)
            + edges.get(&(State::Closed, State::SynSent)).map_or(0, |e| e.seen);
        assert_eq!(opened, n, "every case opens: {edges:?}");
        let Written { cases: ran, transitions: taken, .. } = write_states(&dir).unwrap();
        assert_eq!((ran, taken), (n, edges.len()));
        let svg = std::fs::read_to_string(dir.join("states.svg")).unwrap();
        assert_eq!(svg.matches("class=\"state-node\"").count(), 12);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! The state x segment grid (`suites/grid/`) as a heat map: a row per
//! grid file (a state, and how it was reached), a column per segment kind
//! and sequence position, each cell coloured by its run's verdict and
//! linked to what explains it (the run's page, the script, the ledger).

use super::svg::{esc, Svg};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellVerdict {
    Pass,
    Deviation,
    Fail,
    Skipped,
}

impl CellVerdict {
    fn colour(self) -> &'static str {
        match self {
            CellVerdict::Pass => "#2da44e",
            CellVerdict::Deviation => "#d4a72c",
            CellVerdict::Fail => "#cf222e",
            CellVerdict::Skipped => "#d0d7de",
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            CellVerdict::Pass => "pass",
            CellVerdict::Deviation => "known deviation",
            CellVerdict::Fail => "FAIL",
            CellVerdict::Skipped => "not run",
        }
    }
}

/// One run of one grid cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// The grid file's stem (`established-passive`).
    pub row: String,
    pub kind: String,
    pub pos: String,
    pub verdict: CellVerdict,
    /// Where a click on the cell goes.
    pub href: Option<String>,
    /// What a pointer over it says (the script, the rule, the ledger's reason).
    pub title: String,
}

/// The grid's segment kinds and positions in the order `harness grid`
/// writes them; others are put after them, in the order met.
const KINDS: [&str; 10] = ["SYN", "SYN-ACK", "ACK", "RST", "RST-ACK", "FIN", "FIN-ACK", "data", "SYN-FIN", "no-flags"];
const POS: [&str; 5] = ["below", "left", "inside", "right", "beyond"];

fn order<'a>(known: &[&str], seen: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let seen: Vec<&str> = seen.collect();
    for k in known {
        if seen.contains(k) {
            out.push(k.to_string());
        }
    }
    for s in seen {
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    out
}

/// What the map holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drawn {
    pub rows: usize,
    pub cells: usize,
}

/// The heat map of `cells` (one target's) as SVG.
pub fn heatmap(title: &str, cells: &[Cell]) -> (String, Drawn) {
    let kinds = order(&KINDS, cells.iter().map(|c| c.kind.as_str()));
    let mut rows: Vec<String> = Vec::new();
    for c in cells {
        if !rows.contains(&c.row) {
            rows.push(c.row.clone());
        }
    }
    // Columns: each kind's positions.
    let mut cols: Vec<(String, String)> = Vec::new();
    for k in &kinds {
        for p in order(&POS, cells.iter().filter(|c| &c.kind == k).map(|c| c.pos.as_str())) {
            cols.push((k.clone(), p));
        }
    }
    let at: BTreeMap<(&str, &str, &str), &Cell> =
        cells.iter().map(|c| ((c.row.as_str(), c.kind.as_str(), c.pos.as_str()), c)).collect();
    let (cw, ch, left, top) = (13.0, 20.0, 170.0, 110.0);
    let w = left + cols.len() as f64 * cw + 20.0;
    let h = top + rows.len() as f64 * ch + 60.0;
    let mut out = String::with_capacity(32 * 1024);
    let mut svg = Svg::into(&mut out, w.max(640.0), h, title, &[]);
    svg.text(10.0, 20.0, "start", "font-weight=\"bold\" font-size=\"14\"", title);
    // Kind headers over their columns, positions turned on their side.
    let mut x = left;
    for k in &kinds {
        let n = cols.iter().filter(|(ck, _)| ck == k).count() as f64;
        svg.line((x, 34.0), (x, top + rows.len() as f64 * ch), "stroke=\"#57606a\" stroke-width=\"1\"");
        svg.text(x + n * cw / 2.0, 44.0, "middle", "font-weight=\"bold\" font-size=\"10\"", k);
        x += n * cw;
    }
    for (i, (_, p)) in cols.iter().enumerate() {
        let cx = left + i as f64 * cw + cw / 2.0 + 3.0;
        let _ = writeln!(
            svg.s,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#57606a\" transform=\"rotate(-60 {cx:.1} {:.1})\">{}</text>",
            top - 4.0,
            top - 4.0,
            esc(p)
        );
    }
    let mut d = Drawn { rows: rows.len(), cells: 0 };
    for (r, row) in rows.iter().enumerate() {
        let y = top + r as f64 * ch;
        svg.text(left - 8.0, y + 14.0, "end", "font-size=\"11\"", row);
        for (i, (k, p)) in cols.iter().enumerate() {
            let x = left + i as f64 * cw;
            let Some(c) = at.get(&(row.as_str(), k.as_str(), p.as_str())) else { continue };
            let open = match &c.href {
                Some(h) => format!("<a href=\"{}\">", esc(h)),
                None => String::new(),
            };
            let _ = write!(
                svg.s,
                "{open}<g class=\"cell {}\"><title>{} x {k} at {p}: {}. {}</title>",
                c.verdict.word().replace(' ', "-").to_lowercase(),
                esc(row),
                c.verdict.word(),
                esc(&c.title)
            );
            svg.rect(x + 1.0, y + 1.0, cw - 2.0, ch - 2.0, &format!("fill=\"{}\"", c.verdict.colour()));
            svg.raw(if c.href.is_some() { "</g></a>\n" } else { "</g>\n" });
            d.cells += 1;
        }
    }
    let mut kx = 10.0;
    for v in [CellVerdict::Pass, CellVerdict::Deviation, CellVerdict::Fail, CellVerdict::Skipped] {
        svg.rect(kx, h - 26.0, 14.0, 14.0, &format!("fill=\"{}\"", v.colour()));
        svg.text(kx + 20.0, h - 14.0, "start", "font-size=\"11\"", v.word());
        kx += 40.0 + v.word().len() as f64 * 6.7;
    }
    svg.finish();
    (out, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(row: &str, kind: &str, pos: &str, verdict: CellVerdict) -> Cell {
        Cell {
            row: row.into(),
            kind: kind.into(),
            pos: pos.into(),
            verdict,
            href: Some(format!("runs.html#{row}-{kind}-{pos}")),
            title: "why".into(),
        }
    }

    #[test]
    fn a_cell_per_run_in_the_grid_s_order_with_its_link() {
        let cells = vec![
            cell("closing", "RST", "left", CellVerdict::Pass),
            cell("closing", "SYN", "beyond", CellVerdict::Fail),
            cell("listen", "SYN", "listen", CellVerdict::Deviation),
            cell("closing", "SYN", "below", CellVerdict::Skipped),
        ];
        let (svg, d) = heatmap("t", &cells);
        assert_eq!((d.rows, d.cells), (2, 4));
        for class in ["pass", "fail", "known-deviation", "not-run"] {
            assert_eq!(svg.matches(&format!("class=\"cell {class}\"")).count(), 1, "{class}: {svg}");
        }
        assert!(svg.contains("<a href=\"runs.html#listen-SYN-listen\">"));
        // SYN before RST; below before beyond, and the extra position last.
        let at = |t: &str| svg.find(t).unwrap();
        assert!(at(">SYN<") < at(">RST<"));
        assert!(at(">below<") < at(">beyond<") && at(">beyond<") < at(">listen</text>"));
    }
}

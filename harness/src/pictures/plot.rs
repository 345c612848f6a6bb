//! A campaign's progress as a line plot: one or more series over wall
//! time (coverage edges, transitions reached), each on its own scale.

use super::svg::Svg;
use std::fmt::Write as _;

pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    /// (seconds since the start, value), in time order.
    pub points: &'a [(f64, f64)],
}

fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * p >= max {
            return m * p;
        }
    }
    10.0 * p
}

/// Stacked panels, one per series, sharing the time axis.
pub fn plot(title: &str, series: &[Series<'_>]) -> String {
    let (w, panel, left, top) = (820.0, 170.0, 80.0, 40.0);
    let h = top + series.len() as f64 * (panel + 40.0) + 30.0;
    let mut out = String::with_capacity(32 * 1024);
    let mut svg = Svg::into(&mut out, w, h, title, &[]);
    svg.text(10.0, 22.0, "start", "font-weight=\"bold\" font-size=\"14\"", title);
    let t_max = nice(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0, f64::max));
    let pw = w - left - 30.0;
    for (i, s) in series.iter().enumerate() {
        let y0 = top + i as f64 * (panel + 40.0) + 10.0;
        let v_max = nice(s.points.iter().map(|p| p.1).fold(0.0, f64::max));
        svg.text(left, y0 - 2.0, "start", &format!("fill=\"{}\" font-weight=\"bold\"", s.colour), s.name);
        svg.rect(left, y0 + 6.0, pw, panel, "fill=\"#ffffff\" stroke=\"#8c959f\"");
        for k in 0..=4 {
            let v = v_max * f64::from(k) / 4.0;
            let y = y0 + 6.0 + panel - panel * f64::from(k) / 4.0;
            svg.line((left, y), (left + pw, y), "stroke=\"#eaeef2\"");
            let label = if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") };
            svg.text(left - 6.0, y + 4.0, "end", "font-size=\"10\"", &label);
        }
        for k in 0..=5 {
            let t = t_max * f64::from(k) / 5.0;
            let x = left + pw * f64::from(k) / 5.0;
            svg.text(x, y0 + 6.0 + panel + 14.0, "middle", "font-size=\"10\"", &format!("{t:.0} s"));
        }
        let mut d = String::new();
        for (j, (t, v)) in s.points.iter().enumerate() {
            let x = left + pw * t / t_max;
            let y = y0 + 6.0 + panel - panel * v / v_max;
            let _ = write!(d, "{}{x:.1},{y:.1} ", if j == 0 { "M" } else { "L" });
        }
        if !d.is_empty() {
            let _ = writeln!(
                svg.s,
                "<path class=\"series\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
                d.trim_end(),
                s.colour
            );
        }
    }
    svg.finish();
    out
}

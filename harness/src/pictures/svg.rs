//! The few SVG and HTML pieces the pictures share.

use std::fmt::Write as _;

/// Text for HTML and SVG: `&`, `<`, `>` and quotes escaped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// An SVG document being written.
pub(super) struct Svg {
    pub s: String,
}

impl Svg {
    /// A document `w` x `h` pixels, with arrow heads in the given colours
    /// (`marker-end="url(#arrow-NAME)"`).
    pub fn new(w: f64, h: f64, label: &str, arrows: &[(&str, &str)]) -> Svg {
        let mut s = String::new();
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\" \
             role=\"img\" aria-label=\"{}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"12\">\n<defs>",
            esc(label)
        );
        for (name, colour) in arrows {
            let _ = write!(
                s,
                "<marker id=\"arrow-{name}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" \
                 markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
            );
        }
        s.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        Svg { s }
    }

    pub fn text(&mut self, x: f64, y: f64, anchor: &str, attrs: &str, t: &str) {
        let _ = writeln!(self.s, "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\" {attrs}>{}</text>", esc(t));
    }

    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
        let _ = writeln!(self.s, "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {attrs}/>");
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str) {
        let _ = writeln!(self.s, "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" {attrs}/>");
    }

    pub fn raw(&mut self, t: &str) {
        self.s.push_str(t);
    }

    pub fn finish(mut self) -> String {
        self.s.push_str("</svg>\n");
        self.s
    }
}

/// Roughly how wide `t` is in 12-pixel monospace.
pub(super) fn text_width(t: &str, size: f64) -> f64 {
    t.chars().count() as f64 * size * 0.6
}

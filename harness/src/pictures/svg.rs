//! The few SVG and HTML pieces the pictures share.

use std::fmt::Write as _;

/// Text for HTML and SVG: `&`, `<`, `>` and quotes escaped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    esc_into(&mut o, s);
    o
}

/// [`esc`], appended to `o`.
pub fn esc_into(o: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            _ => continue,
        };
        // The special characters are ASCII: `from..i` are whole characters.
        o.push_str(&s[from..i]);
        o.push_str(rep);
        from = i + 1;
    }
    o.push_str(&s[from..]);
}

/// A coordinate: whole pixels are plenty, and integers format fast.
fn px(v: f64) -> i64 {
    v.round() as i64
}

/// Seconds with six decimals (`1.000250`), without float formatting.
pub(super) fn secs(d: std::time::Duration) -> String {
    let mut s = String::with_capacity(12);
    secs_into(&mut s, d);
    s
}

/// [`secs`], appended to `s`.
pub(super) fn secs_into(s: &mut String, d: std::time::Duration) {
    num(s, d.as_secs() as i64);
    s.push('.');
    let us = d.subsec_micros();
    let mut digits = [b'0'; 6];
    let mut v = us;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    for d in digits {
        s.push(char::from(d));
    }
}

/// An integer, appended to `s` (the pictures write thousands of them;
/// `write!` costs several times more).
pub(super) fn num(s: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        s.push('-');
    }
    s.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// An SVG document being written, into its own string or at the end of a
/// page's.
pub(super) struct Svg<'a> {
    pub s: &'a mut String,
}

impl<'a> Svg<'a> {
    /// A document `w` x `h` pixels, with arrow heads in the given colours
    /// (`marker-end="url(#arrow-NAME)"`).
    pub fn into(s: &'a mut String, w: f64, h: f64, label: &str, arrows: &[(&str, &str)]) -> Svg<'a> {
        let (w, h) = (px(w), px(h));
        let _ = write!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
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
        let _ = write!(self.s, "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" {attrs}>", px(x), px(y));
        esc_into(self.s, t);
        self.s.push_str("</text>\n");
    }

    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
        let _ =
            writeln!(self.s, "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" {attrs}/>", px(x1), px(y1), px(x2), px(y2));
    }

    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, attrs: &str) {
        let _ = writeln!(
            self.s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" {attrs}/>",
            px(x),
            px(y),
            px(w),
            px(h)
        );
    }

    pub fn raw(&mut self, t: &str) {
        self.s.push_str(t);
    }

    pub fn finish(self) {
        self.s.push_str("</svg>\n");
    }
}

/// Roughly how wide `t` is in 12-pixel monospace.
pub(super) fn text_width(t: &str, size: f64) -> f64 {
    t.chars().count() as f64 * size * 0.6
}

//! How checking and importing scale with the input (issue 26): each is
//! timed at 1x, 2x and 4x a size, and the ratio of the largest to the
//! smallest printed next to 4 (linear) and 16 (quadratic). The inputs are
//! generated: steps of a script, rows of a matrix, lines of a .pkt file,
//! steps of a script that are all wrong (the error cap), one long line.
//!
//!     cargo bench -p harness --bench input_scale

use std::path::Path;
use std::time::Instant;

fn time<T>(f: impl FnOnce() -> T) -> f64 {
    let t = Instant::now();
    std::hint::black_box(f());
    t.elapsed().as_secs_f64()
}

fn steps(n: usize) -> String {
    let mut s = String::from("steps:\n  - call: socket() = 3\n");
    for _ in 0..n {
        s.push_str("  - wait: 1ms\n");
    }
    s
}

fn matrix(rows: usize) -> String {
    let mut s = String::from("matrix:\n");
    for i in 0..rows {
        s.push_str(&format!("  - {{v: {i}}}\n"));
    }
    s.push_str("steps:\n  - call: socket() = 3\n  - wait: ${v}us\n");
    s
}

fn pkt(lines: usize) -> String {
    let mut s = String::from("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 65535 <mss 1460>\n+0 > S. 0:0(0) ack 1 <...>\n+0 < . 1:1(0) ack 1 win 65535\n+0 accept(3, ..., ...) = 4\n");
    for i in 0..lines {
        s.push_str(&format!("+0 < P. {}:{}(10) ack 1 win 65535\n", 1 + 10 * i, 11 + 10 * i));
    }
    s
}

fn bad(n: usize) -> String {
    let mut s = String::from("steps:\n");
    for _ in 0..n {
        s.push_str("  - call: sokcet() = 3\n");
    }
    s
}

fn long_line(bytes: usize) -> String {
    format!("steps:\n  - call: write(4, \"{}\" x) = 1\n", "a".repeat(bytes))
}

fn row(what: &str, base: usize, unit: &str, f: impl Fn(usize) -> f64) {
    let t: Vec<f64> = [1, 2, 4].iter().map(|k| f(base * k)).collect();
    println!(
        "{what:<34} {:>7} {unit}: {:>8.3} s   x2: {:>8.3} s   x4: {:>8.3} s   x4/x1 = {:>5.1} (linear 4, quadratic 16)",
        base,
        t[0],
        t[1],
        t[2],
        t[2] / t[0].max(1e-9)
    );
}

fn main() {
    let p = Path::new("bench.yaml");
    let parse = |text: String| time(|| harness::script::parse(p, &text).map_err(|e| e.all().count()));
    row("check a script", 10_000, "steps", |n| parse(steps(n)));
    row("check a matrix", 500, "rows", |n| parse(matrix(n)));
    row("check a script all wrong", 10_000, "steps", |n| parse(bad(n)));
    row("check a long line (and render)", 5_000_000, "bytes", |n| {
        let text = long_line(n);
        time(|| match harness::script::parse(p, &text) {
            Ok(_) => String::new(),
            Err(e) => format!("{:?}", miette::Report::new(e)),
        })
    });
    let opts = harness::import::convert::ImportOptions::default();
    row("import a .pkt file", 10_000, "lines", |n| {
        let text = pkt(n);
        time(|| harness::import::convert::convert("bench.pkt", &text, &opts))
    });
}

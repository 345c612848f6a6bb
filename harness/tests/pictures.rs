//! The pictures as a person sees them: report pages for a passing and a
//! failing run, rendered by headless Chromium. A screenshot must not be
//! blank and must show the colours the picture uses; the browser's own
//! count of the SVG's arrows, states, calls and failure marks must match
//! the run's trace. And a capture as tshark shows it: the comment of each
//! packet. Needs `chromium` and `tshark` (Debian's packages; `.ci/run`
//! installs them): without them these tests fail and say so, unless
//! HARNESS_SKIP_VIEWERS=1 skips them knowingly.

use harness::engine::{Dir, Mark, TraceEntry};
use harness::pictures::html::{write_report_dir, Meta};
use harness::report;
use harness::runner::{self, RunConfig, ScriptResult, Status};
use harness::script::{self, TargetKind};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first of `names` on PATH; `None` when HARNESS_SKIP_VIEWERS is set.
fn viewer(names: &[&str], package: &str) -> Option<PathBuf> {
    if std::env::var_os("HARNESS_SKIP_VIEWERS").is_some() {
        eprintln!("skipped: HARNESS_SKIP_VIEWERS is set");
        return None;
    }
    let found = names.iter().find_map(|b| {
        std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(b)).find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None => panic!(
            "{} is needed to check what people see: install Debian's `{package}` package (.ci/run does), or set \
             HARNESS_SKIP_VIEWERS=1 to skip this knowingly",
            names[0]
        ),
    }
}

fn chromium() -> Option<PathBuf> {
    viewer(&["chromium", "chromium-browser", "google-chrome"], "chromium")
}

fn run(path: &str, text: &str) -> ScriptResult {
    let s = script::parse(Path::new(path), text).unwrap_or_else(|e| panic!("{}", e.one_line())).remove(0);
    let mut cfg = RunConfig::default();
    cfg.options.marks = true;
    runner::run_one_with(&s, TargetKind::Reference, &cfg)
}

/// What the browser counted in a page's ladder.
#[derive(Debug, PartialEq, Eq)]
struct Counted {
    arrows: usize,
    states: usize,
    calls: usize,
    timers: usize,
    failures: usize,
    width: usize,
}

/// Opens `page` (`runs-<target>.html#<run>`) inside a checking page that
/// counts the SVG elements of the run's section, and checks that it is the
/// one section shown (the browser's DOM, style and layout, not our text).
fn count_in_browser(chrome: &Path, dir: &Path, page: &str) -> Counted {
    let id = page.split_once('#').map(|(_, a)| a).expect("an address with the run's anchor");
    let check = dir.join("check.html");
    std::fs::write(
        &check,
        format!(
            "<!DOCTYPE html><html><body><pre id=\"out\">not loaded</pre>\
             <iframe id=\"f\" src=\"{page}\" width=\"1400\" height=\"1600\"></iframe><script>\
             document.getElementById('f').addEventListener('load', function () {{\
               var d = this.contentDocument, w = this.contentWindow, sec = d.getElementById('{id}');\
               var shown = Array.prototype.filter.call(d.querySelectorAll('section.run'), function (x) {{\
                 return w.getComputedStyle(x).display !== 'none'; }});\
               if (shown.length !== 1 || shown[0] !== sec) {{ document.getElementById('out').textContent = 'shown: ' + shown.length; return; }}\
               var svg = sec.querySelector('svg'), n = function (s) {{ return sec.querySelectorAll(s).length; }};\
               document.getElementById('out').textContent = [n('svg g.arrow'), n('svg g.state'), n('svg g.call'),\
                 n('svg g.timer'), n('svg g.failure'), Math.round(svg.getBBox().width)].join(' ');\
             }});</script></body></html>"
        ),
    )
    .unwrap();
    let out = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--dump-dom"])
        .arg(format!("file://{}", check.display()))
        .output()
        .expect("running chromium");
    let dom = String::from_utf8_lossy(&out.stdout);
    let got = dom.split("<pre id=\"out\">").nth(1).and_then(|t| t.split('<').next()).unwrap_or_default();
    let n: Vec<usize> = got.split(' ').filter_map(|x| x.parse().ok()).collect();
    assert_eq!(
        n.len(),
        6,
        "the checking page says {got:?}; chromium's stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Counted { arrows: n[0], states: n[1], calls: n[2], timers: n[3], failures: n[4], width: n[5] }
}

/// Takes a screenshot of `page`; returns its pixels (RGB).
fn screenshot(chrome: &Path, url: &str, png: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let out = Command::new(chrome)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1100"])
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("running chromium");
    assert!(png.is_file(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(step).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width as usize, info.height as usize, pixels)
}

/// Pixels close to `rgb` (anti-aliasing blurs edges, not a line's core).
fn near(pixels: &[[u8; 3]], rgb: [u8; 3]) -> usize {
    pixels.iter().filter(|p| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 24)).count()
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(c.trim_start_matches('#'), 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

const ACTIVE_OPEN: &str = "steps:
  - call: socket() = 3
  - call: fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0
  - call: connect(3, 192.0.2.1:8080) = -1 EINPROGRESS
  - out: S 0:0(0) <mss 1460,...>
  - in:  S. 0:0(0) ack 1 win 65535 <mss 1400>
  - out: . 1:1(0) ack 1
  - call: write(3, 100) = 100
  - out: P. 1:101(100) ack 1
  - wait: 1.5s
";

#[test]
fn report_pages_render_the_ladder_of_a_passing_and_a_failing_run() {
    let Some(chrome) = chromium() else { return };
    let dir = std::env::temp_dir().join(format!("harness-pictures-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Passing: the data is never acknowledged, so the retransmission timer
    // fires and the segment goes again (marked and drawn). Failing: the
    // script expects a window of 1000 on the third segment.
    let ok_text = ACTIVE_OPEN.replace("  - wait: 1.5s\n", "  - {at: \"*\", out: \"P. 1:101(100) ack 1\"}\n");
    let ok = run("pass.yaml", &ok_text);
    assert!(matches!(ok.status, Status::Passed), "{}", report::failure_text(&ok));
    let bad = run("fail.yaml", &ACTIVE_OPEN.replace("  - out: . 1:1(0) ack 1\n", "  - out: . 1:1(0) ack 1 win 1000\n"));
    assert!(matches!(bad.status, Status::Failed(_)), "{:?}", bad.status);
    let results = vec![ok, bad];
    let meta = Meta { command: "harness run pass.yaml fail.yaml --report-dir DIR".into(), date: "today".into() };
    let w = write_report_dir(&dir, &results, &[], &meta).unwrap();
    assert_eq!((w.pages, w.files), (2, 3), "two run pages in one runs file, the index and the style sheet");
    for r in &results {
        let page = harness::pictures::html::page_href(r);
        let packets = r.trace.iter().filter(|e| matches!(e, TraceEntry::Packet { .. })).count();
        let states = r.trace.iter().filter(|e| matches!(e, TraceEntry::Mark { mark: Mark::State { .. }, .. })).count();
        let timers = r.trace.iter().filter(|e| matches!(e, TraceEntry::Mark { mark: Mark::Timer { .. }, .. })).count();
        let calls = r.trace.iter().filter(|e| matches!(e, TraceEntry::Call { .. })).count();
        let failed = r.failed();
        let c = count_in_browser(&chrome, &dir, &page);
        // A failure adds the expected segment, drawn beside the one that came.
        let want = Counted {
            arrows: packets + usize::from(failed),
            states,
            calls,
            timers,
            failures: usize::from(failed),
            width: 1320,
        };
        assert_eq!(c, want, "{page}");
        assert!(states >= 2 && calls >= 3, "the run recorded its states and calls: {:?}", r.trace);
        let png = dir.join(format!("{}.png", r.script.path.display()));
        let (w, h, px) = screenshot(&chrome, &format!("file://{}/{page}", dir.display()), &png);
        assert_eq!((w, h), (1400, 1100));
        let white = near(&px, [255, 255, 255]);
        assert!(white < px.len() * 97 / 100, "{page}: {white} of {} pixels white: blank", px.len());
        // The picture's colours are on the screen: the stack's segments
        // (green), the peer's (blue), the state boxes (yellow); the failing
        // page's red.
        for (what, colour) in [("out", "#1a7f37"), ("in", "#0b5cad"), ("state", "#fff8c5")] {
            assert!(near(&px, hex(colour)) > 50, "{page}: no {what} colour {colour} on the screen");
        }
        let red = near(&px, hex("#cf222e"));
        assert_eq!(red > 50, failed, "{page}: {red} red pixels");
        if !failed {
            assert!(timers >= 1, "the retransmission timer was drawn: {:?}", r.trace);
        }
    }
    let got = results[1].trace.iter().filter(|e| matches!(e, TraceEntry::Packet { dir: Dir::Out, .. })).count();
    assert!(got >= 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Without a browser: the ladder draws an arrow per segment (and the one a
/// failing step expected), a box per call, a mark per state change and
/// timer; a standalone picture carries its style sheet.
#[test]
fn the_ladder_draws_every_entry_of_the_trace() {
    let ok =
        run("pass.yaml", &ACTIVE_OPEN.replace("  - wait: 1.5s\n", "  - {at: \"*\", out: \"P. 1:101(100) ack 1\"}\n"));
    let bad = run("fail.yaml", &ACTIVE_OPEN.replace("  - out: P. 1:101(100) ack 1\n", "  - out: P. 1:100(99) ack 1\n"));
    for (r, failed) in [(&ok, false), (&bad, true)] {
        let n = |f: fn(&TraceEntry) -> bool| r.trace.iter().filter(|e| f(e)).count();
        let (svg, d) = harness::pictures::ladder::ladder(r);
        assert_eq!(d.arrows, n(|e| matches!(e, TraceEntry::Packet { .. })) + usize::from(failed));
        assert_eq!(d.calls, n(|e| matches!(e, TraceEntry::Call { .. })));
        assert_eq!(d.states, n(|e| matches!(e, TraceEntry::Mark { mark: Mark::State { .. }, .. })));
        assert_eq!(d.timers, n(|e| matches!(e, TraceEntry::Mark { mark: Mark::Timer { .. }, .. })));
        assert_eq!(d.failures, usize::from(failed));
        assert_eq!(svg.matches("<g class=\"arrow").count(), d.arrows);
        assert!(svg.contains("<style>") && svg.ends_with("</svg>\n"));
    }
    assert!(ok.trace.iter().any(|e| matches!(e, TraceEntry::Mark { mark: Mark::Timer { .. }, .. })));
    let (svg, _) = harness::pictures::ladder::ladder(&bad);
    assert!(svg.contains("got: P. 1:101(100)") && svg.contains("expected: P. 1:100(99)"), "{svg}");
    assert!(svg.contains("length: expected 99, got 100") || svg.contains("expected 99"), "{svg}");
}

/// tshark prints each packet's comment (its step, file:line, and for the
/// segment a failing step got, what differed) and its direction.
#[test]
fn tshark_shows_the_comments_of_a_capture() {
    let Some(tshark) = viewer(&["tshark"], "tshark") else { return };
    let bad = run("fail.yaml", &ACTIVE_OPEN.replace("  - out: . 1:1(0) ack 1\n", "  - out: . 1:1(0) ack 1 win 1000\n"));
    let path = std::env::temp_dir().join(format!("harness-tshark-{}.pcapng", std::process::id()));
    report::write_pcapng(&path, &bad).unwrap();
    let out = Command::new(tshark)
        .args(["-r"])
        .arg(&path)
        .args(["-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "frame.comment"])
        .output()
        .expect("running tshark");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let packets = bad.trace.iter().filter(|e| matches!(e, TraceEntry::Packet { .. })).count();
    assert_eq!(lines.len(), packets, "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(lines[0].starts_with("1|step 4, fail.yaml:5: out: S 0:0(0)"), "{}", lines[0]);
    let last = lines.last().unwrap();
    assert!(last.contains("fail.yaml:7: out: . 1:1(0) ack 1 win 1000") && last.contains("MISMATCH"), "{last}");
    assert!(last.contains("win: expected 1000, got 65535"), "{last}");
    // The direction flags: the stack's segments outbound (2), the peer's
    // inbound (1).
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args(["-T", "fields", "-e", "frame.packet_flags_direction"])
        .output()
        .unwrap();
    let dirs: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    assert_eq!(dirs[..3], ["0x00000002", "0x00000001", "0x00000002"], "{dirs:?}");
    std::fs::remove_file(&path).unwrap();
}

/// A target that logs no transitions (smoltcp here) has its connection's
/// state asked after each step: the listener before the connection, the
/// connection's states after, and CLOSED once it is gone, even when the
/// script then uses the listener again.
#[test]
fn states_are_sampled_on_a_target_that_logs_none() {
    let text = "steps:
  - call: socket() = 3
  - call: bind(3, 8080) = 0
  - call: listen(3, 1) = 0
  - in:  S 0:0(0) win 65535 <mss 1460>
  - out: S. 0:0(0) ack 1 <mss 1460,...>
  - in:  . 1:1(0) ack 1 win 65535
  - call: accept(3) = 4
  - in:  R. 1:1(0) ack 1 win 0
  - call: fcntl(3, F_GETFL) = *
";
    let s = script::parse(Path::new("sampled.yaml"), text).unwrap_or_else(|e| panic!("{}", e.one_line())).remove(0);
    let mut cfg = RunConfig::default();
    cfg.options.marks = true;
    let r = runner::run_one_with(&s, TargetKind::Smoltcp, &cfg);
    assert!(matches!(r.status, Status::Passed), "{}", report::failure_text(&r));
    let states: Vec<String> =
        harness::pictures::states::transitions(&r.trace).iter().map(|(a, b)| format!("{a}>{b}")).collect();
    assert_eq!(
        states,
        ["CLOSED>LISTEN", "LISTEN>SYN-RECEIVED", "SYN-RECEIVED>ESTABLISHED", "ESTABLISHED>CLOSED"],
        "{}",
        report::trace_text(&r)
    );
    assert!(r.trace.iter().any(|e| e.to_string().contains("(seen after the step)")));
}

//! Scripts that must fail, and what their reports must say.

use harness::engine::{self, Outcome};
use harness::report;
use harness::runner::{self, Status};
use harness::script::{self, TargetKind};
use harness::target::reference::ReferenceTarget;
use std::path::Path;

const HEAD: &str = "steps:
  - call: socket() = 3
  - call: bind(3, 8080) = 0
  - call: listen(3, 1) = 0
  - in:  S 0:0(0) win 65535 <mss 1460>
  - out: S. 0:0(0) ack 1 <mss 1460>
  - in:  . 1:1(0) ack 1 win 65535
  - call: accept(3) = 4
";

/// Runs `HEAD + tail` on the reference target; returns the failure report text.
fn fails(tail: &str) -> (engine::Failure, String) {
    let text = format!("{HEAD}{tail}");
    let scripts = script::parse(Path::new("broken.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.one_line()));
    let r = runner::run_one(&scripts[0], TargetKind::Reference);
    let text = report::failure_text(&r);
    match r.status {
        Status::Failed(f) => (f, text),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn the_passing_head_passes() {
    let scripts = script::parse(Path::new("ok.yaml"), HEAD).unwrap();
    let mut t = ReferenceTarget::new(&scripts[0]);
    assert!(matches!(engine::run(&scripts[0], &mut t).outcome, Outcome::Passed));
}

#[test]
fn wrong_flag() {
    let (f, text) = fails("  - call: close(4) = 0\n  - out: R. 1:1(0) ack 1\n");
    assert_eq!(f.pos.unwrap().line, 10);
    assert!(f.diffs.iter().any(|d| d.field == "flags" && d.expected == "R." && d.actual == "F."), "{text}");
    assert!(text.contains("broken.yaml:10:5"), "{text}");
    assert!(text.contains("flags  expected R."), "{text}");
    // The trace shows the packets so far, relative to each side's ISN.
    assert!(text.contains("in   S 0:0(0) win 65535 <mss 1460>"), "{text}");
    assert!(text.contains("out  F. 1:1(0) ack 1"), "{text}");
    assert!(text.contains("connection: 198.51.100.1:8080 <-> 192.0.2.1:40000 FIN-WAIT-1"), "{text}");
}

#[test]
fn wrong_ack_and_window_are_both_listed() {
    let (f, text) = fails("  - call: close(4) = 0\n  - out: F. 1:1(0) ack 7 win 100\n");
    let fields: Vec<&str> = f.diffs.iter().map(|d| d.field).collect();
    assert_eq!(fields, vec!["ack", "win"], "{text}");
    assert!(text.contains("ack  expected 7"), "{text}");
    assert!(text.contains("got 1"), "{text}");
}

#[test]
fn late_packet() {
    // The FIN leaves at once; the script says 1 s later: the FIN is too early.
    let (f, text) = fails("  - call: close(4) = 0\n  - {at: +1, out: F. 1:1(0) ack 1}\n");
    assert!(f.message.contains("too early"), "{text}");
    // A retransmission expected too soon: nothing by then.
    let (f, text) =
        fails("  - call: write(4, 10) = 10\n  - out: P. 1:11(10) ack 1\n  - {at: +0.5, out: P. 1:11(10) ack 1}\n");
    assert!(f.message.contains("nothing was sent"), "{text}");
}

#[test]
fn missing_packet() {
    let (f, text) = fails("  - out: F. 1:1(0) ack 1\n");
    assert!(f.message.contains("expected a packet by 0.010000"), "{text}");
    assert_eq!(f.pos.unwrap().line, 9);
}

#[test]
fn unexpected_packet() {
    let (f, text) = fails("  - call: close(4) = 0\n  - in: . 1:1(0) ack 1 win 65535\n");
    assert!(f.message.contains("unexpected packet"), "{text}");
    assert!(f.message.contains("F. 1:1(0) ack 1"), "{text}");
}

#[test]
fn wrong_state() {
    let (f, text) = fails("  - state: {fd: 4, is: CLOSE_WAIT}\n");
    assert_eq!(f.diffs[0].expected, "CLOSE-WAIT");
    assert_eq!(f.diffs[0].actual, "ESTABLISHED");
    assert!(text.contains("fd 4 is ESTABLISHED, expected CLOSE-WAIT"), "{text}");
}

#[test]
fn wrong_return_value_and_errno() {
    let (f, text) = fails("  - call: getsockopt(4, TCP_NODELAY, [1]) = 0\n");
    assert!(f.message.contains("gave the value 0, expected 1"), "{text}");
    let (f, _) = fails("  - call: fcntl(4, F_SETFL, O_NONBLOCK) = 0\n  - call: read(4, 10) = -1 ECONNRESET\n");
    assert_eq!(f.diffs[0].actual, "-1 EAGAIN");
}

#[test]
fn blocking_call_that_never_returns() {
    let (f, text) = fails("  - call: read(4, 10) = 10\n");
    assert!(f.message.contains("never returned"), "{text}");
}

#[test]
fn a_quiet_period_that_is_not() {
    let (f, text) = fails("  - call: write(4, 10) = 10\n  - quiet: 100ms\n");
    assert!(f.message.contains("expected nothing"), "{text}");
}

#[test]
fn reports_are_written() {
    let dir = std::env::temp_dir().join(format!("harness-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = script::parse(Path::new("ok.yaml"), HEAD).unwrap();
    let results = runner::run_all(&scripts, TargetKind::Reference, 1, &|_| {});
    let invalid = script::parse(Path::new("bad.yaml"), "profile: linx\nsteps:\n  - call: sokcet() = 3\n").unwrap_err();
    report::write_json(&dir.join("r.json"), &results, std::slice::from_ref(&invalid)).unwrap();
    report::write_junit(&dir.join("r.xml"), &results, std::slice::from_ref(&invalid)).unwrap();
    report::write_pcapng(&dir.join("r.pcapng"), &results[0]).unwrap();
    let json = std::fs::read_to_string(dir.join("r.json")).unwrap();
    let rec: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(rec["status"], "passed");
    assert_eq!(rec["target"], "reference");
    // The invalid file is a record too, with each of its errors.
    let bad: serde_json::Value = serde_json::from_str(json.lines().nth(1).unwrap()).unwrap();
    assert_eq!((bad["status"].as_str(), bad["path"].as_str()), (Some("invalid"), Some("bad.yaml")));
    assert_eq!(bad["errors"].as_array().map(|e| e.len()), Some(2), "{bad}");
    assert_eq!(bad["errors"][1]["line"], 3);
    let xml = std::fs::read_to_string(dir.join("r.xml")).unwrap();
    assert!(xml.contains("<testsuite") && xml.contains("tests=\"2\"") && xml.contains("errors=\"1\""), "{xml}");
    assert!(xml.contains("<testsuite name=\"invalid\"") && xml.contains("bad.yaml:3:11: unknown call"), "{xml}");
    // A pass after a failed attempt is a success with a flakyFailure.
    let mut results = results;
    results[0].earlier.push(runner::Attempt {
        message: "expected a packet by 0.5".into(),
        text: "FAIL ...".into(),
        wall: std::time::Duration::from_millis(3),
        descheduled: None,
    });
    report::write_junit(&dir.join("f.xml"), &results, &[]).unwrap();
    let xml = std::fs::read_to_string(dir.join("f.xml")).unwrap();
    assert!(xml.contains("<flakyFailure") && xml.contains("expected a packet by 0.5"), "{xml}");
    assert!(xml.contains("failures=\"0\""), "{xml}");
    assert_eq!(report::counts(&results).flaky, 1);
    assert!(report::flaky_text(&results).starts_with("FLAKY ok.yaml on reference: passed on attempt 2"));
    // A pass after attempts spoilt by the harness's own descheduling is a
    // rerun, not flaky; a failure with it says so, in text and JSON.
    let ms = std::time::Duration::from_millis;
    results[0].earlier[0].descheduled = Some(ms(23));
    let c = report::counts(&results);
    assert_eq!((c.flaky, c.rerun), (0, 1));
    assert!(c.to_string().starts_with("1 passed (1 after a rerun for the machine's load), 0 failed"), "{c}");
    let t = report::flaky_text(&results);
    assert!(
        t.starts_with(
            "RERUN ok.yaml on reference: passed on attempt 2 (attempt 1, the harness descheduled for 23.0 ms"
        ),
        "{t}"
    );
    let mut failed = runner::run_one(&scripts_failing(), TargetKind::Reference);
    let Status::Failed(f) = &mut failed.status else { panic!("{:?}", failed.status) };
    assert_eq!(f.descheduled, None, "a virtual clock is never late");
    f.descheduled = Some(ms(17));
    let text = report::failure_text(&failed);
    assert!(text.contains("note: the harness itself was late or off the CPU for 17.0 ms around this step"), "{text}");
    assert!(report::counts(std::slice::from_ref(&failed))
        .to_string()
        .contains("1 failed (1 with the harness descheduled)"));
    report::write_json(&dir.join("d.json"), std::slice::from_ref(&failed), &[]).unwrap();
    let rec: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("d.json")).unwrap()).unwrap();
    assert_eq!(rec["failure"]["descheduled_ms"], 17.0);
    let pcap = std::fs::read(dir.join("r.pcapng")).unwrap();
    let blocks = pcapng_blocks(&pcap);
    assert_eq!(blocks[0].0, 0x0A0D_0D0A, "a section header first");
    assert_eq!(u32::from_le_bytes(blocks[0].1[..4].try_into().unwrap()), 0x1A2B_3C4D);
    assert_eq!((blocks[1].0, u16::from_le_bytes(blocks[1].1[..2].try_into().unwrap())), (1, 101), "raw IP");
    // Three packets: SYN, SYN-ACK, ACK; each parses back, with its
    // direction and a comment naming its step and line.
    let packets: Vec<Epb> = blocks.iter().filter(|b| b.0 == 6).map(|b| epb(&b.1)).collect();
    assert_eq!(packets.len(), 3);
    for p in &packets {
        reference_stack::wire::IpPacket::parse(&p.data).unwrap();
        assert!(p.comment.starts_with("step ") && p.comment.contains("ok.yaml:"), "{}", p.comment);
    }
    assert_eq!(packets.iter().map(|p| p.flags & 3).collect::<Vec<_>>(), [1, 2, 1], "in, out, in");
    // A failing `out` step's segment says what differed.
    let failed = runner::run_one(&scripts_failing(), TargetKind::Reference);
    let blocks = pcapng_blocks(&report::pcapng_bytes(&failed));
    let last = blocks.iter().rev().find(|b| b.0 == 6).map(|b| epb(&b.1)).unwrap();
    assert!(last.comment.contains("MISMATCH: ") && last.comment.contains("expected"), "{}", last.comment);
    assert_eq!(last.flags & 3, 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// (block type, body) of each block of a little-endian pcapng file, each
/// length checked at both ends.
fn pcapng_blocks(b: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    let mut out = Vec::new();
    let mut off = 0;
    while off < b.len() {
        let (kind, len) = (u32_at(off), u32_at(off + 4) as usize);
        assert_eq!(len % 4, 0);
        assert_eq!(u32_at(off + len - 4) as usize, len, "the trailing length");
        out.push((kind, b[off + 8..off + len - 4].to_vec()));
        off += len;
    }
    out
}

struct Epb {
    data: Vec<u8>,
    comment: String,
    flags: u32,
}

fn epb(body: &[u8]) -> Epb {
    let len = u32::from_le_bytes(body[12..16].try_into().unwrap()) as usize;
    let data = body[20..20 + len].to_vec();
    let mut off = 20 + len.next_multiple_of(4);
    let (mut comment, mut flags) = (String::new(), 0);
    while off + 4 <= body.len() {
        let code = u16::from_le_bytes(body[off..off + 2].try_into().unwrap());
        let n = u16::from_le_bytes(body[off + 2..off + 4].try_into().unwrap()) as usize;
        let v = &body[off + 4..off + 4 + n];
        match code {
            0 => break,
            1 => comment = String::from_utf8(v.to_vec()).unwrap(),
            2 => flags = u32::from_le_bytes(v.try_into().unwrap()),
            _ => {}
        }
        off += 4 + n.next_multiple_of(4);
    }
    Epb { data, comment, flags }
}

fn scripts_failing() -> script::Script {
    let text = format!("{HEAD}  - call: write(4, 10) = 10\n  - out: . 1:11(10) ack 1\n");
    script::parse(Path::new("bad.yaml"), &text).unwrap().remove(0)
}

/// `wait` lets the clock run with nothing to do: timers fire, and a
/// segment sent meanwhile is unexpected (under `outbound: check`) at the
/// wait itself.
#[test]
fn a_retransmission_during_a_wait_is_unexpected() {
    let (f, text) = fails("  - call: write(4, 10) = 10\n  - out: P. 1:11(10) ack 1\n  - wait: 5s\n");
    assert_eq!(f.pos.unwrap().line, 11, "{text}");
    assert!(text.contains("unexpected packet at 1."), "{text}");
    // Acknowledged in time, the same wait passes, and it moves the clock.
    let text = format!("{HEAD}  - call: write(4, 10) = 10\n  - out: P. 1:11(10) ack 1\n  - in: . 1:1(0) ack 11 win 65535\n  - wait: 5s\n");
    let scripts = script::parse(Path::new("ok.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.one_line()));
    let r = runner::run_one(&scripts[0], TargetKind::Reference);
    assert!(matches!(r.status, Status::Passed), "{:?}", r.status);
    assert_eq!(r.script_time.as_secs(), 5, "{:?}", r.script_time);
}

fn passes(tail: &str) {
    let text = format!("{HEAD}{tail}");
    let scripts = script::parse(Path::new("ok.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.one_line()));
    let r = runner::run_one(&scripts[0], TargetKind::Reference);
    assert!(matches!(r.status, Status::Passed), "{}", report::failure_text(&r));
}

/// `within`: the packet is awaited while the steps after it run. The
/// delayed ACK (200 ms, rfc9293) comes after the second segment, injected
/// at +0.1 s, and is the `within` step's; the steps after it never wait.
#[test]
fn a_within_packet_is_taken_while_later_steps_run() {
    passes(
        "  - in: P. 1:11(10) ack 1 win 65535\n  - {within: 500ms, out: \". 1:1(0) ack 21\"}\n  \
         - {at: +0.1, in: \"P. 11:21(10) ack 1 win 65535\"}\n  - {at: +0.3, call: \"read(4, 100) = 20\"}\n",
    );
    // A range takes whichever ACK covers the first segment.
    passes("  - in: P. 1:11(10) ack 1 win 65535\n  - {within: 500ms, out: \". 1:1(0) ack 11~21\"}\n  - wait: 1s\n");
    passes("  - in: P. 1:11(10) ack 1 win 65535\n  - {at: +0~0.3, out: \". 1:1(0) ack 5~11 win 65000~65535\"}\n");
}

/// A `within` packet that does not come by its bound fails at its own
/// line, even when a later step is running; one outside a range differs.
#[test]
fn a_within_packet_too_late_fails_at_its_step() {
    // The ACK comes at 0.2 s: 100 ms is too short.
    let (f, text) = fails(
        "  - in: P. 1:11(10) ack 1 win 65535\n  - {within: 100ms, out: \". 1:1(0) ack 11\"}\n  \
         - {at: +0.05, in: \"P. 11:21(10) ack 1 win 65535\"}\n  - {at: +0.5, call: \"read(4, 100) = 20\"}\n",
    );
    assert_eq!(f.pos.unwrap().line, 10, "{text}");
    assert!(text.contains("expected a packet by 0.110000 (within 100ms of 0.000000)"), "{text}");
    // A packet that does not match is unexpected where it arrives.
    let (f, text) =
        fails("  - in: P. 1:11(10) ack 1 win 65535\n  - {within: 500ms, out: \". 1:1(0) ack 12~20\"}\n  - wait: 1s\n");
    assert_eq!(f.pos.unwrap().line, 11, "{text}");
    assert!(text.contains("unexpected packet at 0.2"), "{text}");
    let (f, text) = fails("  - in: P. 1:11(10) ack 1 win 65535\n  - {at: +0~0.3, out: \". 1:1(0) ack 12~20\"}\n");
    assert!(f.diffs.iter().any(|d| d.field == "ack" && d.expected == "12~20" && d.actual == "11"), "{text}");
}

/// `within` and ranges are refused, with their position, where they make
/// no sense.
#[test]
fn within_and_ranges_are_refused_where_they_make_no_sense() {
    for (tail, line, msg) in [
        ("  - {within: 1s, in: \". 1:1(0) ack 1 win 65535\"}\n", 9, "`within` goes with an `out` packet"),
        ("  - {at: +1, within: 1s, out: \". 1:1(0) ack 1\"}\n", 9, "does not go with `at`"),
        ("  - {within: 0s, out: \". 1:1(0) ack 1\"}\n", 9, "needs a bound above zero"),
        ("  - {within: soon, out: \". 1:1(0) ack 1\"}\n", 9, "is not a duration"),
        ("  - in: . 1:1(0) ack 1~5 win 65535\n", 9, "a range (`LO~HI`) in a packet the script sends"),
        ("  - {at: +1, out: \". 1:1(0) ack 9~5\"}\n", 9, "ends below where it starts"),
    ] {
        let text = format!("{HEAD}{tail}");
        let e = script::parse(Path::new("bad.yaml"), &text).err().unwrap_or_else(|| panic!("accepted: {tail}"));
        assert!(e.message.contains(msg), "{tail}: {}", e.one_line());
        assert_eq!(e.line, line, "{tail}: {}", e.one_line());
    }
    let text = format!("outbound: queue\n{HEAD}  - {{within: 1s, out: \". 1:1(0) ack 1\"}}\n");
    let e = script::parse(Path::new("bad.yaml"), &text).expect_err("queue and within");
    assert!(e.message.contains("does not go with `outbound: queue`"), "{}", e.one_line());
}

/// A failing step of another connection (`conn:`) is reported with that
/// connection's name, 4-tuple and state, and its packets with their ports.
#[test]
fn a_conn_steps_failure_names_its_connection() {
    let text = "connections: [b]
steps:
  - call: socket() = 3
  - call: bind(3, 8080) = 0
  - call: listen(3, 2) = 0
  - in: S 0:0(0) win 65535 <mss 1460>
  - out: S. 0:0(0) ack 1 <mss 1460>
  - {in: \"S 0:0(0) win 65535 <mss 1460>\", conn: b}
  - {out: \"S. 0:0(0) ack 2 <mss 1460>\", conn: b}
";
    let scripts = script::parse(Path::new("conn.yaml"), text).unwrap_or_else(|e| panic!("{}", e.one_line()));
    let r = runner::run_one(&scripts[0], TargetKind::Reference);
    let report = report::failure_text(&r);
    assert!(matches!(r.status, Status::Failed(_)), "{report}");
    assert!(report.contains("connection: b 198.51.100.1:8080 <-> 192.0.2.1:41000 SYN-RECEIVED"), "{report}");
    assert!(report.contains("in   41000>8080 S 0:0(0)"), "{report}");
    assert!(report.contains("ack  expected 2"), "{report}");
}
